//! Accounts and access: local users (argon2id store file), LDAP, login
//! sessions, brute-force throttling, and the access decision for rooms.
//!
//! - [`password`]: rules for new passwords, hashing, stored-hash parameters.
//! - [`store`]: the local user store file (atomic writes, reloads).
//! - [`ldap`]: logins against a directory.
//! - [`session`]: the in-memory session table (sans-IO).
//! - [`throttle`]: failed-attempt limits per account/room and per source.
//! - [`access`]: who may open, host, join, or must log in or wait.
//!
//! [`Auth`] ties them together for the HTTP API and the room layer.
//!
//! For the room layer, on every join (the WebSocket upgrade):
//! `crate::http::api::current_identity(&state, &headers)` gives the
//! session's [`Identity`] (name, display name, may host; counts as use of
//! the session), [`access::Visitor::from_identity`] turns it into a visitor,
//! and [`access::decide`]`(state.auth.mode(), visitor, room_open)` says
//! whether to enter as host, enter as guest, wait for a host or log in.
//! Identity always comes from here, never from a message. Room passwords go
//! through [`Auth::throttle`] with [`throttle::Subject::Room`]: `reserve`
//! before comparing, then `failed` or `succeeded`; `forget` when the
//! meeting ends.

pub mod access;
pub mod ldap;
pub mod password;
pub mod session;
pub mod store;
pub mod throttle;

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AccessMode, LoadedConfig};
use access::Visitor;
use ldap::{Directory, DirectoryError};
use password::{Password, Weakness};
use session::{AccountKind, Identity, SessionStore, SessionToken};
use store::{LocalStore, LocalUser};
use throttle::{Limits, RetryAfter, Subject, Throttle};

/// Most login sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;
/// How often the user store file is checked for changes.
pub const STORE_POLL: Duration = Duration::from_secs(1);
/// A login waits at most this long for a free password-hashing slot.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// What the policy's rules about the user store need to know of the file
/// `loaded` names (reads it; the decision is [`crate::policy::verdicts`]).
pub fn user_store_facts(loaded: &LoadedConfig) -> crate::policy::UserStoreFacts {
    store::inspect(&loaded.resolve_path(&loaded.config.access.users_file))
}

/// Why a login did not open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown user, wrong or empty password: one answer for all.
    Failed,
    /// Too many failures for this account or from this source.
    Throttled(RetryAfter),
    /// The directory cannot be reached (logged for the operator).
    DirectoryUnavailable,
    /// Too many logins at once, or the session table is full.
    Busy,
}

/// Why a password change did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChangeError {
    NotLoggedIn,
    /// Directory accounts change their password in the directory.
    NotLocal,
    WrongPassword,
    Weak(Weakness),
    Throttled(RetryAfter),
    Busy,
    /// The store changed underneath (e.g. `kabine user passwd` at the same
    /// moment), or the user was removed.
    Conflict,
    /// The store could not be written (logged for the operator).
    Storage,
}

/// Accounts, sessions and throttling of one server.
pub struct Auth {
    mode: AccessMode,
    store: LocalStore,
    directory: Option<Directory>,
    sessions: Mutex<SessionStore>,
    throttle: Arc<Throttle>,
    hashing: Arc<Semaphore>,
    /// Verified against when a local name is unknown (same cost as a real one).
    dummy_hash: String,
    /// Keys the tags that tie a session to the password hash it began with.
    credential_keys: std::hash::RandomState,
    /// Bumped whenever login sessions end other than by expiry on use
    /// (logout, password change, user removed): open signalling
    /// connections then check theirs and give up host rights.
    ended: tokio::sync::watch::Sender<u64>,
}

impl Auth {
    /// Reads the user store and sets up the directory of `loaded`.
    pub fn new(loaded: &LoadedConfig) -> Result<Auth, String> {
        Auth::with_limits(loaded, Limits::LOGIN)
    }

