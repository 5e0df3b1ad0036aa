//! The shape of the code, checked from the source (docs/architecture.md):
//! imports between the crate's modules point one way, the rooms and the
//! media engine never depend on the web side, and the sans-IO logic keeps
//! its functions (at most 150 lines) and the engine's main file (under 900)
//! short enough to read.
//!
//! The module graph is derived from the source text: every `use crate::…`,
//! `use super::…` and every `crate::…` / `super::…` path in code (comments
//! and string literals are blanked first) is an edge from the file it is in
//! to the module file it names. A top-level module (`src/room/`,
//! `src/sfu/`, `src/config/`, `src/stats.rs`, …) is the unit: an edge
//! between two files of the same top-level module is not an import
//! between modules. `src/bin/*` (separate crates) and `src/main.rs` are
//! left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::support;

/// One source file of the library crate.
struct SourceFile {
    /// `src/`-relative path, for messages.
    path: String,
    /// Module path: `src/room/lobby.rs` is `["room", "lobby"]`, `src/lib.rs` `[]`.
    module: Vec<String>,
    /// The text with comments and the contents of string and character
    /// literals replaced by spaces (line breaks kept).
    code: String,
}

fn library_files() -> Vec<SourceFile> {
    let src = support::repo_root().join("src");
    let mut paths = Vec::new();
    collect_rs(&src, &mut paths);
    paths
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
            if rel == "main.rs" || rel.starts_with("bin/") {
                return None;
            }
            let mut module: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_string).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
            Some(SourceFile { path: rel, module, code: blank(&text) })
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Replaces comments and the insides of string and char literals by
/// spaces, keeping line breaks (so line numbers stay right).
fn blank(text: &str) -> String {
    let s: Vec<char> = text.chars().collect();
    let mut out = s.clone();
    let wipe = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in out.iter_mut().take(to.min(s.len())).skip(from) {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let find = |from: usize, pat: &[char]| (from..s.len()).find(|&k| s[k..].starts_with(pat));
    let word_before = |i: usize| i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_');
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(&['/', '/']) {
            let end = find(i, &['\n']).unwrap_or(s.len());
            wipe(&mut out, i, end);
            i = end;
        } else if s[i..].starts_with(&['/', '*']) {
            // Nested block comments.
            let (mut depth, mut k) = (0usize, i);
            while k < s.len() {
                if s[k..].starts_with(&['/', '*']) {
                    depth += 1;
                    k += 2;
                } else if s[k..].starts_with(&['*', '/']) {
                    depth -= 1;
                    k += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    k += 1;
                }
            }
            wipe(&mut out, i, k);
            i = k;
        } else if s[i] == 'r' && !word_before(i) && matches!(s.get(i + 1), Some('"' | '#')) {
            let hashes = s[i + 1..].iter().take_while(|c| **c == '#').count();
            if s.get(i + 1 + hashes) != Some(&'"') {
                i += 1;
                continue;
            }
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            let start = i + 2 + hashes;
            let end = find(start, &close).unwrap_or(s.len());
            wipe(&mut out, start, end);
            i = end + close.len();
        } else if s[i] == '"' {
            let mut k = i + 1;
            while k < s.len() && s[k] != '"' {
                k += if s[k] == '\\' { 2 } else { 1 };
            }
            wipe(&mut out, i + 1, k);
            i = k + 1;
        } else if s[i] == '\'' {
            // A char literal ('x', '\n', '\u{200b}'); else a lifetime.
            if s.get(i + 1) == Some(&'\\') {
                let end = find(i + 2, &['\'']).unwrap_or(s.len());
                wipe(&mut out, i + 1, end);
                i = end + 1;
            } else if s.get(i + 2) == Some(&'\'') {
                wipe(&mut out, i + 1, i + 2);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Spans (byte offsets) of inline `mod name { … }` blocks, e.g. `mod tests`.
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let re = Regex::new(r"\bmod\s+\w+\s*\{").expect("regex");
    re.find_iter(code)
        .filter_map(|m| {
            let open = m.end() - 1;
            matching_brace(code, open).map(|close| (m.start(), close))
        })
        .collect()
}

/// The offset of the `}` that closes the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + k);
                }
            }
            _ => {}
        }
    }
    None
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(&tree).trim().to_string()];
    };
    let prefix = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut current) = (Vec::new(), 0i32, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand_use(p).into_iter().map(move |e| format!("{prefix}::{e}")))
        .collect()
}

