//! The report as Markdown (CommonMark with GitHub tables).

use std::fmt::Write as _;

use super::{Report, status_label, tr};
use crate::audit::Status;
use crate::audit::catalogue::SdmGoal;

/// Escapes text for a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn status(s: Status, report: &Report) -> String {
    let label = status_label(s, report.language);
    match s {
        Status::Fail => format!("**{}**", label.to_uppercase()),
        Status::Warn => format!("*{label}*"),
        _ => label.to_string(),
    }
}

pub fn render(r: &Report) -> String {
    let l = r.language;
    let mut o = String::new();
    // Writing to a String cannot fail; the results are ignored throughout.
    let _ = writeln!(o, "# {}\n", r.title);
    let _ = writeln!(o, "- {}: {}", tr("label.generated", l), r.generated_at);
    let _ = writeln!(o, "- {}: {}", tr("label.server", l), r.target.url.as_deref().unwrap_or("—"));
    let _ = writeln!(o, "- {}: `{}`", tr("label.config", l), r.target.config);
    let _ = writeln!(o, "- {}: „{}“", tr("label.policy", l), r.target.policy);
    let _ = writeln!(o, "- {}: kabine {}\n", tr("label.tool", l), r.tool.version);

    let _ = writeln!(o, "## {}\n", tr("section.summary", l));
    let s = &r.summary;
    let _ = writeln!(
        o,
        "**{}: {}** — {}\n",
        tr("label.result", l),
        status_label(r.result, l),
        tr("summary.counts", l)
            .replace("{total}", &s.total.to_string())
            .replace("{passed}", &s.passed.to_string())
            .replace("{failed}", &s.failed.to_string())
            .replace("{warnings}", &s.warnings.to_string())
            .replace("{not_applicable}", &s.not_applicable.to_string())
    );
    for n in &r.notes {
        let _ = writeln!(o, "> {n}\n");
    }
    let _ = writeln!(o, "### {}\n", tr("label.action", l));
    let mut any = false;
    for st in [Status::Fail, Status::Warn] {
        for c in r.checks.iter().filter(|c| c.status == st) {
            any = true;
            let _ = writeln!(o, "- {} — {} (`{}`): {}", status(c.status, r), c.title, c.id, c.summary);
        }
    }
    if !any {
        let _ = writeln!(o, "{}", tr("summary.no_action", l));
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "## {}\n", tr("section.overview", l));
    let _ = writeln!(o, "| {} | {} | ID |", tr("label.status", l), tr("label.check", l));
    let _ = writeln!(o, "|---|---|---|");
    for c in &r.checks {
        let _ = writeln!(o, "| {} | {} | `{}` |", status(c.status, r), cell(&c.title), c.id);
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "## {}\n", tr("section.checks", l));
    for c in &r.checks {
        let _ = writeln!(o, "### {} — {}\n", c.title, status(c.status, r));
        let _ = writeln!(o, "`{}` · {}\n", c.id, tr(&format!("kind.{}", kind_key(c.kind)), l));
        let _ = writeln!(o, "{}\n", c.summary);
        if !c.evidence.is_empty() {
            let _ = writeln!(o, "**{}:**\n", tr("label.evidence", l));
            for e in &c.evidence {
                let _ = writeln!(o, "- {e}");
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "**{}:** {}\n", tr("label.measures", l), c.measures);
        let goals: Vec<&str> =
            c.sdm.iter().filter_map(|k| SdmGoal::ALL.iter().find(|g| g.key() == *k)).map(|g| g.name(l)).collect();
        let _ = writeln!(o, "**{}:** {}\n", tr("label.sdm", l), goals.join(", "));
        let _ = writeln!(o, "**{}:**\n", tr("label.sources", l));
        for src in &c.sources {
            let _ = writeln!(o, "- {}", src.text);
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## {}\n", tr("section.tom", l));
    let _ = writeln!(o, "{}\n", tr("tom.intro", l));
    for g in &r.tom {
        let _ = writeln!(o, "### {}\n", g.name);
        let _ = writeln!(o, "{}\n", g.description);
        let _ = writeln!(o, "**{}:**\n", tr("tom.technical", l));
        for c in &g.technical {
            let _ = writeln!(o, "- {} (`{}`): {}", c.title, c.id, status(c.status, r));
        }
        let _ = writeln!(o, "\n**{}:**\n", tr("tom.organisational", l));
        for m in &g.organisational {
            let _ = writeln!(o, "- [ ] {m}");
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## {}\n", tr("section.ropa", l));
    let _ = writeln!(o, "{}\n", tr("ropa.intro", l));
    for f in &r.records_of_processing {
        match &f.provision {
            Some(p) => {
                let _ = writeln!(o, "**{}** ({p})\n", f.label);
            }
            None => {
                let _ = writeln!(o, "**{}**\n", f.label);
            }
        }
        for v in &f.value {
            let _ = writeln!(o, "- {v}");
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## {}\n", tr("section.flows", l));
    let _ = writeln!(o, "{}\n", tr("flows.intro", l));
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | {} | {} |",
        tr("flows.from", l),
        tr("flows.to", l),
        tr("flows.channel", l),
        tr("flows.data", l),
        tr("flows.protection", l),
        tr("flows.active", l)
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for f in &r.data_flows {
        let active = if f.active { tr("word.yes", l) } else { tr("word.no", l) };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&f.from),
            cell(&f.to),
            cell(&f.channel),
            cell(&f.data),
            cell(&f.protection),
            active
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "## {}\n", tr("section.logs", l));
    for f in &r.log_inventory {
        let _ = writeln!(o, "**{}**\n", f.label);
        for v in &f.value {
            let _ = writeln!(o, "- {v}");
        }
        let _ = writeln!(o);
    }
    if let Some(p) = &r.profile {
        let _ = writeln!(o, "## {}\n\n{}\n", p.title, p.intro);
        let _ = writeln!(o, "**{}: {}** — {}\n", tr("profile.result", l), status_label(p.status, l), p.verdict);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |\n|---|---|---|---|---|",
            tr("profile.col.requirement", l),
            tr("label.status", l),
            tr("profile.col.control", l),
            tr("profile.col.coverage", l),
            tr("profile.col.checks", l)
        );
        for row in &p.rows {
            let checks: Vec<String> = row
                .checks
                .iter()
                .map(|c| match c.status {
                    Some(s) => format!("`{}` ({})", c.id, status(s, r)),
                    None => format!("`{}` ({})", c.id, tr("profile.not_run", l)),
                })
                .collect();
            let checks = if checks.is_empty() { tr("profile.none", l) } else { checks.join(", ") };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&row.requirement),
                status(row.status, r),
                cell(&row.control),
                cell(&row.coverage_label),
                cell(&checks)
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "---\n\n{}", tr("report.footer", l));
    o
}

pub(super) fn kind_key(k: crate::audit::Kind) -> &'static str {
    match k {
        crate::audit::Kind::Static => "static",
        crate::audit::Kind::Live => "live",
    }
}
