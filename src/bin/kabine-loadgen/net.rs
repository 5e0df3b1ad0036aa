//! Many UDP sockets driven by one task without scanning them.
//!
//! Every peer connection of the generator needs its own 5-tuple: the servers
//! demultiplex DTLS by remote address (a DTLS record names no connection),
//! so two connections behind one local port would be mixed up. Browsers do
//! the same (one port per `RTCPeerConnection`). What must not grow with the
//! number of participants is the machinery around the sockets: here one
//! task owns all of them, and each socket has its own waker that puts only
//! that socket's index on a ready list — a readiness event costs a push,
//! never a pass over all sockets.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

#[derive(Default)]
struct Shared {
    ready: Vec<usize>,
    queued: Vec<bool>,
    main: Option<Waker>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wakes the event loop with "socket `index` may have data".
struct SocketWaker {
    index: usize,
    shared: Arc<Mutex<Shared>>,
}

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = lock(&self.shared);
        mark(&mut s, self.index);
        if let Some(w) = s.main.take() {
            w.wake();
        }
    }
}

fn mark(s: &mut Shared, index: usize) {
    if s.queued.len() <= index {
        s.queued.resize(index + 1, false);
    }
    if !s.queued[index] {
        s.queued[index] = true;
        s.ready.push(index);
    }
}

struct Entry {
    socket: UdpSocket,
    waker: Waker,
    local: SocketAddr,
}

/// The sockets, by index.
#[derive(Default)]
pub struct SocketSet {
    entries: Vec<Option<Entry>>,
    shared: Arc<Mutex<Shared>>,
}

impl SocketSet {
    /// Adds a socket; it starts out on the ready list so that its first read
    /// registers its waker.
    pub fn add(&mut self, socket: UdpSocket) -> io::Result<usize> {
        let local = socket.local_addr()?;
        let index = self.entries.iter().position(Option::is_none).unwrap_or(self.entries.len());
        let waker = Waker::from(Arc::new(SocketWaker { index, shared: Arc::clone(&self.shared) }));
        let entry = Entry { socket, waker, local };
        if index == self.entries.len() {
            self.entries.push(Some(entry));
        } else {
            self.entries[index] = Some(entry);
        }
        mark(&mut lock(&self.shared), index);
        Ok(index)
    }

    pub fn local(&self, index: usize) -> Option<SocketAddr> {
        self.entries.get(index).and_then(|e| e.as_ref()).map(|e| e.local)
    }

    /// Waits until at least one socket may be readable; returns their indices.
    pub async fn ready(&self) -> Vec<usize> {
        poll_fn(|cx| {
            let mut s = lock(&self.shared);
            if s.ready.is_empty() {
                s.main = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let ready = std::mem::take(&mut s.ready);
            for &i in &ready {
                if let Some(q) = s.queued.get_mut(i) {
                    *q = false;
                }
            }
            Poll::Ready(ready)
        })
        .await
    }

    /// Puts a socket back on the ready list (it was not read to the end).
    pub fn requeue(&self, index: usize) {
        mark(&mut lock(&self.shared), index);
    }

    /// Reads one datagram without waiting. `None` when the socket is empty
    /// (its waker is then registered) or gone.
    pub fn recv(&self, index: usize, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let entry = self.entries.get(index)?.as_ref()?;
        let mut cx = Context::from_waker(&entry.waker);
        let mut rb = ReadBuf::new(buf);
        match entry.socket.poll_recv_from(&mut cx, &mut rb) {
            Poll::Ready(Ok(from)) => Some((rb.filled().len(), from)),
            // An ICMP error surfaces as a read error: the socket itself is fine.
            Poll::Ready(Err(_)) => Some((0, entry.local)),
            Poll::Pending => None,
        }
    }

    /// Sends one datagram; a full socket buffer drops it (UDP).
    pub fn send(&self, index: usize, data: &[u8], to: SocketAddr) -> bool {
        match self.entries.get(index).and_then(|e| e.as_ref()) {
            Some(e) => e.socket.try_send_to(data, to).is_ok(),
            None => false,
        }
    }
}
