//! Static checks: the configuration and the active privacy policy, plus the
//! files the configuration names. Every decision on a rule is the policy's
//! ([`policy::check`] and its helpers); these checks read its verdicts,
//! add what was looked at, and put it into words for the report.

use std::path::Path;
use std::time::SystemTime;

use super::text::{Msg, msg, same};
use super::{Outcome, StaticCheck, der, scan, time};
use crate::config::{E2eeMode, LoadedConfig, LogTarget, TlsVersion};
use crate::policy::{self, Policy, Verdict, rule};

/// A certificate closer to its end than this many days is a warning.
pub const CERT_WARN_DAYS: i64 = 21;
/// A certificate closer to its end than this many days (or expired) fails.
pub const CERT_FAIL_DAYS: i64 = 7;

/// What every static check may look at.
pub struct Ctx<'a> {
    pub loaded: &'a LoadedConfig,
    pub policy: &'a Policy,
    pub verdicts: Vec<Verdict>,
    pub now: SystemTime,
}

impl<'a> Ctx<'a> {
    pub fn new(loaded: &'a LoadedConfig, policy: &'a Policy, now: SystemTime) -> Ctx<'a> {
        // The same verdicts `kabine policy check` and `kabine serve` use.
        Ctx {
            loaded,
            policy,
            verdicts: crate::policy::verdicts(loaded, policy, &crate::auth::user_store_facts(loaded)),
            now,
        }
    }

    /// The policy's verdict on `rule`. Every rule has one (tested below).
    fn verdict(&self, rule: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.rule == rule)
    }

    /// Evidence naming a rule's verdict, its key and line.
    fn verdict_evidence(&self, rule: &str) -> Msg {
        let Some(v) = self.verdict(rule) else {
            return msg(
                format!("Richtlinienregel `{rule}`: von der Richtlinie nicht bewertet"),
                format!("Policy rule `{rule}`: not decided by the policy"),
            );
        };
        let place_de = match (v.key.is_empty(), v.line) {
            (true, _) => String::new(),
            (false, Some(l)) => format!(" (Schlüssel `{}`, Zeile {l})", v.key),
            (false, None) => format!(" (Schlüssel `{}`, Standardwert)", v.key),
        };
        let place_en = match (v.key.is_empty(), v.line) {
            (true, _) => String::new(),
            (false, Some(l)) => format!(" (key `{}`, line {l})", v.key),
            (false, None) => format!(" (key `{}`, default)", v.key),
        };
        if v.ok {
            msg(
                format!("Richtlinienregel `{rule}`{place_de}: eingehalten"),
                format!("Policy rule `{rule}`{place_en}: holds — {}", v.detail),
            )
        } else {
            msg(
                format!("Richtlinienregel `{rule}`{place_de}: verletzt"),
                format!("Policy rule `{rule}`{place_en}: violated — {}", v.detail),
            )
        }
    }

    fn ok(&self, rule: &str) -> bool {
        self.verdict(rule).is_some_and(|v| v.ok)
    }
}

/// Runs one static check.
pub fn run(check: StaticCheck, ctx: &Ctx<'_>) -> Outcome {
    match check {
        StaticCheck::PolicyPreset => policy_preset(ctx),
        StaticCheck::LogLevel => log_level(ctx),
        StaticCheck::LogRetention => log_retention(ctx),
        StaticCheck::LogRedaction => log_redaction(ctx),
        StaticCheck::IceServers => ice_servers(ctx),
        StaticCheck::TlsMinVersion => tls_min_version(ctx),
        StaticCheck::TlsCertificateFiles => certificate_files(ctx),
        StaticCheck::Acme => acme(ctx),
        StaticCheck::RoomLimits => room_limits(ctx),
        StaticCheck::Teletherapy => teletherapy(ctx),
        StaticCheck::Recording => recording(ctx),
        StaticCheck::P2p => p2p(ctx),
        StaticCheck::E2ee => e2ee(ctx),
        StaticCheck::ThirdParty => third_party(ctx),
        StaticCheck::LegalLinks => legal_links(ctx),
        StaticCheck::AccessMode => access_mode(ctx),
        StaticCheck::PasswordHashes => password_hashes(ctx),
        StaticCheck::LdapTls => ldap_tls(ctx),
        StaticCheck::DataDirectory => data_directory(ctx),
        StaticCheck::ConfigPermissions => config_permissions(ctx),
    }
}

/// The policy rules each static check reports, so that a rule added to the
/// policy cannot go unreported (tested).
#[cfg(test)]
pub const RULES_REPORTED: &[(StaticCheck, &[&str])] = &[
    (StaticCheck::LogLevel, &[rule::LOG_LEVEL]),
    (StaticCheck::LogRetention, &[rule::LOG_RETENTION]),
    (StaticCheck::LogRedaction, &[rule::NO_ADDRESSES_IN_LOGS, rule::NO_PERSONAL_DATA_IN_LOGS]),
    (StaticCheck::IceServers, &[rule::ICE_SERVERS_EU]),
    (StaticCheck::TlsMinVersion, &[rule::TLS_MIN_VERSION]),
    (
        StaticCheck::Recording,
        &[rule::RECORDING_OFF, rule::RECORDING_CONSENT, rule::RECORDING_ENCRYPTED, rule::RECORDING_RETENTION],
    ),
    (StaticCheck::ThirdParty, &[rule::NO_THIRD_PARTY_REQUESTS]),
    (StaticCheck::P2p, &[rule::P2P]),
    (StaticCheck::E2ee, &[rule::E2EE]),
    (StaticCheck::RoomLimits, &[rule::ROOM_SIZE, rule::PRIVATE_CHAT]),
    (StaticCheck::Teletherapy, &[rule::TELETHERAPY]),
    (StaticCheck::AccessMode, &[rule::SESSION_TIMEOUTS, rule::ACCESS_MODE]),
    (StaticCheck::PasswordHashes, &[rule::PASSWORD_HASH, rule::USER_STORE_PRIVATE]),
    (StaticCheck::LdapTls, &[rule::LDAP_TLS]),
    (StaticCheck::Acme, &[rule::ACME_CA]),
    (StaticCheck::DataDirectory, &[rule::ROOM_STATE_MEMORY_ONLY]),
];

/// Pass or fail by the policy's verdicts on `rules`, with those verdicts as evidence.
fn by_rules(ctx: &Ctx<'_>, rules: &[&str], pass: Msg, fail: Msg) -> Outcome {
    let ok = rules.iter().all(|r| ctx.ok(r));
    let o = if ok { Outcome::pass(pass) } else { Outcome::fail(fail) };
    o.with_all(rules.iter().map(|r| ctx.verdict_evidence(r)))
}

fn policy_preset(ctx: &Ctx<'_>) -> Outcome {
    let p = ctx.policy;
    let choice = &ctx.loaded.config.policy.0;
    let is_preset = policy::PRESETS.iter().any(|(n, _)| n == choice);
    let source = if is_preset {
        msg(
            format!("Voreinstellung `{choice}` (in Kabine eingebaut)"),
            format!("preset `{choice}` (built into Kabine)"),
        )
    } else {
        msg(format!("eigene Richtliniendatei `{choice}`"), format!("own policy file `{choice}`"))
    };
    let description = match p.name.as_str() {
        "strict" => msg(
            "Strengste Einstellungen, für Gesundheitsdaten (Art. 9 DSGVO): psychotherapeutische Praxen, Beratungsstellen.",
            p.description.clone(),
        ),
        "strict-no-p2p" => msg(
            "Wie „strict“, zusätzlich ohne direkte Verbindungen: Teilnehmende erfahren nie die IP-Adresse der anderen.",
            p.description.clone(),
        ),
        "relaxed" => msg(
            "Für Schulen und Behörden ohne Gesundheitsdaten: Protokolle auf Stufe „info“, Aufbewahrung bis zu 14 Tage.",
            p.description.clone(),
        ),
        "anlage-31b" => msg(
            "Für Videosprechstunden therapeutischer Praxen nach Anlage 31b BMV-Ä: Ende-zu-Ende-verschlüsselt, keine Aufzeichnung, nur angemeldete Therapeutinnen und Therapeuten öffnen Räume, Gruppen mit höchstens 10 Personen, keine privaten Nachrichten.",
            p.description.clone(),
        ),
        _ => same(p.description.clone()),
    };
    let deviations = p.deviations_from_strict();
    let base = vec![
        msg(
            format!("Aktive Richtlinie: „{}“, {}", p.name, source.de),
            format!("Active policy: \"{}\", {}", p.name, source.en),
        ),
        msg(
            format!("Zweck laut Richtlinie: {}", description.de),
            format!("Purpose as stated by the policy: {}", description.en),
        ),
    ];
    if deviations.is_empty() && p.name == "strict" {
        Outcome::pass(msg(
            "Die strengste Voreinstellung „strict“ ist aktiv.",
            "The strictest preset \"strict\" is active.",
        ))
        .with_all(base)
    } else if deviations.is_empty() {
        Outcome::pass(msg(
            format!(
                "Die Richtlinie „{}“ ist in keinem Punkt lockerer als die strengste Voreinstellung „strict“.",
                p.name
            ),
            format!("The policy \"{}\" is in no respect looser than the strictest preset \"strict\".", p.name),
        ))
        .with_all(base)
    } else {
        Outcome::warn(msg(
            format!(
                "Die Richtlinie „{}“ ist in {} Punkt(en) lockerer als „strict“. Prüfen Sie, ob dies für Ihre Verarbeitung angemessen ist.",
                p.name,
                deviations.len()
            ),
            format!(
                "The policy \"{}\" is looser than \"strict\" in {} respect(s). Check that this suits your processing.",
                p.name,
                deviations.len()
            ),
        ))
        .with_all(base)
        .with_all(deviations.into_iter().map(|d| msg(format!("Abweichung: `{d}`"), format!("Deviation: `{d}`"))))
    }
}

