//! Who may open a room, join it as host, join it as guest, or must log in or
//! wait for a host: one pure function, [`decide`], that the room layer calls
//! on every join with the visitor's session and the room's state.

use serde::Serialize;

use super::session::Identity;
use crate::config::AccessMode;

/// The person asking to join, as their session shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visitor {
    /// No login session.
    Anonymous,
    /// Logged in; `may_host` from the local store (always) or the
    /// directory's host group.
    User { may_host: bool },
}

impl Visitor {
    pub fn from_identity(identity: Option<&Identity>) -> Visitor {
        match identity {
            None => Visitor::Anonymous,
            Some(i) => Visitor::User { may_host: i.may_host },
        }
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Joins with host rights, opening the room if it is not open yet.
    EnterAsHost,
    /// Joins the open room without host rights.
    EnterAsGuest,
    /// The room has not been opened by a host yet: wait, and join as guest
    /// as soon as one has (the client needs no reload).
    WaitForHost,
    /// Must log in first (closed mode).
    LoginRequired,
}

/// Decides a join. `room_open`: the room exists, i.e. it has been opened
/// (in `secure` and `closed` mode only a host can open it) and has not ended
/// (it ends when the last participant leaves).
///
/// | mode   | visitor             | room not open  | room open      |
/// |--------|---------------------|----------------|----------------|
/// | open   | user who may host   | host           | host           |
/// | open   | anyone else         | host (first)   | guest          |
/// | secure | user who may host   | host           | host           |
/// | secure | anyone else         | wait           | guest          |
/// | closed | user who may host   | host           | host           |
/// | closed | other user          | wait           | guest          |
/// | closed | anonymous           | log in         | log in         |
///
/// In `open` mode the first participant opens the room and moderates
/// (as in Jitsi); handing moderation on is the room layer's business.
pub fn decide(mode: AccessMode, visitor: Visitor, room_open: bool) -> Decision {
    match (mode, visitor) {
        (_, Visitor::User { may_host: true }) => Decision::EnterAsHost,
        (AccessMode::Closed, Visitor::Anonymous) => Decision::LoginRequired,
        (AccessMode::Open, _) if !room_open => Decision::EnterAsHost,
        (AccessMode::Open, _) => Decision::EnterAsGuest,
        (AccessMode::Secure | AccessMode::Closed, _) if room_open => Decision::EnterAsGuest,
        (AccessMode::Secure | AccessMode::Closed, _) => Decision::WaitForHost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessMode::*;
    use Decision::*;

    const HOST: Visitor = Visitor::User { may_host: true };
    const USER: Visitor = Visitor::User { may_host: false };
    const ANON: Visitor = Visitor::Anonymous;

    #[test]
    fn the_whole_table() {
        let table = [
            (Open, HOST, false, EnterAsHost),
            (Open, HOST, true, EnterAsHost),
            (Open, USER, false, EnterAsHost),
            (Open, USER, true, EnterAsGuest),
            (Open, ANON, false, EnterAsHost),
            (Open, ANON, true, EnterAsGuest),
            (Secure, HOST, false, EnterAsHost),
            (Secure, HOST, true, EnterAsHost),
            (Secure, USER, false, WaitForHost),
            (Secure, USER, true, EnterAsGuest),
            (Secure, ANON, false, WaitForHost),
            (Secure, ANON, true, EnterAsGuest),
            (Closed, HOST, false, EnterAsHost),
            (Closed, HOST, true, EnterAsHost),
            (Closed, USER, false, WaitForHost),
            (Closed, USER, true, EnterAsGuest),
            (Closed, ANON, false, LoginRequired),
            (Closed, ANON, true, LoginRequired),
        ];
        for (mode, visitor, open, expected) in table {
            assert_eq!(decide(mode, visitor, open), expected, "{mode:?} {visitor:?} open={open}");
        }
    }

    #[test]
    fn nobody_without_host_rights_opens_a_room_outside_open_mode() {
        for mode in [Secure, Closed] {
            for visitor in [USER, ANON] {
                assert_ne!(decide(mode, visitor, false), EnterAsHost);
                assert_ne!(decide(mode, visitor, true), EnterAsHost);
            }
        }
    }
}
