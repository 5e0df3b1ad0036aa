//! `/metrics` on its own loopback listener, scraped while three headless
//! Chromium participants are in a call through the SFU: the media counters
//! move, and the body names no room, no participant and no address (the
//! suite's own address scanner, `support::pii`, runs over every scrape).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{self, browser, pii};

/// The value of an unlabelled sample `kabine_NAME` in a metrics body.
fn value(body: &str, name: &str) -> Option<f64> {
    let prefix = format!("kabine_{name} ");
    body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_browser_call_count_media_and_name_no_one() {
    let _t = support::test();
    let mut config = support::test_config();
    config.metrics.enabled = true;
    config.metrics.listen = "127.0.0.1:0".parse().expect("literal");
    let server = support::start(config).await;
    let metrics = server.metrics_addr().expect("metrics listener");
    assert!(metrics.ip().is_loopback());
    assert_ne!(metrics.port(), server.https_addr().port());
    let url = format!("http://{metrics}/metrics");
    let client = reqwest::Client::new();

    let idle = client.get(&url).send().await.expect("scrape");
    assert_eq!(idle.status(), reqwest::StatusCode::OK);
    assert!(idle.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain; version=0.0.4"));
    let idle = idle.text().await.expect("body");
    assert_eq!(value(&idle, "rooms_open"), Some(0.0), "{idle}");
    assert_eq!(value(&idle, "media_packets_forwarded_total"), Some(0.0));
    let other = client.get(format!("http://{metrics}/")).send().await.expect("request");
    assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND, "nothing but /metrics on the metrics listener");

    // Scrape every 300 ms while the call runs.
    let scrapes = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let scraper = {
        let (scrapes, stop, client, url) = (Arc::clone(&scrapes), stop.clone(), client.clone(), url.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                if let Ok(r) = client.get(&url).send().await
                    && let Ok(body) = r.text().await
                {
                    scrapes.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let v = browser::run(&server, "metrics_call", &[]).await;
    stop.cancel();
    let _ = scraper.await;
    browser::assert_clean("metrics_call", &v);

    let scrapes = scrapes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let in_call: Vec<&String> = scrapes.iter().filter(|b| value(b, "participants") == Some(3.0)).collect();
    assert!(!in_call.is_empty(), "no scrape saw the three participants ({} scrapes)", scrapes.len());
    let last = in_call.last().expect("non-empty");
    for counter in [
        "media_packets_received_total",
        "media_bytes_received_total",
        "media_packets_forwarded_total",
        "media_bytes_forwarded_total",
        "cpu_microseconds_per_media_packet",
        "process_cpu_seconds_total",
    ] {
        assert!(value(last, counter).is_some_and(|v| v > 0.0), "{counter} is not above 0 during the call:\n{last}");
    }
    assert_eq!(value(last, "rooms_open"), Some(1.0), "{last}");
    assert!(value(last, "peer_connections").is_some_and(|v| v >= 3.0), "{last}");
    assert!(value(last, "signalling_sessions").is_some_and(|v| v >= 3.0), "{last}");
    assert!(value(last, "https_connections").is_some_and(|v| v >= 1.0), "{last}");
    assert!(value(last, "queue_room_actor_capacity").is_some_and(|v| v > 0.0), "{last}");

    // Nothing personal in any scrape: no room name, no name, no address.
    let room = v["room"].as_str().expect("room");
    let names: Vec<String> = v["names"]
        .as_array()
        .expect("names")
        .iter()
        .flat_map(|n| n.as_str().unwrap_or_default().split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect();
    for body in &scrapes {
        assert!(!body.contains(room) && !body.contains("metricsroom"), "the room name is in the metrics");
        for n in &names {
            assert!(!body.contains(n.as_str()), "the name {n} is in the metrics");
        }
        let addresses = pii::find_addresses(body);
        assert!(addresses.is_empty(), "addresses in the metrics: {addresses:?}");
    }
    println!(
        "metrics during a call of three: {} scrapes, {} packets forwarded, {:.1} µs CPU per packet",
        scrapes.len(),
        value(last, "media_packets_forwarded_total").unwrap_or(0.0),
        value(last, "cpu_microseconds_per_media_packet").unwrap_or(0.0)
    );
    assert!(server.stop().await);
}
