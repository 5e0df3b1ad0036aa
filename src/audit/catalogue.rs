//! The check catalogue, `audit/checks.toml`: every check with its stable id,
//! title and description in German and English, and the sources it rests on.
//!
//! The report takes titles and sources from here, so a check is described in
//! exactly one place. A unit test proves that the checks implemented in code
//! and the entries of the catalogue are the same set.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::text::{Lang, Msg};

/// Whether a check reads the configuration (static) or talks to the running
/// server (live, needs `--url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Static,
    Live,
}

/// The protection goals (Gewährleistungsziele) of the Standard-Datenschutzmodell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SdmGoal {
    Datenminimierung,
    #[serde(rename = "Verfügbarkeit")]
    Verfuegbarkeit,
    #[serde(rename = "Integrität")]
    Integritaet,
    Vertraulichkeit,
    Nichtverkettung,
    Transparenz,
    Intervenierbarkeit,
}

impl SdmGoal {
    /// In the order the SDM lists them.
    pub const ALL: [SdmGoal; 7] = [
        SdmGoal::Datenminimierung,
        SdmGoal::Verfuegbarkeit,
        SdmGoal::Integritaet,
        SdmGoal::Vertraulichkeit,
        SdmGoal::Nichtverkettung,
        SdmGoal::Transparenz,
        SdmGoal::Intervenierbarkeit,
    ];

    /// The goal's name in the report language.
    pub fn name(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (SdmGoal::Datenminimierung, Lang::De) => "Datenminimierung",
            (SdmGoal::Verfuegbarkeit, Lang::De) => "Verfügbarkeit",
            (SdmGoal::Integritaet, Lang::De) => "Integrität",
            (SdmGoal::Vertraulichkeit, Lang::De) => "Vertraulichkeit",
            (SdmGoal::Nichtverkettung, Lang::De) => "Nichtverkettung",
            (SdmGoal::Transparenz, Lang::De) => "Transparenz",
            (SdmGoal::Intervenierbarkeit, Lang::De) => "Intervenierbarkeit",
            (SdmGoal::Datenminimierung, Lang::En) => "Data minimisation",
            (SdmGoal::Verfuegbarkeit, Lang::En) => "Availability",
            (SdmGoal::Integritaet, Lang::En) => "Integrity",
            (SdmGoal::Vertraulichkeit, Lang::En) => "Confidentiality",
            (SdmGoal::Nichtverkettung, Lang::En) => "Unlinkability",
            (SdmGoal::Transparenz, Lang::En) => "Transparency",
            (SdmGoal::Intervenierbarkeit, Lang::En) => "Intervenability",
        }
    }

    /// A stable key for JSON and HTML anchors.
    pub fn key(self) -> &'static str {
        match self {
            SdmGoal::Datenminimierung => "data-minimisation",
            SdmGoal::Verfuegbarkeit => "availability",
            SdmGoal::Integritaet => "integrity",
            SdmGoal::Vertraulichkeit => "confidentiality",
            SdmGoal::Nichtverkettung => "unlinkability",
            SdmGoal::Transparenz => "transparency",
            SdmGoal::Intervenierbarkeit => "intervenability",
        }
    }
}

/// One check as the catalogue describes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Stable id, `static.…` or `live.…`; never reused for another meaning.
    pub id: String,
    pub kind: Kind,
    pub title: Msg,
    /// What the check measures and when it passes.
    pub measures: Msg,
    /// SDM protection goals the measure serves.
    pub sdm: Vec<SdmGoal>,
    /// GDPR provisions, written `32(1)(a)` (article, paragraph, point).
    pub gdpr: Vec<String>,
    /// OWASP ASVS 4.0 requirement numbers, e.g. `9.1.3`.
    #[serde(default)]
    pub asvs: Vec<String>,
    /// The topic of the DSK "Orientierungshilfe Videokonferenzsysteme" (2020)
    /// the check serves, in the Orientierungshilfe's language (German).
    #[serde(default)]
    pub dsk: Option<String>,
    /// What BSI TR-02102-2 (TLS) says on the matter.
    #[serde(default)]
    pub bsi: Option<String>,
    /// What Mozilla's server-side TLS guideline ("intermediate") says.
    #[serde(default)]
    pub mozilla: Option<String>,
    /// Further sources, named in full.
    #[serde(default)]
    pub other: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    check: Vec<Entry>,
}

static CHECKS_TOML: &str = include_str!("../../audit/checks.toml");

