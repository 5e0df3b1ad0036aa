//! Signalling: the WebSocket `/ws` between browsers and the server, after
//! the handshake (which is `crate::http::ws`'s: origin check, login session).
//!
//! - `conn`: one task per connection: parsing ([`crate::protocol`]),
//!   framing limits, keep-alive, bounded queues.
//! - [`actor`]: the room actor, one task that owns the room logic
//!   ([`crate::room::Rooms`]) and talks to connections and the SFU.

pub mod actor;
mod conn;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::WebSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::room::SessionId;
pub use conn::Hello;

/// How often an open signalling connection counts as use of its login
/// session, so a host whose call outlasts the idle timeout is still logged
/// in (and still host) after a reconnect.
pub const SESSION_TOUCH: Duration = Duration::from_secs(60);

/// Keep-alive timings of a connection (shortened in tests).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Ping the client after this long without any frame from it.
    pub ping_after: Duration,
    /// Close the connection after this long without any frame from it.
    pub drop_after: Duration,
    /// Give up on a client that does not take a frame for this long.
    pub send_timeout: Duration,
    /// Count an open connection as use of its login session this often.
    pub session_touch: Duration,
    /// How long an empty meeting waits for participants who lost the
    /// connection ([`crate::room::MEETING_GRACE`]).
    pub meeting_grace: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ping_after: Duration::from_secs(20),
            drop_after: Duration::from_secs(45),
            send_timeout: Duration::from_secs(10),
            session_touch: SESSION_TOUCH,
            meeting_grace: crate::room::MEETING_GRACE,
        }
    }
}

/// What the HTTP side needs to hand connections to the room actor.
#[derive(Clone)]
pub struct Signalling {
    actor: mpsc::Sender<actor::Command>,
    timings: Timings,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    next_session: Arc<AtomicU64>,
}

impl Signalling {
    /// `actor` is the room actor's command channel; connection tasks are
    /// tracked by `tasks` and end at `shutdown`.
    pub fn new(
        actor: mpsc::Sender<actor::Command>,
        timings: Timings,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Signalling {
        Signalling { actor, timings, tasks, shutdown, next_session: Arc::new(AtomicU64::new(1)) }
    }

    fn next_session(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed))
    }

    /// A token that keeps shutdown waiting for a connection until dropped:
    /// taken before the upgrade, held by the connection's task.
    pub fn track(&self) -> TaskTrackerToken {
        self.tasks.token()
    }

    /// Asks the room actor about appointments; `None` when it is gone
    /// (the server is closing).
    pub async fn appointments(&self, request: crate::teletherapy::Request) -> Option<crate::teletherapy::Reply> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.actor.send(actor::Command::Appointments { request, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Runs one upgraded signalling connection until it ends.
    pub async fn run(self, socket: WebSocket, hello: Hello) {
        conn::run(socket, self, hello).await;
    }
}
