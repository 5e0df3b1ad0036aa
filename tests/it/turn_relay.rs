//! Kabine's own TURN/TLS relay on the HTTPS port, spoken to over TLS with
//! the relay's server name: it wants the credentials of a signalling
//! session (401 without, and after they expire), and it relays only to the
//! SFU's own media address — every other peer (loopback, private,
//! IPv4-mapped, unspecified, another port of the server) is refused with
//! 403, so it is no open relay.

use std::net::SocketAddr;
use std::time::Duration;

use kabine::protocol::ServerMsg;
use kabine::stats::Stats;
use kabine::turn::message::{self as m, Builder, Class, Message, Next};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::support;

const NAME: &str = "turn.localhost";
/// The SFU's announced media address in these tests.
const SFU_IP: &str = "192.0.2.10";

struct Client {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    username: String,
    key: [u8; 16],
    nonce: Vec<u8>,
}

/// What came back: (class, error code).
struct Reply {
    class: Class,
    error: Option<u16>,
    raw: Vec<u8>,
}

impl Reply {
    fn msg(&self) -> Message<'_> {
        Message::parse(&self.raw).expect("the relay answers well-formed STUN")
    }
}

impl Client {
    async fn connect(server: &kabine::server::RunningServer, username: &str, password: &str) -> Client {
        let addr = kabine::http::reachable(server.https_addr());
        let tcp = TcpStream::connect(addr).await.expect("connects");
        let connector = tokio_rustls::TlsConnector::from(support::insecure_tls());
        let name = rustls::pki_types::ServerName::try_from(NAME).expect("name");
        let tls = connector.connect(name, tcp).await.expect("TLS with the relay's name");
        Client {
            tls,
            buf: Vec::new(),
            username: username.to_string(),
            key: kabine::turn::long_term_key(username, password),
            nonce: Vec::new(),
        }
    }

