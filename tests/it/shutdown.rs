//! `kabine serve` stops within 5 s of SIGTERM or SIGINT.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
