//! Appointment rooms over real WebSockets and HTTPS (issue 19): patients
//! come with their links and consent, wait for the therapist and in the
//! waiting room (seeing nobody's name), the therapist sees typed names and
//! link labels, messages and calls them in; a revoked link sends its
//! patient away; another therapist and anonymous visitors are refused;
//! ending the meeting ends the appointment, and the record lists who came.

use kabine::protocol::{AppointmentRole, ByeReason, ErrorCode, ServerMsg, WaitReason};
use serde_json::{Value, json};

use crate::support::{self, WsClient, ws_connect_as, ws_drain, ws_next, ws_send, ws_until};
use crate::teletherapy_api::{cookie, create, now, practice};

async fn patient_hello(ws: &mut WsClient, room: &str, token: &str, consent: &str, name: &str) -> Option<ServerMsg> {
    let hello = json!({"type": "hello", "version": 1, "room": room, "display_name": name,
                       "appointment": {"token": token, "consent": consent}});
    ws_send(ws, &hello.to_string()).await;
    ws_next(ws).await
}

async fn hello(ws: &mut WsClient, room: &str) -> Option<ServerMsg> {
    ws_send(ws, &json!({"type": "hello", "version": 1, "room": room, "display_name": "typed"}).to_string()).await;
    ws_next(ws).await
}

