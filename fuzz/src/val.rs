//! The value type every target stores: it knows its key, carries a unique id,
//! keeps part of itself on the heap (so that AddressSanitizer sees any read
//! of a freed value) and counts its own drops.

use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;

const ALIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const DEAD: u64 = 0xDEAD_BEEF_DEAD_BEEF;
const MASK: u64 = 0x9E37_79B9_7F4A_7C15;

/// Counts the live [`Val`]s of one fuzz input. Each input gets its own
/// counter, so values of an earlier input that crossbeam-epoch frees late do
/// not disturb the count of a later one.
#[derive(Debug, Clone, Default)]
pub struct Drops {
    live: Arc<AtomicIsize>,
    next_id: Arc<AtomicU64>,
}

impl Drops {
    /// A fresh counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new value for `key` with a fresh, never reused id.
    pub fn make(&self, key: u64) -> Val {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.make_with_id(key, id)
    }

    fn make_with_id(&self, key: u64, id: u64) -> Val {
        self.live.fetch_add(1, Ordering::Relaxed);
        Val {
            key,
            id,
            heap: Box::new([key ^ MASK, id ^ MASK]),
            canary: ALIVE,
            drops: self.clone(),
        }
    }

    /// Values created (clones included) and not dropped yet.
    pub fn live(&self) -> isize {
        self.live.load(Ordering::SeqCst)
    }

    /// Waits, by pinning and flushing crossbeam-epoch's global collector a
    /// bounded number of times, until every value has been dropped; panics
    /// with `what` when some never are (a leak). A double drop panics in
    /// [`Val::drop`] itself.
    pub fn assert_all_dropped(&self, what: &str) {
        // Other threads' guards (a test harness runs tests in parallel) can
        // hold the epoch back for a while: yield between attempts.
        for i in 0..100_000 {
            if self.live() == 0 {
                return;
            }
            crossbeam_epoch::pin().flush();
            if i > 64 {
                std::thread::yield_now();
            }
        }
        assert_eq!(self.live(), 0, "{what}: values leaked (never dropped)");
    }
}

/// A value that belongs to `key`. Its `id` is unique per [`Drops::make`]
/// (clones share it), so a value read from a map says which write stored it.
#[derive(Debug)]
pub struct Val {
    key: u64,
    id: u64,
    heap: Box<[u64; 2]>,
    canary: u64,
    drops: Drops,
}

impl Val {
    /// Checks that the value is alive, intact and belongs to `key`; returns
    /// its id. Reading `heap` makes AddressSanitizer report a freed value.
    #[track_caller]
    pub fn check(&self, key: u64) -> u64 {
        assert_eq!(self.canary, ALIVE, "read of a dropped value (key {key})");
        assert_eq!(self.heap[0] ^ MASK, self.key, "corrupt value");
        assert_eq!(self.heap[1] ^ MASK, self.id, "corrupt value");
        assert_eq!(
            self.key, key,
            "value of key {} found under key {key}",
            self.key
        );
        self.id
    }

    /// The id, without the key check.
    #[track_caller]
    pub fn id(&self) -> u64 {
        assert_eq!(self.canary, ALIVE, "read of a dropped value");
        self.id
    }

    /// The key this value was made for.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// A new value for the same key (a fresh id), made from the same counter.
    pub fn successor(&self) -> Val {
        self.check(self.key);
        self.drops.make(self.key)
    }
}

impl Clone for Val {
    fn clone(&self) -> Self {
        self.check(self.key);
        self.drops.make_with_id(self.key, self.id)
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert_eq!(self.canary, ALIVE, "value dropped twice (key {})", self.key);
        self.canary = DEAD;
        self.drops.live.fetch_sub(1, Ordering::Relaxed);
    }
}
