//! The appointment store with a simulated clock (unix seconds).

use super::*;

const NOW: i64 = 1_800_000_000;

fn owner(name: &str) -> Owner {
    Owner { username: name.into(), display_name: format!("Dr. {name}") }
}

fn new(start: i64, group: bool, patients: u32) -> NewAppointment {
    NewAppointment { title: Some("Gruppe Dienstag".into()), start, duration_minutes: 50, group, patients }
}

fn store() -> Store {
    Store::new(Settings::default())
}

#[test]
fn ids_tokens_and_rooms_carry_128_random_bits_in_their_alphabets() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let t = random_token();
        assert_eq!(t.len(), 22, "{t}");
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{t}");
        assert!(seen.insert(t));
        let r = random_room();
        assert_eq!(r.len(), 28, "{r}");
        assert!(is_appointment_room(&r), "{r}");
        assert!(crate::protocol::room_name_is_valid(&r));
    }
    assert_eq!(base64url(&[0xff; 16]), "_____________________w");
    assert_eq!(base32(&[0; 16]), "a".repeat(26));
    assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    assert!(!is_appointment_room("t-short") && !is_appointment_room("team"));
}

#[test]
fn the_consent_version_is_16_hex_digits_of_sha256_over_both_texts() {
    let v = consent_version("de", "en");
    assert_eq!(v.len(), 16);
    assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    // sha256("de\0en"), first 8 bytes.
    assert_eq!(v, "ffa2260e1ff6a7dd");
    assert_ne!(v, consent_version("de", "en "));
    assert_ne!(consent_version("a", "bc"), consent_version("ab", "c"), "the NUL separates the texts");
    assert_eq!(Settings::default().consent_version, consent_version(DEFAULT_CONSENT_DE, DEFAULT_CONSENT_EN));
}

#[test]
fn a_link_works_only_in_its_window_and_until_the_session_ended() {
    let mut s = store();
    let start = NOW + 3600;
    let a = s.create(&owner("anna"), new(start, false, 1), NOW).expect("created");
    assert_eq!(a.opens_at, start - 30 * 60);
    assert_eq!(a.closes_at, start + 50 * 60 + 30 * 60);
    let token = a.links[0].token.clone();
    assert_eq!(a.links[0].path, format!("/t/{token}"));
    assert_eq!(s.check_link(&token, NOW), Err(LinkRefusal::NotYet { opens_at: a.opens_at, start }));
    assert_eq!(
        s.check_link(&token, a.opens_at - 1).map(|_| ()),
        Err(LinkRefusal::NotYet { opens_at: a.opens_at, start })
    );
    let link = s.check_link(&token, a.opens_at).expect("open from opens_at");
    assert_eq!((link.id.as_str(), link.n), (a.id.as_str(), 1));
    assert_eq!(s.check_link(&token, a.closes_at), Err(LinkRefusal::Expired), "never started: closed at closes_at");
    assert_eq!(s.check_link("AAAAAAAAAAAAAAAAAAAAAA", a.opens_at), Err(LinkRefusal::Unknown));
    // Started: it keeps working past closes_at while it runs, not after it ended.
    s.opened(&a.id, start);
    assert!(s.check_link(&token, a.closes_at + 60).is_ok());
    s.end(&a.id, a.closes_at + 120);
    assert_eq!(s.check_link(&token, a.closes_at + 121), Err(LinkRefusal::Expired));
}

#[test]
fn a_revoked_link_is_refused_and_its_holder_named() {
    let mut s = store();
    let a = s.create(&owner("anna"), new(NOW, true, 3), NOW).expect("created");
    let token = a.links[1].token.clone();
    let link = s.check_link(&token, NOW).expect("valid");
    s.claim(&link, 7, "Erika Muster", &s.settings().consent_version.clone(), NOW);
    assert_eq!(s.holder(&link), Some(7));
    assert_eq!(s.revoke(&owner("bernd"), &a.id, 2, NOW), Err(Refusal::NotFound), "not another therapist");
    let (view, holder) = s.revoke(&owner("anna"), &a.id, 2, NOW).expect("revoked");
    assert_eq!(holder, Some(7));
    assert_eq!(view.links[1].state, LinkState::Revoked);
    assert_eq!(s.check_link(&token, NOW), Err(LinkRefusal::Revoked));
    assert!(s.check_link(&a.links[0].token, NOW).is_ok(), "the other links still work");
}

