//! Kabine's integration suite: one test binary, one file per behaviour.
//! Every test takes `support::test()` first, which checks at its end that
//! nothing in the whole suite logged an IP address.

mod support;

mod access_rooms;
mod audit_cli;
mod audit_live_checks_can_fail;
mod audit_report;
mod audit_tls_checks_can_fail;
mod bench_compare;
mod browser_bad_input;
mod browser_breakout_rooms;
mod browser_chat_and_hand;
mod browser_direct_call;
mod browser_fresh_room_after_leave;
mod browser_language;
mod browser_large_audio_room;
mod browser_lobby_password;
mod browser_own_origin;
mod browser_pages;
mod browser_reconnect;
mod browser_room_full;
mod browser_rooms_isolated;
mod browser_screen_share;
mod browser_secure_waiting;
mod browser_shortcuts;
mod browser_simulcast;
mod browser_three_party_call;
mod browser_typecheck;
mod cli_policy;
mod client_contract;
mod config_files;
mod config_fuzz;
mod https_headers;
mod ldap_login;
mod local_users;
mod log_redaction;
mod login_local;
mod login_throttle;
mod media_garbage_udp;
mod media_keyframes_nack;
mod media_last_one_stays;
mod media_simulcast;
mod media_speaker;
mod media_stun_binding;
mod media_three_peers;
mod media_two_rooms;
mod moderation_media;
mod moderation_protocol;
mod room_lifecycle;
mod shutdown;
mod signal_bad_input;
mod signal_http2;
mod signal_keepalive;
mod signal_shutdown;
mod tls_scan;