/// The module file a path names, seen from `module` at inline-module
/// `depth` (`mod tests { … }` is depth 1): `None` for paths outside the
/// crate or into the inline module itself.
fn resolve(path: &str, module: &[String], depth: usize, files: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segments: Vec<&str> = path.split("::").map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut base: Vec<Option<String>> = module.iter().cloned().map(Some).collect();
    base.extend(std::iter::repeat_n(None, depth));
    let mut rest = segments.as_slice();
    match rest.first() {
        Some(&"crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some(&("super" | "self")) => {
            while let Some(first) = rest.first() {
                match *first {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    if base.iter().any(Option::is_none) {
        // Inside an inline module of the file: the file itself.
        return None;
    }
    let mut full: Vec<String> = base.into_iter().flatten().collect();
    full.extend(rest.iter().filter(|s| **s != "self" && **s != "*").map(|s| s.to_string()));
    (0..=full.len()).rev().map(|k| full[..k].to_vec()).find(|m| files.contains(m))
}

/// Edges file → file, each with where the import is.
fn file_edges(files: &[SourceFile]) -> BTreeMap<(Vec<String>, Vec<String>), String> {
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let use_re = Regex::new(r"\buse\s+((?:crate|super|self)\b[^;]*);").expect("regex");
    let path_re = Regex::new(r"(?:^|[^\w:])((?:crate|super)(?:\s*::\s*\w+)+)").expect("regex");
    let mut edges = BTreeMap::new();
    for f in files {
        let spans = inline_modules(&f.code);
        let depth = |at: usize| spans.iter().filter(|(a, b)| *a < at && at < *b).count();
        let line = |at: usize| f.code[..at].matches('\n').count() + 1;
        let mut found: Vec<(usize, String)> = Vec::new();
        for c in use_re.captures_iter(&f.code) {
            let at = c.get(0).expect("match").start();
            found.extend(expand_use(&c[1]).into_iter().map(|p| (at, p)));
        }
        for c in path_re.captures_iter(&f.code) {
            let m = c.get(1).expect("group");
            found.push((m.start(), m.as_str().to_string()));
        }
        for (at, path) in found {
            if let Some(target) = resolve(&path, &f.module, depth(at), &known)
                && target != f.module
            {
                edges.entry((f.module.clone(), target)).or_insert_with(|| format!("{}:{}", f.path, line(at)));
            }
        }
    }
    edges
}

fn top(module: &[String]) -> String {
    module.first().cloned().unwrap_or_else(|| "lib".into())
}

/// Edges between top-level modules, each with the file imports behind it.
fn module_edges(files: &[SourceFile]) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((from, to), at) in file_edges(files) {
        if top(&from) != top(&to) {
            out.entry((top(&from), top(&to))).or_default().push(format!("{at} -> {}", to.join("::")));
        }
    }
    out
}

/// Modules reachable from `start` (itself excluded).
fn reachable(edges: &BTreeMap<(String, String), Vec<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(m) = todo.pop() {
        for (from, to) in edges.keys() {
            if *from == m && to != start && seen.insert(to.clone()) {
                todo.push(to.clone());
            }
        }
    }
    seen
}

#[test]
fn imports_between_modules_point_one_way() {
    let _t = support::test();
    let files = library_files();
    assert!(files.len() > 50, "found the source files ({})", files.len());
    let edges = module_edges(&files);
    assert!(edges.contains_key(&("sfu".into(), "room".into())), "the graph is derived (sfu imports room)");
    let mut circles = Vec::new();
    for (from, to) in edges.keys() {
        if reachable(&edges, to).contains(from) {
            circles.push(format!("{from} -> {to}: {}", edges[&(from.clone(), to.clone())].join("; ")));
        }
    }
    assert!(circles.is_empty(), "imports between modules that are part of a circle:\n{}", circles.join("\n"));
}

#[test]
fn rooms_and_media_never_depend_on_the_web_side() {
    let _t = support::test();
    let edges = module_edges(&library_files());
    for inner in ["room", "sfu", "protocol"] {
        let reached = reachable(&edges, inner);
        for web in ["signal", "http", "server", "cli"] {
            assert!(!reached.contains(web), "`{inner}` depends on `{web}` (directly or through another module)");
        }
    }
}

#[test]
fn the_graph_sees_imports_in_every_form() {
    let _t = support::test();
    let code = blank(
        "use crate::a::{b, c::{self, D}};\nuse super::e as f;\nfn g() { crate::h::i(); let s = \"crate::x::y\"; }\n\
         // crate::z::w\nmod tests { use super::*; }\n",
    );
    assert!(!code.contains("crate::x") && !code.contains("crate::z"), "literals and comments are blanked");
    assert_eq!(expand_use("crate::a::{b, c::{self, D}}"), ["crate::a::b", "crate::a::c::self", "crate::a::c::D"]);
    let files: BTreeSet<Vec<String>> = [
        vec![],
        vec!["a".into()],
        vec!["a".into(), "c".into()],
        vec!["h".into()],
        vec!["m".into()],
        vec!["m".into(), "n".into()],
    ]
    .into();
    let m = vec!["m".to_string(), "n".to_string()];
    assert_eq!(resolve("crate::a::c::self", &m, 0, &files), Some(vec!["a".into(), "c".into()]));
    assert_eq!(resolve("crate::h::i", &m, 0, &files), Some(vec!["h".into()]));
    assert_eq!(resolve("super::e", &m, 0, &files), Some(vec!["m".into()]));
    assert_eq!(resolve("super::*", &m, 1, &files), Some(m.clone()), "a test module's `super` is its own file");
    assert_eq!(resolve("self::x", &m, 1, &files), None, "inside the test module itself");
    assert_eq!(resolve("std::fmt", &m, 0, &files), None);
}
/// Functions of `dir` (under `src/`) longer than `max` lines, signature to
/// closing brace.
fn long_functions(dir: &str, max: usize) -> Vec<String> {
    let fn_re = Regex::new(r"\bfn\s+(\w+)").expect("regex");
    let mut long = Vec::new();
    for f in library_files().iter().filter(|f| f.path.starts_with(dir)) {
        for m in fn_re.captures_iter(&f.code) {
            let start = m.get(0).expect("match").start();
            // The body's `{`, unless a `;` ends a declaration first.
            let mut depth = 0i32;
            let mut open = None;
            for (k, c) in f.code[start..].char_indices() {
                match c {
                    '(' | '[' | '<' => depth += 1,
                    ')' | ']' | '>' => depth -= 1,
                    ';' if depth <= 0 => break,
                    '{' if depth <= 0 => {
                        open = Some(start + k);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(close) = open.and_then(|o| matching_brace(&f.code, o)) else {
                continue;
            };
            let lines = f.code[start..close].matches('\n').count() + 1;
            if lines > max {
                long.push(format!("{} `{}`: {lines} lines", f.path, &m[1]));
            }
        }
    }
    long
}

#[test]
fn no_function_of_the_room_logic_or_the_media_engine_is_over_150_lines() {
    let _t = support::test();
    let long: Vec<String> = ["room/", "sfu/"].iter().flat_map(|d| long_functions(d, 150)).collect();
    assert!(long.is_empty(), "functions to split:\n{}", long.join("\n"));
    assert!(long_functions("sfu/", 100).iter().any(|f| f.contains("`reallocate`")), "the measure finds long functions");
}

#[test]
fn the_media_engines_main_file_stays_under_900_lines() {
    let _t = support::test();
    let lines =
        std::fs::read_to_string(support::repo_root().join("src/sfu/engine.rs")).expect("engine.rs").lines().count();
    assert!(lines < 900, "src/sfu/engine.rs has {lines} lines: move a concern into src/sfu/engine/");
}
