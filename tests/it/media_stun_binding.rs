//! Kabine is the STUN server of its own browsers: a plain Binding request
//! (RFC 8489, no ICE credentials) to the media port is answered with the
//! address it came from, so browsers in a direct call learn their public
//! address without asking a third party. Nothing is kept about the sender,
//! answers are rate-limited, and without direct calls nothing is answered.

use std::net::SocketAddr;
use std::time::Duration;

use kabine::stats::Stats;
use tokio::net::UdpSocket;

use crate::support;

const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

/// A Binding request as a browser sends it to a STUN server.
fn binding_request(id: [u8; 12]) -> Vec<u8> {
    let mut out = vec![0x00, 0x01, 0x00, 0x00];
    out.extend_from_slice(&COOKIE);
    out.extend_from_slice(&id);
    out
}

/// The transaction id and XOR-MAPPED-ADDRESS of a Binding success response.
fn parse_response(data: &[u8]) -> Option<([u8; 12], SocketAddr)> {
    if data.len() < 20 || data[0..2] != [0x01, 0x01] || data[4..8] != COOKIE {
        return None;
    }
    let id: [u8; 12] = data[8..20].try_into().ok()?;
    let mut at = 20;
    while at + 4 <= data.len() {
        let kind = u16::from_be_bytes([data[at], data[at + 1]]);
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let value = data.get(at + 4..at + 4 + len)?;
        if kind == 0x0020 && value.len() >= 8 {
            let port = u16::from_be_bytes([value[2], value[3]]) ^ 0x2112;
            let key: Vec<u8> = COOKIE.iter().chain(id.iter()).copied().collect();
            let ip = match value[1] {
                1 => {
                    std::net::IpAddr::from([value[4] ^ key[0], value[5] ^ key[1], value[6] ^ key[2], value[7] ^ key[3]])
                }
                _ => {
                    let mut b = [0u8; 16];
                    for i in 0..16 {
                        b[i] = value.get(4 + i)? ^ key[i];
                    }
                    std::net::IpAddr::from(b)
                }
            };
            return Some((id, SocketAddr::new(ip, port)));
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

async fn receive(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1500];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(n);
    Some(buf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_port_tells_a_browser_its_address_and_keeps_nothing() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let media = kabine::http::reachable(server.media_addr());
    let browser = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let id = *b"kabine-test!";
    browser.send_to(&binding_request(id), media).await.expect("send");
    let response = receive(&browser, Duration::from_secs(5)).await.expect("an answer");
    let (answered_id, mapped) = parse_response(&response).expect("a Binding success response");
    assert_eq!(answered_id, id, "the answer belongs to the request");
    assert_eq!(mapped, browser.local_addr().expect("addr"), "XOR-MAPPED-ADDRESS is where the request came from");
    assert_eq!(Stats::get(&stats.stun_bindings_answered), 1);
    assert_eq!(Stats::get(&stats.media_addresses), 0, "nothing was learnt about the sender");
    assert_eq!(Stats::get(&stats.peer_connections), 0, "nothing was allocated");

    // Not a plain request (it names an ICE username): not answered here.
    let mut check = binding_request(*b"ice-check-00");
    check[3] = 12;
    check.extend_from_slice(&[0x00, 0x06, 0x00, 0x07]);
    check.extend_from_slice(b"abc:def\0");
    browser.send_to(&check, media).await.expect("send");
    assert!(receive(&browser, Duration::from_millis(500)).await.is_none(), "an ICE check for nobody gets no answer");
    assert_eq!(Stats::get(&stats.stun_bindings_answered), 1);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_binding_requests_is_answered_only_up_to_the_rate_limit() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let media = kabine::http::reachable(server.media_addr());
    let flooder = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let sent = 300u32;
    let started = std::time::Instant::now();
    for i in 0..sent {
        let mut id = [0u8; 12];
        id[..4].copy_from_slice(&i.to_be_bytes());
        flooder.send_to(&binding_request(id), media).await.expect("send");
        if i % 10 == 9 {
            // Fast, yet not faster than loopback buffers take.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut answers = 0u32;
    while receive(&flooder, Duration::from_millis(500)).await.is_some() {
        answers += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = kabine::sfu::stun::PER_SOURCE_BURST + kabine::sfu::stun::PER_SOURCE_PER_SECOND * elapsed;
    assert!(answers >= 1, "the first requests are answered");
    assert!(f64::from(answers) <= allowed, "{answers} answers in {elapsed:.1} s; at most {allowed:.0} allowed");
    let limited = Stats::get(&stats.stun_bindings_limited);
    // Every request that arrived was answered or counted (a loaded machine
    // may drop some datagrams on loopback before the server sees them).
    assert!(u64::from(answers) + limited <= u64::from(sent));
    assert!(limited >= 150, "the flood was limited: {limited} of {sent}");
    println!("STUN flood: {sent} requests, {answers} answered, {limited} dropped by the rate limit");
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_direct_calls_the_media_port_answers_no_plain_stun() {
    let _t = support::test();
    let policy = kabine::policy::Policy::from_preset("strict-no-p2p").expect("preset");
    let server = support::start_with_policy(support::test_config(), policy).await;
    let stats = server.stats();
    let media = kabine::http::reachable(server.media_addr());
    let browser = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    browser.send_to(&binding_request(*b"no-p2p-here!"), media).await.expect("send");
    assert!(receive(&browser, Duration::from_millis(800)).await.is_none(), "answered although direct calls are off");
    assert_eq!(Stats::get(&stats.stun_bindings_answered), 0);
    assert_eq!(Stats::get(&stats.datagrams_unclaimed), 1, "dropped like any datagram nobody claims");
    assert!(server.stop().await);
}