#[test]
fn only_the_owner_sees_changes_or_deletes_an_appointment() {
    let mut s = store();
    let a = s.create(&owner("anna"), new(NOW, true, 2), NOW).expect("created");
    let bernd = owner("bernd");
    assert!(s.list(&bernd).is_empty());
    assert_eq!(s.add_link(&bernd, &a.id), Err(Refusal::NotFound));
    assert_eq!(s.attendance(&bernd, &a.id), Err(Refusal::NotFound));
    assert_eq!(s.delete(&bernd, &a.id), Err(Refusal::NotFound));
    assert_eq!(s.list(&owner("anna")).len(), 1);
    let token = a.links[0].token.clone();
    let deleted = s.delete(&owner("anna"), &a.id).expect("deleted");
    assert_eq!(deleted.room, a.room);
    assert!(s.is_empty());
    assert_eq!(s.check_link(&token, NOW), Err(LinkRefusal::Unknown), "every link refused from now on");
    assert_eq!(s.by_room(&a.room), None);
}

#[test]
fn new_appointments_are_checked() {
    let mut s = store();
    let o = owner("anna");
    let mut bad = new(NOW, false, 1);
    bad.title = Some("x".repeat(101));
    assert_eq!(s.create(&o, bad, NOW), Err(Refusal::BadTitle));
    let mut ctl = new(NOW, false, 1);
    ctl.title = Some("a\u{7}b".into());
    assert_eq!(s.create(&o, ctl, NOW), Err(Refusal::BadTitle));
    let mut blank = new(NOW, false, 1);
    blank.title = Some("   ".into());
    assert_eq!(s.create(&o, blank, NOW).expect("blank title").title, None);
    assert_eq!(s.create(&o, new(NOW - 86_401, false, 1), NOW), Err(Refusal::BadStart));
    assert_eq!(s.create(&o, new(NOW + 401 * 86_400, false, 1), NOW), Err(Refusal::BadStart));
    let mut short = new(NOW, false, 1);
    short.duration_minutes = 4;
    assert_eq!(s.create(&o, short, NOW), Err(Refusal::BadDuration));
    assert_eq!(s.create(&o, new(NOW, false, 2), NOW), Err(Refusal::TooManyPatients { limit: 1 }));
    assert_eq!(s.create(&o, new(NOW, true, 10), NOW), Err(Refusal::TooManyPatients { limit: 9 }));
    assert_eq!(s.create(&o, new(NOW, true, 0), NOW), Err(Refusal::TooManyPatients { limit: 9 }));
    let g = s.create(&o, new(NOW, true, 9), NOW).expect("nine patients");
    assert_eq!(s.add_link(&o, &g.id), Err(Refusal::TooManyPatients { limit: 9 }), "a 10th link is refused");
    let g = s.create(&o, new(NOW, true, 8), NOW).expect("eight patients");
    let g = s.add_link(&o, &g.id).expect("a 9th link");
    assert_eq!(g.links.last().map(|l| (l.n, l.label.as_str())), Some((9, "Patient 9")));
}

#[test]
fn a_therapist_holds_a_bounded_number_of_appointments() {
    let settings = Settings { max_per_therapist: 3, ..Settings::default() };
    let mut s = Store::new(settings);
    for _ in 0..3 {
        s.create(&owner("anna"), new(NOW, false, 1), NOW).expect("created");
    }
    assert_eq!(s.create(&owner("anna"), new(NOW, false, 1), NOW), Err(Refusal::TooManyAppointments { limit: 3 }));
    assert!(s.create(&owner("bernd"), new(NOW, false, 1), NOW).is_ok(), "per therapist");
}

