//! Loom models of `ShardMap`'s shard lock (`src/shard_map/lock/`), on the
//! real code: under `--cfg epochmap_loom` the lock takes its atomics, thread-locals,
//! backoff and parking lot from loom (`src/shard_map/lock/sync.rs`), and the
//! crate exports it as `shard_map::lock_for_loom` for these models.
//!
//! Run (seconds; figures in `.ci/run`):
//!
//! ```text
//! RUSTFLAGS="--cfg epochmap_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test --release --manifest-path loom/Cargo.toml --test shard_lock -- --nocapture
//! ```
//!
//! The locked data is a [`Pair`] of loom cells, written by writers (both
//! halves, with a switch point in between) and read by readers, who check
//! that the halves are equal. Loom checks every access of a cell against
//! every other: two accesses, one of them a write, that are not ordered by
//! happens-before (two writers inside at once, a reader inside with a
//! writer, or a missing Release/Acquire between one holder and the next) are
//! a "causality violation". A lost wake-up is a loom deadlock (the parking
//! lot is a loom condition variable under loom).
//!
//! Each lock has two reader slots, and the threads of a model get theirs in
//! the order of their first reads, so loom explores readers in the same slot
//! and in different ones. Under loom a writer spins one round and steps
//! back once before it insists, and every backoff snoozes once before
//! sleeping, so a thread that waits past one [`pause`] of the thread it
//! waits for reaches the parking lot: the models' critical sections pause,
//! so that the sleeping paths (and their wake-ups) are explored.
#![cfg(epochmap_loom)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc as StdArc;
use std::time::Instant;

use epochmap::shard_map::lock_for_loom::Lock;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// The locked data: two counters that every writer sets together.
struct Pair {
    a: UnsafeCell<u64>,
    b: UnsafeCell<u64>,
}

// SAFETY: the cells are accessed only under the lock of the model (reads
// under a read or write guard, writes under a write guard); loom checks
// that no two accesses race, which is what the models test.
unsafe impl Sync for Pair {}

impl Pair {
    fn new() -> Self {
        Pair {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
        }
    }

    /// Reads both halves (under a read or write guard), with a switch point
    /// in between if `paused`.
    fn get(&self, paused: bool) -> (u64, u64) {
        // SAFETY: see `impl Sync`; loom checks that no write races this.
        let a = self.a.with(|p| unsafe { *p });
        if paused {
            pause();
        }
        // SAFETY: as above.
        let b = self.b.with(|p| unsafe { *p });
        (a, b)
    }

    /// Reads both halves, with a switch point in between, and checks that
    /// no write was half done.
    fn get_whole(&self) -> u64 {
        let (a, b) = self.get(true);
        assert_eq!(a, b, "a reader saw a write half done");
        a
    }

    /// Sets both halves (under a write guard), with a switch point in
    /// between if `paused`.
    fn set(&self, v: u64, paused: bool) {
        // SAFETY: see `impl Sync`; loom checks that no access races this.
        self.a.with_mut(|p| unsafe { *p = v });
        if paused {
            pause();
        }
        // SAFETY: as above.
        self.b.with_mut(|p| unsafe { *p = v });
    }
}

/// A switch point inside a critical section: without it, a thread that
/// waits for the holder yields, and loom runs the holder to the end of its
/// section at once, so the waiter never reaches its sleeping path.
fn pause() {
    thread::yield_now();
}

/// A new lock over a zeroed [`Pair`], with two reader slots.
fn new_lock() -> Arc<Lock<Pair>> {
    Arc::new(Lock::new(Pair::new(), 2))
}

/// Adds one under the write lock, with switch points in the critical
/// section if `paused`.
fn increment_paced(lock: &Lock<Pair>, paused: bool) {
    let w = lock.write();
    let (a, b) = w.get(paused);
    assert_eq!(a, b, "a writer saw a write half done");
    w.set(a + 1, paused);
}

/// Adds one under the write lock, with switch points.
fn increment(lock: &Lock<Pair>) {
    increment_paced(lock, true);
}

