//! Signalling: the WebSocket protocol between browsers and the server.

pub mod protocol;
