//! The audit report: one document model, rendered as Markdown, HTML or JSON
//! (the JSON is the model itself; its schema is `audit/report.schema.json`).
//!
//! Sections: a one-page summary, every check with its evidence, then what a
//! data-protection officer files: technical and organisational measures by
//! SDM protection goal, a records-of-processing entry (Art. 30 GDPR) filled
//! from the configuration, the data flows, and the log inventory.

mod html;
mod markdown;

use serde::Serialize;

use super::catalogue::{self, Kind, SdmGoal, cite_gdpr};
use super::text::{Lang, t};
use super::{AuditRun, Status, profile, time};
use crate::config::{LoadedConfig, LogTarget};
use crate::policy::{self, Policy};

/// Version of the JSON layout; raised on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub language: Lang,
    pub generated_at: String,
    pub title: String,
    pub target: TargetInfo,
    /// `pass` when no check failed.
    pub result: Status,
    pub summary: Summary,
    /// Remarks on the run itself (live checks skipped, selection).
    pub notes: Vec<String>,
    pub checks: Vec<CheckEntry>,
    pub tom: Vec<TomGoal>,
    pub records_of_processing: Vec<RopaField>,
    pub data_flows: Vec<DataFlow>,
    pub log_inventory: Vec<Field>,
    /// The section of `--profile NAME`; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileSection>,
}

