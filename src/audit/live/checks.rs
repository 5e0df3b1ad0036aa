//! The live checks themselves.

use std::collections::{BTreeSet, VecDeque};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::local::{self, ChangeKind, Snapshot};
use super::session::{self, Availability};
use super::tlsprobe::{self, Answer, Version};
use super::{Crawl, Ctx, SessionResult, http, unmeasurable};
use crate::audit::scan::{self, Use};
use crate::audit::statics::expiry_outcome;
use crate::audit::text::{Msg, msg, same};
use crate::audit::{Outcome, addresses, der};
use crate::config::{LogTarget, TlsVersion};
use crate::policy;

/// HSTS must last at least a year.
const HSTS_MIN_SECONDS: u64 = 31_536_000;
/// Mozilla recommends two years.
const HSTS_RECOMMENDED_SECONDS: u64 = 63_072_000;
/// At most this many files of the client are fetched.
const CRAWL_LIMIT: usize = 200;
/// Quiet time around each protocol session for the write counter.
const IDLE: Duration = Duration::from_millis(400);
/// Protocol sessions tried to tell the server's writes from unrelated ones.
const ATTEMPTS: usize = 3;

impl Ctx<'_> {
    // ---------------------------------------------------------------- TLS

    async fn versions(&mut self) -> Result<&[(Version, Answer)], String> {
        if self.versions.is_none() {
            let addr = self.target.addr().await?;
            let mut out = Vec::new();
            for v in Version::ALL {
                let answer = tlsprobe::probe(addr, self.target.server_name(), v, &tlsprobe::suites_for(v)).await;
                out.push((v, answer));
            }
            self.versions = Some(out);
        }
        Ok(self.versions.as_deref().unwrap_or_default())
    }

    /// Whether `v` should be accepted, given the configured minimum.
    fn version_expected(&self, v: Version) -> bool {
        match v {
            Version::Tls13 => true,
            Version::Tls12 => self.loaded.config.tls.min_version <= TlsVersion::V1_2,
            _ => false,
        }
    }

    pub(super) async fn tls_versions(&mut self) -> Outcome {
        let expected: Vec<(Version, bool)> = Version::ALL.iter().map(|v| (*v, self.version_expected(*v))).collect();
        let versions = match self.versions().await {
            Ok(v) => v.to_vec(),
            Err(e) => return unmeasurable(msg("TLS-Versionen:", "TLS versions:"), &e),
        };
        let mut problems = Vec::new();
        let mut evidence = Vec::new();
        for ((v, answer), (_, want)) in versions.iter().zip(expected) {
            let got = answer.accepted(*v);
            let (de, en) = match (answer, got) {
                (_, true) => ("angenommen", "accepted"),
                (Answer::Unexpected(_), false) => ("nicht messbar", "not measurable"),
                (Answer::Accepted { .. }, false) => {
                    ("nicht angenommen, der Server wich aus", "not accepted, the server answered otherwise")
                }
                (_, false) => ("abgelehnt", "refused"),
            };
            evidence.push(msg(
                format!("{}: {de} ({})", v.name(), answer.describe()),
                format!("{}: {en} ({})", v.name(), answer.describe()),
            ));
            if got != want {
                problems.push(v.name());
            }
        }
        if problems.is_empty() {
            Outcome::pass(msg(
                "SSL 3.0, TLS 1.0 und TLS 1.1 werden abgelehnt; die konfigurierten Versionen TLS 1.2/1.3 werden angenommen.",
                "SSL 3.0, TLS 1.0 and TLS 1.1 are refused; the configured versions TLS 1.2/1.3 are accepted.",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                format!("Die angebotenen Protokollversionen entsprechen nicht den Vorgaben: {}.", problems.join(", ")),
                format!("The offered protocol versions do not meet the requirements: {}.", problems.join(", ")),
            ))
            .with_all(evidence)
        }
    }

    pub(super) async fn tls_cipher_suites(&mut self) -> Outcome {
        let versions = match self.versions().await {
            Ok(v) => v.to_vec(),
            Err(e) => return unmeasurable(msg("Cipher-Suiten:", "Cipher suites:"), &e),
        };
        let addr = match self.target.addr().await {
            Ok(a) => a,
            Err(e) => return unmeasurable(msg("Cipher-Suiten:", "Cipher suites:"), &e),
        };
        let accepted_versions: Vec<Version> =
            versions.iter().filter(|(v, a)| a.accepted(*v)).map(|(v, _)| *v).collect();
        if accepted_versions.is_empty() {
            return Outcome::fail(msg(
                "Der Server nahm keine TLS-Version an; es konnten keine Cipher-Suiten geprüft werden.",
                "The server accepted no TLS version; no cipher suites could be checked.",
            ));
        }
        let mut accepted = Vec::new();
        let mut probes = 0;
        for v in &accepted_versions {
            for code in tlsprobe::suites_for(*v) {
                probes += 1;
                if let Answer::Accepted { version, suite } =
                    tlsprobe::probe(addr, self.target.server_name(), *v, &[code]).await
                    && version == v.wire()
                    && suite == code
                {
                    accepted.push((*v, code));
                }
            }
        }
        let mut weak = Vec::new();
        let mut evidence = vec![msg(
            format!("{probes} Handshakes, je eine Cipher-Suite angeboten, in {}", names(&accepted_versions)),
            format!("{probes} handshakes, one cipher suite offered each, in {}", names(&accepted_versions)),
        )];
        for (v, code) in &accepted {
            let Some(s) = tlsprobe::suite(*code) else { continue };
            let (fs_de, fs_en) = if s.forward_secret() {
                ("vorwärtssicher", "forward-secret")
            } else {
                ("NICHT vorwärtssicher", "NOT forward-secret")
            };
            let (ae_de, ae_en) = if s.aead() { ("AEAD", "AEAD") } else { ("KEIN AEAD", "NOT AEAD") };
            let (mz_de, mz_en) = if s.mozilla_intermediate() {
                ("in Mozilla „intermediate“", "in Mozilla \"intermediate\"")
            } else {
                ("nicht in Mozilla „intermediate“", "not in Mozilla \"intermediate\"")
            };
            evidence.push(msg(
                format!("{}: `{}` — {fs_de}, {ae_de}, {mz_de}", v.name(), s.name),
                format!("{}: `{}` — {fs_en}, {ae_en}, {mz_en}", v.name(), s.name),
            ));
            if !(s.forward_secret() && s.aead()) {
                weak.push(s.name);
            }
        }
        if accepted.is_empty() {
            return Outcome::fail(msg(
                "Keine der angebotenen Cipher-Suiten wurde einzeln angenommen; die Auswahl des Servers ist nicht bestimmbar.",
                "None of the offered cipher suites was accepted on its own; the server's selection cannot be determined.",
            ))
            .with_all(evidence);
        }
        if weak.is_empty() {
            Outcome::pass(msg(
                format!("Der Server nimmt nur vorwärtssichere AEAD-Cipher-Suiten an ({} Suiten).", accepted.len()),
                format!("The server accepts forward-secret AEAD cipher suites only ({} suites).", accepted.len()),
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                format!("Der Server nimmt {} Cipher-Suite(n) ohne Vorwärtssicherheit oder ohne AEAD an.", weak.len()),
                format!("The server accepts {} cipher suite(s) without forward secrecy or without AEAD.", weak.len()),
            ))
            .with_all(evidence)
        }
    }

    async fn chain(&mut self) -> Result<Vec<CertificateDer<'static>>, String> {
        if self.chain.is_none() {
            self.chain = Some(http::peer_chain(&self.target).await);
        }
        self.chain.clone().unwrap_or_else(|| Err("not fetched".into()))
    }

    /// The server presents Kabine's own demo certificate, as configured
    /// (no certificate files, and the leaf names itself so).
    fn is_demo_certificate(&self, chain: &[CertificateDer<'_>]) -> bool {
        self.loaded.config.tls.cert_file.is_none()
            && chain
                .first()
                .and_then(|c| der::parse_certificate(c).ok())
                .is_some_and(|i| i.self_issued && i.subject_cn.as_deref() == Some(crate::tls::DEMO_CERT_NAME))
    }

    pub(super) async fn certificate_trust(&mut self) -> Outcome {
        let chain = match self.chain().await {
            Ok(c) => c,
            Err(e) => return unmeasurable(msg("Zertifikat:", "Certificate:"), &e),
        };
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (system, _) = roots.add_parsable_certificates(native.certs);
        let mut evidence = vec![msg(
            format!("Vertrauensanker: {system} aus dem Zertifikatsspeicher des Systems"),
            format!("Trust anchors: {system} from the system's certificate store"),
        )];
        for file in &self.opts.ca_files {
            use rustls::pki_types::pem::PemObject;
            let certs: Vec<_> = match CertificateDer::pem_file_iter(file) {
                Ok(it) => it.filter_map(Result::ok).collect(),
                Err(e) => {
                    return unmeasurable(msg("Zertifikat:", "Certificate:"), &format!("--ca {}: {e}", file.display()));
                }
            };
            let (added, _) = roots.add_parsable_certificates(certs);
            evidence.push(msg(
                format!("zusätzliche Vertrauensanker aus `{}`: {added}", file.display()),
                format!("additional trust anchors from `{}`: {added}", file.display()),
            ));
        }
        if let Ok(info) = der::parse_certificate(&chain[0]) {
            let names: Vec<String> =
                info.dns_names.iter().cloned().chain(info.ip_addresses.iter().map(|a| a.to_string())).collect();
            evidence.push(msg(
                format!(
                    "Zertifikat für {} (Inhaber: {}), ausgestellt von {}; Schlüssel {}; Kette mit {} Zertifikat(en)",
                    names.join(", "),
                    info.subject_cn.clone().unwrap_or_else(|| "—".into()),
                    info.issuer_cn.clone().unwrap_or_else(|| "—".into()),
                    info.key,
                    chain.len()
                ),
                format!(
                    "Certificate for {} (subject: {}), issued by {}; key {}; chain of {} certificate(s)",
                    names.join(", "),
                    info.subject_cn.clone().unwrap_or_else(|| "—".into()),
                    info.issuer_cn.clone().unwrap_or_else(|| "—".into()),
                    info.key,
                    chain.len()
                ),
            ));
            if info.rsa_bits.is_some_and(|b| b < 2048) {
                return Outcome::fail(msg(
                    format!("Der RSA-Schlüssel des Zertifikats ist zu kurz ({}).", info.key),
                    format!("The certificate's RSA key is too short ({}).", info.key),
                ))
                .with_all(evidence);
            }
        }
        let verdict = if roots.is_empty() {
            Err("no trust anchors".to_string())
        } else {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let name = ServerName::try_from(self.target.host.clone()).map_err(|e| e.to_string());
            match (rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build(), name)
            {
                (Ok(verifier), Ok(name)) => verifier
                    .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e),
            }
        };
        match verdict {
            Ok(()) => Outcome::pass(msg(
                format!("Das Zertifikat ist für `{}` gültig und führt zu einem vertrauenswürdigen Aussteller.", self.target.host),
                format!("The certificate is valid for `{}` and chains to a trusted issuer.", self.target.host),
            ))
            .with_all(evidence),
            Err(e) if self.is_demo_certificate(&chain) => Outcome::warn(msg(
                "Nicht vertrauenswürdig: Der Server verwendet das selbst signierte Demo-Zertifikat. Browser zeigen eine Warnung; für den Echtbetrieb ist ein Zertifikat einer anerkannten Stelle nötig (`tls.cert_file`).",
                "Not trusted: the server uses the self-signed demo certificate. Browsers show a warning; production needs a certificate from a recognised authority (`tls.cert_file`).",
            ))
            .with_all(evidence)
            .with(msg(format!("Ergebnis der Prüfung (webpki): {e}"), format!("Verification result (webpki): {e}"))),
            Err(e) => Outcome::fail(msg(
                format!("Das Zertifikat ist für `{}` nicht vertrauenswürdig; Browser lehnen die Verbindung ab oder warnen.", self.target.host),
                format!("The certificate is not trusted for `{}`; browsers refuse the connection or warn.", self.target.host),
            ))
            .with_all(evidence)
            .with(msg(format!("Ergebnis der Prüfung (webpki): {e}"), format!("Verification result (webpki): {e}"))),
        }
    }

    pub(super) async fn certificate_expiry(&mut self) -> Outcome {
        let chain = match self.chain().await {
            Ok(c) => c,
            Err(e) => return unmeasurable(msg("Zertifikat:", "Certificate:"), &e),
        };
        match der::parse_certificate(&chain[0]) {
            Ok(info) => {
                let (status, summary) = expiry_outcome(info.not_before, info.not_after, std::time::SystemTime::now());
                let mut o = Outcome::new(status, summary);
                if self.is_demo_certificate(&chain) {
                    o = o.with(msg(
                        "Das Demo-Zertifikat wird bei jedem Start neu erzeugt und gilt 90 Tage.",
                        "The demo certificate is made anew at every start and is valid for 90 days.",
                    ));
                }
                o
            }
            Err(e) => unmeasurable(msg("Zertifikatslaufzeit:", "Certificate validity:"), &e),
        }
    }

    // --------------------------------------------------------------- HTTP

    async fn crawl(&mut self) -> &Crawl {
        if self.crawl.is_none() {
            self.crawl = Some(crawl(&self.target).await);
        }
        // Just set above.
        self.crawl.get_or_insert_with(Crawl::default)
    }

    /// The responses the header checks look at, or why there are none.
    async fn responses(&mut self) -> Result<Vec<(String, http::Response)>, String> {
        let crawl = self.crawl().await;
        let ok: Vec<_> =
            crawl.responses.iter().filter_map(|(p, r)| r.as_ref().ok().map(|r| (p.clone(), r.clone()))).collect();
        if ok.is_empty() {
            let why = crawl
                .responses
                .first()
                .and_then(|(_, r)| r.as_ref().err().cloned())
                .unwrap_or_else(|| "no response".into());
            return Err(why);
        }
        Ok(ok)
    }

    pub(super) async fn hsts(&mut self) -> Outcome {
        let responses = match self.responses().await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("HSTS:", "HSTS:"), &e),
        };
        let mut bad = Vec::new();
        let mut values = BTreeSet::new();
        let mut shortest = u64::MAX;
        for (path, r) in &responses {
            let Some(v) = r.first("strict-transport-security") else {
                bad.push(format!("{path}: —"));
                continue;
            };
            values.insert(v.clone());
            let age = v
                .split(';')
                .find_map(|p| p.trim().strip_prefix("max-age="))
                .and_then(|a| a.trim_matches('"').parse::<u64>().ok());
            match age {
                Some(a) if a >= HSTS_MIN_SECONDS => shortest = shortest.min(a),
                _ => bad.push(format!("{path}: `{v}`")),
            }
        }
        let evidence = std::iter::once(msg(
            format!("{} Antworten geprüft", responses.len()),
            format!("{} responses checked", responses.len()),
        ))
        .chain(values.iter().map(|v| same(format!("`Strict-Transport-Security: {v}`"))));
        if !bad.is_empty() {
            return Outcome::fail(msg(
                format!(
                    "{} Antwort(en) ohne ausreichendes HSTS (mindestens ein Jahr, `max-age={HSTS_MIN_SECONDS}`).",
                    bad.len()
                ),
                format!(
                    "{} response(s) without sufficient HSTS (at least one year, `max-age={HSTS_MIN_SECONDS}`).",
                    bad.len()
                ),
            ))
            .with_all(evidence)
            .with_all(bad.into_iter().map(same));
        }
        let mut o = Outcome::pass(msg(
            "Jede Antwort verlangt mit HSTS für mindestens ein Jahr ausschließlich HTTPS.",
            "Every response demands HTTPS only, by HSTS, for at least a year.",
        ))
        .with_all(evidence);
        if shortest < HSTS_RECOMMENDED_SECONDS {
            o = o.with(msg(
                "Mozilla empfiehlt zwei Jahre (`max-age=63072000`).",
                "Mozilla recommends two years (`max-age=63072000`).",
            ));
        }
        o
    }

    fn own_origins(&self) -> Vec<String> {
        let mut v = vec![self.target.origin.clone()];
        if let Some(u) = &self.loaded.config.server.public_url {
            v.push(u.trim_end_matches('/').to_string());
        }
        v
    }

    pub(super) async fn csp(&mut self) -> Outcome {
        let responses = match self.responses().await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("CSP:", "CSP:"), &e),
        };
        let own = self.own_origins();
        let mut problems = Vec::new();
        let mut values = BTreeSet::new();
        for (path, r) in &responses {
            let policies = r.all("content-security-policy");
            let is_document = r.content_type().starts_with("text/html") || r.content_type().starts_with("image/svg");
            if policies.is_empty() {
                if is_document {
                    problems.push(msg(
                        format!("{path}: keine Content-Security-Policy"),
                        format!("{path}: no Content-Security-Policy"),
                    ));
                }
                continue;
            }
            for csp in &policies {
                values.insert(csp.clone());
                for f in policy::csp_foreign_sources(csp, &own) {
                    problems.push(msg(
                        format!("{path}: erlaubt eine andere Herkunft: `{f}`"),
                        format!("{path}: allows another origin: `{f}`"),
                    ));
                }
                let directives: Vec<(String, Vec<String>)> = csp
                    .split(';')
                    .filter_map(|d| {
                        let mut t = d.split_ascii_whitespace();
                        t.next().map(|n| (n.to_ascii_lowercase(), t.map(|x| x.to_ascii_lowercase()).collect()))
                    })
                    .collect();
                if !directives.iter().any(|(n, _)| n == "default-src") {
                    problems
                        .push(msg(format!("{path}: `default-src` fehlt"), format!("{path}: `default-src` is missing")));
                }
                let script = directives
                    .iter()
                    .find(|(n, _)| n == "script-src")
                    .or_else(|| directives.iter().find(|(n, _)| n == "default-src"));
                if let Some((_, sources)) = script {
                    for unsafe_kw in ["'unsafe-inline'", "'unsafe-eval'"] {
                        if sources.iter().any(|s| s == unsafe_kw) {
                            problems.push(msg(
                                format!("{path}: Skripte mit {unsafe_kw} erlaubt"),
                                format!("{path}: scripts allowed with {unsafe_kw}"),
                            ));
                        }
                    }
                }
            }
        }
        let matches_policy = values.len() == 1 && values.contains(policy::csp_header());
        let mut evidence: Vec<Msg> = vec![msg(
            format!("{} Antworten geprüft", responses.len()),
            format!("{} responses checked", responses.len()),
        )];
        evidence.extend(values.iter().map(|v| same(format!("`Content-Security-Policy: {v}`"))));
        evidence.push(if matches_policy {
            msg(
                "Identisch mit der Vorgabe der Datenschutzrichtlinie (`policy::csp_header`).",
                "Identical to the privacy policy's header (`policy::csp_header`).",
            )
        } else {
            msg("Weicht von der Vorgabe der Datenschutzrichtlinie ab.", "Differs from the privacy policy's header.")
        });
        if problems.is_empty() {
            Outcome::pass(msg(
                "Die Content-Security-Policy erlaubt dem Browser nur diesen Server; Inline- und eval-Skripte sind verboten.",
                "The Content-Security-Policy allows the browser this server only; inline and eval scripts are forbidden.",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                format!("Die Content-Security-Policy hat {} Mangel/Mängel.", problems.len()),
                format!("The Content-Security-Policy has {} problem(s).", problems.len()),
            ))
            .with_all(problems)
            .with_all(evidence)
        }
    }

    pub(super) async fn security_headers(&mut self) -> Outcome {
        let responses = match self.responses().await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("Sicherheits-Header:", "Security headers:"), &e),
        };
        let mut problems: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for (path, r) in &responses {
            let is_document = r.content_type().starts_with("text/html");
            let mut need = |name: &str, ok: &dyn Fn(&str) -> bool, always: bool| {
                if !(always || is_document) {
                    return;
                }
                match r.first(name) {
                    Some(v) if ok(&v.to_ascii_lowercase()) => {
                        seen.insert(format!("{name}: {v}"));
                    }
                    Some(v) => problems.push(format!("{path}: `{name}: {v}`")),
                    None => problems.push(format!("{path}: `{name}` —")),
                }
            };
            need("x-content-type-options", &|v| v == "nosniff", true);
            need(
                "referrer-policy",
                &|v| v.split(',').map(str::trim).all(|p| p == "no-referrer" || p == "same-origin"),
                true,
            );
            need("cross-origin-opener-policy", &|v| v.starts_with("same-origin"), false);
            need("cross-origin-resource-policy", &|v| v == "same-origin" || v == "same-site", true);
            need(
                "permissions-policy",
                &|v| {
                    v.split(',').all(|feature| {
                        let allow = feature.split_once('=').map_or("", |(_, a)| a.trim());
                        !allow.contains('*') && !allow.contains("http") && !allow.contains('"')
                    })
                },
                false,
            );
            if is_document {
                let xfo = r.first("x-frame-options").map(|v| v.to_ascii_lowercase());
                let frame_ancestors = r.all("content-security-policy").iter().any(|c| {
                    c.split(';').any(|d| {
                        let d = d.trim().to_ascii_lowercase();
                        d == "frame-ancestors 'none'" || d == "frame-ancestors 'self'"
                    })
                });
                match xfo.as_deref() {
                    Some("deny") | Some("sameorigin") => {
                        seen.insert(format!("x-frame-options: {}", xfo.unwrap_or_default()));
                    }
                    _ if frame_ancestors => {}
                    _ => problems.push(format!("{path}: `x-frame-options` — / `frame-ancestors` —")),
                }
            }
            if path.starts_with("/api/") || path == "/health" {
                match r.first("cache-control") {
                    Some(v) if v.to_ascii_lowercase().contains("no-store") => {
                        seen.insert(format!("cache-control ({path}): {v}"));
                    }
                    other => {
                        problems.push(format!("{path}: `cache-control: {}` (no-store)", other.unwrap_or_default()))
                    }
                }
            }
        }
        let evidence = std::iter::once(msg(
            format!("{} Antworten geprüft", responses.len()),
            format!("{} responses checked", responses.len()),
        ))
        .chain(seen.into_iter().map(|s| same(format!("`{s}`"))));
        if problems.is_empty() {
            Outcome::pass(msg(
                "Alle Antworten tragen die übrigen Sicherheits-Header: kein MIME-Sniffing, kein Referrer, keine Einbettung in fremde Seiten, Kamera und Mikrofon nur für diese Herkunft, API-Antworten nicht zwischengespeichert.",
                "Every response carries the other security headers: no MIME sniffing, no referrer, no framing by other sites, camera and microphone for this origin only, API responses not cached.",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                format!("{} Sicherheits-Header fehlen oder sind zu schwach.", problems.len()),
                format!("{} security headers are missing or too weak.", problems.len()),
            ))
            .with_all(problems.into_iter().map(same))
            .with_all(evidence)
        }
    }

    pub(super) async fn no_version_header(&mut self) -> Outcome {
        let responses = match self.responses().await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("Versions-Header:", "Version headers:"), &e),
        };
        let mut fails = BTreeSet::new();
        let mut warns = BTreeSet::new();
        for (_, r) in &responses {
            for name in
                ["x-powered-by", "x-aspnet-version", "x-aspnetmvc-version", "x-generator", "x-runtime", "x-version"]
            {
                for v in r.all(name) {
                    fails.insert(format!("{name}: {v}"));
                }
            }
            for name in ["server", "via"] {
                for v in r.all(name) {
                    if v.bytes().any(|b| b.is_ascii_digit()) {
                        fails.insert(format!("{name}: {v}"));
                    } else {
                        warns.insert(format!("{name}: {v}"));
                    }
                }
            }
        }
        let checked =
            msg(format!("{} Antworten geprüft", responses.len()), format!("{} responses checked", responses.len()));
        if !fails.is_empty() {
            Outcome::fail(msg(
                "Antworten verraten Software und Version des Servers.",
                "Responses disclose the server's software and version.",
            ))
            .with(checked)
            .with_all(fails.into_iter().map(|f| same(format!("`{f}`"))))
        } else if !warns.is_empty() {
            Outcome::warn(msg(
                "Antworten nennen die Server-Software (ohne Version).",
                "Responses name the server software (without a version).",
            ))
            .with(checked)
            .with_all(warns.into_iter().map(|f| same(format!("`{f}`"))))
        } else {
            Outcome::pass(msg(
                "Keine Antwort nennt Server-Software oder Version (`Server`, `X-Powered-By`, …).",
                "No response names server software or version (`Server`, `X-Powered-By`, …).",
            ))
            .with(checked)
        }
    }

    pub(super) async fn client_no_third_party(&mut self) -> Outcome {
        let origin = self.target.origin.clone();
        let crawl = self.crawl().await;
        if crawl.assets.is_empty() {
            let why = crawl
                .responses
                .first()
                .and_then(|(_, r)| r.as_ref().err().cloned())
                .unwrap_or_else(|| "the start page could not be fetched".into());
            return unmeasurable(msg("Client-Dateien:", "Client files:"), &why);
        }
        let mut evidence = vec![msg(
            format!(
                "{} Dateien des Clients von {origin} geladen und durchsucht: {}",
                crawl.assets.len(),
                crawl.assets.join(", ")
            ),
            format!(
                "{} files of the client fetched from {origin} and scanned: {}",
                crawl.assets.len(),
                crawl.assets.join(", ")
            ),
        )];
        for (from, url) in &crawl.links {
            evidence.push(msg(
                format!("Verweis auf eine andere Website (wird nur beim Anklicken geöffnet): `{url}` in {from}"),
                format!("Link to another website (opened only when clicked): `{url}` in {from}"),
            ));
        }
        if crawl.foreign.is_empty() {
            Outcome::pass(msg(
                "Die Startseite und alle Dateien, die sie lädt, verweisen auf keine andere Herkunft: Der Browser stellt keine Anfrage an Dritte.",
                "The start page and every file it loads refer to no other origin: the browser makes no request to third parties.",
            ))
            .with_all(evidence)
        } else {
            let findings = crawl.foreign.iter().map(|(from, origin, ctx, url)| {
                msg(format!("{from}: `{url}` ({ctx}) → {origin}"), format!("{from}: `{url}` ({ctx}) → {origin}"))
            });
            Outcome::fail(msg(
                format!("Der Client lässt den Browser {} Anfrage(n) an andere Herkünfte stellen.", crawl.foreign.len()),
                format!("The client makes the browser send {} request(s) to other origins.", crawl.foreign.len()),
            ))
            .with_all(findings.collect::<Vec<_>>())
            .with_all(evidence)
        }
    }

    pub(super) async fn no_cookies(&mut self) -> Outcome {
        let responses = match self.responses().await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("Cookies:", "Cookies:"), &e),
        };
        let mut set = BTreeSet::new();
        for (path, r) in &responses {
            for c in r.all("set-cookie") {
                // The name only: a value may identify the browser.
                let name = c.split('=').next().unwrap_or_default().trim().to_string();
                set.insert(format!("{path}: `{name}`"));
            }
        }
        let checked = msg(
            format!("{} Antworten ohne Anmeldung geprüft (Seiten, Client-Dateien, API)", responses.len()),
            format!("{} responses checked without logging in (pages, client files, API)", responses.len()),
        );
        if set.is_empty() {
            Outcome::pass(msg(
                "Ohne Anmeldung setzt der Server keine Cookies: Auf den Geräten der Teilnehmenden wird nichts zur Wiedererkennung gespeichert.",
                "Without a login the server sets no cookies: nothing that recognises participants is stored on their devices.",
            ))
            .with(checked)
        } else {
            Outcome::fail(msg(
                format!("Der Server setzt ohne Anmeldung {} Cookie(s).", set.len()),
                format!("The server sets {} cookie(s) without a login.", set.len()),
            ))
            .with(checked)
            .with_all(set.into_iter().map(same))
        }
    }

    // ------------------------------------------------------ signalling

    pub(super) async fn ws_foreign_origin(&mut self) -> Outcome {
        match session::availability(&self.target).await {
            Availability::Available => {}
            Availability::Refused(404) => {
                return Outcome::not_applicable(msg(
                    "Der Server bietet unter `/ws` keine Signalisierung an (HTTP 404); es gibt keine WebSocket-Verbindung, die zu schützen wäre.",
                    "The server offers no signalling at `/ws` (HTTP 404); there is no WebSocket to protect.",
                ));
            }
            Availability::Refused(s) => {
                return Outcome::fail(msg(
                    format!(
                        "Der Server lehnt auch WebSockets seiner eigenen Herkunft ab (HTTP {s}); die Prüfung ist so nicht möglich."
                    ),
                    format!(
                        "The server refuses WebSockets from its own origin too (HTTP {s}); the check is not possible."
                    ),
                ));
            }
            Availability::Error(e) => return unmeasurable(msg("WebSocket:", "WebSocket:"), &e),
        }
        let mut evidence = vec![msg(
            format!("Eigene Herkunft `{}`: Verbindung angenommen", self.target.origin),
            format!("Own origin `{}`: connection accepted", self.target.origin),
        )];
        let mut accepted = Vec::new();
        for origin in [Some("https://kabine-audit.invalid"), Some("null"), Some("http://localhost")] {
            let shown = origin.unwrap_or("—");
            match session::foreign_origin_refused(&self.target, origin).await {
                Ok(Ok(status)) => evidence.push(msg(
                    format!("Fremde Herkunft `{shown}`: abgelehnt (HTTP {status})"),
                    format!("Foreign origin `{shown}`: refused (HTTP {status})"),
                )),
                Ok(Err(())) => {
                    evidence.push(msg(
                        format!("Fremde Herkunft `{shown}`: ANGENOMMEN"),
                        format!("Foreign origin `{shown}`: ACCEPTED"),
                    ));
                    accepted.push(shown);
                }
                Err(e) => return unmeasurable(msg("WebSocket:", "WebSocket:"), &e),
            }
        }
        if accepted.is_empty() {
            Outcome::pass(msg(
                "Die Signalisierung nimmt WebSocket-Verbindungen nur von der eigenen Herkunft an; fremde Seiten können keine Verbindung im Namen der Nutzenden aufbauen.",
                "Signalling accepts WebSocket connections from its own origin only; other sites cannot connect on users' behalf.",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                "Die Signalisierung nimmt WebSocket-Verbindungen fremder Herkunft an (Cross-Site WebSocket Hijacking möglich).",
                "Signalling accepts WebSocket connections from foreign origins (cross-site WebSocket hijacking possible).",
            ))
            .with_all(evidence)
        }
    }

    async fn session(&mut self) -> &SessionResult {
        if self.session.is_none() {
            let r = self.measure_session().await;
            self.session = Some(r);
        }
        // Just set above.
        self.session.get_or_insert_with(unreachable_session)
    }

    /// Runs the protocol session, watching the disk when the server is local.
    async fn measure_session(&mut self) -> SessionResult {
        let addr = self.target.addr().await.ok();
        let local = addr.filter(|a| local::is_local(a.ip()) && local::is_listening(*a));
        let Some(addr) = local else {
            let session = session::run(&self.target).await;
            let disk = Outcome::not_applicable(msg(
                "Der Server läuft nicht auf diesem Rechner (oder sein Port ist hier nicht sichtbar); Schreibzugriffe sind nur auf dem Server selbst messbar. Führen Sie `kabine audit` dort aus.",
                "The server does not run on this host (or its port is not visible here); writes can only be measured on the server itself. Run `kabine audit` there.",
            ));
            return SessionResult { session, disk };
        };
        let pid = local::owner_pid(addr);
        let dirs = self.watched_dirs();
        let since = std::time::SystemTime::now() - Duration::from_secs(1);
        let before = Snapshot::take(&dirs);
        let mut sessions = Vec::new();
        let mut windows = Vec::new();
        for _ in 0..ATTEMPTS {
            let counter = || pid.and_then(local::ThreadWrites::read);
            let w0 = counter();
            tokio::time::sleep(IDLE).await;
            let w1 = counter();
            let s = session::run(&self.target).await;
            let w2 = counter();
            tokio::time::sleep(IDLE).await;
            let w3 = counter();
            let available = matches!(s.availability, Availability::Available);
            sessions.push(s);
            let window = match (w0, w1, w2, w3) {
                (Some(a), Some(b), Some(c), Some(d)) => Some((a.delta(&b), b.delta(&c), c.delta(&d))),
                _ => None,
            };
            windows.push(window);
            let clean = window.is_some_and(|(_, during, _)| during == 0);
            if !available || window.is_none() || clean {
                break;
            }
        }
        let after = Snapshot::take(&dirs);
        let canaries: Vec<String> = sessions.iter().flat_map(|s| s.canaries.clone()).collect();
        let scratch = local::scratch_dirs(pid);
        let search = local::find_recent(&scratch, since, &canaries);
        let first = sessions.remove(0);
        let disk = if matches!(first.availability, Availability::Available) {
            disk_verdict(&DiskFacts {
                dirs: &dirs,
                before: &before,
                after: &after,
                canaries: &canaries,
                pid,
                windows: &windows,
                scratch: &scratch,
                search: &search,
            })
        } else {
            Outcome::not_applicable(msg(
                "Ohne Signalisierung (`/ws`) kann kein Raum betreten werden; es gibt nichts zu messen.",
                "Without signalling (`/ws`) no room can be joined; there is nothing to measure.",
            ))
        };
        SessionResult { session: first, disk }
    }

    /// In `secure` or `closed` access, a visitor without an account may be
    /// refused or kept waiting: then the session cannot be held.
    fn access_keeps_audit_out(&self, s: &session::Session) -> Option<Outcome> {
        let mode = self.loaded.config.access.mode;
        (s.not_admitted && mode != crate::config::AccessMode::Open).then(|| {
            Outcome::not_applicable(msg(
                format!("Zugangsmodus „{}“: Ohne Konto wird das Audit nicht in einen Raum gelassen; Räume lassen sich so nicht von außen prüfen. Führen Sie das Audit gegen einen Testserver mit gleicher Konfiguration und `access.mode = \"open\"` aus.", mode.as_str()),
                format!("Access mode \"{}\": without an account the audit is not let into a room, so rooms cannot be checked from outside. Run the audit against a test server with the same configuration and `access.mode = \"open\"`.", mode.as_str()),
            ))
            .with_all(s.problems.clone())
        })
    }

    pub(super) async fn room_lifecycle(&mut self) -> Outcome {
        let r = &self.session().await.session.clone();
        if let Some(o) = self.access_keeps_audit_out(r) {
            return o;
        }
        match &r.availability {
            Availability::Available => {}
            Availability::Refused(404) => {
                return Outcome::not_applicable(msg(
                    "Der Server bietet unter `/ws` keine Signalisierung an (HTTP 404); es können keine Räume betreten werden.",
                    "The server offers no signalling at `/ws` (HTTP 404); no rooms can be joined.",
                ));
            }
            Availability::Refused(s) => {
                return Outcome::fail(msg(
                    format!("Die Signalisierung lehnte die Verbindung ab (HTTP {s})."),
                    format!("Signalling refused the connection (HTTP {s})."),
                ));
            }
            Availability::Error(e) => return unmeasurable(msg("Raum-Lebenszyklus:", "Room lifecycle:"), e),
        }
        let limit = msg(
            "Grenze der Messung: Von außen sehen ein neu erzeugter und ein leer fortbestehender Raum gleich aus (so gewollt, damit niemand Räume erkunden kann). Gemessen wird, dass weder Teilnehmende noch Chatnachrichten der früheren Sitzung sichtbar sind.",
            "Limit of the measurement: from outside, a new room and an empty room that lives on look the same (by design, so nobody can probe for rooms). What is measured is that neither participants nor chat messages of the earlier session are visible.",
        );
        if r.problems.is_empty() {
            Outcome::pass(msg(
                "Ein über das Signalisierungsprotokoll betretener und verlassener Raum war danach leer: Der nächste Beitritt fand keine Teilnehmenden und keinen Chatverlauf vor.",
                "A room joined and left through the protocol was gone afterwards: the next join found no participants and no chat history.",
            ))
            .with_all(r.steps.clone())
            .with(limit)
        } else {
            Outcome::fail(msg(
                "Der Raum verhielt sich nicht wie dokumentiert.",
                "The room did not behave as documented.",
            ))
            .with_all(r.problems.clone())
            .with_all(r.steps.clone())
            .with(limit)
        }
    }

    pub(super) async fn room_no_disk_writes(&mut self) -> Outcome {
        let r = self.session().await.session.clone();
        if let Some(o) = self.access_keeps_audit_out(&r) {
            return o;
        }
        self.session().await.disk.clone()
    }

    pub(super) async fn ice_servers(&mut self) -> Outcome {
        let policy = self.policy;
        let mut own = policy::own_hosts(self.loaded);
        own.push(self.target.host.clone());
        let configured: Vec<String> =
            self.loaded.config.media.ice_servers.iter().flat_map(|s| s.urls.clone()).collect();
        let r = &self.session().await.session.clone();
        if let Some(o) = self.access_keeps_audit_out(r) {
            return o;
        }
        let Some(urls) = &r.ice_servers else {
            return match &r.availability {
                Availability::Available => {
                    let first = r.problems.first().cloned().unwrap_or_else(|| msg("unbekannt", "unknown"));
                    unmeasurable(msg("STUN/TURN-Server:", "STUN/TURN servers:"), &first.en)
                }
                _ => Outcome::not_applicable(msg(
                    "Ohne Signalisierung (`/ws`) übergibt der Server Browsern keine STUN/TURN-Server; die Konfiguration prüft `static.ice.eu-allow-list`.",
                    "Without signalling (`/ws`) the server hands browsers no STUN/TURN servers; the configuration is checked by `static.ice.eu-allow-list`.",
                )),
            };
        };
        let mut foreign = Vec::new();
        let mut evidence = Vec::new();
        for url in urls {
            let ok = policy::ice_server_allowed(url, policy, &own);
            let in_config = configured.contains(url);
            evidence.push(msg(
                format!(
                    "`{url}`: {}, {}",
                    if ok { "auf der EU-Positivliste oder dieser Server" } else { "NICHT auf der EU-Positivliste" },
                    if in_config { "wie konfiguriert" } else { "nicht in der Konfiguration" }
                ),
                format!(
                    "`{url}`: {}, {}",
                    if ok { "on the EU allow-list or this server" } else { "NOT on the EU allow-list" },
                    if in_config { "as configured" } else { "not in the configuration" }
                ),
            ));
            if !ok {
                foreign.push(url.clone());
            }
        }
        if urls.is_empty() {
            Outcome::pass(msg(
                "Der Server übergibt Browsern keine STUN/TURN-Server (`welcome.ice_servers` ist leer): Kein Dritter erfährt die IP-Adressen der Teilnehmenden.",
                "The server hands browsers no STUN/TURN servers (`welcome.ice_servers` is empty): no third party learns participants' IP addresses.",
            ))
            .with(msg(
                format!("Begrüßungsnachricht an Person A: `ice_servers: []`; konfiguriert: {}", configured.len()),
                format!("Welcome message to person A: `ice_servers: []`; configured: {}", configured.len()),
            ))
        } else if foreign.is_empty() {
            Outcome::pass(msg(
                "Alle STUN/TURN-Server, die der Server Browsern übergibt, stehen auf der EU-Positivliste oder sind dieser Server.",
                "Every STUN/TURN server the server hands to browsers is on the EU allow-list or is this server.",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                format!("Der Server übergibt Browsern {} STUN/TURN-Server außerhalb der EU-Positivliste; diese erführen die IP-Adressen aller Teilnehmenden.", foreign.len()),
                format!("The server hands browsers {} STUN/TURN server(s) outside the EU allow-list; they would learn every participant's IP address.", foreign.len()),
            ))
            .with_all(evidence)
        }
    }

    pub(super) async fn e2ee_media(&mut self) -> Outcome {
        use crate::config::{AccessMode, E2eeMode};
        let mode = self.loaded.config.e2ee.mode;
        if mode == E2eeMode::Off {
            return Outcome::not_applicable(msg(
                "Ende-zu-Ende-Verschlüsselung ist in der Konfiguration ausgeschaltet (`e2ee.mode = \"off\"`); `static.e2ee` bewertet das.",
                "End-to-end encryption is off in the configuration (`e2ee.mode = \"off\"`); `static.e2ee` judges that.",
            ));
        }
        let probe = match super::e2ee::run(&self.target, mode).await {
            Ok(p) => p,
            Err(e) => return unmeasurable(msg("Ende-zu-Ende-Verschlüsselung:", "End-to-end encryption:"), &e),
        };
        let access = self.loaded.config.access.mode;
        if probe.not_admitted && access != AccessMode::Open {
            return Outcome::not_applicable(msg(
                format!("Zugangsmodus „{}“: Ohne Konto wird das Audit nicht in einen Raum gelassen. Führen Sie das Audit gegen einen Testserver mit gleicher Konfiguration und `access.mode = \"open\"` aus.", access.as_str()),
                format!("Access mode \"{}\": without an account the audit is not let into a room. Run the audit against a test server with the same configuration and `access.mode = \"open\"`.", access.as_str()),
            ))
            .with_all(probe.problems);
        }
        let mut evidence = probe.steps.clone();
        let (ok, of) = probe.decrypted;
        if let Some(p) = &probe.payload {
            evidence.push(msg(
                format!("Person B empfing {} Videobilder von A ({} Schlüsselbilder). Nach den Klartext-Kopfbytes: {} Bytes, Entropie {:.3} Bit/Byte, Chi-Quadrat {:.0} (Gleichverteilung: um 255, Grenze {:.0}); als VP8 lesbar: {} (Zufall: höchstens {}); mit Anhang der Ende-zu-Ende-Verschlüsselung (Version, Schlüsselkennung): {} von {}.", p.frames, p.key_frames, p.bytes, p.entropy, p.chi2, crate::loadgen::payload::UNIFORM_CHI2_MAX, p.vp8_frames, crate::loadgen::payload::vp8_chance_limit(p.frames), p.sealed_frames, p.frames),
                format!("Person B received {} video frames from A ({} key frames). After the clear header bytes: {} bytes, entropy {:.3} bits/byte, chi-square {:.0} (uniform: about 255, limit {:.0}); frames that read as VP8: {} (chance: at most {}); with the end-to-end encryption trailer (version, key id): {} of {}.", p.frames, p.key_frames, p.bytes, p.entropy, p.chi2, crate::loadgen::payload::UNIFORM_CHI2_MAX, p.vp8_frames, crate::loadgen::payload::vp8_chance_limit(p.frames), p.sealed_frames, p.frames),
            ));
            evidence.push(msg(
                format!("{ok} von {of} Bildern ließen sich mit dem Schlüssel entschlüsseln, den nur der Audit-Prozess hat: Der Server leitete sie unverändert weiter, ohne Schlüssel."),
                format!("{ok} of {of} frames decrypted with the key only the audit process has: the server forwarded them unchanged, without a key."),
            ));
        }
        let mut problems = probe.problems.clone();
        match &probe.payload {
            Some(p) if !p.is_ciphertext() => problems.push(msg(
                "Was der Server weiterleitete, ist nicht in jedem Bild verschlüsselt: Anhang fehlt, oder nach den Klartext-Kopfbytes nicht von Chiffrat ununterscheidbar.",
                "What the server forwarded is not encrypted in every frame: a trailer is missing, or after the clear header bytes it is not indistinguishable from ciphertext.",
            )),
            Some(_) if ok != of => problems.push(msg(
                format!("{} Bilder kamen verändert an (ließen sich nicht entschlüsseln).", of - ok),
                format!("{} frames arrived changed (did not decrypt).", of - ok),
            )),
            _ => {}
        }
        let limit = msg(
            "Grenze der Messung: Die Probe verschlüsselt selbst, wie der Browser es tut, und prüft, dass der Server den Schlüsselaustausch nur weiterreicht und verschlüsselte Bilder unverändert weiterleitet. Dass Browser verschlüsseln, entscheidet der vom Server ausgelieferte Client (`live.client.no-third-party` prüft, was er lädt); ein Server, der veränderten Client-Code ausliefert, könnte das unterlaufen (`docs/e2ee.md`).",
            "Limit of the measurement: the probe encrypts as the browser does, and checks that the server only passes the key exchange on and forwards encrypted frames unchanged. That browsers encrypt is decided by the client the server delivers (`live.client.no-third-party` checks what it loads); a server delivering altered client code could defeat it (`docs/e2ee.md`).",
        );
        if problems.is_empty() && probe.payload.is_some() {
            Outcome::pass(msg(
                "Eine Besprechung dieses Servers ist Ende-zu-Ende-verschlüsselt: Der Schlüsselaustausch wurde nur weitergereicht, und der Server leitete nur Chiffrat weiter, das er nicht entschlüsseln kann.",
                "A meeting on this server is end-to-end encrypted: the key exchange was only passed on, and the server forwarded only ciphertext it cannot decrypt.",
            ))
            .with_all(evidence)
            .with(limit)
        } else {
            Outcome::fail(msg(
                "Die Ende-zu-Ende-Verschlüsselung ließ sich nicht wie dokumentiert nachweisen.",
                "End-to-end encryption could not be shown to work as documented.",
            ))
            .with_all(problems)
            .with_all(evidence)
            .with(limit)
        }
    }

    pub(super) async fn recording(&mut self) -> Outcome {
        let r = match http::get(&self.target, "/api/client-config").await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("Aufzeichnung:", "Recording:"), &e),
        };
        let config: serde_json::Value =
            if r.status == 200 { serde_json::from_slice(&r.body).unwrap_or_default() } else { serde_json::Value::Null };
        let rec = config.get("recording").cloned().unwrap_or(serde_json::Value::Null);
        let announced = !rec.is_null();
        let enabled = rec.get("enabled").and_then(serde_json::Value::as_bool).unwrap_or(announced);
        let consent = rec.get("require_consent").and_then(serde_json::Value::as_bool).unwrap_or(false);
        let shown = if announced {
            same(format!("`/api/client-config`: `recording: {rec}`"))
        } else {
            msg(
                format!("`GET /api/client-config`: HTTP {}, keine Aufzeichnungseinstellung", r.status),
                format!("`GET /api/client-config`: HTTP {}, no recording setting", r.status),
            )
        };
        if enabled && !consent {
            return Outcome::fail(msg(
                "Der Server meldet eine Aufzeichnung ohne Einwilligung der Teilnehmenden.",
                "The server reports recording without the participants' consent.",
            ))
            .with(shown);
        }
        // Measured, not only announced: a moderator asks to record in a fresh
        // room of two, and the other never answers.
        let probe = match session::recording_consent(&self.target).await {
            Ok(p) => p,
            Err(e) => {
                return Outcome::warn(msg("Die Aufzeichnungsprobe schlug fehl.", "The recording probe failed."))
                    .with(shown)
                    .with(e);
            }
        };
        let step = |de: String, en: String| msg(de, en);
        match probe {
            session::ConsentProbe::NotAdmitted => Outcome::not_applicable(msg(
                "Ohne Konto kann die Prüfung keinen Raum öffnen (Zugangsmodus), also auch keine Aufzeichnung anfragen.",
                "Without an account the check cannot open a room (access mode), so it cannot ask to record.",
            ))
            .with(shown),
            session::ConsentProbe::Refused(code) => Outcome::pass(if enabled {
                msg(
                    "Aufzeichnen ist eingeschaltet; die Anfrage wurde hier abgelehnt, es wurde nichts aufgezeichnet.",
                    "Recording is on; the request was refused here, and nothing was recorded.",
                )
            } else {
                msg(
                    "Aufzeichnen ist ausgeschaltet: Der Server lehnt die Anfrage einer Moderatorin ab.",
                    "Recording is off: the server refuses a moderator's request.",
                )
            })
            .with(shown)
            .with(step(
                format!("`record_start` der Moderatorin: abgelehnt mit `{code}`."),
                format!("The moderator's `record_start`: refused with `{code}`."),
            )),
            session::ConsentProbe::Taken { on_without_answer: true, .. } => Outcome::fail(msg(
                "Die Aufzeichnung lief, bevor alle Teilnehmenden eingewilligt hatten: Die zweite Person hatte nicht geantwortet.",
                "The recording ran before every participant had consented: the second person had not answered.",
            ))
            .with(shown),
            session::ConsentProbe::Taken { other_asked: false, .. } => Outcome::fail(msg(
                "Die Aufzeichnung wurde angefragt, aber die zweite Person wurde nicht um ihre Einwilligung gebeten.",
                "A recording was asked for, but the second person was not asked for consent.",
            ))
            .with(shown),
            session::ConsentProbe::Taken { .. } => Outcome::pass(msg(
                "Eine Aufzeichnung beginnt erst mit der Einwilligung aller: Die zweite Person wurde gefragt, und solange sie nicht antwortete, lief keine Aufzeichnung.",
                "A recording starts only with everyone's consent: the second person was asked, and while she did not answer, nothing was recorded.",
            ))
            .with(shown)
            .with(msg(
                "Zwei Personen in einem neuen Raum; die Moderatorin sendet `record_start`; 2 s lang meldet der Server keinen Zustand `on`; danach `record_stop`.",
                "Two people in a new room; the moderator sends `record_start`; for 2 s the server reports no state `on`; then `record_stop`.",
            )),
        }
    }

    /// The files in `recording.directory`: encrypted, private, in retention.
    pub(super) fn recording_files(&self) -> Outcome {
        let rec = &self.loaded.config.recording;
        let dir = self.loaded.resolve_path(&rec.directory);
        let Some(found) = crate::record::store::inspect(&dir, rec.retention_days, crate::record::store::unix_now())
        else {
            return Outcome::not_applicable(msg(
                format!(
                    "Das Aufzeichnungsverzeichnis `{}` gibt es auf diesem Rechner nicht: keine Aufzeichnungen.",
                    dir.display()
                ),
                format!("The recording directory `{}` does not exist on this host: no recordings.", dir.display()),
            ));
        };
        let counted = msg(
            format!("`{}`: {} Aufzeichnung(en), {} Datei(en).", dir.display(), found.recordings, found.files),
            format!("`{}`: {} recording(s), {} file(s).", dir.display(), found.recordings, found.files),
        );
        if found.problems.is_empty() {
            return Outcome::pass(msg(
                format!("Jede Datei ist mit age verschlüsselt (Kopfzeile vorhanden, kein WebM-Inhalt lesbar), nur für den Dienst lesbar (0600), und keine Aufzeichnung ist älter als {} Tage.", rec.retention_days),
                format!("Every file is age-encrypted (header present, no WebM content readable), readable by the service only (0600), and no recording is older than {} days.", rec.retention_days),
            ))
            .with(counted);
        }
        Outcome::fail(msg(
            "Im Aufzeichnungsverzeichnis liegen unverschlüsselte, für andere lesbare oder zu alte Dateien.",
            "The recording directory holds files that are unencrypted, readable by others, or too old.",
        ))
        .with(counted)
        .with_all(found.problems.into_iter().map(same))
    }

    // -------------------------------------------------------------- logs

    pub(super) async fn logs_no_addresses(&mut self) -> Outcome {
        let canaries: Vec<String> = self.session.as_ref().map(|s| s.session.canaries.clone()).unwrap_or_default();
        let mut roots: Vec<PathBuf> = Vec::new();
        let log = &self.loaded.config.log;
        if log.target == LogTarget::File {
            roots.push(log.directory.clone());
        }
        roots.extend(self.opts.log_paths.iter().cloned());
        let mut files = Vec::new();
        for root in &roots {
            match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => {
                    if let Ok(entries) = std::fs::read_dir(root) {
                        let mut list: Vec<PathBuf> =
                            entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
                        list.sort();
                        files.extend(list);
                    }
                }
                Ok(_) => files.push(root.clone()),
                Err(_) => {}
            }
        }
        if files.is_empty() {
            return Outcome::not_applicable(if log.target == LogTarget::File {
                msg(
                    format!("Im Protokollverzeichnis `{}` liegen keine Protokolldateien.", log.directory.display()),
                    format!("The log directory `{}` holds no log files.", log.directory.display()),
                )
            } else {
                msg(
                    "Protokolle gehen an die Standardfehlerausgabe (Journal); es gibt keine Dateien zu durchsuchen. Exportieren Sie das Journal (z. B. `journalctl -u kabine > kabine.log`) und übergeben Sie die Datei mit `--logs`.",
                    "Logs go to standard error (the journal); there are no files to scan. Export the journal (e.g. `journalctl -u kabine > kabine.log`) and pass the file with `--logs`.",
                )
            });
        }
        let mut findings = Vec::new();
        let mut names_found = Vec::new();
        let mut evidence = Vec::new();
        let (mut total_lines, mut marks) = (0usize, 0usize);
        for file in &files {
            let shown = file.display().to_string();
            if shown.ends_with(".gz") || shown.ends_with(".xz") || shown.ends_with(".zst") {
                evidence.push(msg(
                    format!("`{shown}`: komprimiert, nicht durchsucht"),
                    format!("`{shown}`: compressed, not scanned"),
                ));
                continue;
            }
            let Ok(f) = std::fs::File::open(file) else {
                evidence.push(msg(format!("`{shown}`: nicht lesbar"), format!("`{shown}`: not readable")));
                continue;
            };
            let mut lines = 0usize;
            for (n, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                lines += 1;
                marks += line.matches(crate::logging::redact::MARK).count();
                let families = addresses::find(&line);
                if !families.is_empty() || crate::logging::redact::contains_address(&line) {
                    let kind = if families.contains(&addresses::Family::V6) { "IPv6" } else { "IPv4" };
                    findings.push((shown.clone(), n + 1, kind));
                }
                if canaries.iter().any(|c| line.contains(c.as_str())) {
                    names_found.push((shown.clone(), n + 1));
                }
            }
            total_lines += lines;
            evidence.push(msg(format!("`{shown}`: {lines} Zeilen"), format!("`{shown}`: {lines} lines")));
        }
        evidence.push(msg(
            format!(
                "{total_lines} Zeilen durchsucht; {marks} Adressen wurden schon beim Schreiben durch `{}` ersetzt",
                crate::logging::redact::MARK
            ),
            format!(
                "{total_lines} lines scanned; {marks} addresses had been replaced by `{}` when written",
                crate::logging::redact::MARK
            ),
        ));
        if !canaries.is_empty() {
            evidence.push(msg(
                "Zusätzlich gesucht: Raumname, Anzeigenamen und Chattext der Audit-Sitzung.",
                "Also searched for: the room name, display names and chat text of the audit's session.",
            ));
        }
        if findings.is_empty() && names_found.is_empty() {
            return Outcome::pass(msg(
                format!("In {} Protokolldatei(en) steht keine IP-Adresse.", files.len()),
                format!("No IP address in {} log file(s).", files.len()),
            ))
            .with_all(evidence);
        }
        let mut o = Outcome::fail(msg(
            format!(
                "In den Protokollen stehen {} IP-Adresse(n){}. Die Fundstellen werden hier nicht wiedergegeben.",
                findings.len(),
                if names_found.is_empty() {
                    String::new()
                } else {
                    format!(" und {} Namen aus der Audit-Sitzung", names_found.len())
                }
            ),
            format!(
                "The logs contain {} IP address(es){}. The findings are not reproduced here.",
                findings.len(),
                if names_found.is_empty() {
                    String::new()
                } else {
                    format!(" and {} names from the audit's session", names_found.len())
                }
            ),
        ));
        for (file, line, kind) in findings.iter().take(20) {
            o = o.with(msg(
                format!("`{file}`, Zeile {line}: {kind}-Adresse"),
                format!("`{file}`, line {line}: {kind} address"),
            ));
        }
        if findings.len() > 20 {
            o = o.with(msg(
                format!("… und {} weitere", findings.len() - 20),
                format!("… and {} more", findings.len() - 20),
            ));
        }
        for (file, line) in names_found.iter().take(20) {
            o = o.with(msg(
                format!("`{file}`, Zeile {line}: Raum- oder Anzeigename der Audit-Sitzung"),
                format!("`{file}`, line {line}: room or display name of the audit's session"),
            ));
        }
        o.with_all(evidence)
    }
}

