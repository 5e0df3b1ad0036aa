//! Report languages and the report's fixed texts (`audit/texts.toml`).
//!
//! Every sentence a check produces is a [`Msg`] carrying both languages, so
//! a result can be rendered in either without running the check again. The
//! fixed texts of the report (headings, the records-of-processing entry, the
//! data-flow description, …) live in `audit/texts.toml`, German and English
//! side by side, with `{placeholders}` filled from the configuration.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

/// One sentence (or short paragraph) in both languages. Text between
/// backticks is rendered as code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Msg {
    pub de: String,
    pub en: String,
}

impl Msg {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::De => &self.de,
            Lang::En => &self.en,
        }
    }
}

/// A [`Msg`] from its German and English text.
pub fn msg(de: impl Into<String>, en: impl Into<String>) -> Msg {
    Msg { de: de.into(), en: en.into() }
}

/// The same text in both languages (file names, header values, …).
pub fn same(text: impl Into<String>) -> Msg {
    let t = text.into();
    Msg { de: t.clone(), en: t }
}

/// `audit/texts.toml`: named texts, each in both languages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextFile {
    text: BTreeMap<String, Msg>,
}

static TEXTS_TOML: &str = include_str!("../../audit/texts.toml");

fn texts() -> &'static BTreeMap<String, Msg> {
    static TEXTS: OnceLock<BTreeMap<String, Msg>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        // The file is built into the binary and parsed by a unit test below,
        // so this cannot fail in a binary that passed its tests.
        let file: TextFile = toml::from_str(TEXTS_TOML).expect("audit/texts.toml parses (tested)");
        file.text
    })
}

/// The fixed text `key` with `{name}` placeholders filled from `vars`.
///
/// An unknown key or a placeholder without a value is a bug in Kabine (the
/// tests render every text); it shows up as `{name}` in the report rather
/// than as a crash.
pub fn t(key: &str, vars: &[(&str, &str)]) -> Msg {
    match texts().get(key) {
        Some(m) => Msg { de: fill(&m.de, vars), en: fill(&m.en, vars) },
        None => same(format!("{{{key}}}")),
    }
}

/// Replaces `{name}` by its value; `{{` and `}}` stand for literal braces.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(stripped) = tail.strip_prefix('{')
            && let Some(end) = stripped.find('}')
        {
            let name = &stripped[..end];
            match vars.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
            rest = &stripped[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Every placeholder name in a template.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            rest = after;
            continue;
        }
        match tail[1..].find('}') {
            Some(end) => {
                names.push(tail[1..1 + end].to_string());
                rest = &tail[1 + end + 1..];
            }
            None => break,
        }
    }
    names
}

/// All keys of `audit/texts.toml` (for tests).
pub fn keys() -> impl Iterator<Item = &'static str> {
    texts().keys().map(String::as_str)
}

/// The raw template of `key` (for tests).
pub fn raw(key: &str) -> Option<&'static Msg> {
    texts().get(key)
}

/// Parses `audit/texts.toml` (for the test that proves it parses strictly).
pub fn parse_texts(text: &str) -> Result<usize, String> {
    toml::from_str::<TextFile>(text).map(|f| f.text.len()).map_err(|e| e.to_string())
}

/// The built-in text file (for tests).
pub fn texts_source() -> &'static str {
    TEXTS_TOML
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_known_placeholders_and_keeps_braces() {
        assert_eq!(fill("a {x} b {{y}} {z}", &[("x", "1")]), "a 1 b {y} {z}");
        assert_eq!(fill("no braces", &[]), "no braces");
        assert_eq!(fill("dangling { brace", &[]), "dangling { brace");
        assert_eq!(placeholders("{a} {{b}} {c}"), ["a", "c"]);
    }

    #[test]
    fn texts_parse_strictly_and_have_no_empty_language() {
        assert!(parse_texts(texts_source()).is_ok());
        assert!(parse_texts("[text.x]\nde = \"a\"\nen = \"b\"\nfr = \"c\"\n").is_err(), "unknown language refused");
        for key in keys() {
            let m = raw(key).expect("key exists");
            assert!(!m.de.trim().is_empty() && !m.en.trim().is_empty(), "{key}: a language is empty");
            let mut de = placeholders(&m.de);
            let mut en = placeholders(&m.en);
            de.sort();
            en.sort();
            assert_eq!(de, en, "{key}: German and English use different placeholders");
        }
    }
}
