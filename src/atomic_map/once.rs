//! The locks behind [`AtomicPtrMap::get_or_insert_with`](super::AtomicPtrMap::get_or_insert_with),
//! which runs its closure at most once per absent key: callers for one key
//! take the same stripe, look again under it, and only then run the closure.
//!
//! Only `get_or_insert_with` takes them: reads, inserts, removals and
//! updates never do, so a slow closure delays only the `get_or_insert_with`
//! calls of keys of its stripe (1 in [`STRIPES`]), never readers.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// Stripes per map.
pub(super) const STRIPES: usize = 64;

thread_local! {
    /// Addresses of the stripe sets (maps) this thread holds a stripe of.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

pub(super) struct InitLocks {
    stripes: Box<[Mutex<()>]>,
}

impl fmt::Debug for InitLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitLocks").finish_non_exhaustive()
    }
}

impl InitLocks {
    pub(super) fn new() -> Self {
        InitLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Locks the stripe of `hash`. Panics, naming the caller's line, if
    /// this thread already holds a stripe of this map (a closure of
    /// `get_or_insert_with` calling it again): that could deadlock, with
    /// itself or with another thread doing the same the other way round.
    #[track_caller]
    pub(super) fn lock(&self, hash: u64) -> InitGuard<'_> {
        let id = self as *const Self as usize;
        let reentered = HELD.with(|h| h.borrow().contains(&id));
        if reentered {
            panic!(
                "AtomicPtrMap::get_or_insert_with called from inside the closure of a \
                 get_or_insert_with on the same map; this could deadlock. Compute the \
                 value before the call, or use get_or_insert_with_optimistic (its closure \
                 runs without a lock)"
            );
        }
        // The low bits (partitions use the high ones).
        let stripe = &self.stripes[(hash as usize) & (STRIPES - 1)];
        // A closure that panicked poisoned the stripe; it protects no data
        // (nothing was stored), so the poison carries no meaning.
        let guard = stripe.lock().unwrap_or_else(|e| e.into_inner());
        HELD.with(|h| h.borrow_mut().push(id));
        InitGuard { _guard: guard, id }
    }
}

/// A held stripe; releases it (and the re-entry record) on drop, also when
/// the closure panics.
pub(super) struct InitGuard<'a> {
    _guard: MutexGuard<'a, ()>,
    id: usize,
}

impl Drop for InitGuard<'_> {
    fn drop(&mut self) {
        // `try_with`: a guard may be dropped while thread-locals are torn
        // down.
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|&x| x == self.id) {
                h.swap_remove(i);
            }
        });
    }
}
