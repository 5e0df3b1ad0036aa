//! Audit profiles: `kabine audit --profile NAME` adds a section that maps
//! each requirement of a set of rules to the control that meets it and the
//! checks whose outcome proves it. Requirements Kabine meets only in part
//! (the rest being the practice's duty) are listed as such, and keep the
//! section's verdict from being a pass.
//!
//! The profile decides nothing itself: every status comes from the checks
//! of the run (which ask the policy), and the policy row from
//! [`Policy::deviations_from`].

use serde::Serialize;

use super::text::{Msg, msg};
use super::{AuditRun, Status};
use crate::policy::Policy;

/// A profile `kabine audit --profile` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Video sessions of therapy practices in Germany: Anlage 31b BMV-Ä.
    Anlage31b,
}

impl Profile {
    /// Every profile, by name.
    pub const ALL: &'static [Profile] = &[Profile::Anlage31b];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Anlage31b => "anlage-31b",
        }
    }

    /// The profile called `name`, or one line naming those there are.
    pub fn parse(name: &str) -> Result<Profile, String> {
        Profile::ALL.iter().copied().find(|p| p.name() == name).ok_or_else(|| {
            let names: Vec<_> = Profile::ALL.iter().map(|p| p.name()).collect();
            format!("--profile {name}: no such profile (there is: {})", names.join(", "))
        })
    }

    /// The policy preset whose rules the profile's checks must be decided by.
    fn preset(self) -> &'static str {
        match self {
            Profile::Anlage31b => "anlage-31b",
        }
    }

    fn requirements(self) -> &'static [Requirement] {
        match self {
            Profile::Anlage31b => ANLAGE_31B,
        }
    }
}

/// How far Kabine meets a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Kabine meets it; the named checks measure it.
    Kabine,
    /// Kabine meets a part; the rest is the practice's duty (said in the control).
    Partly,
}

/// One requirement of a profile.
struct Requirement {
    requirement: (&'static str, &'static str),
    control: (&'static str, &'static str),
    /// Checks whose outcome proves the control; all must pass.
    checks: &'static [&'static str],
    coverage: Coverage,
}

const fn req(
    requirement: (&'static str, &'static str),
    control: (&'static str, &'static str),
    checks: &'static [&'static str],
    coverage: Coverage,
) -> Requirement {
    Requirement { requirement, control, checks, coverage }
}