fn level_meaning(level: crate::config::LogLevel) -> Msg {
    use crate::config::LogLevel as L;
    match level {
        L::Off => msg("es wird nichts protokolliert", "nothing is logged"),
        L::Error => msg("nur Fehler werden protokolliert", "only errors are logged"),
        L::Warn => msg("nur Warnungen und Fehler werden protokolliert", "only warnings and errors are logged"),
        L::Info => msg(
            "auch Betriebsereignisse (Stufe „info“) werden protokolliert",
            "operational events (level \"info\") are logged as well",
        ),
        L::Debug | L::Trace => msg(
            "auch Fehlersuch-Ausgaben werden protokolliert (von jeder Richtlinie untersagt)",
            "debugging output is logged as well (forbidden by every policy)",
        ),
    }
}

fn log_level(ctx: &Ctx<'_>) -> Outcome {
    let c = &ctx.loaded.config.log;
    let cap = ctx.policy.log.max_level;
    let meaning = level_meaning(c.level);
    by_rules(
        ctx,
        &[rule::LOG_LEVEL],
        msg(
            format!(
                "Protokollstufe „{}“: {}. Die Richtlinie erlaubt höchstens „{}“.",
                c.level.as_str(),
                meaning.de,
                cap.as_str()
            ),
            format!(
                "Log level \"{}\": {}. The policy allows at most \"{}\".",
                c.level.as_str(),
                meaning.en,
                cap.as_str()
            ),
        ),
        msg(
            format!(
                "Protokollstufe „{}“ ist ausführlicher als die Richtlinie erlaubt („{}“).",
                c.level.as_str(),
                cap.as_str()
            ),
            format!("Log level \"{}\" is louder than the policy allows (\"{}\").", c.level.as_str(), cap.as_str()),
        ),
    )
    .with(msg(
        "Die Umgebungsvariable `RUST_LOG` kann die Stufe nur senken, nie anheben.",
        "The environment variable `RUST_LOG` can only lower the level, never raise it.",
    ))
}

fn log_retention(ctx: &Ctx<'_>) -> Outcome {
    let c = &ctx.loaded.config.log;
    let max = ctx.policy.log.max_retention_days;
    if !ctx.ok(rule::LOG_RETENTION) {
        return by_rules(
            ctx,
            &[rule::LOG_RETENTION],
            msg("", ""),
            msg(
                format!(
                    "Aufbewahrung von {} Tagen überschreitet die Höchstdauer der Richtlinie ({max} Tage).",
                    c.retention_days
                ),
                format!("Keeping logs for {} days exceeds the policy's maximum ({max} days).", c.retention_days),
            ),
        );
    }
    match c.target {
        LogTarget::File => by_rules(
            ctx,
            &[rule::LOG_RETENTION],
            msg(
                format!(
                    "Protokolldateien in `{}` werden nach {} Tagen von Kabine gelöscht (Richtlinie: höchstens {max} Tage).",
                    c.directory.display(),
                    c.retention_days
                ),
                format!(
                    "Log files in `{}` are deleted by Kabine after {} days (policy: at most {max} days).",
                    c.directory.display(),
                    c.retention_days
                ),
            ),
            msg("", ""),
        ),
        LogTarget::Stderr => Outcome::warn(msg(
            format!(
                "Protokolle gehen an die Standardfehlerausgabe (unter systemd an das Journal). Wie lange sie dort aufbewahrt werden, bestimmt die Journal-Konfiguration, nicht Kabine. Begrenzen Sie die Aufbewahrung dort auf höchstens {max} Tage (z. B. `MaxRetentionSec=` in `journald.conf`)."
            ),
            format!(
                "Logs go to standard error (under systemd: the journal). How long they are kept there is set by the journal's configuration, not by Kabine. Limit it there to at most {max} days (e.g. `MaxRetentionSec=` in `journald.conf`)."
            ),
        ))
        .with(ctx.verdict_evidence(rule::LOG_RETENTION)),
    }
}

/// Sample lines for the redactor self-test; documentation addresses only.
const REDACTION_SAMPLES: &[&str] = &[
    "peer 192.0.2.7:4000 connected",
    "from 198.51.100.23.",
    "remote=[2001:db8::7]:443",
    "candidate 2001:db8:0:0:1:0:0:1 udp",
    "link-local fe80::1%eth0",
    "mapped ::ffff:203.0.113.9",
    "v4-in-v6 64:ff9b::192.0.2.33",
    "list 203.0.113.1,203.0.113.2",
    "quoted \"10.0.0.1\"",
    "loopback ::1 and 127.0.0.1",
    "peer 2001:db8::1:40000 closed",
    "ip:2001:db8::1 x",
];

fn log_redaction(ctx: &Ctx<'_>) -> Outcome {
    let leaked: Vec<&str> = REDACTION_SAMPLES
        .iter()
        .copied()
        .filter(|s| super::addresses::any(&crate::logging::redact::redact(s)))
        .collect();
    let n = REDACTION_SAMPLES.len();
    let selftest = if leaked.is_empty() {
        msg(
            format!(
                "Selbsttest des Adressfilters dieses Programms: in allen {n} Beispielzeilen (IPv4, IPv6, mit Port, Zone, eingebettet) wurden alle Adressen entfernt."
            ),
            format!(
                "Self-test of this binary's address filter: every address was removed from all {n} sample lines (IPv4, IPv6, with port, zone, embedded)."
            ),
        )
    } else {
        msg(
            format!(
                "Selbsttest des Adressfilters: in {} von {n} Beispielzeilen blieb eine Adresse stehen.",
                leaked.len()
            ),
            format!("Self-test of the address filter: an address remained in {} of {n} sample lines.", leaked.len()),
        )
    };
    let mut o = by_rules(
        ctx,
        &[rule::NO_ADDRESSES_IN_LOGS, rule::NO_PERSONAL_DATA_IN_LOGS],
        msg(
            "Jede IP-Adresse wird vor dem Schreiben aus jeder Protokollzeile entfernt, auf jeder Stufe; Namen, Raumnamen, SDP und ICE-Kandidaten werden nicht im Klartext protokolliert.",
            "Every IP address is removed from every log line before it is written, at every level; names, room names, SDP and ICE candidates are not logged in clear.",
        ),
        msg(
            "Die Konfiguration verlangt IP-Adressen in Protokollen; das ist unter keiner Richtlinie zulässig.",
            "The configuration asks for IP addresses in logs; no policy allows that.",
        ),
    )
    .with(selftest);
    if !leaked.is_empty() {
        o.status = super::Status::Fail;
    }
    o
}

/// The ways media reaches this server, all of them its own: no third-party
/// STUN or TURN server is needed for any of them.
fn transports(c: &crate::config::Config) -> Vec<super::text::Msg> {
    let mut out = vec![msg(
        format!("Medien über UDP-Port {} (direkt zu diesem Server)", c.media.udp_port),
        format!("Media over UDP port {} (straight to this server)", c.media.udp_port),
    )];
    out.push(if c.media.ice_tcp {
        msg(
            "Medien über TCP auf dem HTTPS-Port (ICE-TCP), wenn ein Netz UDP sperrt: an",
            "Media over TCP on the HTTPS port (ICE-TCP) when a network blocks UDP: on",
        )
    } else {
        msg("Medien über TCP auf dem HTTPS-Port (ICE-TCP): aus", "Media over TCP on the HTTPS port (ICE-TCP): off")
    });
    out.push(match &c.media.turn_tls_name {
        Some(name) => msg(
            format!(
                "Eigenes TURN/TLS-Relay `{name}` auf dem HTTPS-Port: leitet nur an den Medien-Port dieses Servers weiter, Zugangsdaten je Sitzung, {} s gültig",
                c.media.turn_credential_lifetime
            ),
            format!(
                "Own TURN/TLS relay `{name}` on the HTTPS port: relays only to this server's media port, credentials per session, valid {} s",
                c.media.turn_credential_lifetime
            ),
        ),
        None => msg("Eigenes TURN/TLS-Relay: aus", "Own TURN/TLS relay: off"),
    });
    out
}

fn ice_servers(ctx: &Ctx<'_>) -> Outcome {
    let c = &ctx.loaded.config;
    let own = policy::own_hosts(ctx.loaded);
    let mut evidence = Vec::new();
    for server in &c.media.ice_servers {
        for url in &server.urls {
            let allowed = policy::ice_server_allowed(url, ctx.policy, &own);
            evidence.push(if allowed {
                msg(
                    format!("`{url}`: auf der Positivliste der Richtlinie oder dieser Server"),
                    format!("`{url}`: on the policy's allow-list or this server"),
                )
            } else {
                msg(format!("`{url}`: nicht auf der EU-Positivliste"), format!("`{url}`: not on the EU allow-list"))
            });
        }
    }
    let list = ctx.policy.ice.allowed_servers.join(", ");
    evidence
        .push(msg(format!("EU-Positivliste der Richtlinie: {list}"), format!("The policy's EU allow-list: {list}")));
    evidence.extend(transports(c));
    let pass = if c.media.ice_servers.is_empty() {
        msg(
            "Browser erhalten keine STUN/TURN-Server; sie verbinden sich direkt mit diesem Server, kein Dritter erfährt ihre IP-Adresse.",
            "Browsers are given no STUN/TURN servers; they connect to this server directly, and no third party learns their IP address.",
        )
    } else {
        msg(
            "Alle STUN/TURN-Server, die Browser erhalten, stehen auf der EU-Positivliste der Richtlinie oder sind dieser Server.",
            "Every STUN/TURN server handed to browsers is on the policy's EU allow-list or is this server.",
        )
    };
    let mut outcome = by_rules(
        ctx,
        &[rule::ICE_SERVERS_EU],
        pass,
        msg(
            "Mindestens ein STUN/TURN-Server steht nicht auf der EU-Positivliste: er erführe die IP-Adressen aller Teilnehmenden.",
            "At least one STUN/TURN server is not on the EU allow-list: it would learn every participant's IP address.",
        ),
    );
    // Static TURN credentials are handed to every participant and stay
    // valid after they left (docs/security.md, *Known gaps*).
    let static_turn: Vec<&str> = c
        .media
        .ice_servers
        .iter()
        .filter(|s| s.credential.is_some())
        .flat_map(|s| s.urls.iter().map(String::as_str))
        .filter(|u| u.starts_with("turn"))
        .collect();
    if !static_turn.is_empty() {
        let urls = static_turn.join(", ");
        outcome = outcome.with(msg(
            format!("Fester TURN-Zugang für alle Teilnehmenden ({urls}): bleibt gültig, auch wenn sie gegangen sind; das eigene Relay (`media.turn_tls_name`) vergibt Zugangsdaten je Sitzung."),
            format!("Static TURN credentials for every participant ({urls}): they stay valid after people leave; the own relay (`media.turn_tls_name`) issues credentials per session."),
        ));
        if outcome.status == super::Status::Pass {
            outcome.status = super::Status::Warn;
        }
    }
    outcome.with_all(evidence)
}

