//! Finds what an HTML page, a style sheet or a script makes the browser load.
//!
//! Used on the client files built into the binary (static check) and on what
//! the running server really serves (live check). It is a scanner, not a
//! browser: it knows the places where markup, CSS and JavaScript name URLs
//! (attributes, `url()`, `@import`, module imports, string literals) and
//! skips comments, so that a link in a comment is not mistaken for a request.

/// What a reference makes the browser do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Loaded without the user doing anything: scripts, styles, images,
    /// fonts, prefetches, fetch(), WebSocket.
    Load,
    /// A module or style sheet that is itself loaded and scanned further.
    Import,
    /// Sent to on a form submit.
    Submit,
    /// Opened only if the user follows a link.
    Navigate,
}

/// One URL named by a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub url: String,
    pub usage: Use,
    /// Where it was found, e.g. `<script src>`, `url()`, `import`.
    pub context: &'static str,
}

/// XML namespace names: URLs by form, never fetched.
const NAMESPACES: &[&str] = &[
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
];

/// Where a URL points, seen from a document at `base_path` on `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path on this origin.
    Same(String),
    /// Another origin (`https://cdn.example.com`).
    Foreign(String),
    /// Nothing is requested: `data:`, `blob:`, `mailto:`, fragments, XML namespaces.
    None,
}

/// Resolves `url` against a document at `base_path` on `origin` (`https://host[:port]`).
pub fn resolve(url: &str, base_path: &str, origin: &str) -> Target {
    let url = url.trim();
    if url.is_empty() || url.starts_with('#') || NAMESPACES.contains(&url) {
        return Target::None;
    }
    if let Some(rest) = url.strip_prefix("//") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
        let own = origin.split_once("://").map(|(_, a)| a.to_ascii_lowercase()).unwrap_or_default();
        return if authority == own || authority == strip_default_port(&own) {
            Target::Same(format!("/{}", rest.split_once('/').map(|(_, p)| p).unwrap_or("")))
        } else {
            Target::Foreign(format!("//{authority}"))
        };
    }
    if let Some((scheme, rest)) = split_scheme(url) {
        return match scheme.as_str() {
            "http" | "https" | "ws" | "wss" | "ftp" => {
                let Some(after) = rest.strip_prefix("//") else {
                    return Target::Foreign(format!("{scheme}:"));
                };
                let authority = after.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
                let this = format!("{scheme}://{}", strip_default_port(&authority));
                let own = strip_default_port(&origin.to_ascii_lowercase()).to_string();
                let same_host = |o: &str| {
                    let (_, a) = o.split_once("://").unwrap_or(("", o));
                    a == strip_default_port(&authority)
                };
                if this == own || ((scheme == "wss") && same_host(&own)) {
                    Target::Same(format!("/{}", after.split_once('/').map(|(_, p)| p).unwrap_or("")))
                } else {
                    Target::Foreign(format!("{scheme}://{authority}"))
                }
            }
            "data" | "blob" | "mailto" | "tel" | "about" | "javascript" => Target::None,
            other => Target::Foreign(format!("{other}:")),
        };
    }
    Target::Same(join_path(base_path, url))
}

fn strip_default_port(authority: &str) -> &str {
    authority.strip_suffix(":443").unwrap_or(authority)
}

/// `scheme:` of an absolute URL, lowercased.
fn split_scheme(url: &str) -> Option<(String, &str)> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let valid = !scheme.is_empty()
        && scheme.as_bytes()[0].is_ascii_alphabetic()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    valid.then(|| (scheme.to_ascii_lowercase(), &url[colon + 1..]))
}

/// Resolves a relative reference against the path of the document.
fn join_path(base_path: &str, rel: &str) -> String {
    let rel = rel.split(['?', '#']).next().unwrap_or_default();
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        let dir = base_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if rel.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    out
}

