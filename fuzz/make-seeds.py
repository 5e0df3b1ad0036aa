#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ (docs/reliability.md, "Fuzzing").

Valid inputs of each parser, taken from the test suite's messages and
files (the signalling messages of docs/protocol.md, the STUN requests of
tests/it/media_garbage_udp.rs and media_stun_binding.rs, the SDP of
src/sfu/sdp.rs' tests, the loadgen's VP8 descriptors, the sample configs,
tests/data/users-weak-hash, the LDAP filters of src/auth/ldap.rs' tests,
certificates like the demo one, and the address forms of
tests/it/log_redaction.rs). Run from the repository root:

    python3 fuzz/make-seeds.py

Needs openssl (for the certificates). Deterministic apart from the keys.
"""
import hashlib, hmac, json, os, struct, subprocess, tempfile, zlib

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- signal_message: one of each client message, and hostile shapes ----
sdp_offer = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rid:l send\r\na=rid:m send\r\n"
             "a=rid:h send\r\na=simulcast:send l;m;h\r\n")
messages = [
    {"type": "hello", "version": 1, "room": "r1", "display_name": "Ada"},
    {"type": "rejoin", "version": 1, "room": "r1", "display_name": "Ada", "ticket": "t0k3n"},
    {"type": "publish_offer", "sdp": sdp_offer,
     "tracks": [{"mid": "0", "source": "mic"}, {"mid": "1", "source": "camera"}]},
    {"type": "subscribe_answer", "sdp": sdp_offer},
    {"type": "media_state", "mic": True, "camera": False, "screen": False},
    {"type": "hand", "raised": True},
    {"type": "chat", "text": "Hallo \u00e4 \U0001F600"},
    {"type": "video_sizes", "sizes": [{"participant": "p1", "source": "camera", "width": 640, "height": 360}]},
    {"type": "leave"},
    {"type": "p2p_offer", "epoch": 1, "sdp": sdp_offer},
    {"type": "p2p_answer", "epoch": 1, "sdp": sdp_offer},
    {"type": "p2p_candidate", "epoch": 1, "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host",
     "sdp_mid": "0", "sdp_m_line_index": 0},
    {"type": "p2p_ready", "epoch": 1},
    {"type": "p2p_failed", "epoch": 2},
    {"type": "password", "password": "secret"},
    {"type": "private_chat", "to": "p2", "text": "hi"},
    {"type": "unmute", "source": "mic"},
    {"type": "mute", "id": "p2", "source": "camera"},
    {"type": "mute_all", "source": "mic"},
    {"type": "ask_unmute", "id": "p2", "source": "mic"},
    {"type": "remove", "id": "p2"},
    {"type": "lower_hands"},
    {"type": "end_meeting"},
    {"type": "grant_moderator", "id": "p2"},
    {"type": "set_password", "password": None},
    {"type": "set_lobby", "enabled": True},
    {"type": "lobby_admit", "id": "p3"},
    {"type": "lobby_deny", "id": "p3"},
    {"type": "breakout_create", "names": ["A", "B"]},
    {"type": "breakout_assign", "id": "p2", "room": None},
    {"type": "breakout_random"},
    {"type": "breakout_broadcast", "text": "5 minutes"},
    {"type": "breakout_close_all"},
]
for m in messages:
    write("signal_message", m["type"], json.dumps(m, separators=(",", ":")))
write("signal_message", "duplicate_key", '{"type":"hand","raised":true,"raised":false}')
write("signal_message", "duplicate_nested",
      '{"type":"video_sizes","sizes":[{"participant":"a","participant":"b","source":"camera","width":1,"height":1}]}')
write("signal_message", "deep_nesting", '{"type":"chat","text":' + "[" * 200 + "]" * 200 + "}")
write("signal_message", "deep_objects", '{"type":"chat","x":' + '{"a":' * 150 + "1" + "}" * 150 + "}")
write("signal_message", "escapes", '{"type":"chat","text":"\\u0000\\ud83d\\ude00\\"\\\\"}')

# ---- stun ----
COOKIE = 0x2112A442


def stun(msg_type, attrs, tid=b"0123456789ab", integrity=None, fingerprint=True):
    body = b""
    for t, v in attrs:
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)
    if integrity is not None:
        head = struct.pack("!HHI", msg_type, len(body) + 24, COOKIE) + tid
        mac = hmac.new(integrity, head + body, hashlib.sha1).digest()
        body += struct.pack("!HH", 0x0008, 20) + mac
    if fingerprint:
        head = struct.pack("!HHI", msg_type, len(body) + 8, COOKIE) + tid
        crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += struct.pack("!HHI", 0x8028, 4, crc)
    return struct.pack("!HHI", msg_type, len(body), COOKIE) + tid + body


write("stun", "plain_binding", stun(1, [], fingerprint=False))
write("stun", "plain_binding_fingerprint", stun(1, []))
write("stun", "plain_binding_software", stun(1, [(0x8022, b"kabine test")]))
ice = [(0x0006, b"srvufrag:peer"), (0x0024, struct.pack("!I", 1845501695)),
       (0x802A, struct.pack("!Q", 7)), (0x0025, b"")]
write("stun", "ice_check", stun(1, ice, integrity=b"server-ice-password"))
write("stun", "ice_check_no_integrity", stun(1, ice))
write("stun", "ice_check_nocolon", stun(1, [(0x0006, b"nocolon")], integrity=b"x"))
write("stun", "binding_success",
      stun(0x0101, [(0x0020, struct.pack("!BBH", 0, 1, 5000 ^ 0x2112) + bytes(a ^ b for a, b in zip(
          bytes([127, 0, 0, 1]), struct.pack("!I", COOKIE))))]))
write("stun", "dtls_client_hello_start", bytes([22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 1]) + b"\0" * 32)
write("stun", "rtp", bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2]) + b"\x90\xe0\x80\x01\x05\x20\x10")
write("stun", "rtcp", bytes([0x81, 200, 0, 6]) + b"\0" * 24)

# ---- sdp_compact: the tests' offer and a Chromium-like answer ----
write("sdp_compact", "offer", sdp_offer + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=inactive\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\na=sendonly\r\na=bundle-only\r\n")


def answer(audio):
    s = "v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE" + "".join(
        f" {i}" for i in range(audio + 1)) + "\r\na=msid-semantic: WMS\r\n"
    common = ("c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xy12\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
              "a=ice-options:trickle\r\na=fingerprint:sha-256 AA:BB:CC\r\na=setup:active\r\n")
    for i in range(audio):
        s += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" + common
        if i == 0:
            s += "a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host\r\n"
        s += f"a=mid:{i}\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=recvonly\r\n"
        s += f"a=msid:p{i} p{i}-mic\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    s += "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + common + f"a=mid:{audio}\r\na=inactive\r\na=rtpmap:96 VP8/90000\r\n"
    return s


write("sdp_compact", "answer", answer(4))
full = answer(4).split("\r\n")
# The compacted form of answer(4): sections 3 and 4 repeat section 2.
compact, sec = [], -1
for line in full:
    if line.startswith("m="):
        sec += 1
    if line == "":
        continue
    if sec in (2, 3) and not (line.startswith("m=") or line.startswith("a=mid:") or line in ("a=recvonly",)
                              or line.startswith("a=msid:")):
        continue
    compact.append(line)
    if sec in (2, 3) and line.startswith("a=msid:"):
        compact.append("a=x-kabine-same")
write("sdp_compact", "answer_compacted", "\r\n".join(compact) + "\r\n")

# ---- rtp_rewrite: layered VP8 packets as the loadgen sends them ----
def vp8(key, pic, tl0, start=True):
    desc = bytes([0x90 if start else 0x80, 0xE0, 0x80 | (pic >> 8), pic & 0xFF, tl0, 0x20])
    return desc + (bytes([0x10 if key else 0x11, 0x02, 0x00, 0x9D, 0x01, 0x2A]) if start else b"\x00\x00")


def record(layer, target, step, ts, payload, arrival=1):
    return struct.pack("!BBhI", layer, target, step, ts) + bytes([(arrival << 5) | len(payload)]) + payload


seq_stream = b"\x00"
for frame in range(6):
    for layer in range(3):
        seq_stream += record(layer, 1 if frame < 3 else 2, 1, frame * 3000, vp8(frame % 3 == 0, frame, frame), 1)
write("rtp_rewrite", "simulcast_switch", seq_stream)
write("rtp_rewrite", "audio", b"\x01" + b"".join(record(0, 0, 1, i * 960, b"\xfcK\x01a") for i in range(8)))
write("rtp_rewrite", "reorder", b"\x00" + record(0, 0, 1, 0, vp8(True, 5, 1)) + record(0, 0, 3, 3000, vp8(False, 6, 1))
      + record(0, 0, -1, 3000, vp8(False, 6, 1, False)) + record(0, 3, 1, 6000, vp8(False, 7, 1)))
write("rtp_rewrite", "narrow_picture_id", b"\x00" + record(0, 0, 1, 0, bytes([0x90, 0x80, 0x05, 0x10])))

# ---- config: the sample configs ----
for name, path in [("example", "../config/kabine.example.toml"), ("debian", "../config/debian/kabine.toml")]:
    with open(os.path.join(ROOT, path), "rb") as f:
        write("config", name, f.read())
write("config", "minimal", '[server]\nlisten = "127.0.0.1:8443"\n')
write("config", "ldap", '[ldap]\nurl = "ldaps://127.0.0.1:3636"\nuser_base = "ou=people,dc=example,dc=org"\n'
      'user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))"\ngroup_filter = "(member={dn})"\n')
write("config", "ice", '[[media.ice_servers]]\nurls = ["stun:meet.example.org:3478"]\n')

# ---- users_file ----
with open(os.path.join(ROOT, "../tests/data/users-weak-hash"), "rb") as f:
    write("users_file", "weak_hash", f.read())
h = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2qJ0FJJ1nSQUmClaRrfyjEG7uO4H8wRK8s1ptbRu8pE"
write("users_file", "rendered", "# Kabine local users, one a line: NAME:ARGON2ID-HASH[:DISPLAY NAME]\n"
      f"alice:{h}:Alice Liddell\nbob:{h}\r\n\n# comment\ncarol:{h}:Dr. C\u00e4rol\n")

write("users_file", "one_user", "# Kabine local users, one a line: NAME:ARGON2ID-HASH[:DISPLAY NAME]\n"
      f"ada:{h}:Ada\n")

# ---- ldap_filter: template choice, user name, 0xff, DN ----
for i, (user, dn) in enumerate([("alice", "uid=alice,ou=people,dc=example,dc=org"), ("*", "cn=a (b),dc=x"),
                                ("alice)(|(uid=*", "cn=x\\2c y,dc=example,dc=org"), ("a\\b\0", "{username}")]):
    write("ldap_filter", f"values{i}", bytes([i]) + user.encode() + b"\xff" + dn.encode())

# ---- audit_der: certificates like the ones the audit reads ----
with tempfile.TemporaryDirectory() as tmp:
    for name, key in [("ec_p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("ec_p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
                      ("rsa2048", ["-newkey", "rsa:2048"]),
                      ("ed25519", ["-newkey", "ed25519"])]:
        out = os.path.join(tmp, name + ".der")
        subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-keyout", os.path.join(tmp, "k.pem"),
                        "-subj", "/CN=Meet", "-days", "90", "-outform", "DER", "-out", out,
                        "-addext", "subjectAltName=DNS:meet.example.org,IP:127.0.0.1,IP:::1"],
                       check=True, capture_output=True)
        with open(out, "rb") as f:
            write("audit_der", name, f.read())

# ---- log_addresses: log lines with and without addresses ----
for i, line in enumerate([
    "canary error from 198.51.100.23", "peer=198.51.100.23:5000 ok", "remote=\"[2001:db8::42]:443\"",
    "mapped ::ffff:192.0.2.1 seen", "zone fe80::1%eth0 up", "kabine::http: v1.2.3.4 is a version",
    "oid 1.2.840.113549 and 10.0.0.1.", "2026-11-01T10:00:00Z WARN kabine::sfu: room [hash] ok",
    "::1 and 127.0.0.1:8443 and [::1]:10000", "dead:beef::1/64 ab:cd",
]):
    write("log_addresses", f"line{i}", line)