fn tls_min_version(ctx: &Ctx<'_>) -> Outcome {
    let v = ctx.loaded.config.tls.min_version;
    let versions = if v >= TlsVersion::V1_3 { "TLS 1.3" } else { "TLS 1.2 und TLS 1.3" };
    let versions_en = if v >= TlsVersion::V1_3 { "TLS 1.3" } else { "TLS 1.2 and TLS 1.3" };
    by_rules(
        ctx,
        &[rule::TLS_MIN_VERSION],
        msg(
            format!("Konfiguriert ist mindestens TLS {}: der Server spricht {versions}.", v.as_str()),
            format!("At least TLS {} is configured: the server speaks {versions_en}.", v.as_str()),
        ),
        msg(
            format!("Konfiguriert ist TLS {}; jede Richtlinie verlangt mindestens TLS 1.2.", v.as_str()),
            format!("TLS {} is configured; every policy requires at least TLS 1.2.", v.as_str()),
        ),
    )
}

/// Verdict on a certificate's remaining validity.
pub fn expiry_outcome(not_before: i64, not_after: i64, now: SystemTime) -> (super::Status, Msg) {
    let now_s = time::unix_seconds(now);
    let days_left = (not_after - now_s).div_euclid(86_400);
    let until = time::date(time::from_unix_seconds(not_after));
    let from = time::date(time::from_unix_seconds(not_before));
    if now_s < not_before {
        return (
            super::Status::Fail,
            msg(format!("Das Zertifikat gilt erst ab {from}."), format!("The certificate is valid only from {from}.")),
        );
    }
    if now_s >= not_after {
        return (
            super::Status::Fail,
            msg(format!("Das Zertifikat ist seit {until} abgelaufen."), format!("The certificate expired on {until}.")),
        );
    }
    if days_left < CERT_FAIL_DAYS {
        (
            super::Status::Fail,
            msg(
                format!("Das Zertifikat läuft am {until} ab, in {days_left} Tag(en) (Grenze: {CERT_FAIL_DAYS} Tage)."),
                format!("The certificate expires on {until}, in {days_left} day(s) (limit: {CERT_FAIL_DAYS} days)."),
            ),
        )
    } else if days_left < CERT_WARN_DAYS {
        (
            super::Status::Warn,
            msg(
                format!(
                    "Das Zertifikat läuft am {until} ab, in {days_left} Tagen; erneuern Sie es bald (Warnschwelle: {CERT_WARN_DAYS} Tage)."
                ),
                format!(
                    "The certificate expires on {until}, in {days_left} days; renew it soon (warning threshold: {CERT_WARN_DAYS} days)."
                ),
            ),
        )
    } else {
        (
            super::Status::Pass,
            msg(
                format!("Das Zertifikat ist gültig von {from} bis {until} (noch {days_left} Tage)."),
                format!("The certificate is valid from {from} to {until} ({days_left} days left)."),
            ),
        )
    }
}

/// File mode bits, on Unix.
fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The certificate and key files of the server: the ACME state
/// directory's, or `tls.cert_file` and `tls.key_file`.
fn certificate_paths(ctx: &Ctx<'_>) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let tls = &ctx.loaded.config.tls;
    if let Some(acme) = &tls.acme {
        let dir = ctx.loaded.resolve_path(&acme.state_directory);
        return Some((dir.join(crate::acme::store::CERT_FILE), dir.join(crate::acme::store::KEY_FILE)));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => None,
    }
}

fn certificate_files(ctx: &Ctx<'_>) -> Outcome {
    let tls = &ctx.loaded.config.tls;
    if tls.acme.is_some()
        && let Some((cert, _)) = certificate_paths(ctx)
        && !cert.exists()
    {
        return Outcome::warn(msg(
            format!(
                "Noch kein Zertifikat per ACME bezogen (`{}` fehlt); siehe die Prüfung `static.tls.acme`.",
                cert.display()
            ),
            format!(
                "No certificate obtained by ACME yet (`{}` is missing); see the check `static.tls.acme`.",
                cert.display()
            ),
        ));
    }
    let Some((cert, key)) = certificate_paths(ctx) else {
        return Outcome::warn(msg(
            "Kein Zertifikat konfiguriert: Kabine erzeugt bei jedem Start ein selbst signiertes Zertifikat im Speicher (Demo-Betrieb). Browser vertrauen ihm nicht und warnen; für den Echtbetrieb tragen Sie `tls.cert_file` und `tls.key_file` ein.",
            "No certificate configured: Kabine makes a self-signed certificate in memory at every start (demo mode). Browsers do not trust it and warn; for production set `tls.cert_file` and `tls.key_file`.",
        ));
    };
    let mut evidence = vec![msg(
        format!("Zertifikatskette: `{}`, Schlüssel: `{}`", cert.display(), key.display()),
        format!("Certificate chain: `{}`, key: `{}`", cert.display(), key.display()),
    )];
    let (cert, key) = (cert.as_path(), key.as_path());
    if let Err(e) = crate::tls::load_pem(cert, key) {
        return Outcome::fail(msg(
            "Zertifikat und Schlüssel können nicht geladen werden oder passen nicht zusammen; der Server startet so nicht.",
            "Certificate and key cannot be loaded or do not match; the server will not start like this.",
        ))
        .with_all(evidence)
        .with(same(e.to_string()));
    }
    let mut status = super::Status::Pass;
    let mut summary = msg(
        "Zertifikat und Schlüssel sind lesbar und passen zusammen; der Schlüssel ist nur für Berechtigte lesbar.",
        "Certificate and key are readable and match; the key is readable only by those entitled.",
    );
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let leaf = CertificateDer::pem_file_iter(cert).ok().and_then(|mut i| i.next()).and_then(Result::ok);
    if let Some(info) = leaf.as_ref().and_then(|d| der::parse_certificate(d).ok()) {
        let (s, m) = expiry_outcome(info.not_before, info.not_after, ctx.now);
        evidence.push(m.clone());
        if s != super::Status::Pass {
            status = s;
            summary = m;
        }
        let names: Vec<String> =
            info.dns_names.iter().cloned().chain(info.ip_addresses.iter().map(|a| a.to_string())).collect();
        evidence.push(msg(
            format!(
                "Ausgestellt für: {}; Aussteller: {}; Schlüssel: {}",
                names.join(", "),
                info.issuer_cn.clone().unwrap_or_default(),
                info.key
            ),
            format!(
                "Issued for: {}; issuer: {}; key: {}",
                names.join(", "),
                info.issuer_cn.unwrap_or_default(),
                info.key
            ),
        ));
    }
    match mode(key) {
        Some(m) if m & 0o004 != 0 => {
            status = super::Status::Fail;
            summary = msg(
                format!(
                    "Der private Schlüssel `{}` ist für alle Benutzer des Systems lesbar (Modus {m:04o}).",
                    key.display()
                ),
                format!("The private key `{}` is readable by every user of the system (mode {m:04o}).", key.display()),
            );
        }
        Some(m) => {
            evidence.push(msg(format!("Dateimodus des Schlüssels: {m:04o}"), format!("File mode of the key: {m:04o}")))
        }
        None => {}
    }
    Outcome::new(status, summary).with_all(evidence)
}