    async fn read(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Next::Stun(n) | Next::ChannelData(n) = m::next(&self.buf)
                && self.buf.len() >= n
            {
                return Some(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.tls.read(&mut chunk)).await.ok()?.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a request with credentials (after learning the nonce from a 401).
    async fn request(&mut self, method: u16, attrs: &[(u16, Vec<u8>)], peers: &[SocketAddr]) -> Reply {
        loop {
            let mut b = Builder::new(method, Class::Request, rand::random());
            for (k, v) in attrs {
                b = b.attr(*k, v);
            }
            for p in peers {
                b = b.address(m::XOR_PEER_ADDRESS, *p);
            }
            let authed = !self.nonce.is_empty();
            if authed {
                b = b.attr(m::USERNAME, self.username.as_bytes()).attr(m::REALM, b"kabine").attr(m::NONCE, &self.nonce);
            }
            let raw = b.finish(authed.then_some(&self.key[..]));
            self.tls.write_all(&raw).await.expect("writes");
            let reply = self.read().await.expect("the relay answers");
            let msg = Message::parse(&reply).expect("well-formed");
            let error = msg.attr(m::ERROR_CODE).map(|v| u16::from(v[2]) * 100 + u16::from(v[3]));
            if error == Some(401) && !authed {
                self.nonce = msg.attr(m::NONCE).expect("a 401 carries a nonce").to_vec();
                assert_eq!(msg.text(m::REALM), Some("kabine"));
                continue;
            }
            return Reply { class: msg.class, error, raw: reply };
        }
    }

    async fn allocate(&mut self) -> Reply {
        self.request(m::ALLOCATE, &[(m::REQUESTED_TRANSPORT, vec![17, 0, 0, 0])], &[]).await
    }
}

/// A session's relay credentials, from its `welcome`.
async fn credentials(server: &kabine::server::RunningServer, room: &str) -> (String, String, Vec<String>) {
    let mut ws = support::ws_connect(server, Some(&support::own_origin(server))).await.expect("connects");
    support::ws_send(&mut ws, &format!(r#"{{"type":"hello","version":1,"room":"{room}","display_name":"Ada"}}"#)).await;
    let Some(ServerMsg::Welcome { ice_servers, .. }) = support::ws_next(&mut ws).await else {
        panic!("expected welcome");
    };
    let relay =
        ice_servers.iter().find(|s| s.urls.iter().any(|u| u.starts_with("turns:"))).expect("the relay is offered");
    (relay.username.clone().expect("a user name"), relay.credential.clone().expect("a password"), relay.urls.clone())
}

fn relay_config(lifetime: u64) -> kabine::config::Config {
    let mut c = support::test_config();
    c.media.turn_tls_name = Some(NAME.into());
    c.media.turn_credential_lifetime = lifetime;
    c.media.public_address = Some(SFU_IP.parse().expect("address"));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_every_peer_but_the_sfus_own_media_address() {
    let _t = support::test();
    let server = support::start(relay_config(600)).await;
    let stats = server.stats();
    let media_port = server.media_addr().port();
    let https_port = server.https_addr().port();
    let (user, pass, urls) = credentials(&server, "relay-refusals").await;
    assert_eq!(urls, [format!("turns:{NAME}:{https_port}?transport=tcp")]);
    let (other_user, other_pass, _) = credentials(&server, "relay-refusals-2").await;
    assert_ne!((&user, &pass), (&other_user, &other_pass), "credentials are per session");

    let mut c = Client::connect(&server, &user, &pass).await;
    let r = c.allocate().await;
    assert_eq!((r.class, r.error), (Class::Success, None), "allocates with the session's credentials");
    let relayed = r.msg().address(m::XOR_RELAYED_ADDRESS).expect("a relayed address");
    assert!(kabine::turn::RelayAddresses::is_relayed(&relayed));
    assert!(r.msg().integrity_ok(&c.key), "the answer is signed with the long-term key");

    let sfu: SocketAddr = format!("{SFU_IP}:{media_port}").parse().expect("addr");
    let refused: Vec<SocketAddr> = [
        format!("127.0.0.1:{media_port}"),
        format!("127.0.0.1:{https_port}"),
        format!("[::1]:{media_port}"),
        format!("10.0.0.1:{media_port}"),
        format!("192.168.1.1:{media_port}"),
        format!("[::ffff:127.0.0.1]:{media_port}"),
        format!("[::ffff:{SFU_IP}]:{media_port}"),
        format!("0.0.0.0:{media_port}"),
        format!("[::]:{media_port}"),
        format!("{SFU_IP}:{https_port}"),
        format!("{SFU_IP}:22"),
        format!("{SFU_IP}:{}", media_port.wrapping_add(1)),
        "203.0.113.5:3478".to_string(),
    ]
    .iter()
    .map(|a| a.parse().expect("addr"))
    .collect();
    for peer in &refused {
        let r = c.request(m::CREATE_PERMISSION, &[], &[*peer]).await;
        assert_eq!((r.class, r.error), (Class::Error, Some(403)), "CreatePermission for {peer}");
        let r = c.request(m::CHANNEL_BIND, &[(m::CHANNEL_NUMBER, vec![0x40, 0x01, 0, 0])], &[*peer]).await;
        assert_eq!((r.class, r.error), (Class::Error, Some(403)), "ChannelBind to {peer}");
    }
    // One refused address among allowed ones refuses the whole request.
    let r = c.request(m::CREATE_PERMISSION, &[], &[sfu, refused[0]]).await;
    assert_eq!(r.error, Some(403));
    assert_eq!(Stats::get(&stats.relay_peers_refused), 2 * refused.len() as u64 + 1);

    // The SFU's own media address is allowed.
    let r = c.request(m::CREATE_PERMISSION, &[], &[sfu]).await;
    assert_eq!((r.class, r.error), (Class::Success, None), "the SFU's address");
    let r = c.request(m::CHANNEL_BIND, &[(m::CHANNEL_NUMBER, vec![0x40, 0x01, 0, 0])], &[sfu]).await;
    assert_eq!((r.class, r.error), (Class::Success, None), "a channel to the SFU");

    // Data sent towards a refused peer goes nowhere: a listener there hears nothing.
    let victim = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let target = victim.local_addr().expect("addr");
    let send = Builder::new(m::SEND, Class::Indication, rand::random())
        .address(m::XOR_PEER_ADDRESS, target)
        .attr(m::DATA_ATTR, b"hello loopback")
        .finish(None);
    let before = Stats::get(&stats.relay_peers_refused);
    c.tls.write_all(&send).await.expect("writes");
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), victim.recv_from(&mut buf)).await.is_err(),
        "the relay sent to a loopback address"
    );
    assert_eq!(Stats::get(&stats.relay_peers_refused), before + 1);

    // A second allocation on the connection, and other credentials on it, are refused.
    let r = c.allocate().await;
    assert_eq!(r.error, Some(437));
    // HTTPS (any other server name) still works beside the relay.
    let page = support::https_client().get(format!("{}/health", support::base_url(&server))).send().await;
    assert_eq!(page.expect("HTTPS answers").status(), 200);
    assert_eq!(Stats::get(&stats.relay_allocations), 1);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_credentials_expire_and_wrong_ones_are_refused() {
    let _t = support::test();
    let server = support::start(relay_config(5)).await;
    let stats = server.stats();
    let (user, pass, _) = credentials(&server, "relay-expiry").await;

    // A wrong password: 401.
    let mut c = Client::connect(&server, &user, "not-the-password").await;
    assert_eq!(c.allocate().await.error, Some(401));
    // A made-up user name: 401.
    let mut c = Client::connect(&server, "99999999999:1", &pass).await;
    assert_eq!(c.allocate().await.error, Some(401));
    assert_eq!(Stats::get(&stats.relay_auth_failures), 2);

    // Five seconds later the session's own credentials are refused too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut c = Client::connect(&server, &user, &pass).await;
    assert_eq!(c.allocate().await.error, Some(401), "expired credentials");
    assert_eq!(Stats::get(&stats.relay_allocations), 0);

    // A fresh session gets fresh ones that work.
    let (user, pass, _) = credentials(&server, "relay-expiry-2").await;
    let mut c = Client::connect(&server, &user, &pass).await;
    assert_eq!(c.allocate().await.error, None, "fresh credentials");
    assert_eq!(Stats::get(&stats.relay_allocations), 1);
    assert!(server.stop().await);
}
