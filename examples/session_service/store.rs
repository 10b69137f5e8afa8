//! The session store: one small trait, one implementation per map.
//!
//! The handlers in `app.rs` only ever see `Arc<dyn SessionStore>`, so the
//! three stores serve byte-for-byte the same HTTP API. Every method is
//! synchronous and returns owned data: no guard, lock or reference into a map
//! ever leaves this module, so none can be held across an `.await`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use epochmap::{AtomicPtrMap, ShardMap};
use serde::Serialize;

/// One session, as stored and as returned to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The key in the store; unique for the life of the process.
    pub id: u64,
    /// The user that owns the session (1 to 64 bytes).
    pub user: String,
    /// A counter that PATCH adjusts: the read-modify-write under test.
    pub points: i64,
    /// Bumped by every successful PATCH, so lost updates are detectable.
    pub version: u64,
    /// Milliseconds since the Unix epoch when the session was created.
    pub created_ms: u64,
    /// Milliseconds since the Unix epoch of the last PATCH (or creation).
    pub updated_ms: u64,
}

/// What every store offers the handlers.
///
/// All methods take `&self` and may be called from any number of tasks at
/// once. None of them blocks for long: the `mutex` store holds its one lock
/// only for the duration of the call.
pub trait SessionStore: Send + Sync + 'static {
    /// The store's name, as given to `--store`.
    fn name(&self) -> &'static str;
    /// Inserts a session under `s.id`, replacing any previous one.
    fn insert(&self, s: Session);
    /// A copy of the session, if present.
    fn get(&self, id: u64) -> Option<Session>;
    /// Applies `f` to the session as one atomic read-modify-write and returns
    /// a copy of the result; `None` if there is no such session.
    ///
    /// `f` may be called more than once (a copy-on-write store retries when
    /// another writer wins the race); each call receives a fresh copy of the
    /// current value, so `f` must only depend on its argument.
    fn update(&self, id: u64, f: &mut dyn FnMut(&mut Session)) -> Option<Session>;
    /// Removes the session and returns it, if present.
    fn remove(&self, id: u64) -> Option<Session>;
    /// Up to `limit` live sessions, in no particular order. Runs while others
    /// write: see each store for what a concurrent listing observes.
    fn list(&self, limit: usize) -> Vec<Session>;
    /// The number of sessions; only a hint while others write.
    fn len(&self) -> usize;
}

/// The `--store` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `Arc<Mutex<HashMap>>`: what services start with.
    Mutex,
    /// `epochmap::ShardMap`.
    Shard,
    /// `epochmap::AtomicPtrMap`.
    Atomic,
}

impl StoreKind {
    /// A new, empty store of this kind.
    pub fn build(self) -> Arc<dyn SessionStore> {
        match self {
            StoreKind::Mutex => Arc::new(MutexStore::default()),
            StoreKind::Shard => Arc::new(ShardStore::default()),
            StoreKind::Atomic => Arc::new(AtomicStore::default()),
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Mutex => "mutex",
            StoreKind::Shard => "shard",
            StoreKind::Atomic => "atomic",
        })
    }
}

impl FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mutex" => Ok(StoreKind::Mutex),
            "shard" => Ok(StoreKind::Shard),
            "atomic" => Ok(StoreKind::Atomic),
            other => Err(format!(
                "unknown store {other:?}: expected mutex, shard or atomic"
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// mutex: the "before" of the migration guide.

/// `Arc<Mutex<HashMap<u64, Session>>>`: every operation, reads included, takes
/// the one lock; a listing holds it while it copies `limit` sessions.
#[derive(Debug, Default)]
pub struct MutexStore {
    inner: Mutex<HashMap<u64, Session>>,
}

impl MutexStore {
    /// The map, even if a previous holder panicked: every critical section
    /// below leaves the map consistent at each step, so a poisoned lock holds
    /// a valid map and the service keeps serving.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Session>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionStore for MutexStore {
    fn name(&self) -> &'static str {
        "mutex"
    }
    fn insert(&self, s: Session) {
        self.lock().insert(s.id, s);
    }
    fn get(&self, id: u64) -> Option<Session> {
        self.lock().get(&id).cloned()
    }
    fn update(&self, id: u64, f: &mut dyn FnMut(&mut Session)) -> Option<Session> {
        let mut map = self.lock();
        let s = map.get_mut(&id)?;
        f(s);
        Some(s.clone())
    }
    fn remove(&self, id: u64) -> Option<Session> {
        self.lock().remove(&id)
    }
    fn list(&self, limit: usize) -> Vec<Session> {
        self.lock().values().take(limit).cloned().collect()
    }
    fn len(&self) -> usize {
        self.lock().len()
    }
}

// ---------------------------------------------------------------------------
// shard: the "after" with the least change.

/// `ShardMap<u64, Session>`: a call locks only the shard of its key (reads
/// share it); a listing read-locks one shard at a time. Only the closure
/// methods and `get_cloned` are used, so no guard outlives a call.
#[derive(Debug, Default)]
pub struct ShardStore {
    map: ShardMap<u64, Session>,
}

impl SessionStore for ShardStore {
    fn name(&self) -> &'static str {
        "shard"
    }
    fn insert(&self, s: Session) {
        self.map.insert(s.id, s);
    }
    fn get(&self, id: u64) -> Option<Session> {
        self.map.get_cloned(&id)
    }
    fn update(&self, id: u64, f: &mut dyn FnMut(&mut Session)) -> Option<Session> {
        // The closure runs under the shard's write lock: one read-modify-write.
        self.map.update(&id, |s| {
            f(s);
            s.clone()
        })
    }
    fn remove(&self, id: u64) -> Option<Session> {
        self.map.remove(&id)
    }
    fn list(&self, limit: usize) -> Vec<Session> {
        // Each item keeps its shard read-locked only until it is cloned.
        self.map
            .iter()
            .take(limit)
            .map(|r| r.value().clone())
            .collect()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}

// ---------------------------------------------------------------------------
// atomic: lock-free reads, copy-on-write updates.

/// `AtomicPtrMap<u64, Session>`: reads and listings take no lock; an update
/// clones the session, applies the patch and swaps the new value in with a
/// CAS, retrying on a newer value if another writer won the race. Guards
/// (`pin()`) live only inside each method, never across an `.await`.
#[derive(Debug, Default)]
pub struct AtomicStore {
    map: AtomicPtrMap<u64, Session>,
}

impl SessionStore for AtomicStore {
    fn name(&self) -> &'static str {
        "atomic"
    }
    fn insert(&self, s: Session) {
        self.map.insert(s.id, s);
    }
    fn get(&self, id: u64) -> Option<Session> {
        self.map.get_cloned(&id)
    }
    fn update(&self, id: u64, f: &mut dyn FnMut(&mut Session)) -> Option<Session> {
        let m = self.map.pin();
        m.update(&id, |old| {
            let mut s = old.clone();
            f(&mut s);
            s
        })
        .cloned()
    }
    fn remove(&self, id: u64) -> Option<Session> {
        // The removed value stays readable while `m` lives: clone it out.
        let m = self.map.pin();
        m.remove(&id).cloned()
    }
    fn list(&self, limit: usize) -> Vec<Session> {
        let m = self.map.pin();
        m.iter().take(limit).map(|(_, s)| s.clone()).collect()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}