fn acme(ctx: &Ctx<'_>) -> Outcome {
    let Some(acme) = &ctx.loaded.config.tls.acme else {
        return Outcome::not_applicable(msg(
            "Kabine bezieht kein Zertifikat per ACME (`tls.acme` ist nicht gesetzt).",
            "Kabine obtains no certificate by ACME (`tls.acme` is not set).",
        ))
        .with(ctx.verdict_evidence(rule::ACME_CA));
    };
    let ca = policy::acme_ca(&acme.directory);
    let ca_de = match (ca.country, ca.in_eu) {
        (Some(c), Some(true)) => format!("{} ({c}, in der EU)", ca.name),
        (Some(c), _) => format!("{} ({c}, außerhalb der EU: Übermittlung in ein Drittland, Art. 44 DSGVO)", ca.name),
        (None, _) => format!("{} (Kabine unbekannt: klären Sie, wo die Zertifizierungsstelle betrieben wird)", ca.host),
    };
    let ca_en = match (ca.country, ca.in_eu) {
        (Some(c), Some(true)) => format!("{} ({c}, in the EU)", ca.name),
        (Some(c), _) => format!("{} ({c}, outside the EU: a transfer to a third country, Art. 44 GDPR)", ca.name),
        (None, _) => format!("{} (unknown to Kabine: find out where the CA is operated)", ca.host),
    };
    let contact = acme.contact.clone().unwrap_or_else(|| "—".into());
    let mut evidence = vec![
        msg(format!("Zertifizierungsstelle: {ca_de}"), format!("Certificate authority: {ca_en}")),
        msg(
            format!(
                "An sie gehen: die Namen {} und die Kontaktadresse {contact}; jedes Zertifikat wird in öffentlichen Certificate-Transparency-Protokollen veröffentlicht.",
                acme.domains.join(", ")
            ),
            format!(
                "It receives: the names {} and the contact address {contact}; every certificate is published in public Certificate Transparency logs.",
                acme.domains.join(", ")
            ),
        ),
        ctx.verdict_evidence(rule::ACME_CA),
    ];
    let dir = ctx.loaded.resolve_path(&acme.state_directory);
    let state = crate::acme::store::StateDir::at(&dir);
    let status = state.status().unwrap_or_default();
    let leaf = state.certificate();
    let validity = leaf.as_ref().and_then(|c| c.cert.first()).and_then(crate::acme::validity_of);
    let facts = policy::AcmeFacts {
        not_before: validity.map(|v| v.not_before),
        not_after: validity.map(|v| v.not_after),
        renewal_due: status.renewal_due.filter(|_| status.not_after == validity.map(|v| v.not_after)),
        last_attempt: status.last_attempt,
        last_error: status.last_error.clone(),
        consecutive_failures: status.consecutive_failures,
    };
    if let Some(m) = mode(&dir) {
        evidence.push(msg(
            format!("Zustandsverzeichnis `{}` (Modus {m:04o})", dir.display()),
            format!("State directory `{}` (mode {m:04o})", dir.display()),
        ));
    }
    let t = |s: i64| crate::acme::format_time(s);
    let basis = match status.renewal_basis.as_deref() {
        Some("ari") => {
            ("im von der Zertifizierungsstelle empfohlenen Zeitfenster (ARI)", "in the window the CA suggests (ARI)")
        }
        _ => ("nach zwei Dritteln der Laufzeit", "two thirds into its lifetime"),
    };
    use policy::AcmeRenewal as R;
    let outcome = match policy::acme_renewal(&facts, time::unix_seconds(ctx.now)) {
        R::NotStarted => Outcome::warn(msg(
            "Noch kein Zertifikat bezogen: Kabine bezieht es beim ersten Start; prüfen Sie danach erneut.",
            "No certificate obtained yet: Kabine obtains it at its first start; audit again afterwards.",
        )),
        R::NeverObtained { error, failures } => Outcome::fail(msg(
            format!("Kabine konnte noch kein Zertifikat beziehen ({failures} Versuch(e) fehlgeschlagen): {error}"),
            format!("Kabine could not obtain a certificate yet ({failures} attempt(s) failed): {error}"),
        )),
        R::Failing { error, failures, not_after } => Outcome::fail(msg(
            format!(
                "Die Erneuerung schlägt fehl ({failures} Versuch(e) in Folge); das Zertifikat läuft am {} ab: {error}",
                t(not_after)
            ),
            format!(
                "Renewal is failing ({failures} attempt(s) in a row); the certificate expires {}: {error}",
                t(not_after)
            ),
        )),
        R::Overdue { due, not_after } => Outcome::fail(msg(
            format!(
                "Die Erneuerung war am {} fällig und ist nicht erfolgt (läuft der Server?); das Zertifikat läuft am {} ab.",
                t(due),
                t(not_after)
            ),
            format!(
                "Renewal was due {} and has not happened (is the server running?); the certificate expires {}.",
                t(due),
                t(not_after)
            ),
        )),
        R::Expired { not_after } => Outcome::fail(msg(
            format!("Das Zertifikat ist seit {} abgelaufen.", t(not_after)),
            format!("The certificate expired {}.", t(not_after)),
        )),
        R::Healthy { due, not_after } => Outcome::pass(msg(
            format!("Zertifikat gültig bis {}; Erneuerung am {} ({}).", t(not_after), t(due), basis.0),
            format!("Certificate valid until {}; renewal due {} ({}).", t(not_after), t(due), basis.1),
        )),
    };
    if let Some(at) = status.last_attempt {
        evidence.push(msg(format!("Letzter Versuch: {}", t(at)), format!("Last attempt: {}", t(at))));
    }
    outcome.with_all(evidence)
}

fn room_limits(ctx: &Ctx<'_>) -> Outcome {
    let r = &ctx.loaded.config.rooms;
    let cap = match ctx.policy.rooms.max_participants {
        Some(cap) => msg(format!("höchstens {cap} laut Richtlinie"), format!("at most {cap} by the policy")),
        None => msg("die Richtlinie setzt keine Grenze", "the policy sets no cap"),
    };
    let chat = if r.private_chat {
        msg(
            "Private Nachrichten an eine einzelne Person im Raum sind möglich (weitergeleitet, nie gespeichert).",
            "Private messages to one person in the room are possible (relayed, never stored).",
        )
    } else {
        msg(
            "Private Nachrichten sind ausgeschaltet: Chatnachrichten gehen an den ganzen Raum.",
            "Private messages are off: chat messages go to the whole room.",
        )
    };
    by_rules(
        ctx,
        &[rule::ROOM_SIZE, rule::PRIVATE_CHAT],
        msg(
            format!("Höchstens {} Teilnehmende je Raum ({}). {}", r.max_participants, cap.de, chat.de),
            format!("At most {} participants per room ({}). {}", r.max_participants, cap.en, chat.en),
        ),
        msg(
            format!(
                "Raumgröße oder private Nachrichten verstoßen gegen die Richtlinie „{}“ (höchstens {} Teilnehmende erlaubt: {}; private Nachrichten: {}).",
                ctx.policy.name,
                r.max_participants,
                cap.de,
                if r.private_chat { "an" } else { "aus" }
            ),
            format!(
                "Room size or private messages violate the policy \"{}\" ({} participants allowed: {}; private messages: {}).",
                ctx.policy.name,
                r.max_participants,
                cap.en,
                if r.private_chat { "on" } else { "off" }
            ),
        ),
    )
}

fn teletherapy(ctx: &Ctx<'_>) -> Outcome {
    let t = &ctx.loaded.config.teletherapy;
    if !t.enabled && ctx.ok(rule::TELETHERAPY) {
        return Outcome::not_applicable(msg(
            "Termine sind ausgeschaltet (`teletherapy.enabled = false`); die Richtlinie verlangt sie nicht.",
            "Appointments are off (`teletherapy.enabled = false`); the policy does not require them.",
        ))
        .with_all([ctx.verdict_evidence(rule::TELETHERAPY)]);
    }
    by_rules(
        ctx,
        &[rule::TELETHERAPY],
        msg(
            format!(
                "Termine sind eingeschaltet: je Patientin oder Patient ein eigener Link (128 Zufallsbits), an Therapeutin und Termin gebunden, gültig von {} Minuten vor Beginn bis {} Minuten nach dem Ende oder bis die Sitzung beendet ist, widerrufbar, von einem Gerät zur Zeit nutzbar; Einwilligung vor dem ersten Eintritt; Wartezimmer, aus dem die Therapeutin hereinruft; höchstens {} Patientinnen und Patienten je Termin. Termine, Namen und Einwilligungen liegen nur im Arbeitsspeicher und werden spätestens {} Stunden nach dem Termin gelöscht.",
                t.link_opens_minutes_before, t.link_grace_minutes_after, t.max_patients, t.record_retention_hours
            ),
            format!(
                "Appointments are on: each patient gets a link of their own (128 random bits), bound to the therapist and the appointment, valid from {} minutes before the start until {} minutes after the end or until the session ended, revocable, usable from one device at a time; consent before the first entry; a waiting room the therapist calls patients in from; at most {} patients per appointment. Appointments, names and consents are kept in memory only and deleted {} hours after the appointment at the latest.",
                t.link_opens_minutes_before, t.link_grace_minutes_after, t.max_patients, t.record_retention_hours
            ),
        ),
        msg(
            format!(
                "Die Richtlinie „{}“ verlangt Termine mit eigenem Link je Patientin oder Patient, Einwilligung und Sitzungsnachweis; `teletherapy.enabled` ist aus.",
                ctx.policy.name
            ),
            format!(
                "The policy \"{}\" requires appointments with a link per patient, consent and session records; `teletherapy.enabled` is off.",
                ctx.policy.name
            ),
        ),
    )
}

fn recording(ctx: &Ctx<'_>) -> Outcome {
    let r = &ctx.loaded.config.recording;
    let pass = if r.enabled {
        msg(
            format!(
                "Aufzeichnen ist erlaubt, beginnt aber erst, wenn alle Teilnehmenden eingewilligt haben; jede Datei wird beim Schreiben für den Schlüssel des Betreibers verschlüsselt und nach {} Tagen gelöscht. Ende-zu-Ende-verschlüsselte Treffen werden nie aufgezeichnet.",
                r.retention_days
            ),
            format!(
                "Recording is allowed, but starts only once every participant has consented; every file is encrypted to the operator's key as it is written and deleted after {} days. End-to-end encrypted meetings are never recorded.",
                r.retention_days
            ),
        )
    } else {
        msg("Aufzeichnen ist ausgeschaltet.", "Recording is off.")
    };
    by_rules(
        ctx,
        &[rule::RECORDING_OFF, rule::RECORDING_CONSENT, rule::RECORDING_ENCRYPTED, rule::RECORDING_RETENTION],
        pass,
        msg(
            "Die Aufzeichnungseinstellungen verstoßen gegen die Richtlinie (Aufzeichnung nicht erlaubt, ohne Einwilligung, unverschlüsselt oder zu lange aufbewahrt).",
            "The recording settings violate the policy (recording not allowed, without consent, unencrypted or kept too long).",
        ),
    )
}

fn p2p(ctx: &Ctx<'_>) -> Outcome {
    // What runs: a config that leaves p2p.enabled unset follows the policy.
    let enabled = policy::p2p_in_use(ctx.loaded, ctx.policy);
    let pass = if enabled {
        msg(
            "Direkte Verbindungen sind eingeschaltet: Bei zwei Teilnehmenden fließen die Medien Ende-zu-Ende-verschlüsselt (DTLS-SRTP) direkt zwischen den Browsern; dabei erfahren beide die IP-Adresse des jeweils anderen.",
            "Direct calls are on: with two participants, media flows end-to-end encrypted (DTLS-SRTP) directly between the browsers; each learns the other's IP address.",
        )
    } else {
        msg(
            "Direkte Verbindungen sind ausgeschaltet: Medien laufen immer über den Server, Teilnehmende erfahren die IP-Adressen der anderen nicht.",
            "Direct calls are off: media always goes through the server, and participants do not learn each other's IP address.",
        )
    };
    by_rules(
        ctx,
        &[rule::P2P],
        pass,
        msg(
            format!("Direkte Verbindungen sind eingeschaltet, die Richtlinie „{}“ verbietet sie.", ctx.policy.name),
            format!("Direct calls are on, but the policy \"{}\" forbids them.", ctx.policy.name),
        ),
    )
}