/// Adds one to what a read saw, upgrading the read lock; if the upgrade
/// fails, adds one under the write lock instead. Returns whether the upgrade
/// won.
fn increment_by_upgrade(lock: &Lock<Pair>) -> bool {
    let r = lock.read();
    let seen = r.get_whole();
    match Lock::try_upgrade(r) {
        Ok(w) => {
            // No writer came in between the read and the upgrade.
            assert_eq!(w.get_whole(), seen, "a write got in before the upgrade");
            w.set(seen + 1, true);
            true
        }
        Err(r) => {
            drop(r);
            increment(lock);
            false
        }
    }
}

/// Runs `model` under loom, printing the time and the number of executions.
/// `max_preemptions` caps loom's preemption bound (`LOOM_MAX_PREEMPTIONS`)
/// for models with three threads, whose executions grow fastest with it.
fn run(name: &str, max_preemptions: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
    let execs = StdArc::new(AtomicUsize::new(0));
    let counter = StdArc::clone(&execs);
    let mut builder = loom::model::Builder::new();
    if let Some(max) = max_preemptions {
        builder.preemption_bound = Some(builder.preemption_bound.map_or(max, |b| b.min(max)));
    }
    let bound = builder.preemption_bound;
    let t = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        model();
    });
    println!(
        "loom model {name}: {} executions in {:.1?} (preemption bound {bound:?})",
        execs.load(Relaxed),
        t.elapsed()
    );
}

/// (a) Two writers exclude each other: both increments count, and loom
/// finds no two accesses of the data at once. One writer has no switch
/// point in its critical section, so that the other can also come after it
/// without contention (its yields would otherwise always run the other
/// writer inside it), and take the lock on the uncontended path.
#[test]
fn lock_writers_exclude() {
    run("lock_writers_exclude", None, || {
        let lock = new_lock();
        let other = Arc::clone(&lock);
        let t = thread::spawn(move || increment(&other));
        increment_paced(&lock, false);
        t.join().unwrap();
        assert_eq!(lock.read().get_whole(), 2);
    });
}

/// (b) A reader and a writer: the reader never sees a write half done,
/// and sees the write whole once it is done (happens-before from the
/// writer's unlock to the reader's lock). The reader tries first
/// (`try_read`), then waits (`read`).
#[test]
fn lock_reader_vs_writer() {
    run("lock_reader_vs_writer", None, || {
        let lock = new_lock();
        let other = Arc::clone(&lock);
        let t = thread::spawn(move || increment(&other));
        if let Some(r) = lock.try_read() {
            assert!(r.get_whole() <= 1);
        }
        let seen = lock.read().get_whole();
        t.join().unwrap();
        assert!(seen <= 1);
        assert_eq!(lock.read().get_whole(), 1);
    });
}

/// (c) An upgrade races a writer and a reader: the upgrader either gets the
/// lock with no write since its read and nobody else inside, or fails and
/// increments under the write lock; both increments count, and the reader
/// never sees a write half done. Three threads: at most two preemptions
/// (about 10,000 executions, a second; three take 750,000 and a minute).
#[test]
fn lock_upgrade_vs_writer_and_reader() {
    run("lock_upgrade_vs_writer_and_reader", Some(2), || {
        let lock = new_lock();
        let (l1, l2) = (Arc::clone(&lock), Arc::clone(&lock));
        let upgrader = thread::spawn(move || {
            increment_by_upgrade(&l1);
        });
        let writer = thread::spawn(move || increment(&l2));
        let seen = lock.read().get_whole();
        upgrader.join().unwrap();
        writer.join().unwrap();
        assert!(seen <= 2);
        assert_eq!(lock.read().get_whole(), 2);
    });
}

/// (c) Two readers upgrade at once: at most one wins while both hold their
/// read locks (a second winner would write over the first, losing an
/// increment, and race it), the loser falls back to the write lock, and
/// what the winner wrote is seen by the later lock holders.
#[test]
fn lock_two_upgraders() {
    run("lock_two_upgraders", None, || {
        let lock = new_lock();
        let other = Arc::clone(&lock);
        let t = thread::spawn(move || increment_by_upgrade(&other));
        let won = increment_by_upgrade(&lock);
        let other_won = t.join().unwrap();
        // Both may win one after the other, never both while both read.
        let _ = (won, other_won);
        assert_eq!(lock.read().get_whole(), 2);
    });
}
