//! Random datagrams and forged STUN at the media port leave the calls on it
//! untouched and make the server allocate nothing.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::Source;
use kabine::stats::Stats;
use rand::{Rng, RngCore};
use str0m::ice::{StunMessage, TransId};

use crate::support;

fn stun_request(username: &str, password: Option<&[u8]>) -> Vec<u8> {
    let msg = StunMessage::binding_request(username, TransId::new(), true, 7, 1_845_501_695, true);
    let mut buf = vec![0u8; 1500];
    // A made-up HMAC: the integrity attribute is there but wrong.
    let n = msg.to_bytes(password, &mut buf, |_, _| [0x42; 20]).expect("serializes");
    buf.truncate(n);
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_the_media_port_touches_no_call_and_allocates_nothing() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let ada = SyntheticPeer::join(support::peer(&server, "call", "Ada")).await.expect("joins");
    let bob = SyntheticPeer::join(support::peer(&server, "call", "Bob")).await.expect("joins");
    let ada_id = ada.id();
    assert!(bob.wait_for(Duration::from_secs(10), |r| r.packets_from(&ada_id, Source::Camera) > 30).await);
    let (server_ufrag, _) = bob.report().server_ufrags;
    let server_ufrag = server_ufrag.expect("the server's publish ufrag");

    let addresses = Stats::get(&stats.media_addresses);
    let connections = Stats::get(&stats.peer_connections);
    let subscriptions = stats.subscription_count();
    let refused = Stats::get(&stats.stun_refused);
    let unclaimed = Stats::get(&stats.datagrams_unclaimed);
    let before = bob.report().packets_from(&ada_id, Source::Camera);

    let media = kabine::http::reachable(server.media_addr());
    let attacker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut rng = rand::rng();
    let forged = [
        // The right ufrag, a wrong MESSAGE-INTEGRITY.
        stun_request(&format!("{server_ufrag}:evil"), Some(b"wrong password")),
        // The right ufrag, no MESSAGE-INTEGRITY at all.
        stun_request(&format!("{server_ufrag}:evil"), None),
        // An unknown ufrag.
        stun_request("nobody:evil", Some(b"x")),
        // A username without a colon, and a truncated request.
        stun_request("nocolon", Some(b"x")),
        stun_request(&format!("{server_ufrag}:evil"), Some(b"x"))[..28].to_vec(),
    ];
    for round in 0..400 {
        for f in &forged {
            attacker.send_to(f, media).await.expect("send");
        }
        let mut junk = vec![0u8; rng.random_range(0..1400)];
        rng.fill_bytes(&mut junk);
        // Cover every demultiplexing class: STUN, DTLS, RTP and the rest.
        if let Some(first) = junk.first_mut() {
            *first = [0x00, 0x01, 22, 0x80, 0x90, 0xc8, 200, 255][round % 8];
        }
        attacker.send_to(&junk, media).await.expect("send");
        // Paced a little, so the kernel's receive buffer does not drop them
        // before the server sees them.
        if round % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        bob.wait_for(Duration::from_secs(10), |r| r.packets_from(&ada_id, Source::Camera) > before + 30).await,
        "the call carried on"
    );
    // Let the last forged datagrams be handled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ada.report().packets_from(&bob.id(), Source::Mic) > 30);
    let refused_now = Stats::get(&stats.stun_refused);
    assert!(
        refused_now >= refused + 100,
        "forged requests reached the credential check and failed: {refused} -> {refused_now}"
    );
    assert!(Stats::get(&stats.datagrams_unclaimed) > unclaimed + 100);
    assert_eq!(Stats::get(&stats.media_addresses), addresses, "no address was learned");
    assert_eq!(Stats::get(&stats.peer_connections), connections);
    assert_eq!(stats.subscription_count(), subscriptions);
    assert_eq!(Stats::get(&stats.participants), 2);
    ada.leave().await;
    bob.leave().await;
    assert!(server.stop().await);
}