fn e2ee(ctx: &Ctx<'_>) -> Outcome {
    let c = &ctx.loaded.config.e2ee;
    let max = c.max_participants;
    let server_sees = msg(
        "Auch bei Ende-zu-Ende-Verschlüsselung erfährt der Server, wer teilnimmt, wer wann spricht (Audiopegel-Kopfzeile, für die Sprechererkennung) sowie Größe und Zeitpunkt jedes Bildes und Tonpakets; nicht, was gesagt oder gezeigt wird.",
        "Even with end-to-end encryption the server learns who takes part, who speaks when (the audio-level header, for speaker detection) and the size and timing of every frame; not what is said or shown.",
    );
    let keys = msg(
        "Schlüssel: je Person ein Senderschlüssel (AES-GCM), paarweise über X25519 ausgetauscht und mit dem Schlüssel im Fragment des Besprechungslinks (`#k=…`, nie an den Server gesendet) authentifiziert; neu beim Verlassen, weitergedreht beim Beitreten (`docs/e2ee.md`).",
        "Keys: one sender key per person (AES-GCM), exchanged pairwise over X25519 and authenticated by the key in the meeting link's fragment (`#k=…`, never sent to the server); new on every leave, ratcheted on every join (`docs/e2ee.md`).",
    );
    let pass = match c.mode {
        E2eeMode::Required => msg(
            format!(
                "Jede Besprechung ist Ende-zu-Ende-verschlüsselt (`e2ee.mode = \"required\"`, höchstens {max} Teilnehmende): Die Browser verschlüsseln Bild und Ton mit Schlüsseln, die der Server nie hat; er leitet nur Chiffrat weiter. Browser ohne die nötigen Funktionen können nicht teilnehmen."
            ),
            format!(
                "Every meeting is end-to-end encrypted (`e2ee.mode = \"required\"`, at most {max} participants): browsers encrypt picture and sound with keys the server never has; it forwards ciphertext only. Browsers without what that needs cannot take part."
            ),
        ),
        E2eeMode::Optional => msg(
            format!(
                "Ende-zu-Ende-Verschlüsselung ist wählbar (`e2ee.mode = \"optional\"`): Die Moderation einer Besprechung schaltet sie ein (höchstens {max} Teilnehmende); bis dahin werden Bild und Ton im Server entschlüsselt. Für Gesundheitsdaten in Gruppen empfiehlt sich `\"required\"`."
            ),
            format!(
                "End-to-end encryption is optional (`e2ee.mode = \"optional\"`): a meeting's moderator turns it on (at most {max} participants); until then picture and sound are decrypted in the server. For health data in groups, `\"required\"` is advisable."
            ),
        ),
        E2eeMode::Off => msg(
            "Ende-zu-Ende-Verschlüsselung ist ausgeschaltet (`e2ee.mode = \"off\"`): Bild und Ton sind nur auf dem Transportweg verschlüsselt (DTLS-SRTP) und werden im Server entschlüsselt (außer in direkten Verbindungen zu zweit).",
            "End-to-end encryption is off (`e2ee.mode = \"off\"`): picture and sound are encrypted in transit only (DTLS-SRTP) and decrypted in the server (except in direct calls of two).",
        ),
    };
    let o = by_rules(
        ctx,
        &[rule::E2EE],
        pass,
        msg(
            format!("Die Richtlinie „{}“ verlangt Ende-zu-Ende-Verschlüsselung für jede Besprechung (`e2ee.mode = \"required\"`).", ctx.policy.name),
            format!("The policy \"{}\" requires every meeting to be end-to-end encrypted (`e2ee.mode = \"required\"`).", ctx.policy.name),
        ),
    )
    .with(keys)
    .with(server_sees);
    if c.mode == E2eeMode::Off && o.status == super::Status::Pass {
        Outcome { status: super::Status::Warn, ..o }
    } else {
        o
    }
}

/// Scans the client files built into this binary for references to other origins.
fn embedded_client_findings() -> (usize, Vec<String>) {
    let origin = "https://kabine.invalid";
    let mut findings = Vec::new();
    for asset in crate::http::assets::ASSETS {
        let Ok(text) = std::str::from_utf8(asset.body) else { continue };
        let refs = if asset.content_type.starts_with("text/html") || asset.content_type.starts_with("image/svg") {
            scan::html(text)
        } else if asset.content_type.starts_with("text/css") {
            scan::css(text)
        } else if asset.content_type.contains("javascript") {
            scan::js(text)
        } else {
            continue;
        };
        for r in refs {
            if r.usage == scan::Use::Navigate {
                continue;
            }
            if let scan::Target::Foreign(o) = scan::resolve(&r.url, &format!("/static/{}", asset.name), origin) {
                findings.push(format!("{}: {} ({})", asset.name, o, r.context));
            }
        }
    }
    (crate::http::assets::ASSETS.len(), findings)
}

fn third_party(ctx: &Ctx<'_>) -> Outcome {
    let csp_foreign = policy::csp_foreign_sources(policy::csp_header(), &[]);
    let (files, findings) = embedded_client_findings();
    let mut o = by_rules(
        ctx,
        &[rule::NO_THIRD_PARTY_REQUESTS],
        msg(
            "Der Browser lädt nichts von anderen Anbietern: Alle Dateien der Anwendung sind in Kabine eingebaut, und die Content-Security-Policy erlaubt nur diesen Server.",
            "The browser loads nothing from other providers: every file of the client is built into Kabine, and the Content-Security-Policy allows this server only.",
        ),
        msg(
            "Die Konfiguration erlaubt dem Browser Anfragen an andere Anbieter (`client.external_origins`).",
            "The configuration lets the browser contact other providers (`client.external_origins`).",
        ),
    )
    .with(msg(
        format!("Content-Security-Policy dieses Programms: `{}`", policy::csp_header()),
        format!("This binary's Content-Security-Policy: `{}`", policy::csp_header()),
    ))
    .with(msg(
        format!("{files} eingebaute Client-Dateien durchsucht; Verweise auf andere Herkünfte: {}", findings.len()),
        format!("{files} built-in client files scanned; references to other origins: {}", findings.len()),
    ));
    if !csp_foreign.is_empty() || !findings.is_empty() {
        o.status = super::Status::Fail;
        o.summary = msg(
            "Die eingebaute Anwendung oder ihre Content-Security-Policy verweist auf andere Herkünfte.",
            "The built-in client or its Content-Security-Policy refers to other origins.",
        );
        o = o.with_all(csp_foreign.into_iter().chain(findings).map(same));
    }
    o
}

fn legal_links(ctx: &Ctx<'_>) -> Outcome {
    let c = &ctx.loaded.config.client;
    let show = |u: &Option<String>| u.clone().unwrap_or_else(|| "—".into());
    let evidence = [
        msg(format!("Impressum: {}", show(&c.imprint_url)), format!("Imprint: {}", show(&c.imprint_url))),
        msg(
            format!("Datenschutzhinweise: {}", show(&c.privacy_url)),
            format!("Privacy notice: {}", show(&c.privacy_url)),
        ),
    ];
    if c.privacy_url.is_some() && c.imprint_url.is_some() {
        Outcome::pass(msg(
            "Jede Seite verlinkt Impressum und Datenschutzhinweise des Betreibers.",
            "Every page links the operator's imprint and privacy notice.",
        ))
        .with_all(evidence)
    } else {
        Outcome::warn(msg(
            "Impressum oder Datenschutzhinweise sind nicht verlinkt (`client.imprint_url`, `client.privacy_url`). Teilnehmende müssen nach Art. 13 DSGVO informiert werden; stellen Sie das auf anderem Weg sicher oder tragen Sie die Verweise ein.",
            "The imprint or privacy notice is not linked (`client.imprint_url`, `client.privacy_url`). Participants must be informed under Art. 13 GDPR; make sure of that by other means or set the links.",
        ))
        .with_all(evidence)
    }
}

/// The local user store file and what the policy needs to know about it.
fn user_store(ctx: &Ctx<'_>) -> (std::path::PathBuf, policy::UserStoreFacts) {
    let path = ctx.loaded.resolve_path(&ctx.loaded.config.access.users_file);
    let facts = crate::auth::store::inspect(&path);
    (path, facts)
}

