//! The count of a map's retired values that are not freed yet (the values
//! part of [`Stats::garbage_objects`](crate::atomic_map::Stats)), kept so
//! that counting costs an overwrite no shared write.
//!
//! Every overwrite retires a value, and its deferred destructor frees it
//! later on whichever thread collects garbage. A counter per map (or per
//! partition) that both sides update is one cache line that every writing
//! thread modifies on every overwrite. The first version of this count was
//! the strong count of an `Arc` cloned into each destructor: two shared
//! read-modify-writes per overwrite. Measured on crisis C10 (copy-on-write
//! updates, 2 cores, 6 runs each in one session, session 10's BENCHMARKS
//! entry): this striped count took AtomicPtrMap from 18.7M to 21.1M ops/s
//! at 2 threads and from 18.1M to 18.7M at 1; a build that did not count
//! at all (not sound to ship: stats without values) reached 24.8M and 21.3M.
//!
//! So the count is striped: [`OWNED`] counters that one thread at a time
//! owns, each in a cache line of its own, and one shared counter for the
//! threads beyond those. A thread claims a free owned stripe on first use and
//! gives it back when it exits; the owner updates its stripe with a plain
//! load and store, not a locked read-modify-write, so at one thread
//! counting costs no atomic instruction either. A value retired on one
//! thread and freed on another leaves +1 in one stripe and -1 in another;
//! only the sum means anything.
//!
//! **Lifetime.** A destructor may run after its map is dropped, so the
//! counters cannot live in the map; and with no shared reference count,
//! nothing says when the last destructor has run. Blocks of counters are
//! therefore never freed: a map takes one from a process-wide registry
//! ([`ValueCountsHandle::new`]) and returns it when dropped, and a returned
//! block is handed out again only once its sum is zero. That is sound to
//! decide from a racy read, because after the map is dropped nothing is
//! retired against its block any more (every retire happens under a guard
//! that borrows the map), so each stripe only decreases: a sum read stripe
//! by stripe is at least the true count at the end of the read, which is
//! never negative (a value is freed only after it is retired). A sum of
//! zero therefore means no destructor of the old map is left to run. The
//! registry holds at most as many blocks as there were maps alive, or
//! dropped with values still waiting, at one time; [`ValueCounts`] is
//! 320 bytes.
//!
//! The counters are statistics: they order nothing, so they are `std`
//! atomics even under loom (no model's outcome depends on them, and a
//! block outlives the model that used it).

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Stripes owned by one thread at a time.
const OWNED: usize = 4;
/// The stripe of threads that own none (more than [`OWNED`] threads, or a
/// thread tearing down its thread-locals): updated by atomic
/// read-modify-writes.
const SHARED: usize = OWNED;
const STRIPES: usize = OWNED + 1;

/// One counter in a cache line of its own.
#[repr(align(64))]
struct Stripe(AtomicIsize);

/// A map's count of retired, not yet freed values.
pub(super) struct ValueCounts {
    stripes: [Stripe; STRIPES],
}

impl ValueCounts {
    fn new() -> Self {
        ValueCounts {
            stripes: std::array::from_fn(|_| Stripe(AtomicIsize::new(0))),
        }
    }

    /// Counts a value retired by this thread.
    #[inline]
    pub(super) fn retired(&self) {
        self.add(1);
    }

    /// Counts a value freed by this thread (its destructor has run).
    #[inline]
    pub(super) fn freed(&self) {
        self.add(-1);
    }

    /// Relaxed: a counter, ordering nothing. An owned stripe has one writer
    /// (this thread; a previous owner's writes happen before its claim, see
    /// [`Claim`]), so a load and a store lose no update; readers only load.
    #[inline]
    fn add(&self, d: isize) {
        let i = stripe();
        let s = &self.stripes[i].0;
        if i == SHARED {
            s.fetch_add(d, Ordering::Relaxed);
        } else {
            s.store(s.load(Ordering::Relaxed).wrapping_add(d), Ordering::Relaxed);
        }
    }

    /// The sum of the stripes, read one at a time (see the module docs for
    /// what it means while destructors run).
    fn sum(&self) -> isize {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0isize, isize::wrapping_add)
    }

    /// Values retired and not yet freed (a racy statistic; a sum that is
    /// briefly negative, a free counted before its retire was read, reads
    /// as zero).
    pub(super) fn outstanding(&self) -> usize {
        self.sum().max(0) as usize
    }
}

/// The owned stripes claimed by a live thread, one bit each.
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

/// A thread's claim on an owned stripe ([`SHARED`] if it got none),
/// released when the thread exits.
struct Claim(usize);

