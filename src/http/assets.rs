//! The browser client, embedded in the binary. No build step, and nothing is
//! ever loaded from another origin.

/// One embedded file.
pub struct Asset {
    /// Path under `/static/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($( $name:literal => $ty:expr ),* $(,)?) => {
        &[ $( Asset { name: $name, content_type: $ty, body: include_bytes!(concat!("../client/", $name)) } ),* ]
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of the client. `index.html` is served for `/` and every room.
pub static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "dom.js" => JS,
    "i18n.js" => JS,
    "media.js" => JS,
    "devices.js" => JS,
    "health.js" => JS,
    "layers.js" => JS,
    "protocol.js" => JS,
    "p2p.js" => JS,
    "e2ee.js" => JS,
    "e2ee-keys.js" => JS,
    "e2ee-media.js" => JS,
    "e2ee-worker.js" => JS,
    "welcome.js" => JS,
    "prejoin.js" => JS,
    "call.js" => JS,
    "tiles.js" => JS,
    "controls.js" => JS,
    "chat.js" => JS,
    "people.js" => JS,
    "gate.js" => JS,
    "moderation.js" => JS,
    "recording.js" => JS,
    "login.js" => JS,
    "account.js" => JS,
    "qr.js" => JS,
    "sessions.js" => JS,
    "patient.js" => JS,
    "therapy.js" => JS,
    "record.js" => JS,
    "logo.svg" => SVG,
};

/// The built-in logo, served at `/api/logo` unless `client.logo_file` is set.
pub const DEFAULT_LOGO: &[u8] = include_bytes!("../client/logo.svg");

/// The embedded file called `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// A strong ETag for an embedded body (FNV-1a; the content never changes
/// while the binary runs).
pub fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}