#[test]
fn the_record_lists_names_as_typed_consent_and_attendance_once_ended() {
    let mut s = store();
    let o = owner("anna");
    let a = s.create(&o, new(NOW, true, 3), NOW).expect("created");
    let v = s.settings().consent_version.clone();
    let l1 = s.check_link(&a.links[0].token, NOW).expect("valid");
    let l2 = s.check_link(&a.links[1].token, NOW).expect("valid");
    s.opened(&a.id, NOW + 10);
    s.claim(&l1, 1, "Erika Muster", &v, NOW + 20);
    s.claim(&l2, 2, "  Jörg  ", &v, NOW + 30);
    s.entered(&l1, NOW + 40);
    assert_eq!(s.list(&o)[0].links[0].state, LinkState::In);
    assert_eq!(s.list(&o)[0].links[1].state, LinkState::Waiting);
    assert_eq!(s.list(&o)[0].links[2].state, LinkState::Unused);
    s.note_media(&a.id, 2, true, false);
    s.release(&l1, 1, NOW + 100);
    assert_eq!(s.list(&o)[0].links[0].state, LinkState::Left);
    assert_eq!(s.attendance(&o, &a.id), Err(Refusal::NotEnded));
    let holders = s.end(&a.id, NOW + 200);
    assert_eq!(holders, [2], "the patient still waiting");
    let r = s.attendance(&o, &a.id).expect("record");
    assert_eq!(r.therapist, "Dr. anna");
    assert_eq!((r.started_at, r.ended_at), (Some(NOW + 10), Some(NOW + 200)));
    assert_eq!(r.connection, Connection::E2ee);
    assert_eq!(r.participants.len(), 2, "the unused link is not listed");
    let p1 = &r.participants[0];
    assert_eq!((p1.label.as_str(), p1.name.as_str()), ("Patient 1", "Erika Muster"));
    assert_eq!((p1.consented_at, p1.joined_at, p1.left_at), (NOW + 20, Some(NOW + 40), Some(NOW + 100)));
    assert_eq!(p1.consent_version, v);
    let p2 = &r.participants[1];
    assert_eq!((p2.name.as_str(), p2.joined_at, p2.left_at), ("  Jörg  ", None, None));
}

#[test]
fn the_connection_is_direct_only_for_a_direct_call_of_two() {
    let mut s = store();
    let o = owner("anna");
    for (present, e2ee, direct, expected) in [
        (2, false, true, Connection::Direct),
        (2, true, false, Connection::E2ee),
        (3, true, true, Connection::E2ee),
        (3, false, false, Connection::Transit),
    ] {
        let a = s.create(&o, new(NOW, true, 2), NOW).expect("created");
        s.note_media(&a.id, present, e2ee, direct);
        s.end(&a.id, NOW);
        assert_eq!(s.attendance(&o, &a.id).expect("record").connection, expected, "{present} {e2ee} {direct}");
    }
}

#[test]
fn appointments_are_deleted_after_the_retention_and_never_started_ones_after_their_window() {
    let mut s = store();
    let o = owner("anna");
    let retention = s.settings().retention_secs;
    let ended = s.create(&o, new(NOW, false, 1), NOW).expect("created");
    let never = s.create(&o, new(NOW, false, 1), NOW).expect("created");
    let running = s.create(&o, new(NOW, false, 1), NOW).expect("created");
    s.opened(&ended.id, NOW);
    s.end(&ended.id, NOW + 600);
    s.opened(&running.id, NOW);
    // Past its window, still running: kept open; once nobody is in it, ended.
    assert!(s.sweep(never.closes_at + 1, |_| true).is_empty());
    assert_eq!(s.list(&o).iter().find(|a| a.id == running.id).map(|a| a.state), Some(AppointmentState::Open));
    assert!(s.sweep(never.closes_at + 2, |_| false).is_empty());
    assert_eq!(s.list(&o).iter().find(|a| a.id == running.id).map(|a| a.state), Some(AppointmentState::Ended));
    let gone = s.sweep(NOW + 600 + retention, |_| false);
    assert_eq!(gone.len(), 1, "the ended one, a retention after its end");
    assert_eq!(s.len(), 2);
    let gone = s.sweep(never.closes_at + retention, |_| false);
    assert_eq!(gone.len(), 1, "the never started one, a retention after its window");
    assert_eq!(s.sweep(never.closes_at + 2 + retention, |_| false).len(), 1);
    assert!(s.is_empty());
}