/// The requirements of Anlage 31b BMV-Ä as summarised in issue 19, in the
/// order of that summary.
const ANLAGE_31B: &[Requirement] = &[
    req(
        ("Ende-zu-Ende-Verschlüsselung der gesamten Übertragung", "End-to-end encryption of the whole transmission"),
        (
            "`e2ee.mode = \"required\"` (Richtlinie: `e2ee-required`): Gruppen werden in den Browsern mit Schlüsseln verschlüsselt, die der Server nie erhält; Gespräche zu zweit laufen direkt und DTLS-SRTP-verschlüsselt zwischen den Browsern. Gemessen: der Server leitet nur Chiffretext weiter.",
            "`e2ee.mode = \"required\"` (policy: `e2ee-required`): groups are encrypted in the browsers with keys the server never gets; calls of two run directly between the browsers, DTLS-SRTP encrypted. Measured: the server forwards ciphertext only.",
        ),
        &["static.e2ee", "live.e2ee.media", "static.p2p"],
        Coverage::Kabine,
    ),
    req(
        (
            "Verbindung zu zweit direkt (Peer-to-Peer), Server-Vermittlung nur mit Ende-zu-Ende-Verschlüsselung",
            "A session of two runs directly (peer to peer); relaying by the server only with end-to-end encryption",
        ),
        (
            "`p2p.enabled` (Richtlinie: `p2p-allowed`) zusammen mit `e2ee.mode = \"required\"`.",
            "`p2p.enabled` (policy: `p2p-allowed`) together with `e2ee.mode = \"required\"`.",
        ),
        &["static.p2p", "static.e2ee"],
        Coverage::Kabine,
    ),
    req(
        (
            "Keine Aufzeichnung, auch nicht zuschaltbar; der Dienst kann Inhalte weder einsehen noch speichern",
            "No recording, and no way to switch it on; the service can neither see nor store content",
        ),
        (
            "Die Richtlinie verbietet `recording.enabled` (Regel `recording-off`); Ende-zu-Ende-verschlüsselte Treffen werden nie aufgezeichnet; Raumdaten nur im Arbeitsspeicher. Gemessen: Aufnahmeanfrage abgelehnt, keine Schreibzugriffe während eines Raums.",
            "The policy forbids `recording.enabled` (rule `recording-off`); end-to-end encrypted meetings are never recorded; room data in memory only. Measured: a recording request is refused, no writes during a room.",
        ),
        &["static.recording.consent", "live.recording.consent", "static.data.directory", "live.rooms.no-disk-writes"],
        Coverage::Kabine,
    ),
    req(
        (
            "Metadaten höchstens drei Monate und nur für die Abrechnung",
            "Metadata kept at most three months and only for billing",
        ),
        (
            "Protokolle höchstens 7 Tage (Regel `log-retention-cap`), nur Warnungen und Fehler, nie IP-Adressen; keine weiteren Metadaten auf dem Datenträger. Was die Praxis für die Abrechnung aufbewahrt, liegt außerhalb von Kabine und in ihrer Verantwortung.",
            "Logs at most 7 days (rule `log-retention-cap`), warnings and errors only, never IP addresses; no other metadata on disk. What the practice keeps for billing lies outside Kabine and is its own duty.",
        ),
        &[
            "static.log.retention",
            "static.log.level",
            "static.log.redaction",
            "static.data.directory",
            "live.logs.no-addresses",
        ],
        Coverage::Kabine,
    ),
    req(
        ("Alle Server in der EU", "Every server in the EU"),
        (
            "STUN/TURN-Server nur von der EU-Liste der Richtlinie (Regel `ice-servers-eu-only`), keine Anfragen an fremde Server aus dem Browser. Wo der Kabine-Server selbst betrieben wird, weist die Praxis nach (Hoster, Standort); die ACME-Zertifizierungsstelle nennt `static.tls.acme`.",
            "STUN/TURN servers only from the policy's EU list (rule `ice-servers-eu-only`), no requests from the browser to other servers. Where the Kabine server itself runs the practice documents (hoster, location); `static.tls.acme` names the ACME certificate authority.",
        ),
        &[
            "static.ice.eu-allow-list",
            "live.ice.eu-allow-list",
            "static.client.third-party",
            "live.client.no-third-party",
        ],
        Coverage::Partly,
    ),
    req(
        ("Patientinnen und Patienten nehmen ohne Konto teil", "Patients join without an account"),
        (
            "`access.mode = \"secure\"`: Gäste brauchen kein Konto und betreten den Raum mit seinem Link, sobald die Therapeutin oder der Therapeut da ist.",
            "`access.mode = \"secure\"`: guests need no account and enter the room by its link once the therapist is in.",
        ),
        &["static.access.mode"],
        Coverage::Kabine,
    ),
    req(
        (
            "Die Leistungserbringerin oder der Leistungserbringer ist registriert und authentifiziert",
            "The provider is registered and authenticated",
        ),
        (
            "Nur angemeldete Gastgeber öffnen Räume (Regel `access-not-open`); lokale Konten mit Argon2id oder LDAP nur verschlüsselt; Anmeldesitzungen enden nach 30 Minuten Untätigkeit.",
            "Only logged-in hosts open rooms (rule `access-not-open`); local accounts with Argon2id, or LDAP only encrypted; login sessions end after 30 minutes idle.",
        ),
        &["static.access.mode", "static.auth.password-hashes", "static.auth.ldap-tls"],
        Coverage::Kabine,
    ),
    req(
        (
            "Gruppensitzungen mit höchstens 9 Patientinnen und Patienten und der Therapeutin oder dem Therapeuten; keine privaten Nachrichten zwischen Patienten",
            "Group sessions of at most 9 patients plus the therapist; no private messages between patients",
        ),
        (
            "`rooms.max_participants` höchstens 10 (Regel `room-size-cap`), `rooms.private_chat = false` (Regel `private-chat-off`).",
            "`rooms.max_participants` at most 10 (rule `room-size-cap`), `rooms.private_chat = false` (rule `private-chat-off`).",
        ),
        &["static.rooms.limits"],
        Coverage::Kabine,
    ),
    req(
        ("Keine Störung und kein Klingeln während der Sitzung", "No disturbance or ringing during a session"),
        (
            "Kabine spielt keine Klingel- oder Hinweistöne ab; Hinweise erscheinen nur im Bild. Nicht durch eine Prüfung gemessen. Dass Telefon und Benachrichtigungen der Geräte in der Praxis ruhen, ist Aufgabe der Praxis.",
            "Kabine plays no ringing or notification sounds; notices are visual only. Not measured by a check. Keeping phones and device notifications in the practice quiet is the practice's duty.",
        ),
        &[],
        Coverage::Partly,
    ),
    req(
        (
            "Einwilligung der Patientin oder des Patienten (Art. 9 Abs. 2 lit. a DSGVO) vor der ersten Sitzung festgehalten",
            "The patient's consent (Art. 9(2)(a) GDPR) recorded before the first session",
        ),
        (
            "Termine (`teletherapy.enabled`, Regel `teletherapy-appointments`): Vor dem ersten Eintritt nimmt die Patientin oder der Patient den Einwilligungstext der Praxis an (Deutsch oder Englisch, mit Link zur Datenschutzerklärung); ohne Zustimmung wird nichts übertragen. Zeitpunkt und Textversion stehen im Sitzungsnachweis; der Server hält sie nur im Arbeitsspeicher.",
            "Appointments (`teletherapy.enabled`, rule `teletherapy-appointments`): before the first entry the patient accepts the practice's consent text (German or English, with the privacy notice link); without it nothing is sent. Time and text version are in the session record; the server keeps them in memory only.",
        ),
        &["static.teletherapy"],
        Coverage::Kabine,
    ),
    req(
        ("Bildschirmfreigabe nur mit Einwilligung", "Screen sharing only with consent"),
        (
            "In Terminräumen fragt eine Bildschirmfreigabe der Patientin die Therapeutin und eine Freigabe der Therapeutin alle Patientinnen und Patienten; der Server leitet den Bildschirm erst nach der Zustimmung weiter und lehnt ihn sonst ab (`screen_not_allowed`).",
            "In appointment rooms a patient's screen share asks the therapist, and the therapist's asks every patient; the server forwards the screen only after consent and refuses it otherwise (`screen_not_allowed`).",
        ),
        &["static.teletherapy"],
        Coverage::Kabine,
    ),
    req(
        (
            "Transportverschlüsselung nach dem Stand der Technik (TLS 1.2 oder neuer)",
            "Transport encryption by the state of the art (TLS 1.2 or newer)",
        ),
        (
            "`tls.min_version` (Regel `tls-min-version`); gemessen: angebotene TLS-Versionen, Cipher-Suites und Zertifikat.",
            "`tls.min_version` (rule `tls-min-version`); measured: TLS versions, cipher suites and certificate offered.",
        ),
        &["static.tls.min-version", "live.tls.versions", "live.tls.cipher-suites", "live.tls.certificate-expiry"],
        Coverage::Kabine,
    ),
    req(
        (
            "Ein Termincode je Termin, nur für die ausstellende Praxis gültig und befristet",
            "One code per appointment, valid only for the issuing provider and expiring",
        ),
        (
            "Je Patientin oder Patient und Termin ein eigener Link (128 Zufallsbits), an die Therapeutin oder den Therapeuten und den Termin gebunden: Nur sie oder er öffnet den Raum, der Link führt nur in diesen Termin, gilt nur um dessen Zeit, ist widerrufbar und von einem Gerät zur Zeit nutzbar. Gemessen: Ohne Anmeldung sind Termine nicht einsehbar, ausgedachte Links öffnen nichts.",
            "A link of its own per patient and appointment (128 random bits), bound to the therapist and the appointment: only they open the room, the link leads into this appointment only, works only around its time, is revocable and usable from one device at a time. Measured: without a login appointments cannot be listed, made-up links open nothing.",
        ),
        &["static.teletherapy", "live.teletherapy.links"],
        Coverage::Kabine,
    ),
    req(
        ("Aufforderung, alle Anwesenden vorzustellen", "A prompt to introduce everyone present"),
        (
            "Beim Eintritt in einen Terminraum erscheint allen die Aufforderung, alle Anwesenden vorzustellen. Dass es geschieht, bleibt Aufgabe der Therapeutin oder des Therapeuten.",
            "On entering an appointment room everyone sees a prompt to introduce everyone present. That it happens remains the therapist's duty.",
        ),
        &["static.teletherapy"],
        Coverage::Partly,
    ),
    req(
        (
            "Sitzungsnachweis (Datum, Beginn, Dauer, Teilnehmende), von der Patientin oder dem Patienten bestätigt (Heilmittel)",
            "Session record (date, start, duration, participants) confirmed by the patient (therapeutic remedies)",
        ),
        (
            "Nach dem Ende lädt die Therapeutin oder der Therapeut den Sitzungsnachweis herunter (Praxis, Therapeut/in, Datum, Beginn, Ende, Dauer, Teilnehmende wie eingegeben, Zeitpunkt der Einwilligung, Verbindungsart; Deutsch oder Englisch, im Browser erzeugt); danach löscht der Server alles über den Termin. Die Bestätigung durch die Patientin oder den Patienten holt die Praxis ein.",
            "After the end the therapist downloads the session record (practice, therapist, date, start, end, duration, participants as typed, consent time, connection type; German or English, made in the browser); the server then deletes everything about the appointment. The practice obtains the patient's confirmation.",
        ),
        &["static.teletherapy"],
        Coverage::Partly,
    ),
];