fn access_mode(ctx: &Ctx<'_>) -> Outcome {
    use crate::config::AccessMode;
    let a = &ctx.loaded.config.access;
    let (path, facts) = user_store(ctx);
    let users = match facts {
        policy::UserStoreFacts::Present { users, .. } => users,
        _ => 0,
    };
    let ldap = ctx.loaded.config.ldap.url.is_some();
    let (ldap_de, ldap_en) = if ldap { ("angebunden", "connected") } else { ("nicht angebunden", "not connected") };
    let evidence = vec![
        msg(format!("`access.mode = \"{}\"`", a.mode.as_str()), format!("`access.mode = \"{}\"`", a.mode.as_str())),
        msg(
            format!("Lokale Benutzer: {users} (`{}`); Verzeichnisdienst (LDAP): {ldap_de}", path.display()),
            format!("Local users: {users} (`{}`); directory service (LDAP): {ldap_en}", path.display()),
        ),
        msg(
            format!(
                "Anmeldesitzungen enden nach {} Minuten ohne Aktivität, spätestens nach {} Stunden.",
                a.session_idle_timeout_minutes, a.session_lifetime_hours
            ),
            format!(
                "Login sessions end after {} minutes without activity, at the latest after {} hours.",
                a.session_idle_timeout_minutes, a.session_lifetime_hours
            ),
        ),
        ctx.verdict_evidence(rule::SESSION_TIMEOUTS),
        ctx.verdict_evidence(rule::ACCESS_MODE),
    ];
    if !ctx.ok(rule::ACCESS_MODE) {
        return Outcome::fail(msg(
            format!(
                "Offener Zugang: Jede Person mit der Adresse eines Raums kann ihn öffnen; die Richtlinie „{}“ verlangt, dass nur angemeldete Gastgeber Räume öffnen (`access.mode = \"secure\"` oder `\"closed\"`).",
                ctx.policy.name
            ),
            format!(
                "Open access: anyone with a room's address can open it; the policy \"{}\" requires that only logged-in hosts open rooms (`access.mode = \"secure\"` or `\"closed\"`).",
                ctx.policy.name
            ),
        ))
        .with_all(evidence);
    }
    if !ctx.ok(rule::SESSION_TIMEOUTS) {
        return Outcome::fail(msg(
            "Anmeldesitzungen bleiben länger bestehen, als die Richtlinie erlaubt.",
            "Login sessions last longer than the policy allows.",
        ))
        .with_all(evidence);
    }
    let nobody = users == 0 && !ldap;
    match a.mode {
        AccessMode::Open => Outcome::warn(msg(
            "Offener Zugang: Jede Person, die die Adresse eines Raums kennt, kann ihn öffnen und betreten; die erste Person moderiert. Für vertrauliche Gespräche empfiehlt sich `access.mode = \"secure\"` (nur angemeldete Gastgeber öffnen Räume).",
            "Open access: anyone who knows a room's address can open and enter it; the first person moderates. For confidential conversations, `access.mode = \"secure\"` is recommended (only logged-in hosts open rooms).",
        ))
        .with_all(evidence),
        _ if nobody => Outcome::warn(msg(
            "Zugang nur mit Anmeldung, aber es gibt weder lokale Benutzer noch einen Verzeichnisdienst: Niemand kann einen Raum öffnen.",
            "Access requires a login, but there are neither local users nor a directory service: nobody can open a room.",
        ))
        .with_all(evidence),
        AccessMode::Secure => Outcome::pass(msg(
            "Nur angemeldete Personen mit Gastgeberrecht öffnen Räume; Gäste ohne Konto warten, bis eine Gastgeberin oder ein Gastgeber im Raum ist.",
            "Only logged-in people allowed to host open rooms; guests without an account wait until a host is in the room.",
        ))
        .with_all(evidence),
        AccessMode::Closed => Outcome::pass(msg(
            "Alle Teilnehmenden melden sich an; nur Personen mit Gastgeberrecht öffnen Räume.",
            "Every participant logs in; only people allowed to host open rooms.",
        ))
        .with_all(evidence),
    }
}

fn password_hashes(ctx: &Ctx<'_>) -> Outcome {
    let (path, facts) = user_store(ctx);
    if matches!(facts, policy::UserStoreFacts::Missing) {
        return Outcome::not_applicable(msg(
            format!(
                "Kein lokaler Benutzerspeicher (`{}` existiert nicht): Kabine speichert keine Kennwörter.",
                path.display()
            ),
            format!("No local user store (`{}` does not exist): Kabine stores no passwords.", path.display()),
        ));
    }
    // Parameters by kind, never user names: the report is not a user list.
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    if let Ok(users) = crate::auth::store::read(&path) {
        for u in users.iter() {
            let k = crate::auth::password::HashParams::parse(&u.hash).map_or_else(|e| e, |p| p.to_string());
            *kinds.entry(k).or_default() += 1;
        }
    }
    let mode_line = match &facts {
        policy::UserStoreFacts::Present { mode, users, .. } => Some(msg(
            format!("`{}`: {users} Benutzer, Dateimodus {mode:04o}", path.display()),
            format!("`{}`: {users} user(s), file mode {mode:04o}", path.display()),
        )),
        _ => None,
    };
    by_rules(
        ctx,
        &[rule::PASSWORD_HASH, rule::USER_STORE_PRIVATE],
        msg(
            "Jedes gespeicherte Kennwort ist mit Argon2id (mindestens 19 MiB, 2 Durchläufe, Parallelität 1) gehasht, und nur der Eigentümer kann die Datei lesen.",
            "Every stored password is hashed with Argon2id (at least 19 MiB, 2 passes, parallelism 1), and only the owner can read the file.",
        ),
        msg(
            "Der Benutzerspeicher enthält zu schwache Kennwort-Hashes oder ist für andere lesbar.",
            "The user store holds password hashes that are too weak, or others can read it.",
        ),
    )
    .with_all(mode_line)
    .with_all(kinds.into_iter().map(|(k, n)| msg(format!("{n} × `{k}`"), format!("{n} × `{k}`"))))
}

fn ldap_tls(ctx: &Ctx<'_>) -> Outcome {
    let l = &ctx.loaded.config.ldap;
    let Some(url) = &l.url else {
        return Outcome::not_applicable(msg(
            "Kein Verzeichnisdienst (LDAP) angebunden.",
            "No directory service (LDAP) connected.",
        ));
    };
    let how = if url.starts_with("ldaps://") {
        msg("`ldaps://`: TLS ab dem ersten Byte", "`ldaps://`: TLS from the first byte")
    } else if l.starttls {
        msg(
            "`ldap://` mit StartTLS, bevor ein Kennwort übertragen wird",
            "`ldap://` with StartTLS before any password is sent",
        )
    } else {
        msg("`ldap://` ohne StartTLS", "`ldap://` without StartTLS")
    };
    let ca = match &l.ca_file {
        Some(f) => msg(
            format!("Zertifikatsprüfung gegen `{}`", f.display()),
            format!("Certificate verified against `{}`", f.display()),
        ),
        None => msg(
            "Zertifikatsprüfung gegen den Zertifikatsspeicher des Systems",
            "Certificate verified against the system's certificate store",
        ),
    };
    by_rules(
        ctx,
        &[rule::LDAP_TLS],
        msg(
            "Die Verbindung zum Verzeichnisdienst ist verschlüsselt, bevor ein Kennwort sie durchläuft; das Zertifikat des Verzeichnisses wird geprüft.",
            "The connection to the directory service is encrypted before any password crosses it; the directory's certificate is verified.",
        ),
        msg(
            "Unverschlüsseltes LDAP: Kennwörter würden im Klartext übertragen.",
            "Plain LDAP: passwords would be sent in clear.",
        ),
    )
    .with(how)
    .with(ca)
}

/// `kabine.YYYY-MM-DD.log` → days since the epoch of that date.
fn log_file_day(name: &str) -> Option<i64> {
    let date = name.strip_prefix("kabine.")?.strip_suffix(".log")?;
    let mut it = date.split('-');
    let (y, m, d) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(time::days_from_civil(y, m, d))
}

/// What a file in one of Kabine's directories is.
enum DataFile {
    /// A daily log file covering this day (days since the epoch).
    Log(i64),
    /// The user store or its lock and temporary files.
    Store,
    /// A file the configuration names (the configuration itself, a policy,
    /// certificate, key, CA, password file, logo) or another of Kabine's
    /// directories.
    Configured,
    Unknown,
}

/// Every file and directory the configuration names, resolved.
fn configured_paths(ctx: &Ctx<'_>) -> Vec<std::path::PathBuf> {
    let c = &ctx.loaded.config;
    let mut v: Vec<std::path::PathBuf> = Vec::new();
    v.extend(ctx.loaded.path.clone());
    let choice = std::path::Path::new(&c.policy.0);
    if c.policy.0.contains('/') || c.policy.0.ends_with(".toml") {
        v.push(ctx.loaded.resolve_path(choice));
    }
    let named = [&c.tls.cert_file, &c.tls.key_file, &c.ldap.ca_file, &c.ldap.bind_password_file, &c.client.logo_file];
    v.extend(named.into_iter().flatten().map(|p| ctx.loaded.resolve_path(p)));
    if c.log.target == LogTarget::File {
        v.push(c.log.directory.clone());
    }
    v
}

/// What lies where Kabine writes, and the rule that room data stays in
/// memory (which the config loader enforces; the live checks
/// `live.rooms.lifecycle` and `live.rooms.no-disk-writes` test it on the
/// running server).
fn data_directory(ctx: &Ctx<'_>) -> Outcome {
    let r = &ctx.loaded.config.rooms;
    let outcome = if ctx.ok(rule::ROOM_STATE_MEMORY_ONLY) {
        data_directory_files(ctx)
    } else {
        Outcome::fail(msg(
            "Die Richtlinienregel `room-state-memory-only` ist nicht erfüllt.",
            "The policy rule `room-state-memory-only` is not met.",
        ))
    };
    outcome.with(ctx.verdict_evidence(rule::ROOM_STATE_MEMORY_ONLY)).with(msg(
        format!(
            "Räume, Lobby und Raumkennwörter liegen nur im Arbeitsspeicher: höchstens {} Teilnehmende je Raum, höchstens {} gleichzeitige Räume.",
            r.max_participants, r.max_rooms
        ),
        format!(
            "Rooms, lobby and room passwords live in memory only: at most {} participants per room, at most {} rooms at once.",
            r.max_participants, r.max_rooms
        ),
    ))
}

