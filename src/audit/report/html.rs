//! The report as one self-contained HTML file: no external style sheets,
//! fonts, scripts or images (its own Content-Security-Policy forbids them),
//! semantic headings and tables for screen readers, and a print layout.

use std::fmt::Write as _;

use super::markdown::kind_key;
use super::{Report, status_label, tr};
use crate::audit::Status;
use crate::audit::catalogue::SdmGoal;

static TEMPLATE: &str = include_str!("../../../audit/templates/report.html");
static CSS: &str = include_str!("../../../audit/templates/report.css");

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Escapes text and turns `backticked` parts into `<code>`.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Warn => "warn",
        Status::NotApplicable => "not_applicable",
    }
}

fn badge(s: Status, r: &Report) -> String {
    let symbol = match s {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Warn => "!",
        Status::NotApplicable => "–",
    };
    format!(
        "<span class=\"status {}\"><span aria-hidden=\"true\">{symbol} </span>{}</span>",
        status_class(s),
        esc(status_label(s, r.language))
    )
}

fn anchor(id: &str) -> String {
    format!("check-{}", id.replace('.', "-"))
}

pub fn render(r: &Report) -> String {
    let l = r.language;
    let mut b = String::new();
    // Writing to a String cannot fail; the results are ignored throughout.
    let _ = writeln!(b, "<a class=\"skip\" href=\"#checks\">{}</a>", esc(&tr("html.skip", l)));
    let _ = writeln!(b, "<header>\n<h1>{}</h1>\n<dl class=\"meta\">", esc(&r.title));
    for (k, v) in [
        ("label.generated", r.generated_at.clone()),
        ("label.server", r.target.url.clone().unwrap_or_else(|| "—".into())),
        ("label.config", r.target.config.clone()),
        ("label.policy", r.target.policy.clone()),
        ("label.tool", format!("kabine {}", r.tool.version)),
    ] {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", esc(&tr(k, l)), esc(&v));
    }
    let _ = writeln!(b, "</dl>\n</header>\n<main>");

    // Summary
    let s = &r.summary;
    let _ = writeln!(
        b,
        "<section id=\"summary\" aria-labelledby=\"h-summary\">\n<h2 id=\"h-summary\">{}</h2>",
        esc(&tr("section.summary", l))
    );
    let _ = writeln!(
        b,
        "<p class=\"result {}\"><strong>{}: {}</strong></p>",
        status_class(r.result),
        esc(&tr("label.result", l)),
        esc(status_label(r.result, l))
    );
    let _ = writeln!(b, "<ul class=\"counts\">");
    for (st, n, key) in [
        (Status::Pass, s.passed, "count.passed"),
        (Status::Fail, s.failed, "count.failed"),
        (Status::Warn, s.warnings, "count.warnings"),
        (Status::NotApplicable, s.not_applicable, "count.not_applicable"),
    ] {
        let _ = writeln!(b, "<li>{} <strong>{n}</strong> {}</li>", badge(st, r), esc(&tr(key, l)));
    }
    let _ = writeln!(b, "<li>{} <strong>{}</strong></li>\n</ul>", esc(&tr("count.total", l)), s.total);
    for n in &r.notes {
        let _ = writeln!(b, "<p class=\"note\">{}</p>", inline(n));
    }
    let _ = writeln!(b, "<h3>{}</h3>", esc(&tr("label.action", l)));
    let actions: Vec<_> =
        [Status::Fail, Status::Warn].iter().flat_map(|st| r.checks.iter().filter(move |c| c.status == *st)).collect();
    if actions.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(&tr("summary.no_action", l)));
    } else {
        let _ = writeln!(b, "<ul class=\"actions\">");
        for c in actions {
            let _ = writeln!(
                b,
                "<li>{} <a href=\"#{}\">{}</a>: {}</li>",
                badge(c.status, r),
                anchor(c.id),
                esc(&c.title),
                inline(&c.summary)
            );
        }
        let _ = writeln!(b, "</ul>");
    }
    let _ = writeln!(b, "</section>");

    let _ = writeln!(
        b,
        "<section id=\"overview\" aria-labelledby=\"h-overview\">\n<h2 id=\"h-overview\">{}</h2>\n<table class=\"overview\">\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">ID</th></tr></thead>\n<tbody>",
        esc(&tr("section.overview", l)),
        esc(&tr("summary.caption", l)),
        esc(&tr("label.status", l)),
        esc(&tr("label.check", l)),
    );
    for c in &r.checks {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td><code>{}</code></td></tr>",
            badge(c.status, r),
            anchor(c.id),
            esc(&c.title),
            esc(c.id),
        );
    }
    let _ = writeln!(b, "</tbody>\n</table>\n</section>");

    if let Some(p) = &r.profile {
        profile(&mut b, r, p);
    }

    // Checks
    let _ = writeln!(
        b,
        "<section id=\"checks\" aria-labelledby=\"h-checks\">\n<h2 id=\"h-checks\">{}</h2>",
        esc(&tr("section.checks", l))
    );
    for c in &r.checks {
        let _ = writeln!(b, "<article id=\"{}\" class=\"check {}\">", anchor(c.id), status_class(c.status));
        let _ = writeln!(b, "<h3><span>{}</span> {}</h3>", esc(&c.title), badge(c.status, r));
        let _ = writeln!(
            b,
            "<p class=\"id\"><code>{}</code> · {}</p>",
            esc(c.id),
            esc(&tr(&format!("kind.{}", kind_key(c.kind)), l))
        );
        let _ = writeln!(b, "<p>{}</p>", inline(&c.summary));
        if !c.evidence.is_empty() {
            let _ = writeln!(b, "<h4>{}</h4>\n<ul class=\"evidence\">", esc(&tr("label.evidence", l)));
            for e in &c.evidence {
                let _ = writeln!(b, "<li>{}</li>", inline(e));
            }
            let _ = writeln!(b, "</ul>");
        }
        let goals: Vec<&str> =
            c.sdm.iter().filter_map(|k| SdmGoal::ALL.iter().find(|g| g.key() == *k)).map(|g| g.name(l)).collect();
        let _ = writeln!(b, "<dl>\n<dt>{}</dt><dd>{}</dd>", esc(&tr("label.measures", l)), inline(&c.measures));
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", esc(&tr("label.sdm", l)), esc(&goals.join(", ")));
        let _ = writeln!(b, "<dt>{}</dt><dd><ul>", esc(&tr("label.sources", l)));
        for src in &c.sources {
            let _ = writeln!(b, "<li>{}</li>", inline(&src.text));
        }
        let _ = writeln!(b, "</ul></dd>\n</dl>\n</article>");
    }
    let _ = writeln!(b, "</section>");

    // TOM
    let _ = writeln!(
        b,
        "<section id=\"tom\" aria-labelledby=\"h-tom\">\n<h2 id=\"h-tom\">{}</h2>\n<p>{}</p>",
        esc(&tr("section.tom", l)),
        inline(&tr("tom.intro", l))
    );
    for g in &r.tom {
        let _ = writeln!(b, "<h3 id=\"tom-{}\">{}</h3>\n<p>{}</p>", g.key, esc(g.name), inline(&g.description));
        let _ = writeln!(b, "<h4>{}</h4>\n<ul>", esc(&tr("tom.technical", l)));
        for c in &g.technical {
            let _ = writeln!(
                b,
                "<li><a href=\"#{}\">{}</a> <code>{}</code> {}</li>",
                anchor(c.id),
                esc(&c.title),
                esc(c.id),
                badge(c.status, r)
            );
        }
        let _ = writeln!(b, "</ul>\n<h4>{}</h4>\n<ul class=\"todo\">", esc(&tr("tom.organisational", l)));
        for m in &g.organisational {
            let _ = writeln!(b, "<li>{}</li>", inline(m));
        }
        let _ = writeln!(b, "</ul>");
    }
    let _ = writeln!(b, "</section>");

    // Records of processing
    let _ = writeln!(
        b,
        "<section id=\"ropa\" aria-labelledby=\"h-ropa\">\n<h2 id=\"h-ropa\">{}</h2>\n<p>{}</p>\n<table>\n<caption>{}</caption>\n<tbody>",
        esc(&tr("section.ropa", l)),
        inline(&tr("ropa.intro", l)),
        esc(&tr("ropa.caption", l))
    );
    for f in &r.records_of_processing {
        let provision =
            f.provision.as_ref().map(|p| format!("<br><span class=\"small\">{}</span>", esc(p))).unwrap_or_default();
        let _ = write!(b, "<tr><th scope=\"row\">{}{provision}</th><td>", esc(&f.label));
        if f.value.len() == 1 {
            let _ = write!(b, "{}", inline(&f.value[0]));
        } else {
            let _ = write!(b, "<ul>");
            for v in &f.value {
                let _ = write!(b, "<li>{}</li>", inline(v));
            }
            let _ = write!(b, "</ul>");
        }
        let _ = writeln!(b, "</td></tr>");
    }
    let _ = writeln!(b, "</tbody>\n</table>\n</section>");

    // Data flows
    let _ = writeln!(
        b,
        "<section id=\"flows\" aria-labelledby=\"h-flows\">\n<h2 id=\"h-flows\">{}</h2>\n<p>{}</p>\n<table>\n<caption>{}</caption>\n<thead><tr>",
        esc(&tr("section.flows", l)),
        inline(&tr("flows.intro", l)),
        esc(&tr("flows.caption", l))
    );
    for k in ["flows.from", "flows.to", "flows.channel", "flows.data", "flows.protection", "flows.active"] {
        let _ = write!(b, "<th scope=\"col\">{}</th>", esc(&tr(k, l)));
    }
    let _ = writeln!(b, "</tr></thead>\n<tbody>");
    for f in &r.data_flows {
        let active = if f.active { tr("word.yes", l) } else { tr("word.no", l) };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            inline(&f.from),
            inline(&f.to),
            inline(&f.channel),
            inline(&f.data),
            inline(&f.protection),
            esc(&active)
        );
    }
    let _ = writeln!(b, "</tbody>\n</table>\n</section>");

    // Log inventory
    let _ = writeln!(
        b,
        "<section id=\"logs\" aria-labelledby=\"h-logs\">\n<h2 id=\"h-logs\">{}</h2>\n<table>\n<caption>{}</caption>\n<tbody>",
        esc(&tr("section.logs", l)),
        esc(&tr("logs.caption", l))
    );
    for f in &r.log_inventory {
        let _ = write!(b, "<tr><th scope=\"row\">{}</th><td><ul>", esc(&f.label));
        for v in &f.value {
            let _ = write!(b, "<li>{}</li>", inline(v));
        }
        let _ = writeln!(b, "</ul></td></tr>");
    }
    let _ = writeln!(b, "</tbody>\n</table>\n</section>\n</main>");
    let _ = writeln!(b, "<footer><p>{}</p></footer>", inline(&tr("report.footer", l)));

    TEMPLATE
        .replace("{lang}", l.code())
        .replace("{version}", r.tool.version)
        .replace("{title}", &esc(&r.title))
        .replace("{css}", CSS)
        .replace("{body}", &b)
}