/// The section of an audit profile: each requirement, the control that
/// meets it, and the checks whose outcome proves it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSection {
    pub name: &'static str,
    pub title: String,
    pub intro: String,
    /// `pass` only when every requirement is met by Kabine and proven by
    /// passed checks; never while a requirement is met only in part.
    pub status: Status,
    pub verdict: String,
    /// The policy row first, then the requirements.
    pub rows: Vec<ProfileRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileRow {
    pub requirement: String,
    pub control: String,
    /// `kabine` or `partly`.
    pub coverage: profile::Coverage,
    pub coverage_label: String,
    pub checks: Vec<ProfileCheck>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileCheck {
    pub id: &'static str,
    pub title: String,
    /// `None` when the check was not run (`--only`).
    pub status: Option<Status>,
}

fn profile_section(run: &AuditRun, policy: &Policy, lang: Lang) -> Option<ProfileSection> {
    let applied = profile::apply(run.profile?, run, policy);
    let row = |r: &profile::Row| ProfileRow {
        requirement: r.requirement.get(lang).to_string(),
        control: r.control.get(lang).to_string(),
        coverage: r.coverage,
        coverage_label: tr(
            match r.coverage {
                profile::Coverage::Kabine => "profile.coverage.kabine",
                profile::Coverage::Partly => "profile.coverage.partly",
            },
            lang,
        ),
        checks: r
            .checks
            .iter()
            .map(|(id, status)| ProfileCheck {
                id,
                title: catalogue::entry(id).map_or_else(|| id.to_string(), |e| e.title.get(lang).to_string()),
                status: *status,
            })
            .collect(),
        status: r.status,
    };
    let rows: Vec<ProfileRow> = std::iter::once(&applied.policy).chain(&applied.rows).map(row).collect();
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count().to_string();
    let total = rows.len().to_string();
    let (failed, open) = (count(Status::Fail), count(Status::Warn));
    let vars = [("total", total.as_str()), ("failed", failed.as_str()), ("open", open.as_str())];
    let verdict_key = match applied.status {
        Status::Pass => "profile.verdict.pass",
        Status::Fail => "profile.verdict.fail",
        Status::Warn | Status::NotApplicable => "profile.verdict.warn",
    };
    Some(ProfileSection {
        name: applied.name,
        title: t("section.profile", &[("profile", applied.name)]).get(lang).to_string(),
        intro: tr(&format!("profile.{}.intro", applied.name), lang),
        status: applied.status,
        verdict: t(verdict_key, &vars).get(lang).to_string(),
        rows,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub config: String,
    pub url: Option<String>,
    pub policy: String,
    pub only: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub warnings: usize,
    pub not_applicable: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `gdpr`, `dsk`, `bsi`, `mozilla`, `asvs`, `other`.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckEntry {
    pub id: &'static str,
    pub kind: Kind,
    pub title: String,
    pub status: Status,
    pub summary: String,
    pub evidence: Vec<String>,
    pub measures: String,
    /// SDM protection goals, by key (`confidentiality`, …).
    pub sdm: Vec<&'static str>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckRef {
    pub id: &'static str,
    pub title: String,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct TomGoal {
    pub key: &'static str,
    pub name: &'static str,
    pub description: String,
    /// Measures Kabine implements, with the checks that measured them.
    pub technical: Vec<CheckRef>,
    /// Measures the controller confirms or adds.
    pub organisational: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub label: String,
    pub value: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RopaField {
    /// The provision of Art. 30(1) GDPR the field answers, if any.
    pub provision: Option<String>,
    pub label: String,
    pub value: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataFlow {
    pub from: String,
    pub to: String,
    pub channel: String,
    pub data: String,
    pub protection: String,
    pub active: bool,
}

fn sdm_goals(e: &catalogue::Entry) -> Vec<&'static str> {
    e.sdm.iter().map(|g| g.key()).collect()
}

fn sources(e: &catalogue::Entry, lang: Lang) -> Vec<Source> {
    let mut v: Vec<Source> = e.gdpr.iter().map(|g| Source { kind: "gdpr", text: cite_gdpr(g, lang) }).collect();
    if let Some(d) = &e.dsk {
        v.push(Source { kind: "dsk", text: format!("{}: {d}", t("source.dsk", &[]).get(lang)) });
    }
    if let Some(b) = &e.bsi {
        v.push(Source { kind: "bsi", text: format!("BSI TR-02102-2: {b}") });
    }
    if let Some(m) = &e.mozilla {
        v.push(Source { kind: "mozilla", text: format!("{}: {m}", t("source.mozilla", &[]).get(lang)) });
    }
    if !e.asvs.is_empty() {
        let list: Vec<String> = e.asvs.iter().map(|a| format!("V{a}")).collect();
        v.push(Source { kind: "asvs", text: format!("OWASP ASVS 4.0: {}", list.join(", ")) });
    }
    for o in &e.other {
        v.push(Source { kind: "other", text: o.clone() });
    }
    v
}

/// Builds the report for `run` in `lang`.
pub fn build(run: &AuditRun, loaded: &LoadedConfig, policy: &Policy, lang: Lang) -> Report {
    let c = &loaded.config;
    let status_of = |id: &str| run.results.iter().find(|r| r.id == id).map(|r| r.outcome.status);
    let checks: Vec<CheckEntry> = run
        .results
        .iter()
        .map(|r| {
            let e = catalogue::entry(r.id);
            CheckEntry {
                id: r.id,
                kind: r.kind,
                title: e.map_or_else(|| r.id.to_string(), |e| e.title.get(lang).to_string()),
                status: r.outcome.status,
                summary: r.outcome.summary.get(lang).to_string(),
                evidence: r.outcome.evidence.iter().map(|m| m.get(lang).to_string()).collect(),
                measures: e.map(|e| e.measures.get(lang).to_string()).unwrap_or_default(),
                sdm: e.map(sdm_goals).unwrap_or_default(),
                sources: e.map(|e| sources(e, lang)).unwrap_or_default(),
            }
        })
        .collect();
    let summary = Summary {
        total: checks.len(),
        passed: run.count(Status::Pass),
        failed: run.count(Status::Fail),
        warnings: run.count(Status::Warn),
        not_applicable: run.count(Status::NotApplicable),
    };

    let mut notes = Vec::new();
    if run.url.is_none() {
        notes.push(t("note.no_url", &[]).get(lang).to_string());
    }
    if !run.only.is_empty() {
        notes.push(t("note.only", &[("only", &run.only.join(", "))]).get(lang).to_string());
    }

    let tom = SdmGoal::ALL
        .iter()
        .map(|g| TomGoal {
            key: g.key(),
            name: g.name(lang),
            description: t(&format!("tom.{}.description", g.key()), &[]).get(lang).to_string(),
            technical: checks
                .iter()
                .filter(|ch| ch.sdm.contains(&g.key()))
                .map(|ch| CheckRef { id: ch.id, title: ch.title.clone(), status: ch.status })
                .collect(),
            organisational: t(&format!("tom.{}.organisational", g.key()), &[])
                .get(lang)
                .split('\n')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
        .collect();

    // Values the fixed texts are filled with.
    let url = run.url.clone().or_else(|| c.server.public_url.clone()).unwrap_or_else(|| "—".into());
    let ice_hosts: Vec<String> = run
        .facts
        .ice_servers_live
        .clone()
        .unwrap_or_else(|| c.media.ice_servers.iter().flat_map(|s| s.urls.clone()).collect())
        .iter()
        .filter_map(|u| crate::config::ice_url_host(u).ok())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let retention = match c.log.target {
        LogTarget::File => {
            t("value.retention.file", &[("days", &c.log.retention_days.min(policy.log.max_retention_days).to_string())])
        }
        LogTarget::Stderr => t("value.retention.journal", &[("days", &policy.log.max_retention_days.to_string())]),
    };
    let retention_short = match c.log.target {
        LogTarget::File => t(
            "value.retention_short.file",
            &[("days", &c.log.retention_days.min(policy.log.max_retention_days).to_string())],
        ),
        LogTarget::Stderr => t("value.retention_short.journal", &[]),
    };
    let level_key = format!("value.level.{}", c.log.level.min(policy.log.max_level).as_str());
    let level = t(&level_key, &[]);
    let transfers_ok = [
        ("static.ice.eu-allow-list"),
        ("static.client.third-party"),
        ("live.ice.eu-allow-list"),
        ("live.client.no-third-party"),
    ]
    .iter()
    .all(|id| status_of(id).is_none_or(|s| s != Status::Fail));
    let tls_versions = if run.facts.tls_versions.is_empty() {
        if c.tls.min_version >= crate::config::TlsVersion::V1_3 {
            "TLS 1.3".to_string()
        } else {
            "TLS 1.2, TLS 1.3".to_string()
        }
    } else {
        run.facts.tls_versions.join(", ")
    };
    let vars: Vec<(&str, String)> = vec![
        ("app_name", c.client.app_name.clone()),
        ("url", url.clone()),
        ("policy", policy.name.clone()),
        ("level", level.get(lang).to_string()),
        ("retention", retention.get(lang).to_string()),
        ("retention_short", retention_short.get(lang).to_string()),
        ("log_dir", c.log.directory.display().to_string()),
        ("udp_port", c.media.udp_port.to_string()),
        ("tls_versions", tls_versions),
        (
            "ice_hosts",
            if ice_hosts.is_empty() { t("value.none", &[]).get(lang).to_string() } else { ice_hosts.join(", ") },
        ),
        ("max_participants", c.rooms.max_participants.to_string()),
        ("idle", c.access.session_idle_timeout_minutes.to_string()),
        ("life", c.access.session_lifetime_hours.to_string()),
        ("record_hours", c.teletherapy.record_retention_hours.to_string()),
        ("grace", crate::room::MEETING_GRACE.as_secs().to_string()),
        ("max_wait", c.rooms.max_wait_minutes.to_string()),
        ("ldap_host", c.ldap.url.clone().unwrap_or_default()),
        ("acme_ca", c.tls.acme.as_ref().map(|a| policy::acme_ca(&a.directory).name).unwrap_or_default()),
        ("acme_contact", c.tls.acme.as_ref().and_then(|a| a.contact.clone()).unwrap_or_else(|| "—".into())),
    ];
    let v: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tx = |key: &str| t(key, &v).get(lang).to_string();
    let lines = |key: &str| -> Vec<String> {
        tx(key).split('\n').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    };

    let ldap = c.ldap.url.is_some();
    let local_users = matches!(
        crate::auth::store::inspect(&loaded.resolve_path(&c.access.users_file)),
        policy::UserStoreFacts::Present { users, .. } if users > 0
    );
    let accounts = ldap || local_users;
    let mut recipients = lines("ropa.recipients.value");
    if !ice_hosts.is_empty() {
        recipients.push(tx("ropa.recipients.ice"));
    }
    if ldap {
        recipients.push(tx("ropa.recipients.ldap"));
    }
    // The ACME CA: a recipient, and a transfer unless it is known to be in the EU.
    let acme_in_eu = c.tls.acme.as_ref().map(|a| policy::acme_ca(&a.directory).in_eu);
    if acme_in_eu.is_some() {
        recipients.push(tx("ropa.recipients.acme"));
    }
    let mut data_categories = lines("ropa.data.value");
    let p2p = policy::p2p_in_use(loaded, policy);
    data_categories.push(tx(if p2p { "ropa.data.p2p_on" } else { "ropa.data.p2p_off" }));
    let e2ee = c.e2ee.mode;
    data_categories.push(tx(match e2ee {
        crate::config::E2eeMode::Required => "ropa.data.e2ee_required",
        crate::config::E2eeMode::Optional => "ropa.data.e2ee_optional",
        crate::config::E2eeMode::Off => "ropa.data.e2ee_off",
    }));
    if local_users {
        data_categories.push(tx("ropa.data.local_accounts"));
    }
    if ldap {
        data_categories.push(tx("ropa.data.ldap_accounts"));
    }
    if accounts {
        data_categories.push(tx("ropa.data.sessions"));
    }
    if c.teletherapy.enabled {
        data_categories.push(tx("ropa.data.appointments"));
    }
    let mut erasure = lines("ropa.erasure.value");
    if accounts {
        erasure.push(tx("ropa.erasure.sessions"));
    }
    if local_users {
        erasure.push(tx("ropa.erasure.local_accounts"));
    }
    if c.teletherapy.enabled {
        erasure.push(tx("ropa.erasure.appointments"));
    }
    let ropa = vec![
        RopaField {
            provision: Some("30(1)(a)".into()),
            label: tx("ropa.controller.label"),
            value: lines("ropa.controller.value"),
        },
        RopaField { provision: None, label: tx("ropa.name.label"), value: lines("ropa.name.value") },
        RopaField {
            provision: Some("30(1)(b)".into()),
            label: tx("ropa.purposes.label"),
            value: lines("ropa.purposes.value"),
        },
        RopaField { provision: None, label: tx("ropa.legal_basis.label"), value: lines("ropa.legal_basis.value") },
        RopaField {
            provision: Some("30(1)(c)".into()),
            label: tx("ropa.subjects.label"),
            value: lines("ropa.subjects.value"),
        },
        RopaField { provision: Some("30(1)(c)".into()), label: tx("ropa.data.label"), value: data_categories },
        RopaField { provision: Some("30(1)(d)".into()), label: tx("ropa.recipients.label"), value: recipients },
        RopaField {
            provision: Some("30(1)(e)".into()),
            label: tx("ropa.transfers.label"),
            value: {
                let mut v = lines(if transfers_ok { "ropa.transfers.none" } else { "ropa.transfers.check" });
                match acme_in_eu {
                    Some(Some(true)) | None => {}
                    Some(Some(false)) => v.push(tx("ropa.transfers.acme")),
                    Some(None) => v.push(tx("ropa.transfers.acme_unknown")),
                }
                v
            },
        },
        RopaField { provision: Some("30(1)(f)".into()), label: tx("ropa.erasure.label"), value: erasure },
        RopaField { provision: Some("30(1)(g)".into()), label: tx("ropa.tom.label"), value: lines("ropa.tom.value") },
    ]
    .into_iter()
    .map(|mut f| {
        f.provision = f.provision.map(|p| cite_gdpr(&p, lang));
        f
    })
    .collect();

    let flow = |key: &str, active: bool| DataFlow {
        from: tx(&format!("flow.{key}.from")),
        to: tx(&format!("flow.{key}.to")),
        channel: tx(&format!("flow.{key}.channel")),
        data: tx(&format!("flow.{key}.data")),
        protection: tx(&format!("flow.{key}.protection")),
        active,
    };
    let mut page = flow("page", true);
    if accounts {
        page.data = tx("flow.page.data_login");
    }
    let mut media = flow("media", true);
    match e2ee {
        crate::config::E2eeMode::Required => media.protection = tx("flow.media.protection_e2ee"),
        crate::config::E2eeMode::Optional => media.protection = tx("flow.media.protection_e2ee_optional"),
        crate::config::E2eeMode::Off => {}
    }
    let data_flows = vec![
        page,
        flow("signalling", true),
        media,
        flow("p2p", p2p),
        flow("ice", !ice_hosts.is_empty()),
        flow("ldap", ldap),
        flow("logs", true),
        flow("other", true),
    ];

    let where_logs = match c.log.target {
        LogTarget::File => tx("logs.where.file"),
        LogTarget::Stderr => tx("logs.where.stderr"),
    };
    let redaction_status =
        |id: &str| status_of(id).map_or_else(|| tx("logs.not_checked"), |s| status_label(s, lang).to_string());
    let log_inventory = vec![
        Field { label: tx("logs.what.label"), value: lines("logs.what.value") },
        Field { label: tx("logs.never.label"), value: lines("logs.never.value") },
        Field { label: tx("logs.where.label"), value: vec![where_logs] },
        Field { label: tx("logs.retention.label"), value: vec![retention.get(lang).to_string()] },
        Field {
            label: tx("logs.redaction.label"),
            value: vec![
                tx("logs.redaction.value"),
                format!("static.log.redaction: {}", redaction_status("static.log.redaction")),
                format!("live.logs.no-addresses: {}", redaction_status("live.logs.no-addresses")),
            ],
        },
        Field { label: tx("logs.access.label"), value: lines("logs.access.value") },
    ];

    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool { name: "kabine", version: env!("CARGO_PKG_VERSION") },
        language: lang,
        generated_at: time::rfc3339(run.finished),
        title: tx("report.title"),
        target: TargetInfo {
            config: loaded.source_name(),
            url: run.url.clone(),
            policy: policy.name.clone(),
            only: run.only.clone(),
        },
        result: if run.passed() { Status::Pass } else { Status::Fail },
        summary,
        notes,
        checks,
        tom,
        records_of_processing: ropa,
        data_flows,
        log_inventory,
        profile: profile_section(run, policy, lang),
    }
}

/// The word for a status.
pub fn status_label(s: Status, lang: Lang) -> &'static str {
    match (s, lang) {
        (Status::Pass, Lang::De) => "bestanden",
        (Status::Fail, Lang::De) => "nicht bestanden",
        (Status::Warn, Lang::De) => "Warnung",
        (Status::NotApplicable, Lang::De) => "nicht anwendbar",
        (Status::Pass, Lang::En) => "passed",
        (Status::Fail, Lang::En) => "failed",
        (Status::Warn, Lang::En) => "warning",
        (Status::NotApplicable, Lang::En) => "not applicable",
    }
}

/// Renders the report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            // Serializing plain data with string keys cannot fail.
            let mut s = serde_json::to_string_pretty(report).expect("the report serializes");
            s.push('\n');
            s
        }
        Format::Md => markdown::render(report),
        Format::Html => html::render(report),
    }
}

/// Fixed text in the report's language.
fn tr(key: &str, lang: Lang) -> String {
    t(key, &[]).get(lang).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Facts;
    use std::time::SystemTime;

    fn erasure(lang: Lang) -> Vec<String> {
        let loaded = LoadedConfig::demo();
        let policy = Policy::for_config(&loaded).expect("policy");
        let now = SystemTime::now();
        let run = AuditRun {
            results: Vec::new(),
            started: now,
            finished: now,
            url: None,
            only: Vec::new(),
            profile: None,
            facts: Facts::default(),
        };
        let report = build(&run, &loaded, &policy, lang);
        let label = tr("ropa.erasure.label", lang);
        let field = report.records_of_processing.iter().find(|f| f.label == label);
        field.expect("the record of processing has time limits for erasure").value.clone()
    }

    /// What is overwritten at a meeting's end is what `room` zeroizes; chat
    /// text and names copied into network messages are only freed, and an
    /// empty meeting is kept for reconnects (`MEETING_GRACE`).
    #[test]
    fn the_erasure_periods_say_exactly_what_is_overwritten_and_what_is_only_freed() {
        let grace = crate::room::MEETING_GRACE.as_secs();
        let en = erasure(Lang::En).join("\n");
        assert!(en.contains(&format!("keeps the empty meeting {grace} seconds")), "{en}");
        assert!(en.contains("the room password, the names of those waiting in the lobby"), "{en}");
        assert!(en.contains("overwritten with zeros"), "{en}");
        assert!(en.contains("Chat and lobby messages: not stored"), "{en}");
        assert!(
            en.contains(
                "waiting for the host of a room not opened yet: when they stop waiting, after 30 minutes at the latest"
            ),
            "{en}"
        );
        assert!(en.contains("released after sending but not overwritten"), "{en}");
        assert!(!en.contains("it lives in memory only and is overwritten then"), "{en}");
        let de = erasure(Lang::De).join("\n");
        assert!(de.contains(&format!("das leere Treffen noch {grace} Sekunden")), "{de}");
        assert!(de.contains("mit Nullen überschrieben"), "{de}");
        assert!(de.contains("Chat- und Lobby-Nachrichten: werden nicht gespeichert"), "{de}");
        assert!(de.contains("freigegeben, aber nicht überschrieben"), "{de}");
        assert!(de.contains("spätestens nach 30 Minuten"), "{de}");
        for placeholder in ["{grace}", "{max_wait}"] {
            assert!(!de.contains(placeholder) && !en.contains(placeholder), "{placeholder} is filled");
        }
    }
}
