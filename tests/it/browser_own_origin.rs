//! Privacy invariant: every request a page makes — documents, scripts,
//! styles, images, API calls, the WebSocket — goes to Kabine's own origin,
//! over a whole visit (welcome, pre-join, call, chat, leave), even with the
//! operator's imprint and privacy links pointing elsewhere.

use crate::support::{self, browser};

#[tokio::test]
async fn every_request_of_a_visit_goes_to_kabines_own_origin() {
    let _t = support::test();
    let mut config = support::test_config();
    config.client.imprint_url = Some("https://praxis.example/impressum".into());
    config.client.privacy_url = Some("https://praxis.example/datenschutz".into());
    let server = support::start(config).await;
    let v = browser::run(&server, "origin", &[]).await;
    assert_eq!(v["selfTest"], true, "the recorder flags a request to another host");
    browser::assert_clean("origin", &v);
    let urls: Vec<&str> =
        v["requests"].as_array().expect("requests").iter().filter_map(|r| r["url"].as_str()).collect();
    for needed in
        ["/static/app.js", "/static/protocol.js", "/static/style.css", "/api/client-config", "/api/logo", "/ws"]
    {
        assert!(
            urls.iter().any(|u| u.ends_with(needed)),
            "{needed} was not recorded, so the check missed requests: {urls:?}"
        );
    }
    let base = support::base_url(&server);
    for r in v["resources"].as_array().expect("resource timing") {
        let url = r.as_str().unwrap_or_default();
        assert!(url.starts_with(&base) || url.starts_with("wss://"), "resource from elsewhere: {url}");
    }
    assert!(server.stop().await);
}