/// One row of a profile section, in the run's language pair.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub requirement: Msg,
    pub control: Msg,
    pub coverage: Coverage,
    /// The checks named, with their status in this run (`None`: not run).
    pub checks: Vec<(&'static str, Option<Status>)>,
    pub status: Status,
}

/// A profile applied to a run.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub name: &'static str,
    /// The active policy and where it is looser than the profile's preset.
    pub policy: Row,
    pub rows: Vec<Row>,
    /// `pass` only when every requirement is met and measured.
    pub status: Status,
}

/// The status of a requirement from its checks: failed if one failed;
/// passed only if one passed and every other passed too or is a static
/// check that does not apply (e.g. LDAP where local accounts are used);
/// otherwise a warning: a check not run, a live check without `--url`, a
/// warning, or no check at all.
fn status_of(checks: &[(&'static str, Option<Status>)], coverage: Coverage) -> Status {
    if checks.iter().any(|(_, s)| *s == Some(Status::Fail)) {
        return Status::Fail;
    }
    let fine = |(id, s): &(&str, Option<Status>)| match s {
        Some(Status::Pass) => true,
        Some(Status::NotApplicable) => id.starts_with("static."),
        _ => false,
    };
    let proven = checks.iter().any(|(_, s)| *s == Some(Status::Pass)) && checks.iter().all(fine);
    if coverage == Coverage::Kabine && proven { Status::Pass } else { Status::Warn }
}

/// The worse of two statuses: failed over warning over passed.
fn worse(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
        (Status::Pass, Status::Pass) => Status::Pass,
        _ => Status::Warn,
    }
}

/// Applies `profile` to a finished run under `policy`.
pub fn apply(profile: Profile, run: &AuditRun, policy: &Policy) -> Applied {
    let status_in_run = |id: &str| run.results.iter().find(|r| r.id == id).map(|r| r.outcome.status);
    let rows: Vec<Row> = profile
        .requirements()
        .iter()
        .map(|r| {
            let checks: Vec<_> = r.checks.iter().map(|id| (*id, status_in_run(id))).collect();
            Row {
                requirement: msg(r.requirement.0, r.requirement.1),
                control: msg(r.control.0, r.control.1),
                coverage: r.coverage,
                status: status_of(&checks, r.coverage),
                checks,
            }
        })
        .collect();
    let preset = profile.preset();
    // Built-in presets parse (tested); an error here would be a build defect.
    let gaps = Policy::from_preset(preset).map(|p| policy.deviations_from(&p)).unwrap_or_else(|e| vec![e]);
    let policy_checks = vec![("static.policy.preset", status_in_run("static.policy.preset"))];
    let policy_row = if gaps.is_empty() {
        Row {
            requirement: msg(
                format!("Richtlinie mindestens so streng wie „{preset}“"),
                format!("A policy at least as strict as \"{preset}\""),
            ),
            control: msg(
                format!(
                    "Aktive Richtlinie „{}“: in keinem Punkt lockerer als „{preset}“; die Prüfungen unten sind nach ihren Regeln entschieden.",
                    policy.name
                ),
                format!(
                    "Active policy \"{}\": in no respect looser than \"{preset}\"; the checks below are decided by its rules.",
                    policy.name
                ),
            ),
            coverage: Coverage::Kabine,
            status: status_of(&policy_checks, Coverage::Kabine),
            checks: policy_checks,
        }
    } else {
        Row {
            requirement: msg(
                format!("Richtlinie mindestens so streng wie „{preset}“"),
                format!("A policy at least as strict as \"{preset}\""),
            ),
            control: msg(
                format!(
                    "Aktive Richtlinie „{}“ ist lockerer als „{preset}“ ({}); die Prüfungen unten belegen die Anforderungen daher nicht. Setzen Sie `policy = \"{preset}\"`.",
                    policy.name,
                    gaps.join("; ")
                ),
                format!(
                    "Active policy \"{}\" is looser than \"{preset}\" ({}); the checks below therefore do not prove the requirements. Set `policy = \"{preset}\"`.",
                    policy.name,
                    gaps.join("; ")
                ),
            ),
            coverage: Coverage::Kabine,
            status: Status::Fail,
            checks: policy_checks,
        }
    };
    let worst = std::iter::once(policy_row.status).chain(rows.iter().map(|r| r.status)).fold(Status::Pass, worse);
    Applied { name: profile.name(), policy: policy_row, rows, status: worst }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{CheckResult, Facts, Outcome, implemented};
    use std::time::SystemTime;

    fn run_with(statuses: &[(&'static str, Status)]) -> AuditRun {
        let now = SystemTime::now();
        AuditRun {
            results: implemented()
                .into_iter()
                .map(|(id, kind)| {
                    let status = statuses.iter().find(|(i, _)| *i == id).map_or(Status::Pass, |(_, s)| *s);
                    CheckResult { id, kind, outcome: Outcome::new(status, msg("x", "x")) }
                })
                .collect(),
            started: now,
            finished: now,
            url: None,
            only: Vec::new(),
            profile: Some(Profile::Anlage31b),
            facts: Facts::default(),
        }
    }

    fn anlage_31b() -> Policy {
        Policy::from_preset("anlage-31b").expect("preset")
    }

    #[test]
    fn every_named_check_exists_and_unknown_profiles_are_one_line() {
        let ids: Vec<_> = implemented().into_iter().map(|(id, _)| id).collect();
        for p in Profile::ALL {
            for r in p.requirements() {
                for c in r.checks {
                    assert!(ids.contains(c), "{}: unknown check {c}", p.name());
                }
                // A requirement Kabine meets names the checks that prove it.
                assert!(r.coverage != Coverage::Kabine || !r.checks.is_empty(), "{}", r.requirement.1);
            }
            assert_eq!(Profile::parse(p.name()), Ok(*p));
        }
        let err = Profile::parse("anlage-31").expect_err("unknown");
        assert_eq!(err, "--profile anlage-31: no such profile (there is: anlage-31b)");
    }

    #[test]
    fn the_section_is_never_a_pass_while_requirements_are_met_only_in_part() {
        let applied = apply(Profile::Anlage31b, &run_with(&[]), &anlage_31b());
        assert_eq!(applied.policy.status, Status::Pass);
        assert_eq!(applied.status, Status::Warn, "requirements met only in part keep it from passing");
        let partly: Vec<_> = applied.rows.iter().filter(|r| r.coverage == Coverage::Partly).collect();
        assert!(partly.len() >= 3, "EU servers, no ringing, intro prompt, session record: {}", partly.len());
        assert!(partly.iter().all(|r| r.status == Status::Warn));
        // Everything Kabine meets passes when its checks did.
        assert!(applied.rows.iter().filter(|r| r.coverage == Coverage::Kabine).all(|r| r.status == Status::Pass));
        let e2ee = &applied.rows[0];
        assert_eq!((e2ee.status, e2ee.checks[0]), (Status::Pass, ("static.e2ee", Some(Status::Pass))));
        // Appointments: a failed live probe fails the row of the codes.
        let probed = apply(Profile::Anlage31b, &run_with(&[("live.teletherapy.links", Status::Fail)]), &anlage_31b());
        let codes = probed.rows.iter().find(|r| r.checks.iter().any(|(id, _)| *id == "live.teletherapy.links"));
        assert_eq!(codes.map(|r| r.status), Some(Status::Fail));
    }

    #[test]
    fn a_failed_check_fails_its_requirement_and_the_section() {
        let applied = apply(Profile::Anlage31b, &run_with(&[("static.rooms.limits", Status::Fail)]), &anlage_31b());
        let groups = applied.rows.iter().find(|r| r.checks.iter().any(|(id, _)| *id == "static.rooms.limits"));
        assert_eq!(groups.map(|r| r.status), Some(Status::Fail));
        assert_eq!(applied.status, Status::Fail);
        // A check not run (--only, or live without --url) is not a pass.
        let mut run = run_with(&[]);
        run.results.retain(|r| r.id != "live.e2ee.media");
        assert_eq!(apply(Profile::Anlage31b, &run, &anlage_31b()).rows[0].status, Status::Warn);
        // A live check without --url proves nothing; a static one that does
        // not apply (no LDAP) is no gap when the others passed.
        let no_url = run_with(&[("live.e2ee.media", Status::NotApplicable)]);
        assert_eq!(apply(Profile::Anlage31b, &no_url, &anlage_31b()).rows[0].status, Status::Warn);
        let no_ldap = run_with(&[("static.auth.ldap-tls", Status::NotApplicable)]);
        let provider = apply(Profile::Anlage31b, &no_ldap, &anlage_31b());
        let provider = provider.rows.iter().find(|r| r.checks.iter().any(|(id, _)| *id == "static.auth.ldap-tls"));
        assert_eq!(provider.map(|r| r.status), Some(Status::Pass));
        let warned = run_with(&[("static.access.mode", Status::Warn)]);
        let rows = apply(Profile::Anlage31b, &warned, &anlage_31b()).rows;
        assert!(
            rows.iter()
                .filter(|r| r.checks.iter().any(|(id, _)| *id == "static.access.mode"))
                .all(|r| r.status == Status::Warn)
        );
    }

    #[test]
    fn a_looser_policy_fails_the_policy_row() {
        let applied = apply(Profile::Anlage31b, &run_with(&[]), &Policy::strict());
        assert_eq!(applied.policy.status, Status::Fail);
        assert!(applied.policy.control.en.contains("e2ee.required = false"), "{}", applied.policy.control.en);
        assert_eq!(applied.status, Status::Fail);
    }
}