impl Claim {
    fn new() -> Self {
        let mut m = CLAIMED.load(Ordering::Relaxed);
        loop {
            let i = (!m).trailing_zeros() as usize;
            if i >= OWNED {
                return Claim(SHARED);
            }
            // Acquire: pairs with the Release in `drop` of the stripe's
            // previous owner, so its stores to stripe `i` (in every block)
            // happen before this thread's loads of it.
            match CLAIMED.compare_exchange_weak(m, m | 1 << i, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Claim(i),
                Err(now) => m = now,
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.0 != SHARED {
            // Release: pairs with the next owner's Acquire claim (above).
            CLAIMED.fetch_and(!(1 << self.0), Ordering::Release);
        }
    }
}

/// This thread's stripe: an owned one claimed on first use, or [`SHARED`]
/// (all owned stripes taken; during thread teardown, once the claim is
/// gone; and always under loom, whose model threads share one OS thread
/// and so one thread-local).
#[inline]
fn stripe() -> usize {
    if cfg!(epochmap_loom) {
        return SHARED;
    }
    thread_local! {
        static STRIPE: Claim = Claim::new();
    }
    STRIPE.try_with(|c| c.0).unwrap_or(SHARED)
}

/// The blocks not owned by a map: returned ones whose sum may not be zero
/// yet (`draining`), and reusable ones (`free`).
struct Registry {
    free: Vec<&'static ValueCounts>,
    draining: Vec<&'static ValueCounts>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    free: Vec::new(),
    draining: Vec::new(),
});

/// A map's block of counters, returned to the registry when dropped.
pub(super) struct ValueCountsHandle(&'static ValueCounts);

impl ValueCountsHandle {
    /// A block whose count is zero: a reused one whose values have all
    /// been freed, or a new one.
    pub(super) fn new() -> Self {
        // The registry's data stays consistent whatever panicked while it
        // was locked (two vectors of references, each push or pop whole).
        let mut r = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        let mut i = 0;
        while i < r.draining.len() {
            if r.draining[i].sum() == 0 {
                let b = r.draining.swap_remove(i);
                r.free.push(b);
            } else {
                i += 1;
            }
        }
        let block = r.free.pop();
        drop(r);
        ValueCountsHandle(block.unwrap_or_else(|| Box::leak(Box::new(ValueCounts::new()))))
    }

    /// The block, for the partitions and the destructors of the values the
    /// map retires.
    #[inline]
    pub(super) fn get(&self) -> &'static ValueCounts {
        self.0
    }
}

impl Drop for ValueCountsHandle {
    fn drop(&mut self) {
        REGISTRY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .draining
            .push(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block comes back from the registry only once every value counted
    /// against it is freed, even when the frees ran on other threads (the
    /// stripes of the retiring and freeing threads differ).
    #[test]
    fn blocks_are_reused_only_once_drained() {
        let a = ValueCountsHandle::new();
        let counts = a.get();
        for _ in 0..3 {
            counts.retired();
        }
        std::thread::scope(|s| {
            s.spawn(|| counts.freed());
        });
        assert_eq!(counts.outstanding(), 2);
        drop(a);
        // Other tests take blocks concurrently: hold many, none may be
        // the one with values outstanding.
        let held: Vec<_> = (0..64).map(|_| ValueCountsHandle::new()).collect();
        assert!(held.iter().all(|h| !std::ptr::eq(h.get(), counts)));
        assert!(held.iter().all(|h| h.get().outstanding() == 0));
        drop(held);
        std::thread::scope(|s| {
            s.spawn(|| counts.freed());
            s.spawn(|| counts.freed());
        });
        assert_eq!(counts.outstanding(), 0);
        // Now it is free for reuse: some new handle gets it (others'
        // returned blocks may come first).
        let again: Vec<_> = (0..1024).map(|_| ValueCountsHandle::new()).collect();
        assert!(again.iter().any(|h| std::ptr::eq(h.get(), counts)));
    }

    /// Counts stay exact with more threads than owned stripes, threads that
    /// exit and hand their stripe on, and values freed on other threads
    /// than retired them: a stripe updated by two threads at once (a claim
    /// that is not exclusive) would lose updates.
    #[test]
    fn counts_are_exact_across_threads() {
        let h = ValueCountsHandle::new();
        let counts = h.get();
        let threads = 2 * STRIPES;
        let n = if cfg!(miri) { 50 } else { 20_000 };
        for _round in 0..2 {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| (0..n).for_each(|_| counts.retired()));
                }
            });
            assert_eq!(counts.outstanding(), threads * n);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        for i in 0..n {
                            counts.freed();
                            if i % 2 == 0 {
                                counts.retired();
                                counts.freed();
                            }
                        }
                    });
                }
            });
            assert_eq!(counts.outstanding(), 0);
            assert_eq!(counts.sum(), 0);
        }
    }
}
