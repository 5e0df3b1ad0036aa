//! No config input makes Kabine panic: garbled, truncated and mistyped TOML
//! gets errors only.

use kabine::config;
use kabine::policy::Policy;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support;

const SNIPPETS: &[&str] = &[
    "[",
    "]",
    "[[",
    "=",
    "\"",
    "'''",
    "\n",
    "#",
    "1e400",
    "-0",
    "nan",
    "inf",
    "1979-05-27T07:32:00Z",
    "{",
    "}",
    ",",
    "[log]",
    "[media]",
    "[[media.ice_servers]]",
    "level",
    "\\u0000",
    "\u{fffd}",
    "ä",
    "true",
    "[]",
    "{ a = 1 }",
    "99999999999999999999",
    "0x7fff",
    "\"0.0.0.0:99999\"",
    "\"::\"",
    "urls = [1]",
    "policy = \"../../etc/passwd\"",
];

fn mutate(rng: &mut StdRng, base: &str) -> String {
    let mut s = base.to_string();
    for _ in 0..rng.random_range(1..6) {
        let pos = {
            let mut p = rng.random_range(0..=s.len());
            while !s.is_char_boundary(p) {
                p -= 1;
            }
            p
        };
        match rng.random_range(0..4) {
            0 => s.insert_str(pos, SNIPPETS[rng.random_range(0..SNIPPETS.len())]),
            1 => s.truncate(pos),
            2 => {
                let mut end = (pos + rng.random_range(1..20)).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.replace_range(pos..end, "");
            }
            _ => {
                let bytes: Vec<u8> = (0..rng.random_range(1..8)).map(|_| rng.random()).collect();
                s.insert_str(pos, &String::from_utf8_lossy(&bytes));
            }
        }
    }
    s
}

#[test]
fn garbled_config_and_policy_text_never_panics() {
    let _t = support::test();
    let example = std::fs::read_to_string(support::repo_root().join("config/kabine.example.toml")).expect("readable");
    let policy = std::fs::read_to_string(support::repo_root().join("policy/strict.toml")).expect("readable");
    let mut rng = StdRng::seed_from_u64(0x6b61_6269_6e65);
    let mut refused = 0;
    for i in 0..4000 {
        let text = mutate(&mut rng, if i % 4 == 0 { &policy } else { &example });
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(loaded) = config::load_str(&text, "fuzz.toml")
                && let Ok(policy) = Policy::for_config(&loaded)
            {
                let _ = kabine::policy::check(&loaded, &policy);
            }
            Policy::from_toml(&text, "fuzz.toml").is_err()
        });
        assert!(outcome.is_ok(), "panic on input:\n{text}");
        if config::load_str(&text, "f").is_err() {
            refused += 1;
        }
    }
    // The mutations must actually produce bad input, or this test proves nothing.
    assert!(refused > 1000, "only {refused} of 4000 mutated files were refused");
}

#[test]
fn every_problem_line_names_file_and_line() {
    let _t = support::test();
    let mut rng = StdRng::seed_from_u64(7);
    let example = std::fs::read_to_string(support::repo_root().join("config/kabine.example.toml")).expect("readable");
    for _ in 0..500 {
        let text = mutate(&mut rng, &example);
        if let Err(e) = config::load_str(&text, "fuzz.toml") {
            for p in &e.problems {
                assert!(p.to_string().starts_with("fuzz.toml"), "{p}");
                assert!(!p.message.is_empty());
            }
        }
    }
}