fn data_directory_files(ctx: &Ctx<'_>) -> Outcome {
    let log = &ctx.loaded.config.log;
    let (store, _) = user_store(ctx);
    let store_name = store.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    if let Some(d) = store.parent().filter(|d| d.is_dir()) {
        dirs.push(d.to_path_buf());
    }
    if log.target == LogTarget::File && !dirs.contains(&log.directory) {
        dirs.push(log.directory.clone());
    }
    if dirs.is_empty() {
        return Outcome::not_applicable(msg(
            "Kabine hat in dieser Konfiguration noch nichts gespeichert: Protokolle gehen an die Standardfehlerausgabe oder das Protokollverzeichnis existiert noch nicht, Raumdaten liegen nur im Arbeitsspeicher, und es gibt keinen Benutzerspeicher.",
            "In this configuration Kabine has stored nothing yet: logs go to standard error or the log directory does not exist yet, room data lives in memory only, and there is no user store.",
        ));
    }
    let configured = configured_paths(ctx);
    let acme_dir = ctx.loaded.config.tls.acme.as_ref().map(|a| ctx.loaded.resolve_path(&a.state_directory));
    let classify = |name: &str, dir: &Path| -> DataFile {
        if configured.iter().any(|p| p == &dir.join(name)) || acme_dir.as_deref() == Some(&dir.join(name)) {
            return DataFile::Configured;
        }
        let is_log_dir = log.target == LogTarget::File && dir == log.directory.as_path();
        if is_log_dir && let Some(day) = log_file_day(name) {
            return DataFile::Log(day);
        }
        let in_store_dir = store.parent() == Some(dir);
        let store_file = name == store_name
            || name == format!("{store_name}.lock")
            || name.starts_with(&format!(".{store_name}.tmp-"));
        if in_store_dir && store_file { DataFile::Store } else { DataFile::Unknown }
    };
    let today = time::unix_seconds(ctx.now).div_euclid(86_400);
    let keep = i64::from(log.retention_days.min(ctx.policy.log.max_retention_days));
    let mut evidence = Vec::new();
    let (mut too_old, mut unexpected, mut open_dirs) = (Vec::new(), Vec::new(), Vec::new());
    for dir in &dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                evidence.push(msg(
                    format!("`{}` existiert noch nicht; Kabine hat dort nichts geschrieben.", dir.display()),
                    format!("`{}` does not exist yet; Kabine has written nothing there.", dir.display()),
                ));
                continue;
            }
            Err(e) => {
                return Outcome::fail(msg(
                    format!("Das Verzeichnis `{}` kann nicht gelesen werden: {e}", dir.display()),
                    format!("The directory `{}` cannot be read: {e}", dir.display()),
                ));
            }
        };
        let (mut logs, mut store_files) = (0, 0);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match classify(&name, dir) {
                // A file is kept `keep` days after the day it covers; one day
                // of slack for the sweeper's hourly run.
                DataFile::Log(day) if today - day > keep + 1 => too_old.push(dir.join(&name)),
                DataFile::Log(_) => logs += 1,
                DataFile::Store => store_files += 1,
                DataFile::Configured => {}
                DataFile::Unknown => unexpected.push(dir.join(&name)),
            }
        }
        let m = mode(dir);
        if m.is_some_and(|m| m & 0o007 != 0) {
            open_dirs.push((dir.clone(), m.unwrap_or_default()));
        }
        let mode_text = m.map(|m| format!("{m:04o}")).unwrap_or_else(|| "—".into());
        evidence.push(msg(
            format!(
                "`{}` (Modus {mode_text}): {logs} Protokolldatei(en) innerhalb der Aufbewahrungsfrist von {keep} Tagen, {store_files} Datei(en) des Benutzerspeichers",
                dir.display()
            ),
            format!(
                "`{}` (mode {mode_text}): {logs} log file(s) within the retention period of {keep} days, {store_files} file(s) of the user store",
                dir.display()
            ),
        ));
    }
    too_old.sort();
    unexpected.sort();
    if !too_old.is_empty() {
        return Outcome::fail(msg(
            format!("{} Protokolldatei(en) sind älter als die Aufbewahrungsfrist von {keep} Tagen und hätten gelöscht sein müssen.", too_old.len()),
            format!("{} log file(s) are older than the retention period of {keep} days and should have been deleted.", too_old.len()),
        ))
        .with_all(evidence)
        .with_all(too_old.iter().map(|p| msg(format!("zu alt: `{}`", p.display()), format!("too old: `{}`", p.display()))));
    }
    if !unexpected.is_empty() {
        return Outcome::warn(msg(
            format!("In Kabines Verzeichnissen liegen {} Datei(en), die Kabine nicht schreibt; prüfen Sie, was sie enthalten.", unexpected.len()),
            format!("Kabine's directories hold {} file(s) that Kabine does not write; check what they contain.", unexpected.len()),
        ))
        .with_all(evidence)
        .with_all(unexpected.iter().map(|p| msg(format!("unerwartet: `{}`", p.display()), format!("unexpected: `{}`", p.display()))));
    }
    if let Some((dir, m)) = open_dirs.first() {
        return Outcome::warn(msg(
            format!("Das Verzeichnis `{}` ist für alle Benutzer des Systems zugänglich (Modus {m:04o}); empfohlen ist 0750.", dir.display()),
            format!("The directory `{}` is accessible to every user of the system (mode {m:04o}); 0750 is recommended.", dir.display()),
        ))
        .with_all(evidence);
    }
    Outcome::pass(msg(
        "In Kabines Verzeichnissen liegen nur der Benutzerspeicher und Protokolldateien innerhalb der Aufbewahrungsfrist.",
        "Kabine's directories hold only the user store and log files within the retention period.",
    ))
    .with_all(evidence)
}

