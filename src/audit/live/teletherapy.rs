//! `live.teletherapy.links`: what an anonymous visitor gets when guessing
//! at appointments. Without a login the list of appointments is refused,
//! and a made-up patient link opens neither the patient's page nor the
//! appointment's details. Where appointments are off the check does not
//! apply, unless the policy requires them.

use rand::Rng;

use super::{Ctx, http, unmeasurable};
use crate::audit::Outcome;
use crate::audit::text::{Msg, msg};

/// A made-up token of the form of a real one (22 characters of base64url).
fn made_up_token() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(22).map(char::from).collect()
}

/// Whether a response is the server's "appointments are off" answer.
fn appointments_off(r: &http::Response) -> bool {
    r.status == 404 && String::from_utf8_lossy(&r.body).contains("teletherapy_off")
}

impl Ctx<'_> {
    pub(super) async fn teletherapy_links(&mut self) -> Outcome {
        let list = match http::get(&self.target, "/api/appointments").await {
            Ok(r) => r,
            Err(e) => return unmeasurable(msg("Termine:", "Appointments:"), &e),
        };
        if appointments_off(&list) {
            let off = msg(
                "`GET /api/appointments`: 404 `teletherapy_off` (Termine sind auf dem Server aus)",
                "`GET /api/appointments`: 404 `teletherapy_off` (appointments are off on the server)",
            );
            return if self.policy.teletherapy.required {
                Outcome::fail(msg(
                    format!("Die Richtlinie „{}“ verlangt Termine, der Server bietet keine an.", self.policy.name),
                    format!("The policy \"{}\" requires appointments; the server offers none.", self.policy.name),
                ))
                .with(off)
            } else {
                Outcome::not_applicable(msg(
                    "Der Server bietet keine Termine an; die Richtlinie verlangt sie nicht.",
                    "The server offers no appointments; the policy does not require them.",
                ))
                .with(off)
            };
        }
        let token = made_up_token();
        let mut wrong: Vec<Msg> = Vec::new();
        let mut evidence = Vec::new();
        let mut probe = |what: (&str, &str), r: &http::Response, want: u16| {
            let line = msg(format!("{}: HTTP {}", what.0, r.status), format!("{}: HTTP {}", what.1, r.status));
            if r.status == want {
                evidence.push(line);
            } else {
                wrong.push(line);
            }
        };
        probe(("`GET /api/appointments` ohne Anmeldung", "`GET /api/appointments` without a login"), &list, 401);
        for (path, what, want) in [
            (format!("/t/{token}"), ("Ausgedachter Patientenlink `/t/…`", "Made-up patient link `/t/…`"), 404),
            (
                format!("/api/appointment/{token}"),
                ("Termindaten zu einem ausgedachten Link", "Appointment details for a made-up link"),
                404,
            ),
        ] {
            match http::get(&self.target, &path).await {
                Ok(r) => probe(what, &r, want),
                Err(e) => return unmeasurable(msg("Termine:", "Appointments:"), &e),
            }
        }
        if wrong.is_empty() {
            Outcome::pass(msg(
                "Ohne Anmeldung sind Termine nicht einsehbar, und ein ausgedachter Patientenlink öffnet weder die Seite der Patientin noch die Angaben zum Termin (erwartet: 401, 404, 404).",
                "Without a login appointments cannot be listed, and a made-up patient link opens neither the patient's page nor the appointment's details (expected: 401, 404, 404).",
            ))
            .with_all(evidence)
        } else {
            Outcome::fail(msg(
                "Termine oder Patientenseiten sind ohne gültigen Link oder Anmeldung erreichbar (erwartet: 401, 404, 404).",
                "Appointments or patient pages are reachable without a valid link or a login (expected: 401, 404, 404).",
            ))
            .with_all(wrong)
            .with_all(evidence)
        }
    }
}