    /// As [`Auth::new`] with other throttle limits (tests).
    pub fn with_limits(loaded: &LoadedConfig, limits: Limits) -> Result<Auth, String> {
        let c = &loaded.config.access;
        let path = loaded.resolve_path(&c.users_file);
        let store = LocalStore::open(&path).map_err(|e| e.to_string())?;
        let directory = Directory::from_config(loaded)?;
        let idle = Duration::from_secs(u64::from(c.session_idle_timeout_minutes) * 60);
        let lifetime = Duration::from_secs(u64::from(c.session_lifetime_hours) * 3600);
        // Each hash holds 19 MiB; at most one per core (and at most 4) run at once.
        let slots = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        Ok(Auth {
            mode: c.mode,
            store,
            directory,
            sessions: Mutex::new(SessionStore::new(idle, lifetime, MAX_SESSIONS)),
            throttle: Arc::new(Throttle::new(limits)),
            hashing: Arc::new(Semaphore::new(slots)),
            dummy_hash: store::dummy_hash(),
            credential_keys: std::hash::RandomState::new(),
            ended: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn mode(&self) -> AccessMode {
        self.mode
    }

    /// The throttle, shared with room passwords.
    pub fn throttle(&self) -> Arc<Throttle> {
        Arc::clone(&self.throttle)
    }

    /// Whether anyone can log in at all (local users or a directory).
    pub fn has_accounts(&self) -> bool {
        self.directory.is_some() || !self.store.current().is_empty()
    }

    /// (idle timeout, lifetime) of sessions.
    pub fn session_timeouts(&self) -> (Duration, Duration) {
        let s = self.lock_sessions();
        (s.idle(), s.lifetime())
    }

    /// Checks a login and opens a session. `source` is the client's address,
    /// used for throttling only.
    pub async fn login(
        &self,
        username: &str,
        password: &Password,
        source: Option<IpAddr>,
    ) -> Result<(SessionToken, Identity), LoginError> {
        let subject = Subject::Account(username);
        // Counted before verifying: the limit holds for concurrent requests.
        let attempt = self.throttle.reserve(source, subject).map_err(LoginError::Throttled)?;
        if password.is_empty() {
            attempt.failed();
            return Err(LoginError::Failed);
        }
        match self.verify(username, password).await {
            Ok(identity) => {
                attempt.succeeded();
                let token = SessionToken::random();
                self.lock_sessions()
                    .create(token.clone(), identity.clone(), Instant::now())
                    .map_err(|_| LoginError::Busy)?;
                Ok((token, identity))
            }
            Err(LoginError::Failed) => {
                attempt.failed();
                Err(LoginError::Failed)
            }
            // Not judged (busy, directory down): the attempt does not count.
            Err(e) => Err(e),
        }
    }

    /// Checks a name and password without opening a session.
    async fn verify(&self, username: &str, password: &Password) -> Result<Identity, LoginError> {
        let name = username.trim().to_lowercase();
        let users = self.store.current();
        let local = store::check_name(&name).ok().and_then(|_| users.get(&name).cloned());
        if let Some(user) = local {
            let hash = user.hash.clone();
            let ok = self
                .hash_off_runtime({
                    let password = password.clone();
                    move || password::verify(&password, &hash)
                })
                .await?;
            return if ok { Ok(self.local_identity(&user)) } else { Err(LoginError::Failed) };
        }
        if let Some(directory) = &self.directory {
            return match directory.authenticate(username, password).await {
                Ok(user) => Ok(Identity {
                    username: name,
                    display_name: user.display_name,
                    may_host: user.may_host,
                    kind: AccountKind::Directory,
                }),
                Err(DirectoryError::Rejected) => Err(LoginError::Failed),
                Err(DirectoryError::Unavailable(why)) => {
                    tracing::error!("LDAP login impossible: the directory is unavailable: {why}");
                    Err(LoginError::DirectoryUnavailable)
                }
            };
        }
        // Unknown: the same work as a wrong password.
        let dummy = self.dummy_hash.clone();
        let password = password.clone();
        self.hash_off_runtime(move || password::verify(&password, &dummy)).await?;
        Err(LoginError::Failed)
    }

    fn local_identity(&self, user: &LocalUser) -> Identity {
        Identity {
            username: user.name.clone(),
            display_name: user.display_name.clone().unwrap_or_else(|| user.name.clone()),
            may_host: true,
            kind: AccountKind::Local { credential: self.credential_tag(&user.hash) },
        }
    }

    fn credential_tag(&self, hash: &str) -> u64 {
        self.credential_keys.hash_one(hash)
    }

    /// Runs argon2 on the blocking pool, at most a few at once.
    async fn hash_off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LoginError> {
        let permit = tokio::time::timeout(HASH_QUEUE_WAIT, Arc::clone(&self.hashing).acquire_owned())
            .await
            .map_err(|_| LoginError::Busy)?
            .map_err(|_| LoginError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await;
        result.map_err(|_| LoginError::Busy)
    }

    /// The live session of `token`, counting as use.
    pub fn session(&self, token: &SessionToken) -> Option<Identity> {
        self.lock_sessions().get(token, Instant::now())
    }

    /// The visitor a token stands for, for [`access::decide`].
    pub fn visitor(&self, token: Option<&SessionToken>) -> Visitor {
        Visitor::from_identity(token.and_then(|t| self.session(t)).as_ref())
    }

    /// Ends a session. Returns whether it was live.
    pub fn logout(&self, token: &SessionToken) -> bool {
        let ended = self.lock_sessions().remove(token);
        if ended {
            self.sessions_ended();
        }
        ended
    }

    /// Changes whenever login sessions were ended (not on every expiry):
    /// a holder of a session then checks it with [`Auth::session`].
    pub fn session_endings(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    fn sessions_ended(&self) {
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes a local user's password: `current` must be right (wrong
    /// guesses count against the account like failed logins) and `new`
    /// must meet the rules. Every session of the user ends; the caller gets
    /// a fresh one.
    pub async fn change_password(
        &self,
        token: &SessionToken,
        current: &Password,
        new: &Password,
        source: Option<IpAddr>,
    ) -> Result<(SessionToken, Identity), PasswordChangeError> {
        let identity = self.session(token).ok_or(PasswordChangeError::NotLoggedIn)?;
        let AccountKind::Local { credential } = identity.kind else {
            return Err(PasswordChangeError::NotLocal);
        };
        password::check_new(new, &identity.username).map_err(PasswordChangeError::Weak)?;
        let subject = Subject::Account(&identity.username);
        // Counted before verifying: the limit holds for concurrent requests.
        let attempt = self.throttle.reserve(source, subject).map_err(PasswordChangeError::Throttled)?;
        let users = self.store.current();
        let user = users.get(&identity.username).cloned().ok_or(PasswordChangeError::Conflict)?;
        if self.credential_tag(&user.hash) != credential {
            return Err(PasswordChangeError::Conflict);
        }
        let busy = |_| PasswordChangeError::Busy;
        let ok = self
            .hash_off_runtime({
                let (current, hash) = (current.clone(), user.hash.clone());
                move || password::verify(&current, &hash)
            })
            .await
            .map_err(busy)?;
        if !ok {
            attempt.failed();
            return Err(PasswordChangeError::WrongPassword);
        }
        attempt.succeeded();
        let new_hash = self
            .hash_off_runtime({
                let new = new.clone();
                move || password::hash(&new)
            })
            .await
            .map_err(busy)?;

        let path = self.store.path().to_path_buf();
        let (name, old_hash, hash_for_file) = (user.name.clone(), user.hash.clone(), new_hash.clone());
        let written = tokio::task::spawn_blocking(move || {
            store::edit(&path, |users| {
                let Some(mut u) = users.get(&name).cloned() else { return Err(()) };
                if u.hash != old_hash {
                    return Err(());
                }
                u.hash = hash_for_file;
                users.put(u);
                Ok(users.clone())
            })
        })
        .await
        .map_err(|_| PasswordChangeError::Storage)?;
        let users = match written {
            Ok(Ok(users)) => users,
            Ok(Err(())) => return Err(PasswordChangeError::Conflict),
            Err(e) => {
                tracing::error!("cannot write the user store after a password change: {e}");
                return Err(PasswordChangeError::Storage);
            }
        };
        self.store.replace(users);
        let changed = LocalUser { hash: new_hash, ..user };
        let identity = self.local_identity(&changed);
        let token = SessionToken::random();
        let mut sessions = self.lock_sessions();
        sessions.retain(|i| !(i.username == identity.username && matches!(i.kind, AccountKind::Local { .. })));
        let created = sessions.create(token.clone(), identity.clone(), Instant::now());
        drop(sessions);
        self.sessions_ended();
        created.map_err(|_| PasswordChangeError::Busy)?;
        Ok((token, identity))
    }

    /// Reloads the user store if its file changed; ends the sessions of
    /// users who were removed or got a new password.
    pub fn reload_users(&self) {
        match self.store.reload_if_changed() {
            Ok(false) => {}
            Ok(true) => {
                let users = self.store.current();
                let ended = self.lock_sessions().retain(|i| match i.kind {
                    AccountKind::Local { credential } => {
                        users.get(&i.username).is_some_and(|u| self.credential_tag(&u.hash) == credential)
                    }
                    AccountKind::Directory => true,
                });
                tracing::warn!("user store reloaded: {} local user(s); {ended} session(s) ended", users.len());
                if ended > 0 {
                    self.sessions_ended();
                }
            }
            Err(e) => tracing::error!("user store changed but cannot be used; keeping the previous one: {e}"),
        }
    }

    /// Removes expired sessions and idle throttle entries.
    pub fn purge(&self) {
        if self.lock_sessions().purge(Instant::now()) > 0 {
            self.sessions_ended();
        }
        self.throttle.purge();
    }

    /// Starts the task that reloads the user store and purges expired state,
    /// until `shutdown`.
    pub fn spawn_maintenance(self: &Arc<Self>, shutdown: CancellationToken, tasks: &TaskTracker) {
        let auth = Arc::clone(self);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(STORE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                auth.reload_users();
                n += 1;
                if n.is_multiple_of(60) {
                    auth.purge();
                }
            }
        });
    }

    /// Overrides `access.session_idle_timeout_minutes` (see
    /// [`crate::server::StartOptions::session_idle`]).
    pub fn set_session_idle(&self, idle: Duration) {
        self.lock_sessions().set_idle(idle);
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, SessionStore> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}
