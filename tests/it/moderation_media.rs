//! Moderation reaches the media (synthetic participants publishing real RTP
//! through the SFU): "mute everyone" stops the forwarding of every other
//! participant's microphone at the server, whatever their client does,
//! until each one turns it on again; a removed participant's media ends for
//! everyone; breakout rooms carry media only within each room, and a
//! participant moved out and back is received again on a fresh m-line.

use std::collections::HashSet;
use std::time::Duration;

use kabine::loadgen::{PeerReport, SyntheticPeer};
use kabine::protocol::{ByeReason, ClientMsg, ServerMsg, Source};

use crate::support;

async fn peer(server: &kabine::server::RunningServer, room: &str, name: &str) -> SyntheticPeer {
    let mut config = support::peer(server, room, name);
    config.audio_level = 30;
    // Light video: up to seven of these run at once on a small machine.
    config.layer_bps = [30_000, 60_000, 120_000];
    SyntheticPeer::join(config).await.expect("joins")
}

fn audio(r: &PeerReport, from: &str) -> u64 {
    r.packets_from(from, Source::Mic)
}

fn video(r: &PeerReport, from: &str) -> u64 {
    r.packets_from(from, Source::Camera)
}

/// Packets of `from`'s `source` that `at` receives over `window`.
async fn flow(at: &SyntheticPeer, from: &str, source: Source, window: Duration) -> u64 {
    let before = at.report().packets_from(from, source);
    tokio::time::sleep(window).await;
    at.report().packets_from(from, source) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_all_stops_forwarding_at_the_server_and_remove_ends_the_media() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let ada = peer(&server, "muted", "Ada").await;
    let bob = peer(&server, "muted", "Bob").await;
    let cy = peer(&server, "muted", "Cy").await;
    let (a, b, c) = (ada.id(), bob.id(), cy.id());
    for (me, others) in [(&ada, [&b, &c]), (&bob, [&a, &c]), (&cy, [&a, &b])] {
        assert!(
            me.wait_for(Duration::from_secs(30), |r| others.iter().all(|o| audio(r, o) > 20 && video(r, o) > 20)).await,
            "media flows before"
        );
    }
    // Bob's and Cy's (synthetic) clients ignore the mute and keep sending.
    ada.send(ClientMsg::MuteAll { source: Source::Mic }).await;
    for p in [&bob, &cy] {
        assert!(
            p.wait_for(Duration::from_secs(5), |r| r
                .other
                .iter()
                .any(|m| matches!(m, ServerMsg::Muted { source: Source::Mic, .. })))
                .await
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let window = Duration::from_secs(2);
    assert_eq!(flow(&ada, &b, Source::Mic, window).await, 0, "Bob's microphone is not forwarded");
    assert_eq!(flow(&bob, &c, Source::Mic, window).await, 0, "nor Cy's, to anyone");
    assert!(flow(&ada, &b, Source::Camera, window).await > 10, "Bob's camera still is");
    assert!(flow(&bob, &a, Source::Mic, window).await > 10, "the moderator's own microphone still is");
    // Turning it on again is Bob's decision.
    bob.send(ClientMsg::Unmute { source: Source::Mic }).await;
    bob.send(ClientMsg::MediaState { mic: true, camera: true, screen: false }).await;
    assert!(ada.wait_for(Duration::from_secs(5), |r| r.participants.get(&b).is_some_and(|p| p.mic)).await);
    assert!(flow(&ada, &b, Source::Mic, window).await > 10, "Bob is heard again");
    assert_eq!(flow(&ada, &c, Source::Mic, window).await, 0, "Cy still is not");

    // Remove Cy.
    ada.send(ClientMsg::Remove { id: c.clone() }).await;
    assert!(cy.wait_for(Duration::from_secs(5), |r| r.bye == Some(ByeReason::Removed)).await);
    for p in [&ada, &bob] {
        assert!(
            p.wait_for(Duration::from_secs(5), |r| !r.participants.contains_key(&c)
                && r.subscribed.iter().all(|t| t.participant != c))
                .await
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(flow(&bob, &c, Source::Camera, window).await, 0, "no media of the removed participant");
    assert_eq!(kabine::stats::Stats::get(&server.stats().participants), 2);
    for p in [ada, bob] {
        p.leave().await;
    }
    cy.vanish().await;
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakout_rooms_carry_media_only_within_each_room_and_moves_back_get_fresh_m_lines() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let ada = peer(&server, "split", "Ada").await;
    let bob = peer(&server, "split", "Bob").await;
    let cy = peer(&server, "split", "Cy").await;
    let di = peer(&server, "split", "Di").await;
    let ids: Vec<String> = [&ada, &bob, &cy, &di].iter().map(|p| p.id()).collect();
    let everyone = [&ada, &bob, &cy, &di];
    for (i, me) in everyone.iter().enumerate() {
        let others: Vec<&String> = ids.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, id)| id).collect();
        let ok = me.wait_for(Duration::from_secs(30), |r| others.iter().all(|o| video(r, o) > 20)).await;
        let r = me.report();
        let got: Vec<_> = r.received.iter().map(|(k, v)| (k, v.packets)).collect();
        assert!(ok, "{i} receives everyone's video before: {got:?}");
    }
    ada.send(ClientMsg::BreakoutCreate { names: vec!["Eins".into(), "Zwei".into()] }).await;
    for (who, room) in [(1, "b1"), (2, "b2"), (3, "b2"), (0, "b1")] {
        ada.send(ClientMsg::BreakoutAssign { id: ids[who].clone(), room: Some(room.into()) }).await;
    }
    let pairs = [(0usize, 1usize), (1, 0), (2, 3), (3, 2)];
    for (me, mate) in pairs {
        let p = everyone[me];
        let mate_id = ids[mate].clone();
        assert!(
            p.wait_for(Duration::from_secs(10), |r| r.participants.len() == 1
                && r.participants.contains_key(&mate_id)
                && r.subscribed.iter().all(|t| t.participant == mate_id))
                .await,
            "{me} sees only {mate}: {:?}",
            p.report().subscribed
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let window = Duration::from_secs(2);
    for (me, mate) in pairs {
        let p = everyone[me];
        assert!(flow(p, &ids[mate], Source::Camera, window).await > 10, "{me} receives {mate}");
        for other in (0..4).filter(|o| *o != me && *o != mate) {
            assert_eq!(
                flow(p, &ids[other], Source::Camera, Duration::from_millis(300)).await,
                0,
                "{me} gets nothing of {other}"
            );
            assert_eq!(flow(p, &ids[other], Source::Mic, Duration::from_millis(300)).await, 0);
        }
    }
    // Back to the main room: everyone again, and no SDP carries an msid twice.
    ada.send(ClientMsg::BreakoutCloseAll {}).await;
    for (i, me) in everyone.iter().enumerate() {
        let others: Vec<String> = ids.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, id)| id.clone()).collect();
        assert!(
            me.wait_for(Duration::from_secs(15), |r| others
                .iter()
                .all(|o| r.subscribed.iter().any(|t| &t.participant == o)))
                .await
        );
        let before: Vec<u64> = others.iter().map(|o| video(&me.report(), o)).collect();
        assert!(
            me.wait_for(Duration::from_secs(15), |r| others.iter().zip(&before).all(|(o, b)| video(r, o) > b + 10))
                .await,
            "{i} receives everyone again"
        );
        let sdp = me.report().subscribe_sdp;
        let msids: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=msid:")).collect();
        assert_eq!(msids.len(), msids.iter().collect::<HashSet<_>>().len(), "duplicate msid in {sdp}");
    }
    for p in [ada, bob, cy, di] {
        p.leave().await;
    }
    assert!(server.stop().await);
}