fn code(msg: Option<ServerMsg>) -> Option<ErrorCode> {
    match msg {
        Some(ServerMsg::Error { code, .. }) => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn patients_wait_are_called_in_and_the_record_lists_them() {
    let _t = support::test();
    let server = support::start(practice("tele-ws-session")).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let bernd = cookie(&base, "dr.schmidt").await;
    let (_, a) = create(
        &base,
        &anna,
        json!({"title": "Gruppe", "start": now(), "duration_minutes": 50, "group": true, "patients": 3}),
    )
    .await;
    let (id, room) = (a["id"].as_str().expect("id").to_string(), a["room"].as_str().expect("room").to_string());
    let token = |n: usize| a["links"][n]["token"].as_str().expect("token").to_string();
    let view: Value = support::https_client()
        .get(format!("{base}/api/appointment/{}", token(0)))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let consent = view["consent"]["version"].as_str().expect("version").to_string();

    // Patient 1 comes first: waits for the therapist.
    let mut p1 = ws_connect_as(&server, None).await;
    assert_eq!(
        code(patient_hello(&mut p1, &room, &token(0), "0000000000000000", "Erika Muster").await),
        Some(ErrorCode::ConsentRequired)
    );
    assert_eq!(
        patient_hello(&mut p1, &room, &token(0), &consent, "Erika Muster").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Host })
    );
    // The same link on a second device is refused while the first is connected.
    let mut dup = ws_connect_as(&server, None).await;
    assert_eq!(code(patient_hello(&mut dup, &room, &token(0), &consent, "Erika").await), Some(ErrorCode::LinkInUse));
    // Neither another therapist nor an anonymous visitor enters the room.
    let mut other = ws_connect_as(&server, Some(&bernd)).await;
    assert_eq!(code(hello(&mut other, &room).await), Some(ErrorCode::NotYourSession));
    let mut anon = ws_connect_as(&server, None).await;
    assert_eq!(code(hello(&mut anon, &room).await), Some(ErrorCode::AppointmentInvalid));
    assert_eq!(support::ws_close_code(&mut anon).await, Some(1000), "and the connection closes");
    let mut wrong = ws_connect_as(&server, None).await;
    let other_room = format!("t-{}", "a".repeat(26));
    assert_eq!(
        code(patient_hello(&mut wrong, &other_room, &token(1), &consent, "X").await),
        Some(ErrorCode::AppointmentInvalid)
    );

    // The therapist opens it.
    let mut t = ws_connect_as(&server, Some(&anna)).await;
    match hello(&mut t, &room).await {
        Some(ServerMsg::Welcome { you, appointment: Some(appt), .. }) => {
            assert!(you.moderator && you.host);
            assert_eq!(you.display_name, "Dr. Anna Müller");
            assert_eq!(
                (appt.role, appt.id.as_deref(), appt.title.as_deref()),
                (AppointmentRole::Therapist, Some(id.as_str()), Some("Gruppe"))
            );
            assert_eq!(appt.practice, "Praxis <Beispiel>");
            assert!(appt.started_at.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ws_until(&mut p1, |m| matches!(m, ServerMsg::Waiting { .. })).await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );
    let mut p2 = ws_connect_as(&server, None).await;
    assert_eq!(
        patient_hello(&mut p2, &room, &token(1), &consent, "Jörg").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );
    let knocking = match ws_until(&mut t, |m| matches!(m, ServerMsg::Lobby { knocking } if knocking.len() == 2)).await {
        Some(ServerMsg::Lobby { knocking }) => knocking,
        other => panic!("{other:?}"),
    };
    let people: Vec<(&str, Option<&str>)> =
        knocking.iter().map(|p| (p.display_name.as_str(), p.link.as_deref())).collect();
    assert_eq!(people, [("Erika Muster", Some("Patient 1")), ("Jörg", Some("Patient 2"))]);
    // Patient 1, waiting, learnt nothing of patient 2.
    let seen = ws_drain(&mut p1, 300).await;
    assert!(seen.is_empty(), "{seen:?}");
    let list: Value = support::https_client()
        .get(format!("{base}/api/appointments"))
        .header("cookie", &anna)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["appointments"][0]["state"], "open");
    assert_eq!(list["appointments"][0]["links"][0]["state"], "waiting");
    assert_eq!(list["appointments"][0]["links"][0]["name"], "Erika Muster");

    // A message to the waiting patient 2 only; then both are called in.
    ws_send(&mut t, &json!({"type": "lobby_message", "id": knocking[1].id, "text": "Noch 5 Minuten"}).to_string())
        .await;
    assert_eq!(
        ws_next(&mut p2).await,
        Some(ServerMsg::WaitingMessage { text: "Noch 5 Minuten".into(), from_name: "Dr. Anna Müller".into() })
    );
    for (p, who) in [(&mut p1, &knocking[0]), (&mut p2, &knocking[1])] {
        ws_send(&mut t, &json!({"type": "lobby_admit", "id": who.id}).to_string()).await;
        match ws_until(p, |m| matches!(m, ServerMsg::Welcome { .. })).await {
            Some(ServerMsg::Welcome { appointment: Some(appt), .. }) => {
                assert_eq!((appt.role, appt.id), (AppointmentRole::Patient, None), "patients get no id");
            }
            other => panic!("{other:?}"),
        }
    }
    // The lobby stays on.
    ws_send(&mut t, r#"{"type":"set_lobby","enabled":false}"#).await;
    assert_eq!(code(ws_until(&mut t, |m| matches!(m, ServerMsg::Error { .. })).await), Some(ErrorCode::NotAllowed));

    // Patient 2's link is revoked: sent away at once.
    let r = support::https_client()
        .post(format!("{base}/api/appointments/{id}/links/2/revoke"))
        .header("origin", &base)
        .header("cookie", &anna)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(
        ws_until(&mut p2, |m| matches!(m, ServerMsg::Bye { .. })).await,
        Some(ServerMsg::Bye { reason: ByeReason::LinkRevoked })
    );
    let mut p2again = ws_connect_as(&server, None).await;
    assert_eq!(
        code(patient_hello(&mut p2again, &room, &token(1), &consent, "Jörg").await),
        Some(ErrorCode::AppointmentInvalid)
    );

    // A third patient waits; the therapist ends the session.
    let mut p3 = ws_connect_as(&server, None).await;
    assert_eq!(
        patient_hello(&mut p3, &room, &token(2), &consent, "Dritte").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );
    let r = support::https_client()
        .get(format!("{base}/api/appointments/{id}/attendance"))
        .header("cookie", &anna)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::CONFLICT, "no record before the end");
    ws_send(&mut t, r#"{"type":"end_meeting"}"#).await;
    for ws in [&mut t, &mut p1, &mut p3] {
        assert_eq!(
            ws_until(ws, |m| matches!(m, ServerMsg::Bye { .. })).await,
            Some(ServerMsg::Bye { reason: ByeReason::MeetingEnded })
        );
    }
    let record: Value = support::https_client()
        .get(format!("{base}/api/appointments/{id}/attendance"))
        .header("cookie", &anna)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(record["therapist"], "Dr. Anna Müller");
    assert_eq!(record["practice"], "Praxis <Beispiel>");
    assert_eq!(record["consent_version"], json!(consent));
    let names: Vec<&str> =
        record["participants"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["Erika Muster", "Jörg", "Dritte"]);
    let p = &record["participants"][0];
    assert_eq!((p["label"].as_str(), p["consent_version"].as_str()), (Some("Patient 1"), Some(consent.as_str())));
    assert!(
        p["joined_at"].as_i64().is_some() && p["left_at"].as_i64().is_some() && p["consented_at"].as_i64().is_some()
    );
    assert_eq!(record["participants"][2]["joined_at"], Value::Null, "never called in");
    assert!(record["ended_at"].as_i64() >= record["started_at"].as_i64());
    // Every link is refused from now on.
    let mut late = ws_connect_as(&server, None).await;
    assert_eq!(
        code(patient_hello(&mut late, &room, &token(0), &consent, "Erika").await),
        Some(ErrorCode::AppointmentInvalid)
    );
    let log = support::captured();
    for secret in [token(0), token(1), id.clone(), room.clone()] {
        assert!(!log.contains(&secret), "a token, id or room name reached the log");
    }
    assert!(server.stop().await);
}

#[tokio::test]
async fn deleting_an_appointment_ends_its_meeting_and_a_full_meeting_refuses_more() {
    let _t = support::test();
    let mut config = practice("tele-ws-delete");
    config.teletherapy.max_patients = 1;
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let (_, a) =
        create(&base, &anna, json!({"start": now(), "duration_minutes": 50, "group": false, "patients": 1})).await;
    let (id, room) = (a["id"].as_str().expect("id").to_string(), a["room"].as_str().expect("room").to_string());
    let token = a["links"][0]["token"].as_str().expect("token").to_string();
    let consent = kabine::teletherapy::Settings::default().consent_version;
    let mut t = ws_connect_as(&server, Some(&anna)).await;
    assert!(matches!(hello(&mut t, &room).await, Some(ServerMsg::Welcome { .. })));
    let mut p = ws_connect_as(&server, None).await;
    assert_eq!(
        patient_hello(&mut p, &room, &token, &consent, "Eins").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );
    let knocking = match ws_until(&mut t, |m| matches!(m, ServerMsg::Lobby { knocking } if !knocking.is_empty())).await
    {
        Some(ServerMsg::Lobby { knocking }) => knocking,
        other => panic!("{other:?}"),
    };
    ws_send(&mut t, &json!({"type": "lobby_admit", "id": knocking[0].id}).to_string()).await;
    assert!(matches!(
        ws_until(&mut p, |m| matches!(m, ServerMsg::Welcome { .. })).await,
        Some(ServerMsg::Welcome { .. })
    ));
    // The therapist on a second device would be a third participant of 1 patient + therapist.
    let mut t2 = ws_connect_as(&server, Some(&anna)).await;
    assert_eq!(code(hello(&mut t2, &room).await), Some(ErrorCode::RoomFull));
    let status = support::https_client()
        .delete(format!("{base}/api/appointments/{id}"))
        .header("origin", &base)
        .header("cookie", &anna)
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    for ws in [&mut t, &mut p] {
        assert_eq!(
            ws_until(ws, |m| matches!(m, ServerMsg::Bye { .. })).await,
            Some(ServerMsg::Bye { reason: ByeReason::MeetingEnded })
        );
    }
    assert!(
        support::eventually(std::time::Duration::from_secs(5), || kabine::stats::Stats::get(
            &server.stats().rooms_open
        ) == 0)
        .await
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_patient_shares_the_screen_only_with_the_therapists_permission() {
    let _t = support::test();
    let server = support::start(practice("tele-ws-screen")).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let (_, a) =
        create(&base, &anna, json!({"start": now(), "duration_minutes": 50, "group": false, "patients": 1})).await;
    let room = a["room"].as_str().expect("room").to_string();
    let token = a["links"][0]["token"].as_str().expect("token").to_string();
    let consent = kabine::teletherapy::Settings::default().consent_version;
    let mut t = ws_connect_as(&server, Some(&anna)).await;
    assert!(matches!(hello(&mut t, &room).await, Some(ServerMsg::Welcome { .. })));
    let mut p = ws_connect_as(&server, None).await;
    assert_eq!(
        patient_hello(&mut p, &room, &token, &consent, "Eins").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );
    let knocking = match ws_until(&mut t, |m| matches!(m, ServerMsg::Lobby { knocking } if !knocking.is_empty())).await
    {
        Some(ServerMsg::Lobby { knocking }) => knocking,
        other => panic!("{other:?}"),
    };
    let pid = knocking[0].id.clone();
    ws_send(&mut t, &json!({"type": "lobby_admit", "id": pid}).to_string()).await;
    assert!(matches!(
        ws_until(&mut p, |m| matches!(m, ServerMsg::Welcome { .. })).await,
        Some(ServerMsg::Welcome { .. })
    ));

    ws_send(&mut p, r#"{"type":"media_state","mic":true,"camera":true,"screen":true}"#).await;
    assert_eq!(
        code(ws_until(&mut p, |m| matches!(m, ServerMsg::Error { .. })).await),
        Some(ErrorCode::ScreenNotAllowed)
    );
    let shown = |m: &ServerMsg| matches!(m, ServerMsg::ParticipantUpdated { participant } if participant.screen);
    assert!(ws_drain(&mut t, 300).await.iter().all(|m| !shown(m)), "the therapist is not shown a screen");

    ws_send(&mut p, r#"{"type":"screen_request"}"#).await;
    assert_eq!(
        ws_until(&mut t, |m| matches!(m, ServerMsg::ScreenRequest { .. })).await,
        Some(ServerMsg::ScreenRequest { id: pid.clone(), name: "Eins".into() })
    );
    ws_send(&mut t, &json!({"type": "screen_answer", "id": pid, "allow": true}).to_string()).await;
    assert_eq!(
        ws_until(&mut p, |m| matches!(m, ServerMsg::ScreenAnswer { .. })).await,
        Some(ServerMsg::ScreenAnswer { allow: true, by_name: "Dr. Anna Müller".into() })
    );
    ws_send(&mut p, r#"{"type":"media_state","mic":true,"camera":true,"screen":true}"#).await;
    assert!(ws_until(&mut t, shown).await.is_some(), "shown once allowed");
    assert!(server.stop().await);
}