/// The section of `--profile`: one row per requirement.
fn profile(b: &mut String, r: &Report, p: &super::ProfileSection) {
    let l = r.language;
    let _ = writeln!(
        b,
        "<section id=\"profile\" aria-labelledby=\"h-profile\">\n<h2 id=\"h-profile\">{}</h2>\n<p>{}</p>",
        esc(&p.title),
        inline(&p.intro)
    );
    let _ = writeln!(
        b,
        "<p class=\"result {}\"><strong>{}: {}</strong> — {}</p>",
        status_class(p.status),
        esc(&tr("profile.result", l)),
        esc(status_label(p.status, l)),
        inline(&p.verdict)
    );
    let _ = writeln!(
        b,
        "<table class=\"profile\">\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
        esc(&p.title),
        esc(&tr("profile.col.requirement", l)),
        esc(&tr("label.status", l)),
        esc(&tr("profile.col.control", l)),
        esc(&tr("profile.col.coverage", l)),
        esc(&tr("profile.col.checks", l)),
    );
    for row in &p.rows {
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>",
            esc(&row.requirement),
            badge(row.status, r),
            inline(&row.control),
            esc(&row.coverage_label)
        );
        if row.checks.is_empty() {
            let _ = write!(b, "{}", esc(&tr("profile.none", l)));
        } else {
            let _ = write!(b, "<ul>");
            for c in &row.checks {
                let _ = match c.status {
                    Some(s) => write!(
                        b,
                        "<li><a href=\"#{}\"><code>{}</code></a> {}</li>",
                        anchor(c.id),
                        esc(c.id),
                        badge(s, r)
                    ),
                    None => write!(b, "<li><code>{}</code> {}</li>", esc(c.id), esc(&tr("profile.not_run", l))),
                };
            }
            let _ = write!(b, "</ul>");
        }
        let _ = writeln!(b, "</td></tr>");
    }
    let _ = writeln!(b, "</tbody>\n</table>\n</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_and_escaping() {
        assert_eq!(inline("a `<b>` & c"), "a <code>&lt;b&gt;</code> &amp; c");
        assert_eq!(inline("no code"), "no code");
        assert_eq!(inline("odd ` tick"), "odd <code> tick</code>");
    }
}