fn unreachable_session() -> SessionResult {
    SessionResult {
        session: session::Session {
            availability: Availability::Error("no session".into()),
            steps: Vec::new(),
            problems: Vec::new(),
            ice_servers: None,
            canaries: Vec::new(),
            not_admitted: false,
        },
        disk: Outcome::not_applicable(msg("", "")),
    }
}

fn names(v: &[Version]) -> String {
    v.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")
}

/// What the disk measurement saw.
struct DiskFacts<'a> {
    dirs: &'a [PathBuf],
    before: &'a Snapshot,
    after: &'a Snapshot,
    canaries: &'a [String],
    pid: Option<u32>,
    /// Bytes written (before, during, after) each session.
    windows: &'a [Option<(u64, u64, u64)>],
    scratch: &'a [PathBuf],
    search: &'a local::Search,
}

/// The decision on disk writes during the protocol sessions.
///
/// Only evidence that points at the server fails the check: a new file in
/// a directory it may write to, or the session's room name, display names or
/// chat text in a file changed meanwhile. The write counter alone cannot
/// say where bytes went (or whether another thread of a shared process
/// wrote them), so writes in every session without such evidence give a
/// warning, and a session without a single byte written passes.
fn disk_verdict(f: &DiskFacts<'_>) -> Outcome {
    let mut evidence = Vec::new();
    let shown = |v: &[PathBuf]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", ")
        }
    };
    evidence.push(msg(
        format!("Beobachtete Verzeichnisse: {} ({} Dateien)", shown(f.dirs), f.before.len()),
        format!("Watched directories: {} ({} files)", shown(f.dirs), f.before.len()),
    ));
    let mut fail_reasons = Vec::new();
    for c in f.before.changes(f.after) {
        let p = c.path.display();
        match c.kind {
            ChangeKind::New => fail_reasons.push(msg(format!("neue Datei `{p}`"), format!("new file `{p}`"))),
            ChangeKind::Modified if c.contains_any(f.canaries) => fail_reasons.push(msg(
                format!("`{p}` enthält jetzt Raum-, Anzeigenamen oder Chattext der Sitzung"),
                format!("`{p}` now contains the session's room name, display names or chat text"),
            )),
            ChangeKind::Modified => evidence.push(msg(
                format!("`{p}` wurde verändert (ohne Daten der Sitzung, z. B. eine unabhängige Protokollzeile)"),
                format!("`{p}` changed (without data of the session, e.g. an unrelated log line)"),
            )),
            ChangeKind::Removed => evidence.push(msg(format!("`{p}` wurde entfernt"), format!("`{p}` was removed"))),
        }
    }
    for hit in &f.search.hits {
        let p = hit.display();
        fail_reasons.push(msg(
            format!(
                "`{p}` wurde während der Sitzung geändert und enthält Raum-, Anzeigenamen oder Chattext der Sitzung"
            ),
            format!(
                "`{p}` was changed during the session and contains the session's room name, display names or chat text"
            ),
        ));
    }
    evidence.push(msg(
        format!(
            "Nach Raumname, Anzeigenamen und Chattext durchsucht: seit Beginn geänderte Dateien in {} ({} Einträge{})",
            shown(f.scratch),
            f.search.visited,
            if f.search.truncated { ", Suche an der Grenze abgebrochen" } else { "" }
        ),
        format!(
            "Searched for the room name, display names and chat text: files changed since the start in {} ({} entries{})",
            shown(f.scratch),
            f.search.visited,
            if f.search.truncated { ", search stopped at its limit" } else { "" }
        ),
    ));
    let mut warn_reason = None;
    match f.pid {
        None => evidence.push(msg(
            "Der Serverprozess ist für das Audit nicht sichtbar (anderer Benutzer); der Schreibzähler wurde nicht gelesen. Führen Sie das Audit als Benutzer des Servers oder als root aus.",
            "The server process is not visible to the audit (another user); its write counter was not read. Run the audit as the server's user or as root.",
        )),
        Some(pid) => {
            for (i, w) in f.windows.iter().enumerate() {
                evidence.push(match w {
                    Some((b, d, a)) => msg(
                        format!("Sitzung {}: die Threads von Prozess {pid} schrieben {b} Byte in {} ms davor, {d} Byte während der Sitzung, {a} Byte in {} ms danach", i + 1, IDLE.as_millis(), IDLE.as_millis()),
                        format!("Session {}: the threads of process {pid} wrote {b} bytes in {} ms before, {d} bytes during the session, {a} bytes in {} ms after", i + 1, IDLE.as_millis(), IDLE.as_millis()),
                    ),
                    None => msg(format!("Sitzung {}: Schreibzähler nicht lesbar", i + 1), format!("Session {}: write counter not readable", i + 1)),
                });
            }
            let clean = f.windows.iter().any(|w| w.is_some_and(|(_, d, _)| d == 0));
            if !clean && f.windows.iter().any(Option::is_some) {
                warn_reason = Some(msg(
                    format!("der Serverprozess schrieb während jeder der {} Sitzungen auf Datenträger, ohne dass sich feststellen ließ, wohin; prüfen Sie, was der Prozess schreibt (z. B. mit `strace -f -e trace=write,openat -p {pid}`)", f.windows.len()),
                    format!("the server process wrote to storage during each of the {} sessions, and where could not be determined; check what the process writes (e.g. with `strace -f -e trace=write,openat -p {pid}`)", f.windows.len()),
                ));
            }
        }
    }
    evidence.push(msg(
        "Grenzen: Der Schreibzähler (`/proc/PID/task/*/io`, `write_bytes`) erfasst alles, was die Threads des Serverprozesses auf Datenträger schreiben, auch Protokolle; nicht erfasst werden Schreibvorgänge in den Arbeitsspeicher (tmpfs), von Kindprozessen (Kabine startet keine) und von Threads, die während der Messung enden. Die Suche nach Daten der Sitzung erfasst nur die genannten Verzeichnisse und nur unverschlüsselt geschriebene Daten. Die Audit-Sitzung überträgt keine Medien.",
        "Limits: the write counter (`/proc/PID/task/*/io`, `write_bytes`) covers everything the server process's threads write to storage, logs included; not covered are writes to memory (tmpfs), by child processes (Kabine starts none) and by threads that end during the measurement. The search for the session's data covers the directories named only, and only data written unencrypted. The audit's session carries no media.",
    ));
    let list = |v: &[Msg], de: bool| {
        v.iter().map(|m| if de { m.de.clone() } else { m.en.clone() }).collect::<Vec<_>>().join("; ")
    };
    if !fail_reasons.is_empty() {
        return Outcome::fail(msg(
            format!("Während der Sitzung wurden Daten gespeichert: {}.", list(&fail_reasons, true)),
            format!("Data was stored during the session: {}.", list(&fail_reasons, false)),
        ))
        .with_all(evidence);
    }
    if let Some(w) = warn_reason {
        return Outcome::warn(msg(
            format!("Keine Daten der Sitzung gefunden, aber {}.", w.de),
            format!("No data of the session found, but {}.", w.en),
        ))
        .with_all(evidence);
    }
    Outcome::pass(msg(
        "Während Räume betreten, genutzt und verlassen wurden, schrieb der Server nichts auf den Datenträger.",
        "While rooms were joined, used and left, the server wrote nothing to disk.",
    ))
    .with_all(evidence)
}

