//! Networks that drop UDP: a participant whose Chromium runs in a network
//! namespace where nftables drops every UDP datagram joins a call with two
//! others on UDP. Media for them goes over ICE-TCP on the server's HTTPS
//! port (RFC 6544 passive candidate, RFC 4571 framing): all three decode
//! each other, the server's counters show media on TCP, and the walled
//! participant's connection details say "via TCP" while the others' say UDP.

use std::time::Duration;

use kabine::stats::Stats;
use serde_json::Value;

use crate::support::netns::{DROP_UDP, Walled};
use crate::support::{self, browser};

/// Media on TCP that is more than ICE checks: seconds of video.
const TCP_MEDIA_BYTES: u64 = 200_000;

/// The wall holds: a UDP datagram from inside the namespace never arrives,
/// a TCP connection to the HTTPS port does.
async fn assert_udp_dropped_tcp_passes(wall: &Walled, https_port: u16) {
    let probe = tokio::net::UdpSocket::bind((wall.host_ip.as_str(), 0)).await.expect("udp probe binds");
    let port = probe.local_addr().expect("addr").port();
    let script = format!(
        "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('{}', {port}))\"",
        wall.host_ip
    );
    let _ = wall.sh(&script);
    let mut buf = [0u8; 16];
    let got = tokio::time::timeout(Duration::from_millis(700), probe.recv_from(&mut buf)).await;
    assert!(got.is_err(), "a UDP datagram left the namespace: the firewall is not in place");
    let tcp = format!(
        "python3 -c \"import socket; socket.create_connection(('{}', {https_port}), timeout=3).close()\"",
        wall.host_ip
    );
    assert!(wall.sh(&tcp), "TCP to the HTTPS port must pass the firewall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_whose_network_drops_udp_joins_over_tcp_on_the_https_port() {
    let _t = support::test();
    support::require_tool("python3", "python3");
    let _turn = support::heavy().await;
    let wall = Walled::create("tcp", DROP_UDP);
    let mut c = support::test_config();
    c.server.listen = "0.0.0.0:0".parse().expect("literal");
    c.media.bind_address = "0.0.0.0".parse().expect("literal");
    c.media.public_address = Some(wall.host_ip.parse().expect("address"));
    let server = support::start(c).await;
    let port = server.https_addr().port();
    assert_udp_dropped_tcp_passes(&wall, port).await;

    let base = format!("https://{}:{port}", wall.host_ip);
    let ns_arg = format!("netns={}", wall.name);
    let v = browser::run_in_turn(&base, "restricted", &[&ns_arg]).await;
    browser::assert_clean("restricted", &v);
    println!("walled participant: everyone decodes everyone after {} ms; transports {}", v["ms"], v["transports"]);

    let t = &v["transports"];
    for side in ["publish", "subscribe"] {
        assert_eq!(t["Cleo Santos"][side]["local"], "tcp", "Cleo's {side} connection runs over TCP: {t}");
        assert_eq!(t["Cleo Santos"][side]["remoteType"], "host", "to the server's own TCP candidate: {t}");
        for open in ["Anna Berg", "Ben Okafor"] {
            assert_eq!(t[open][side]["local"], "udp", "{open}'s {side} connection stays on UDP: {t}");
        }
    }
    assert_eq!(t["Cleo Santos"]["shown"], "tcp", "Cleo's connection details say TCP: {t}");
    assert!(t["Cleo Santos"]["text"].as_str().is_some_and(|s| s.contains("TCP")), "{t}");
    for open in ["Anna Berg", "Ben Okafor"] {
        assert_eq!(t[open]["shown"], "udp", "{open}'s connection details say UDP: {t}");
    }

    let s = server.stats();
    let (conns, bytes_in, bytes_out) =
        (Stats::get(&s.tcp_connections_total), Stats::get(&s.tcp_bytes_in), Stats::get(&s.tcp_bytes_out));
    println!("server counters: {conns} ICE-TCP connections, {bytes_in} bytes in, {bytes_out} bytes out over TCP");
    assert!(conns >= 1, "the server saw no ICE-TCP connection");
    assert!(bytes_in > TCP_MEDIA_BYTES, "Cleo's media reached the server over TCP ({bytes_in} bytes)");
    assert!(bytes_out > TCP_MEDIA_BYTES, "the others' media reached Cleo over TCP ({bytes_out} bytes)");
    assert_eq!(v["ok"], Value::Bool(true));
    assert!(server.stop().await);
}

/// The relay's name, resolved to the server inside the namespace.
const RELAY_NAME: &str = "turn.kabine.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_whose_network_lets_only_tls_out_joins_through_the_tls_relay() {
    let _t = support::test();
    let _turn = support::heavy().await;
    let wall = Walled::create("tls", DROP_UDP);
    let mut c = support::test_config();
    c.server.listen = "0.0.0.0:0".parse().expect("literal");
    c.media.bind_address = "0.0.0.0".parse().expect("literal");
    c.media.public_address = Some(wall.host_ip.parse().expect("address"));
    c.media.turn_tls_name = Some(RELAY_NAME.into());
    let server = support::start(c).await;
    let port = server.https_addr().port();
    // Out of the namespace: TCP to the HTTPS port, nothing else.
    wall.firewall(&crate::support::netns::only_tcp_to(&wall.host_ip, port));
    wall.host_name(RELAY_NAME);
    assert_udp_dropped_tcp_passes(&wall, port).await;

    let base = format!("https://{}:{port}", wall.host_ip);
    let ns_arg = format!("netns={}", wall.name);
    let v = browser::run_in_turn(&base, "restricted", &[&ns_arg, "relay"]).await;
    browser::assert_clean("restricted relay", &v);
    println!("relayed participant: everyone decodes everyone after {} ms; transports {}", v["ms"], v["transports"]);
    assert_eq!(v["relayServers"][0]["urls"][0], format!("turns:{RELAY_NAME}:{port}?transport=tcp"), "{v}");
    let t = &v["transports"];
    for side in ["publish", "subscribe"] {
        assert_eq!(t["Cleo Santos"][side]["type"], "relay", "Cleo's {side} connection is relayed: {t}");
        assert_eq!(t["Cleo Santos"][side]["relayProtocol"], "tls", "over TLS: {t}");
    }
    assert_eq!(t["Cleo Santos"]["shown"], "tls-relay", "Cleo's connection details say TLS relay: {t}");
    let s = server.stats();
    let (allocations, bytes_in, bytes_out) =
        (Stats::get(&s.relay_allocations), Stats::get(&s.relay_bytes_in), Stats::get(&s.relay_bytes_out));
    println!("server counters: {allocations} relay allocations, {bytes_in} bytes in, {bytes_out} bytes out relayed");
    assert!(allocations >= 1);
    assert!(bytes_in > TCP_MEDIA_BYTES, "Cleo's media came through the relay ({bytes_in} bytes)");
    assert!(bytes_out > TCP_MEDIA_BYTES, "the others' media went through the relay ({bytes_out} bytes)");
    assert_eq!(Stats::get(&s.relay_peers_refused), 0, "the browser asked only for the SFU's address");
    assert!(server.stop().await);
}