/// Parses catalogue text; every table refuses unknown keys.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in &file.check {
        if !seen.insert(e.id.as_str()) {
            problems.push(format!("{}: id used twice", e.id));
        }
        let prefix = match e.kind {
            Kind::Static => "static.",
            Kind::Live => "live.",
        };
        if !e.id.starts_with(prefix)
            || !e.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        {
            problems.push(format!("{}: id must be lowercase and start with `{prefix}`", e.id));
        }
        if e.sdm.is_empty() {
            problems.push(format!("{}: names no SDM protection goal", e.id));
        }
        if e.gdpr.is_empty() {
            problems.push(format!("{}: names no GDPR provision", e.id));
        }
        for g in &e.gdpr {
            if Provision::parse(g).is_none() {
                problems.push(format!("{}: `{g}` is not written like 32(1)(a)", e.id));
            }
        }
        for a in &e.asvs {
            let parts: Vec<_> = a.split('.').collect();
            if parts.len() != 3 || !parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
                problems.push(format!("{}: ASVS `{a}` is not a requirement number like 9.1.3", e.id));
            }
        }
        for m in [&e.title, &e.measures] {
            if m.de.trim().is_empty() || m.en.trim().is_empty() {
                problems.push(format!("{}: a title or description is empty in one language", e.id));
            }
        }
    }
    if problems.is_empty() { Ok(file.check) } else { Err(problems.join("\n")) }
}

/// The built-in catalogue.
pub fn all() -> &'static [Entry] {
    static CATALOGUE: OnceLock<Vec<Entry>> = OnceLock::new();
    // Built into the binary and parsed by the unit tests, so this holds in any
    // binary that passed them.
    CATALOGUE.get_or_init(|| parse(CHECKS_TOML).expect("audit/checks.toml parses (tested)"))
}

/// The catalogue entry of `id`.
pub fn entry(id: &str) -> Option<&'static Entry> {
    all().iter().find(|e| e.id == id)
}

/// The built-in catalogue text (for tests).
pub fn source() -> &'static str {
    CHECKS_TOML
}

/// A GDPR provision: article, optional paragraph, optional point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provision {
    pub article: u32,
    pub paragraph: Option<u32>,
    pub point: Option<String>,
}

impl Provision {
    /// Parses `32`, `32(1)` or `32(1)(a)`.
    pub fn parse(s: &str) -> Option<Provision> {
        let (article, rest) = match s.find('(') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        let article = article.parse().ok()?;
        let mut parts = Vec::new();
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('(') {
            let end = r.find(')')?;
            parts.push(&r[..end]);
            rest = &r[end + 1..];
        }
        if !rest.is_empty() || parts.len() > 2 {
            return None;
        }
        let paragraph = match parts.first() {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        let point = match parts.get(1) {
            Some(p) if p.len() == 1 && p.bytes().all(|b| b.is_ascii_lowercase()) => Some(p.to_string()),
            Some(_) => return None,
            None => None,
        };
        Some(Provision { article, paragraph, point })
    }

    /// As lawyers write it: `Art. 32 Abs. 1 lit. a DSGVO` / `Art. 32(1)(a) GDPR`.
    pub fn cite(&self, lang: Lang) -> String {
        match lang {
            Lang::De => {
                let mut s = format!("Art. {}", self.article);
                if let Some(p) = self.paragraph {
                    s.push_str(&format!(" Abs. {p}"));
                }
                if let Some(l) = &self.point {
                    s.push_str(&format!(" lit. {l}"));
                }
                s.push_str(" DSGVO");
                s
            }
            Lang::En => {
                let mut s = format!("Art. {}", self.article);
                if let Some(p) = self.paragraph {
                    s.push_str(&format!("({p})"));
                }
                if let Some(l) = &self.point {
                    s.push_str(&format!("({l})"));
                }
                s.push_str(" GDPR");
                s
            }
        }
    }
}

/// `32(1)(a)` cited in `lang`; unparsable text is returned as written.
pub fn cite_gdpr(s: &str, lang: Lang) -> String {
    Provision::parse(s).map(|p| p.cite(lang)).unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_strictly() {
        let entries = parse(source()).unwrap_or_else(|e| panic!("audit/checks.toml: {e}"));
        assert!(entries.len() >= 30, "{}", entries.len());
        let unknown = source().replacen("[[check]]\n", "[[check]]\nseverity = \"high\"\n", 1);
        assert!(parse(&unknown).is_err(), "an unknown key in a check is refused");
        let unknown_lang = source().replacen("[check.title]\n", "[check.title]\nfr = \"x\"\n", 1);
        assert!(parse(&unknown_lang).is_err(), "an unknown language is refused");
    }

    #[test]
    fn gdpr_provisions_are_cited_per_language() {
        let p = Provision::parse("32(1)(a)").expect("parses");
        assert_eq!(p.cite(Lang::De), "Art. 32 Abs. 1 lit. a DSGVO");
        assert_eq!(p.cite(Lang::En), "Art. 32(1)(a) GDPR");
        assert_eq!(cite_gdpr("30", Lang::De), "Art. 30 DSGVO");
        assert_eq!(cite_gdpr("25(2)", Lang::En), "Art. 25(2) GDPR");
        assert!(Provision::parse("32(1)(a)(i)").is_none());
        assert!(Provision::parse("Art. 32").is_none());
        assert!(Provision::parse("32(x)").is_none());
    }
}