fn config_permissions(ctx: &Ctx<'_>) -> Outcome {
    let Some(path) = &ctx.loaded.path else {
        return Outcome::not_applicable(msg(
            "Keine Konfigurationsdatei: es läuft die eingebaute Demo-Konfiguration.",
            "No configuration file: the built-in demo configuration is in use.",
        ));
    };
    let Some(m) = mode(path) else {
        return Outcome::not_applicable(msg(
            "Dateirechte sind auf diesem System nicht prüfbar.",
            "File permissions cannot be checked on this system.",
        ));
    };
    let secrets = ctx.loaded.config.media.ice_servers.iter().any(|s| s.credential.is_some())
        || ctx.loaded.config.ldap.bind_password.is_some();
    let evidence = msg(
        format!("`{}`: Modus {m:04o}; enthält Zugangsdaten: {}", path.display(), if secrets { "ja" } else { "nein" }),
        format!("`{}`: mode {m:04o}; contains credentials: {}", path.display(), if secrets { "yes" } else { "no" }),
    );
    if m & 0o022 != 0 {
        return Outcome::fail(msg(
            "Die Konfigurationsdatei ist für andere Benutzer beschreibbar: wer sie ändert, ändert die Datenschutzeinstellungen.",
            "The configuration file is writable by other users: whoever changes it changes the privacy settings.",
        ))
        .with(evidence);
    }
    if secrets && m & 0o004 != 0 {
        return Outcome::fail(msg(
            "Die Konfigurationsdatei enthält Zugangsdaten und ist für alle Benutzer des Systems lesbar; empfohlen ist 0640.",
            "The configuration file contains credentials and is readable by every user of the system; 0640 is recommended.",
        ))
        .with(evidence);
    }
    Outcome::pass(msg(
        "Die Konfigurationsdatei ist nur für Berechtigte beschreibbar und gibt keine Zugangsdaten preis.",
        "The configuration file is writable only by those entitled and discloses no credentials.",
    ))
    .with(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Status;
    use crate::config::load_str;

    fn run_on(text: &str, check: StaticCheck) -> Outcome {
        let loaded = load_str(text, "t.toml").expect("test config loads");
        let policy = Policy::for_config(&loaded).expect("policy");
        run(check, &Ctx::new(&loaded, &policy, SystemTime::now()))
    }

    /// The self-test proves something only if each sample holds an address
    /// that both the redactor and the audit's own scanner see.
    #[test]
    fn every_redaction_sample_holds_an_address_both_detectors_see() {
        for s in REDACTION_SAMPLES {
            assert!(!crate::audit::addresses::find(s).is_empty(), "the audit's scanner misses the address in {s:?}");
            assert!(crate::logging::redact::contains_address(s), "the redactor misses the address in {s:?}");
        }
        let demo = LoadedConfig::demo();
        let policy = Policy::for_config(&demo).expect("policy");
        let o = log_redaction(&Ctx::new(&demo, &policy, SystemTime::now()));
        assert_eq!(o.status, Status::Pass);
    }

    #[test]
    fn direct_calls_are_reported_as_they_run_under_the_policy() {
        let on = run_on("", StaticCheck::P2p);
        assert_eq!(on.status, Status::Pass);
        assert!(on.summary.en.starts_with("Direct calls are on"), "{}", on.summary.en);
        // The preset alone turns them off; nothing to fix.
        let off = run_on("policy = \"strict-no-p2p\"", StaticCheck::P2p);
        assert_eq!(off.status, Status::Pass);
        assert!(off.summary.en.starts_with("Direct calls are off"), "{}", off.summary.en);
    }

    #[test]
    fn every_policy_rule_is_reported_by_a_static_check() {
        let loaded = LoadedConfig::demo();
        let verdicts = policy::check(&loaded, &Policy::strict());
        for v in verdicts {
            assert!(
                RULES_REPORTED.iter().any(|(_, rules)| rules.contains(&v.rule)),
                "policy rule {} is not reported by any audit check: add it to RULES_REPORTED",
                v.rule
            );
        }
    }

    #[test]
    fn the_demo_passes_every_rule_check() {
        for (check, _) in RULES_REPORTED {
            // With logs on stderr, the journal decides retention, and the
            // demo's access is open: warnings, tested below.
            let text = match check {
                StaticCheck::LogRetention => "[log]\ntarget = \"file\"",
                StaticCheck::AccessMode => LDAP_SECURE,
                _ => "",
            };
            let status = run_on(text, *check).status;
            // Without a user store, LDAP or anything written those checks
            // have nothing to look at.
            let na_ok = matches!(
                check,
                StaticCheck::PasswordHashes
                    | StaticCheck::LdapTls
                    | StaticCheck::Acme
                    | StaticCheck::DataDirectory
                    | StaticCheck::Teletherapy
            );
            assert!(status == Status::Pass || (na_ok && status == Status::NotApplicable), "{check:?}: {status:?}");
        }
        assert_eq!(run_on("", StaticCheck::PolicyPreset).status, Status::Pass);
        // anlage-31b is in no respect looser than strict, and described in German too.
        let o = run_on("policy = \"anlage-31b\"", StaticCheck::PolicyPreset);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.evidence.iter().any(|m| m.de.contains("nach Anlage 31b BMV-Ä")), "{o:?}");
    }

    #[test]
    fn appointments_are_checked_where_the_policy_requires_them() {
        let off = run_on("", StaticCheck::Teletherapy);
        assert_eq!(off.status, Status::NotApplicable, "{off:?}");
        let required_off = run_on(
            "policy = \"anlage-31b\"\n[access]\nmode = \"secure\"\n[teletherapy]\nenabled = false",
            StaticCheck::Teletherapy,
        );
        assert_eq!(required_off.status, Status::Fail, "{required_off:?}");
        assert!(required_off.summary.en.contains("requires appointments"), "{}", required_off.summary.en);
        let on = run_on(
            "policy = \"anlage-31b\"\n[access]\nmode = \"secure\"\n[teletherapy]\nenabled = true\nrecord_retention_hours = 12",
            StaticCheck::Teletherapy,
        );
        assert_eq!(on.status, Status::Pass, "{on:?}");
        assert!(on.summary.en.contains("12 hours after the appointment"), "{}", on.summary.en);
    }

    #[test]
    fn static_turn_credentials_are_a_warning() {
        let text =
            "[[media.ice_servers]]\nurls = [\"turn:stun.sipgate.net:3478\"]\nusername = \"u\"\ncredential = \"p\"\n";
        let o = run_on(text, StaticCheck::IceServers);
        assert_eq!(o.status, Status::Warn, "{o:?}");
        let stun = "[[media.ice_servers]]\nurls = [\"stun:stun.sipgate.net:3478\"]\n";
        assert_eq!(run_on(stun, StaticCheck::IceServers).status, Status::Pass);
    }

    /// The EU allow-list check names every way media reaches this server,
    /// as configured: UDP, ICE-TCP on or off, the own TURN/TLS relay or none.
    #[test]
    fn the_allow_list_check_lists_the_configured_transports() {
        let evidence = |text: &str| -> Vec<String> {
            run_on(text, StaticCheck::IceServers).evidence.iter().map(|m| m.en.clone()).collect()
        };
        let default = evidence("");
        assert!(default.contains(&"Media over UDP port 10000 (straight to this server)".to_string()), "{default:?}");
        assert!(
            default.contains(&"Media over TCP on the HTTPS port (ICE-TCP) when a network blocks UDP: on".to_string()),
            "{default:?}"
        );
        assert!(default.contains(&"Own TURN/TLS relay: off".to_string()), "{default:?}");
        assert!(!default.iter().any(|e| e.contains("ICE-TCP): off")), "{default:?}");

        let other = evidence(
            "[media]\nudp_port = 3478\nice_tcp = false\nturn_tls_name = \"turn.example.org\"\nturn_credential_lifetime = 300\n",
        );
        assert!(other.contains(&"Media over UDP port 3478 (straight to this server)".to_string()), "{other:?}");
        assert!(other.contains(&"Media over TCP on the HTTPS port (ICE-TCP): off".to_string()), "{other:?}");
        assert!(
            other.contains(
                &"Own TURN/TLS relay `turn.example.org` on the HTTPS port: relays only to this server's media port, credentials per session, valid 300 s"
                    .to_string()
            ),
            "{other:?}"
        );
        assert!(!other.iter().any(|e| e == "Own TURN/TLS relay: off"), "{other:?}");
        let de: Vec<String> =
            run_on("[media]\nice_tcp = false", StaticCheck::IceServers).evidence.iter().map(|m| m.de.clone()).collect();
        assert!(de.contains(&"Medien über TCP auf dem HTTPS-Port (ICE-TCP): aus".to_string()), "{de:?}");
    }

    #[test]
    fn each_rule_check_can_fail() {
        let cases: &[(&str, StaticCheck)] = &[
            ("[log]\nlevel = \"debug\"", StaticCheck::LogLevel),
            ("[log]\nretention_days = 30", StaticCheck::LogRetention),
            ("[log]\nredact_addresses = false", StaticCheck::LogRedaction),
            ("[[media.ice_servers]]\nurls = [\"stun:stun.l.google.com:19302\"]", StaticCheck::IceServers),
            ("[tls]\nmin_version = \"1.1\"", StaticCheck::TlsMinVersion),
            ("[recording]\nenabled = true", StaticCheck::Recording),
            ("[recording]\nrequire_consent = false", StaticCheck::Recording),
            ("policy = \"relaxed\"\n[recording]\nenabled = true", StaticCheck::Recording),
            ("[client]\nexternal_origins = [\"https://fonts.example.com\"]", StaticCheck::ThirdParty),
            ("policy = \"strict-no-p2p\"\n[p2p]\nenabled = true", StaticCheck::P2p),
            ("policy = \"anlage-31b\"\n[rooms]\nmax_participants = 11\nprivate_chat = false", StaticCheck::RoomLimits),
            ("policy = \"anlage-31b\"\n[rooms]\nmax_participants = 10", StaticCheck::RoomLimits),
            ("policy = \"anlage-31b\"", StaticCheck::AccessMode),
            ("policy = \"anlage-31b\"\n[e2ee]\nmode = \"optional\"", StaticCheck::E2ee),
        ];
        for (text, check) in cases {
            assert_eq!(run_on(text, *check).status, Status::Fail, "{check:?} with {text}");
        }
        assert_eq!(run_on("policy = \"relaxed\"", StaticCheck::PolicyPreset).status, Status::Warn);
        assert_eq!(run_on("[log]\ntarget = \"stderr\"", StaticCheck::LogRetention).status, Status::Warn);
    }

    const LDAP_SECURE: &str = "[access]\nmode = \"secure\"\n[ldap]\nurl = \"ldaps://ldap.example.org\"\nuser_base = \"ou=people,dc=example,dc=org\"\n";

    #[test]
    fn access_modes_and_directory_transport() {
        assert_eq!(run_on("", StaticCheck::AccessMode).status, Status::Warn, "open access");
        assert_eq!(
            run_on("[access]\nmode = \"closed\"\nusers_file = \"/nonexistent/users\"", StaticCheck::AccessMode).status,
            Status::Warn,
            "nobody can log in"
        );
        assert_eq!(run_on(LDAP_SECURE, StaticCheck::AccessMode).status, Status::Pass);
        let secure_31b = format!("policy = \"anlage-31b\"\n{LDAP_SECURE}");
        assert_eq!(run_on(&secure_31b, StaticCheck::AccessMode).status, Status::Pass, "secure under anlage-31b");
        let rooms_31b = "policy = \"anlage-31b\"\n[rooms]\nmax_participants = 10\nprivate_chat = false";
        assert_eq!(run_on(rooms_31b, StaticCheck::RoomLimits).status, Status::Pass);
        assert_eq!(run_on(LDAP_SECURE, StaticCheck::LdapTls).status, Status::Pass);
        assert_eq!(run_on("", StaticCheck::LdapTls).status, Status::NotApplicable);
        let plain = LDAP_SECURE.replace("ldaps://", "ldap://");
        let loaded = crate::config::load_str(&plain, "t.toml");
        // Plain LDAP is refused when the config is read, or by the policy.
        if let Ok(loaded) = loaded {
            let policy = Policy::for_config(&loaded).expect("policy");
            assert_eq!(run(StaticCheck::LdapTls, &Ctx::new(&loaded, &policy, SystemTime::now())).status, Status::Fail);
        }
    }

    #[test]
    fn password_hash_parameters_of_the_user_store() {
        let dir = std::env::temp_dir().join(format!("kabine-audit-users-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("users");
        let text = format!("[access]\nusers_file = \"{}\"\n", path.display());
        assert_eq!(run_on(&text, StaticCheck::PasswordHashes).status, Status::NotApplicable);
        let strong = crate::auth::password::hash(&crate::auth::password::Password::new("correct horse battery".into()));
        let mut users = crate::auth::store::Users::default();
        users.put(crate::auth::store::LocalUser { name: "alice".into(), hash: strong.clone(), display_name: None });
        crate::auth::store::write_atomic(&path, &users).expect("store written");
        let o = run_on(&text, StaticCheck::PasswordHashes);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(!format!("{o:?}").contains("alice"), "the report names no users");
        let weak = strong.replace("m=19456", "m=4096");
        users.put(crate::auth::store::LocalUser { name: "bob".into(), hash: weak, display_name: None });
        crate::auth::store::write_atomic(&path, &users).expect("store written");
        assert_eq!(run_on(&text, StaticCheck::PasswordHashes).status, Status::Fail);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            users.remove("bob");
            crate::auth::store::write_atomic(&path, &users).expect("store written");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert_eq!(run_on(&text, StaticCheck::PasswordHashes).status, Status::Fail, "readable by others");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn certificate_expiry_thresholds() {
        let now = SystemTime::now();
        let t = time::unix_seconds(now);
        let day = 86_400;
        assert_eq!(expiry_outcome(t - day, t + 60 * day, now).0, Status::Pass);
        assert_eq!(expiry_outcome(t - day, t + 10 * day, now).0, Status::Warn);
        assert_eq!(expiry_outcome(t - day, t + 3 * day, now).0, Status::Fail);
        assert_eq!(expiry_outcome(t - 9 * day, t - day, now).0, Status::Fail);
        assert_eq!(expiry_outcome(t + day, t + 90 * day, now).0, Status::Fail);
    }

    #[test]
    fn log_file_names() {
        assert_eq!(log_file_day("kabine.1970-01-02.log"), Some(1));
        assert_eq!(log_file_day("kabine.2026-13-01.log"), None);
        assert_eq!(log_file_day("rooms.db"), None);
    }

    #[test]
    fn the_data_directory_check_finds_old_and_foreign_files() {
        let dir = std::env::temp_dir().join(format!("kabine-audit-datadir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        }
        let text = format!(
            "[access]\nusers_file = \"{}/users\"\n[log]\ntarget = \"file\"\ndirectory = \"{}\"\n",
            dir.display(),
            dir.display()
        );
        let today = time::date(SystemTime::now());
        std::fs::write(dir.join(format!("kabine.{today}.log")), "").expect("write");
        std::fs::write(dir.join("users"), "").expect("write");
        std::fs::write(dir.join(".users.tmp-0a1b"), "").expect("write");
        assert_eq!(run_on(&text, StaticCheck::DataDirectory).status, Status::Pass);
        std::fs::write(dir.join("rooms.sqlite"), "").expect("write");
        assert_eq!(run_on(&text, StaticCheck::DataDirectory).status, Status::Warn);
        std::fs::write(dir.join("kabine.2020-01-01.log"), "").expect("write");
        assert_eq!(run_on(&text, StaticCheck::DataDirectory).status, Status::Fail);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_built_in_client_refers_to_no_other_origin() {
        let (files, findings) = embedded_client_findings();
        assert!(files >= 3);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(run_on("", StaticCheck::ThirdParty).status, Status::Pass);
    }
}