/// References in an HTML (or SVG) document, inline scripts and styles included.
pub fn html(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find('<') {
        let start = i + off;
        if text[start..].starts_with("<!--") {
            i = text[start..].find("-->").map_or(text.len(), |e| start + e + 3);
            continue;
        }
        let Some((tag, attrs, end)) = read_tag(text, start) else {
            i = start + 1;
            continue;
        };
        i = end;
        if tag.starts_with('/') || tag.starts_with('!') {
            continue;
        }
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let rel = get("rel").unwrap_or("").to_ascii_lowercase();
        for (name, value) in &attrs {
            let (usage, context): (Use, &'static str) = match (tag.as_str(), name.as_str()) {
                ("a" | "area", "href") => (Use::Navigate, "<a href>"),
                ("a" | "area", "ping") => (Use::Load, "<a ping>"),
                ("link", "href") if is_navigation_rel(&rel) => (Use::Navigate, "<link href>"),
                ("link", "href") if rel.split_whitespace().any(|r| r == "stylesheet" || r == "modulepreload") => {
                    (Use::Import, "<link href>")
                }
                ("link", "href") => (Use::Load, "<link href>"),
                ("script", "src") => (Use::Import, "<script src>"),
                ("form", "action") | (_, "formaction") => (Use::Submit, "<form action>"),
                ("iframe" | "frame" | "embed" | "img" | "source" | "track" | "audio" | "video" | "input", "src") => {
                    (Use::Load, "src")
                }
                (_, "srcset") => {
                    for candidate in value.split(',') {
                        if let Some(u) = candidate.split_whitespace().next() {
                            out.push(Reference { url: u.to_string(), usage: Use::Load, context: "srcset" });
                        }
                    }
                    continue;
                }
                (_, "poster") | (_, "background") | ("object", "data") | (_, "manifest") => (Use::Load, "attribute"),
                ("use" | "image" | "feimage", "href" | "xlink:href") => (Use::Load, "SVG href"),
                (_, "style") => {
                    out.extend(css(value));
                    continue;
                }
                ("meta", "content") if get("http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("refresh")) => {
                    let lower = value.to_ascii_lowercase();
                    if let Some(p) = lower.find("url=") {
                        out.push(Reference {
                            url: value[p + 4..].trim().trim_matches(['\'', '"']).to_string(),
                            usage: Use::Navigate,
                            context: "<meta refresh>",
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            out.push(Reference { url: value.clone(), usage, context });
        }
        // Raw-text elements: their content is code, not markup.
        for (raw, scan) in [("script", js as fn(&str) -> Vec<Reference>), ("style", css)] {
            if tag == raw {
                let close = format!("</{raw}");
                let body_end = find_ci(text, &close, i).unwrap_or(text.len());
                if get("src").is_none() {
                    out.extend(scan(&text[i..body_end]));
                }
                i = body_end;
            }
        }
    }
    out
}

fn is_navigation_rel(rel: &str) -> bool {
    rel.split_whitespace().all(|r| {
        matches!(r, "canonical" | "author" | "help" | "license" | "bookmark" | "next" | "prev" | "search" | "me")
    }) && !rel.is_empty()
}

fn find_ci(text: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = text[from..].to_ascii_lowercase();
    hay.find(needle).map(|p| from + p)
}

/// Attribute names (lowercased) and values of one tag.
type Attributes = Vec<(String, String)>;

/// Reads `<tag a="b" c=d e>` at `start`; returns the lowercased tag name, the
/// attributes (lowercased names, unquoted values) and the index after `>`.
fn read_tag(text: &str, start: usize) -> Option<(String, Attributes, usize)> {
    let b = text.as_bytes();
    let mut i = start + 1;
    let name_start = i;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && !(b[i] == b'/' && i > name_start) {
        i += 1;
    }
    let tag = text[name_start..i].to_ascii_lowercase();
    if tag.is_empty() || !(tag.as_bytes()[0].is_ascii_alphabetic() || tag.starts_with('/') || tag.starts_with('!')) {
        return None;
    }
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return Some((tag, attrs, b.len()));
        }
        if b[i] == b'>' {
            return Some((tag, attrs, i + 1));
        }
        let n0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = text[n0..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let v0 = i + 1;
                i = v0;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = decode_entities(&text[v0..i.min(b.len())]);
                i = (i + 1).min(b.len());
            } else {
                let v0 = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&text[v0..i]);
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

fn decode_entities(s: &str) -> String {
    s.replace("&colon;", ":").replace("&#58;", ":").replace("&#x3a;", ":").replace("&sol;", "/").replace("&amp;", "&")
}

/// References in a style sheet: `url(…)` and `@import`.
pub fn css(text: &str) -> Vec<Reference> {
    let code = strip_block_comments(text);
    let lower = code.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = lower[i..].find("url(") {
        let s = i + p + 4;
        let e = lower[s..].find(')').map_or(code.len(), |e| s + e);
        let url = code[s..e].trim().trim_matches(['\'', '"']).to_string();
        let is_import = lower[..i + p].trim_end().ends_with("@import");
        out.push(Reference { url, usage: if is_import { Use::Import } else { Use::Load }, context: "CSS url()" });
        i = e;
    }
    let mut i = 0;
    while let Some(p) = lower[i..].find("@import") {
        let s = i + p + 7;
        let rest = code[s..].trim_start();
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &rest[1..];
            if let Some(e) = body.find(q) {
                out.push(Reference { url: body[..e].to_string(), usage: Use::Import, context: "CSS @import" });
            }
        }
        i = s;
    }
    out
}

fn strip_block_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("/*") {
        out.push_str(&rest[..p]);
        rest = rest[p + 2..].find("*/").map_or("", |e| &rest[p + 2 + e + 2..]);
    }
    out.push_str(rest);
    out
}

/// References in a script: module imports, workers, fetch/WebSocket calls,
/// and every string literal that is an absolute URL.
pub fn js(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for lit in js_string_literals(text) {
        let before = lit.code_before.trim_end();
        let (usage, context): (Use, &'static str) =
            if before.ends_with("from") || before.ends_with("import") || before.ends_with("import(") {
                (Use::Import, "import")
            } else if ["Worker(", "SharedWorker(", "register(", "importScripts("].iter().any(|k| before.ends_with(k)) {
                (Use::Import, "worker")
            } else if ["fetch(", "WebSocket(", "EventSource(", "sendBeacon("].iter().any(|k| before.ends_with(k)) {
                (Use::Load, "request")
            } else if looks_absolute(&lit.value) {
                (Use::Load, "URL in script")
            } else {
                continue;
            };
        out.push(Reference { url: lit.value, usage, context });
    }
    out
}

fn looks_absolute(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    ["http://", "https://", "ws://", "wss://", "ftp://"].iter().any(|p| l.starts_with(p))
        || (l.starts_with("//") && l.len() > 2 && l.as_bytes()[2].is_ascii_alphanumeric())
}

struct Literal {
    value: String,
    /// The last code (outside comments and strings) before the literal.
    code_before: String,
}

/// String literals of a script with the code right before each, skipping
/// comments and regular-expression literals. Template literals yield their
/// text up to the first `${`.
fn js_string_literals(text: &str) -> Vec<Literal> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut code = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            i = text[i..].find('\n').map_or(b.len(), |e| i + e);
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            code.push(' ');
            continue;
        }
        if c == b'/' && regex_allowed(&code) {
            // A regular-expression literal: skip to its closing slash.
            i += 1;
            let mut in_class = false;
            while i < b.len() && b[i] != b'\n' {
                match b[i] {
                    b'\\' => i += 1,
                    b'[' => in_class = true,
                    b']' => in_class = false,
                    b'/' if !in_class => break,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            while i < b.len() && !text.is_char_boundary(i) {
                i += 1;
            }
            code.push_str("/re/");
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            let (value, end) = read_js_string(text, i);
            out.push(Literal { value, code_before: tail(&code, 40) });
            code.push_str("\"\"");
            i = end;
            continue;
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        code.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

fn tail(s: &str, n: usize) -> String {
    let start = s.char_indices().rev().nth(n.saturating_sub(1)).map_or(0, |(i, _)| i);
    s[start..].to_string()
}

/// Whether a `/` after this code starts a regular expression (not a division).
fn regex_allowed(code: &str) -> bool {
    let t = code.trim_end();
    let Some(last) = t.chars().last() else { return true };
    if "(,=:[!&|?{};+-*%<>~^".contains(last) {
        return true;
    }
    let word: String = t.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$').collect();
    let word: String = word.chars().rev().collect();
    matches!(
        word.as_str(),
        "return"
            | "typeof"
            | "case"
            | "do"
            | "else"
            | "in"
            | "of"
            | "new"
            | "delete"
            | "void"
            | "throw"
            | "yield"
            | "await"
    )
}

/// Reads a string or template literal starting at `start`; returns its
/// (unescaped enough) text and the index after it.
fn read_js_string(text: &str, start: usize) -> (String, usize) {
    let b = text.as_bytes();
    let q = b[start];
    let mut i = start + 1;
    let mut value = String::new();
    let mut in_substitution = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            if let Some(ch) = text[i + 1..].chars().next() {
                if !in_substitution {
                    value.push(ch);
                }
                i += 1 + ch.len_utf8();
            } else {
                i += 1;
            }
            continue;
        }
        if c == q {
            return (value, i + 1);
        }
        if q != b'`' && c == b'\n' {
            return (value, i);
        }
        if q == b'`' && c == b'$' && b.get(i + 1) == Some(&b'{') {
            // Skip the substitution, braces balanced; later text is not part of a URL prefix.
            in_substitution = true;
            let mut depth = 0usize;
            i += 1;
            while i < b.len() {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        if !in_substitution {
            value.push_str(&text[i..i + ch_len]);
        }
        i += ch_len;
    }
    (value, b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: &str = "https://meet.example.org";

    #[test]
    fn resolution() {
        assert_eq!(resolve("/static/app.js", "/", O), Target::Same("/static/app.js".into()));
        assert_eq!(resolve("./dom.js", "/static/app.js", O), Target::Same("/static/dom.js".into()));
        assert_eq!(resolve("../x.css?v=1", "/static/a/b.css", O), Target::Same("/static/x.css".into()));
        assert_eq!(resolve("https://meet.example.org:443/a", "/", O), Target::Same("/a".into()));
        assert_eq!(resolve("wss://meet.example.org/ws", "/", O), Target::Same("/ws".into()));
        assert_eq!(resolve("https://cdn.example.com/x.js", "/", O), Target::Foreign("https://cdn.example.com".into()));
        assert_eq!(resolve("//cdn.example.com/x.js", "/", O), Target::Foreign("//cdn.example.com".into()));
        assert_eq!(resolve("HTTPS://Meet.Example.org/", "/", O), Target::Same("/".into()));
        assert_eq!(resolve("data:image/png;base64,xx", "/", O), Target::None);
        assert_eq!(resolve("http://www.w3.org/2000/svg", "/", O), Target::None);
        assert_eq!(
            resolve("https://meet.example.org.evil.com/", "/", O),
            Target::Foreign("https://meet.example.org.evil.com".into())
        );
        assert_eq!(resolve("https://x", "/", "https://127.0.0.1:8443"), Target::Foreign("https://x".into()));
        assert_eq!(resolve("/a", "/", "https://127.0.0.1:8443"), Target::Same("/a".into()));
    }

    #[test]
    fn html_references_by_use() {
        let page = r#"<!doctype html><html><head>
            <!-- <script src="https://commented.example.com/x.js"></script> -->
            <link rel="stylesheet" href="/static/style.css">
            <link rel=preconnect href="https://fonts.gstatic.com">
            <link rel="canonical" href="https://meet.example.org/">
            <script type="module" src="/static/app.js"></script>
            <script>fetch("https://track.example.com/p")</script>
            <style>body{background:url('https://img.example.com/bg.png')}</style>
            </head><body><a href="https://www.praxis.de/impressum">Impressum</a>
            <img srcset="a.png 1x, https://img.example.com/b.png 2x" src=a.png>
            <form action="https://forms.example.com/submit"></form>
            <div style="background-image: url(/x.png)"></div></body></html>"#;
        let refs = html(page);
        let find = |u: &str| refs.iter().find(|r| r.url == u).unwrap_or_else(|| panic!("{u} not found in {refs:#?}"));
        assert_eq!(find("/static/style.css").usage, Use::Import);
        assert_eq!(find("https://fonts.gstatic.com").usage, Use::Load);
        assert_eq!(find("https://meet.example.org/").usage, Use::Navigate);
        assert_eq!(find("/static/app.js").usage, Use::Import);
        assert_eq!(find("https://track.example.com/p").usage, Use::Load);
        assert_eq!(find("https://img.example.com/bg.png").usage, Use::Load);
        assert_eq!(find("https://www.praxis.de/impressum").usage, Use::Navigate);
        assert_eq!(find("https://img.example.com/b.png").usage, Use::Load);
        assert_eq!(find("https://forms.example.com/submit").usage, Use::Submit);
        assert_eq!(find("/x.png").usage, Use::Load);
        assert!(!refs.iter().any(|r| r.url.contains("commented")), "{refs:#?}");
    }

    #[test]
    fn js_references_skip_comments_and_regexes() {
        let code = r#"
            import { h } from './dom.js';
            import './side-effect.js';
            const lazy = await import("./lazy.js");
            // see https://developer.mozilla.org/docs
            /* https://block-comment.example.com */
            const ns = 'http://www.w3.org/2000/svg';
            const re = /https:\/\/[a-z"']+/g;
            const half = total / 2; const q = "https://cdn.example.com/lib.js";
            const ws = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
            const t = `https://api.example.com/${id}`;
            new Worker('/static/worker.js');
            fetch('/api/client-config');
            /** @type {import('./protocol.js').Participant} */
        "#;
        let refs = js(code);
        let urls: Vec<_> = refs.iter().map(|r| (r.url.as_str(), r.usage)).collect();
        assert!(urls.contains(&("./dom.js", Use::Import)), "{urls:?}");
        assert!(urls.contains(&("./side-effect.js", Use::Import)), "{urls:?}");
        assert!(urls.contains(&("./lazy.js", Use::Import)), "{urls:?}");
        assert!(urls.contains(&("http://www.w3.org/2000/svg", Use::Load)), "{urls:?}");
        assert!(urls.contains(&("https://cdn.example.com/lib.js", Use::Load)), "{urls:?}");
        assert!(urls.contains(&("https://api.example.com/", Use::Load)), "{urls:?}");
        assert!(urls.contains(&("/static/worker.js", Use::Import)), "{urls:?}");
        assert!(urls.contains(&("/api/client-config", Use::Load)), "{urls:?}");
        assert!(!urls.iter().any(|(u, _)| u.contains("mozilla") || u.contains("block-comment")), "{urls:?}");
        assert!(!urls.iter().any(|(u, _)| u.starts_with("https:\\/") || *u == "'"), "{urls:?}");
    }

    #[test]
    fn css_references() {
        let refs = css("/* url(https://c.example.com) */ @import 'theme.css'; @import url(\"x.css\"); a{b:url(i.png)}");
        let urls: Vec<_> = refs.iter().map(|r| (r.url.as_str(), r.usage)).collect();
        assert_eq!(urls, [("x.css", Use::Import), ("i.png", Use::Load), ("theme.css", Use::Import)]);
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "<",
            "<a href='",
            "<script>",
            "`${",
            "'\\",
            "/",
            "a / b / c",
            "<!--",
            "url(",
            "@import",
            "<a\u{e9}>",
            "\u{e9}'\u{e9}",
        ] {
            let _ = html(s);
            let _ = js(s);
            let _ = css(s);
        }
    }
}
