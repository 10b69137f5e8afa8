//! The same-thread re-entry detector: which locks this thread holds.
//!
//! Each lock has an id that no other lock of the process ever gets (a
//! global counter), so a guard that was `mem::forget`-ten keeps only its own
//! lock listed: a later lock at the same address is a different lock. The
//! list is per thread; guards are `!Send`, so the thread that took a lock
//! releases it. The first `INLINE` entries live in an array
//! of plain cells, so a thread that holds no lock pays one thread-local load
//! and compare per acquisition; more entries (a thread keeping items of many
//! shards alive) spill into a vector.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sync::thread_local;

/// Held-lock entries kept without allocation.
const INLINE: usize = 4;

struct Inline {
    /// Entries in use, `0..=INLINE`; beyond `INLINE` the rest spill.
    len: Cell<usize>,
    ids: [Cell<u64>; INLINE],
}

thread_local! {
    static HELD: Inline = const {
        Inline {
            len: Cell::new(0),
            ids: [const { Cell::new(0) }; INLINE],
        }
    };
    /// Entries beyond the inline ones (one per guard, so an id may
    /// appear several times: items of one shard's iteration).
    static SPILL: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Records that this thread now holds lock `id`, or panics, naming the
/// caller's line, if it holds it already: taking it again would
/// deadlock (a write after a read or write, or a read while a writer
/// waits for this thread's read).
#[inline]
#[track_caller]
pub(super) fn enter(id: u64, op: &'static str) {
    let known = HELD.with(|h| {
        let n = h.len.get();
        if n == 0 {
            h.ids[0].set(id);
            h.len.set(1);
            return false;
        }
        if h.ids[..n.min(INLINE)].iter().any(|c| c.get() == id) {
            return true;
        }
        if n < INLINE {
            h.ids[n].set(id);
            h.len.set(n + 1);
            return false;
        }
        let known = spill_enter(id);
        if !known {
            h.len.set(n + 1);
        }
        known
    });
    if known {
        reentered(op);
    }
}

/// `enter` once the inline entries are full: true if `id` is held.
#[cold]
fn spill_enter(id: u64) -> bool {
    SPILL.with(|s| {
        let mut s = s.borrow_mut();
        if s.contains(&id) {
            return true;
        }
        s.push(id);
        false
    })
}

#[cold]
#[inline(never)]
#[track_caller]
fn reentered(op: &'static str) -> ! {
    panic!(
        "ShardMap::{op} called while this thread holds a guard on the same shard \
         (a Ref/RefMut/entry/iterator item from get/get_mut/entry/iter, or inside a \
         view/update/upsert/compute/retain closure, or in the Drop of a value or key \
         dropped under the lock); this would deadlock. Drop the guard first (e.g. clone \
         the value out, or end its scope), or use view/update/compute instead of \
         holding a guard"
    );
}

/// Whether this thread holds lock `id` (the check of [`enter`] without
/// recording anything).
#[inline]
pub(super) fn holds(id: u64) -> bool {
    HELD.with(|h| {
        let n = h.len.get();
        h.ids[..n.min(INLINE)].iter().any(|c| c.get() == id)
            || (n > INLINE && SPILL.with(|s| s.borrow().contains(&id)))
    })
}

/// Records that this thread released one hold of lock `id`.
#[inline]
pub(super) fn leave(id: u64) {
    // `try_with`: guards may be dropped during thread-local destruction.
    let _ = HELD.try_with(|h| {
        let n = h.len.get();
        // Guards are usually released in reverse order of acquisition.
        if n != 0 && n <= INLINE && h.ids[n - 1].get() == id {
            h.len.set(n - 1);
        } else {
            leave_slow(h, n, id);
        }
    });
}

/// `leave` for a hold that is not the newest inline one.
#[cold]
fn leave_slow(h: &Inline, n: usize, id: u64) {
    let inline = n.min(INLINE);
    if let Some(i) = (0..inline).rev().find(|&i| h.ids[i].get() == id) {
        // Fill the freed inline entry: from the spill if it has any,
        // else with the newest inline entry.
        let refill = if n > INLINE {
            SPILL.try_with(|s| s.borrow_mut().pop()).ok().flatten()
        } else {
            None
        };
        h.ids[i].set(refill.unwrap_or_else(|| h.ids[inline - 1].get()));
        h.len.set(n - 1);
    } else if n > INLINE {
        let removed = SPILL
            .try_with(|s| {
                let mut s = s.borrow_mut();
                let at = s.iter().rposition(|&x| x == id);
                at.map(|at| s.swap_remove(at)).is_some()
            })
            .unwrap_or(false);
        if removed {
            h.len.set(n - 1);
        }
    }
}

/// Hands out the lock ids of the re-entry detector.
static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);

/// A lock id that no other lock of the process has or will have.
pub(super) fn new_lock_id() -> u64 {
    // Relaxed: only the uniqueness of the values matters.
    NEXT_LOCK_ID.fetch_add(1, Ordering::Relaxed)
}
