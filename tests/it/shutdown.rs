//! `kabine serve` stops within 5 s of SIGTERM or SIGINT, whatever clients
//! do: a request half sent to the metrics listener (a stuck or hostile
//! scraper) does not hold the server open until the client gives up.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn serve_stops_within_five_seconds_of_a_signal() {
    let _t = support::test();
    for signal in ["TERM", "INT"] {
        let dir = support::output_dir(&format!("shutdown-{signal}"));
        let port = free_port();
        let config = dir.join("kabine.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = {}\n",
                free_udp_port()
            ),
        )
        .expect("write config");
        let mut child = Command::new(support::kabine_bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kabine starts");
        support::wait_for_tcp(format!("127.0.0.1:{port}").parse().expect("addr")).await;
        // An open connection must not hold the shutdown up.
        let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let started = Instant::now();
        let status =
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "exit status after SIG{signal}: {status}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "still running 5 s after SIG{signal}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("shutting down"), "{stdout}");
        assert!(support::pii::find_addresses(&stdout).is_empty(), "{stdout}");
        assert!(support::pii::find_addresses(&String::from_utf8_lossy(&out.stderr)).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_metrics_request_does_not_hold_shutdown() {
    let _t = support::test();
    let mut config = support::test_config();
    config.metrics.enabled = true;
    config.metrics.listen = "127.0.0.1:0".parse().expect("literal");
    let server = support::start(config).await;
    let metrics = server.metrics_addr().expect("metrics listener");
    let mut stuck = tokio::net::TcpStream::connect(metrics).await.expect("connects");
    stuck.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n").await.expect("writes");
    // The request is being read when the server is told to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert!(server.stop().await, "the server did not stop within its limit");
    assert!(started.elapsed() < Duration::from_secs(5), "stopping took {:?}", started.elapsed());
    drop(stuck);
}
