//! Every fuzz target's seeds and every input that once crashed a fuzz
//! target (`fuzz/corpus/`, `fuzz/regressions/`) run through the same
//! checks as under the fuzzer (`kabine::fuzz`), on any machine: a crash
//! that was fixed stays fixed. The fuzzing itself is `scripts/fuzz`
//! (docs/reliability.md).

use std::path::Path;

use crate::support;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), data)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_fuzz_target_has_a_seed_corpus_a_binary_and_a_place_in_scripts_fuzz() {
    let _t = support::test();
    let root = support::repo_root();
    let script = std::fs::read_to_string(root.join("scripts/fuzz")).expect("scripts/fuzz");
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    // `targets=(a b c)`: the list `scripts/fuzz all` and `list` go through.
    let listed: Vec<&str> = script
        .lines()
        .find_map(|l| l.strip_prefix("targets=("))
        .and_then(|l| l.split(')').next())
        .expect("scripts/fuzz has a `targets=(…)` line")
        .split_whitespace()
        .collect();
    assert_eq!(listed.len(), kabine::fuzz::TARGETS.len(), "scripts/fuzz lists {listed:?}");
    for (name, _) in kabine::fuzz::TARGETS {
        assert!(inputs(&root.join("fuzz/corpus").join(name)).len() >= 3, "{name}: at least three seeds");
        assert!(root.join("fuzz/fuzz_targets").join(format!("{name}.rs")).is_file(), "{name}: fuzz target file");
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}: in fuzz/Cargo.toml");
        assert!(listed.contains(name), "{name}: in scripts/fuzz's targets");
    }
}

#[test]
fn seed_corpora_and_past_crashes_pass_every_fuzz_check() {
    let _t = support::test();
    let root = support::repo_root();
    let mut ran = 0;
    for (name, check) in kabine::fuzz::TARGETS {
        for dir in ["corpus", "regressions"] {
            for (file, data) in inputs(&root.join("fuzz").join(dir).join(name)) {
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "fuzz/{dir}/{name}/{file} fails its check");
                ran += 1;
            }
        }
    }
    assert!(ran >= 9 * 3, "{ran} inputs");
}