/// Fetches the start page, a room page and every same-origin file they
/// load, recursively, and the API endpoints and a missing page for the
/// header checks.
async fn crawl(target: &super::Target) -> Crawl {
    let mut c = Crawl::default();
    let room = format!("/kabine-audit-{:08x}", rand::random::<u32>());
    let mut queue: VecDeque<String> = VecDeque::from(["/".to_string(), room]);
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    while let Some(path) = queue.pop_front() {
        if c.assets.len() >= CRAWL_LIMIT {
            break;
        }
        let r = http::get(target, &path).await;
        if let Ok(resp) = &r
            && resp.status == 200
        {
            c.assets.push(path.clone());
            let text = String::from_utf8_lossy(&resp.body);
            let ct = resp.content_type();
            let refs = if ct.starts_with("text/html") || ct.starts_with("image/svg") {
                scan::html(&text)
            } else if ct.starts_with("text/css") {
                scan::css(&text)
            } else if ct.contains("javascript") {
                scan::js(&text)
            } else {
                Vec::new()
            };
            for reference in refs {
                match scan::resolve(&reference.url, &path, &target.origin) {
                    scan::Target::Foreign(_) if reference.usage == Use::Navigate => {
                        c.links.push((path.clone(), reference.url.clone()));
                    }
                    scan::Target::Foreign(o) => {
                        c.foreign.push((path.clone(), o, reference.context, reference.url.clone()))
                    }
                    scan::Target::Same(p)
                        if (reference.usage == Use::Import || is_static_file(&p)) && seen.insert(p.clone()) =>
                    {
                        queue.push_back(p);
                    }
                    _ => {}
                }
            }
        }
        c.responses.push((path, r));
    }
    for path in ["/health", "/api/client-config", "/kabine-audit-missing/nothing"] {
        let r = http::get(target, path).await;
        c.responses.push((path.to_string(), r));
    }
    c
}

/// A path that names a file (not an API endpoint or the WebSocket).
fn is_static_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    path.starts_with("/static/")
        || [
            ".js",
            ".mjs",
            ".css",
            ".svg",
            ".png",
            ".jpg",
            ".webp",
            ".ico",
            ".woff",
            ".woff2",
            ".json",
            ".webmanifest",
            ".html",
        ]
        .iter()
        .any(|e| name.ends_with(e))
}
