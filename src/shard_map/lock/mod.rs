//! The shard lock: a reader-sharded, writer-preferring, non-poisoning RwLock.
//!
//! This folder holds all of `ShardMap`'s `unsafe` code, one concept per
//! file:
//!
//! - `mod.rs` (here): the lock and its protocol, with the table of atomics
//!   and orderings below;
//! - `guards.rs`: the read and write guards, and guards narrowed to a part
//!   of the data;
//! - `shared.rs`: guards shared by the items of an iterator, so that items
//!   may outlive it (the lock-holding iterators of `shard_map/iter.rs` are
//!   built on them);
//! - `reentry.rs`: the same-thread re-entry detector (no `unsafe`);
//! - `sync.rs`: the atomics, thread-locals, backoff and parking lot, loom's
//!   under `--cfg epochmap_loom` (the models in `loom/tests/shard_lock.rs` run this
//!   code).
//!
//! # Why not a plain RwLock
//!
//! A classic RwLock keeps its reader count in one word; every read acquires
//! and releases it with an atomic read-modify-write, so two cores that only
//! *read* still bounce that cache line between them, and reads get slower
//! with more threads. Here each lock has a small array of cache-padded reader
//! counters ("slots"). A reader increments the slot picked by its thread and
//! then checks that no writer is present; the only line it *writes* is its
//! own slot, which other readers rarely touch. A writer pays instead: it
//! raises the `writer` flag and waits until every slot drains.
//!
//! # Protocol and orderings
//!
//! State: the `writer` flag (held by the one writer that holds or is
//! entering the lock; writers take it by compare-and-swap, so it is also the
//! writers' mutex), the reader slots (a count, plus a `DRAIN_WAITER` bit set
//! by a writer that sleeps until the slot drains), and `parked` (a bit
//! telling that threads sleep in the parking lot until the flag drops). A
//! reader's unlock touches only its own slot.
//!
//! | atomic op | by | ordering | pairs with / why |
//! |---|---|---|---|
//! | `readers[i]` increment | readers | SeqCst | Dekker pair with the writer's flag CAS: a reader and a writer each store, then load the other's variable; at least one sees the other |
//! | `writer` load | readers | SeqCst | the Dekker pair; as an acquire, reads a Release store of `false` by the last writer (unlock or step-back), so its writes are visible |
//! | `writer` CAS `false -> true` | writers | SeqCst | the Dekker pair; as an acquire, pairs with the previous writer's Release store of `false` |
//! | `readers[i]` load | the flag holder | SeqCst | the Dekker pair; as an acquire, pairs with readers' decrements: their reads happen before our writes |
//! | `readers[i]` decrement | readers | SeqCst (Release would do in C++20; see `release_slot`) | the writer's slot load; the same RMW returns the slot's `DRAIN_WAITER` bit, so the last reader to leave a marked slot wakes the writer |
//! | `readers[i]` `fetch_or(DRAIN_WAITER)` | the flag holder, before sleeping | SeqCst | RMWs of one slot are totally ordered: a reader's later decrement sees the bit, an earlier one is seen by the writer's re-check |
//! | `writer` store `false` | the flag holder | SeqCst | Release for readers and the next writer; SeqCst for the Dekker pair with a waiter's `FLAG_WAITERS` announcement |
//! | `parked` bits | waiters (`fetch_or`), wakers (`fetch_and`) | SeqCst | each waiter announces itself, then re-checks its condition inside `park`'s validation; each waker changes the condition, then checks the bits: one of them sees the other, so no wake-up is lost |
//!
//! The loads that end a Dekker pair (a reader's and a flag waiter's load of
//! `writer`, the flag holder's loads of the slots, a waker's load of
//! `parked`) are `dekker_load`s: `SeqCst` loads, which the loom build
//! replaces by an equivalent that loom can model (`sync.rs` says why).
//!
//! # Loom models
//!
//! `loom/tests/shard_lock.rs` runs this code under loom (two or three
//! threads: writers against writers, readers against a writer, upgrades
//! against a writer, a reader and another upgrade), and `loom/mutants.py`
//! checks that the models catch deliberate bugs of this file (a missing
//! flag check, weakened Releases and Acquires, an upgrade or a writer that
//! does not wait for the readers inside, lost wake-ups). Loom does not model
//! the store-load ordering of `SeqCst` accesses, so the models check the
//! Release and Acquire halves of the orderings above and take the Dekker
//! pairs' guarantee as given: that a Dekker pair's store needs `SeqCst`
//! (a `Relaxed` slot increment would let a reader and a writer both miss
//! each other) is argued above, not checked by loom.
//!
//! Fairness and waiting: a reader is admitted when, after incrementing its
//! slot, it sees the flag down; otherwise it takes its count back and waits
//! for the flag to drop. The writer holding the flag spins briefly for the
//! readers inside to leave; if one is slow (preempted inside its read
//! section, say) it lowers the flag again so that the shard's other readers
//! are not stalled behind it, and retries, a bounded number of times; then it
//! keeps the flag up until the readers inside have left. Readers therefore
//! cannot starve a writer. Writers compete for the flag without a queue
//! (like `std::sync::Mutex`), and readers may wait behind a stream of
//! writers. Every wait spins briefly, yields a few times, and then sleeps in
//! the parking lot ([`parking_lot_core`], the engine of `parking_lot`) until
//! woken, so waiting never burns a core, and a preempted lock holder gets
//! the CPU back.
//!
//! The lock never poisons: a panic while it is held releases it during
//! unwinding (guards release in `Drop`), and the data stays as the panicking
//! code left it; `ShardMap` keeps its tables consistent across such panics.
//!
//! # Same-thread re-locking (all builds)
//!
//! Every acquisition first checks a thread-local list of the locks this
//! thread holds (by a lock id unique in the process) and panics, naming the
//! map operation and the caller's line (`#[track_caller]`), instead of
//! deadlocking. A thread that holds no lock pays one thread-local load and
//! compare for the check, and two stores to record and forget the hold.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;

use crossbeam_utils::CachePadded;

use sync::{
    thread_local, AtomicBool, AtomicU8, AtomicUsize, Backoff, DekkerLoad, Ordering, Parker, Queue,
};

mod guards;
#[cfg(epochmap_loom)]
pub mod loom_api;
mod reentry;
mod shared;
mod sync;

pub(crate) use guards::{MappedReadGuard, MappedWriteGuard, ReadGuard, WriteGuard};
pub(crate) use shared::{SharedGuard, SharedRef, UniqueGuard, UniqueRef, WeakShared, WeakUnique};

/// Makes guards `!Send` (and keeps them `Sync`, like `MutexGuard`): a lock
/// must be released on the thread that took it, and a guard cannot be held
/// across an `.await` in a `Send` future (the crate's marker, whose name is
/// the compiler's error message).
pub(crate) use crate::not_send::NotSend;

/// Largest number of reader slots a lock may have.
pub(crate) const MAX_READER_SLOTS: usize = 64;

#[cfg(not(epochmap_loom))]
static NEXT_THREAD_SLOT: AtomicUsize = AtomicUsize::new(0);

// Under loom, a static of each execution: the threads of a model get their
// slots in the order of their first reads, the same in every replay.
#[cfg(epochmap_loom)]
loom::lazy_static! {
    static ref NEXT_THREAD_SLOT: AtomicUsize = AtomicUsize::new(0);
}

thread_local! {
    /// This thread's preferred reader slot (taken modulo the slot count).
    /// `usize::MAX` until first use.
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn thread_slot() -> usize {
    THREAD_SLOT.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            v
        } else {
            // Relaxed: a counter handing out distinct starting slots.
            let v = NEXT_THREAD_SLOT.fetch_add(1, Ordering::Relaxed) % (1 << 20);
            s.set(v);
            v
        }
    })
}

thread_local! {
    /// Reads of this thread that found another reader in its slot, since
    /// the thread last moved.
    static SLOT_COLLISIONS: Cell<u32> = const { Cell::new(0) };
}

/// Collisions after which a thread moves to another slot.
const MOVE_AFTER_COLLISIONS: u32 = 64;

/// Another reader shared our slot. Threads get consecutive slots when they
/// first read, so concurrent threads usually read in different slots; if a
/// thread keeps meeting others in its slot (more threads than slots, or an
/// unlucky mix of threads that come and go), it moves to the next slot. The
/// threshold keeps two threads from chasing each other around.
#[cold]
fn slot_collision() {
    let moved = SLOT_COLLISIONS.with(|c| {
        let n = c.get() + 1;
        let moved = n >= MOVE_AFTER_COLLISIONS;
        c.set(if moved { 0 } else { n });
        moved
    });
    if moved {
        THREAD_SLOT.with(|s| s.set(s.get().wrapping_add(1) % (1 << 20)));
    }
}

/// `parked` bit: threads sleep on the `Queue::Flag` key (`RwLock::key`) until the flag drops.
const FLAG_WAITERS: u8 = 1;
/// Reader-slot bit: the flag holder sleeps on the `Queue::Drain` key until the
/// reader slots drain; the last reader to leave a marked slot wakes it.
const DRAIN_WAITER: usize = 1 << (usize::BITS - 1);

/// A reader-sharded readers-writer lock. See the module docs.
pub(crate) struct RwLock<T> {
    /// Held by the one writer that holds or is entering the lock. Invariant:
    /// only its holder stores `false`.
    writer: AtomicBool,
    /// `FLAG_WAITERS` bit: threads may sleep waiting for the flag to drop.
    /// Invariant: a bit may be set with nobody asleep (wakers then find no
    /// one), but nobody sleeps without its bit set.
    parked: AtomicU8,
    /// Per-slot count of readers inside (or about to step aside), plus the
    /// `DRAIN_WAITER` bit. Invariant: the length is a power of two, at most
    /// [`MAX_READER_SLOTS`]; the bit is clear whenever no writer is in
    /// `wait_for_drain`.
    readers: Box<[CachePadded<AtomicUsize>]>,
    /// The lock's entry to the parking lot (zero-sized but under loom).
    parker: Parker,
    /// This lock's id for the re-entry detector (`held`): unique in the
    /// process, immutable.
    id: u64,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&T` to several threads at once (needs
// `T: Sync`) and `&mut T` to one thread at a time, which may be another
// thread than the one that created the value (needs `T: Send`), exactly like
// `std::sync::RwLock`.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the `T` it owns; no thread-bound state.
unsafe impl<T: Send> Send for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock with `slots` reader slots (rounded up to a power
    /// of two, clamped to `1..=MAX_READER_SLOTS`).
    pub(crate) fn new(data: T, slots: usize) -> Self {
        let slots = slots.clamp(1, MAX_READER_SLOTS).next_power_of_two();
        RwLock {
            writer: AtomicBool::new(false),
            id: reentry::new_lock_id(),
            parked: AtomicU8::new(0),
            readers: (0..slots)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            parker: Parker::new(),
            data: UnsafeCell::new(data),
        }
    }

    /// Number of reader slots.
    pub(crate) fn reader_slots(&self) -> usize {
        self.readers.len()
    }

    /// Parking-lot key of `queue`: the address of a field of this lock,
    /// one field per queue.
    fn key(&self, queue: Queue) -> usize {
        match queue {
            Queue::Flag => &self.writer as *const AtomicBool as usize,
            Queue::Drain => &self.parked as *const AtomicU8 as usize,
        }
    }

    /// Takes a shared lock. `op` names the calling map operation for the
    /// re-entry check. Always inlined: left to itself the compiler calls it
    /// out of line from `Shard::write_present` (callgrind: 15 more
    /// instructions per present-key `update`).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn read(&self, op: &'static str) -> ReadGuard<'_, T> {
        reentry::enter(self.id, op);
        let mask = self.readers.len() - 1;
        loop {
            let slot = thread_slot() & mask;
            // SeqCst: the Dekker pair with the writer's flag CAS.
            let prev = self.readers[slot].fetch_add(1, Ordering::SeqCst);
            // SeqCst: the Dekker pair; as an acquire, pairs with the last
            // writer's Release store of `false` (module docs).
            if !self.writer.dekker_load() {
                if prev & !DRAIN_WAITER != 0 {
                    slot_collision();
                }
                return ReadGuard {
                    lock: self,
                    slot,
                    _not_send: PhantomData,
                };
            }
            // A writer holds or is entering the lock: step aside.
            self.release_slot(slot);
            self.wait_for_flag_down();
        }
    }

    /// Takes a shared lock if that needs no waiting: `None` when a writer
    /// holds or is entering the lock, or when this thread already holds it
    /// (where [`read`](Self::read) would panic, a try simply fails).
    #[inline]
    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        if reentry::holds(self.id) {
            return None;
        }
        let slot = thread_slot() & (self.readers.len() - 1);
        // SeqCst: the Dekker pair with the writer's flag CAS, as in `read`.
        let prev = self.readers[slot].fetch_add(1, Ordering::SeqCst);
        // SeqCst: as in `read`; as an acquire, pairs with the last writer's
        // Release store of `false`.
        if self.writer.dekker_load() {
            self.release_slot(slot);
            return None;
        }
        if prev & !DRAIN_WAITER != 0 {
            slot_collision();
        }
        // Not held by this thread (checked above): this cannot panic.
        reentry::enter(self.id, "try_get");
        Some(ReadGuard {
            lock: self,
            slot,
            _not_send: PhantomData,
        })
    }

    /// Takes a reader's count back out of `slot` (unlock, or stepping
    /// aside), waking the flag holder if it sleeps waiting for this slot.
    #[inline]
    fn release_slot(&self, slot: usize) {
        // SeqCst (Release would do in the C++20 model): pairs with the
        // writer's SeqCst slot load, so our reads happen before its writes,
        // also when that load reads a later decrement of the same slot by
        // another reader (a release sequence). With Release here, Miri
        // reported a race between a reader and a writer that had itself
        // just read-locked the same slot (fuzz_replay,
        // threaded_iterate_while_deleting); every RMW of a slot being SeqCst
        // leaves no mixed-ordering case, and costs nothing on x86 (the same
        // `lock xadd`). The RMW also tells whether a sleeping writer marked
        // this slot (module docs).
        let prev = self.readers[slot].fetch_sub(1, Ordering::SeqCst);
        debug_assert!(prev & !DRAIN_WAITER > 0);
        if prev == DRAIN_WAITER | 1 {
            self.wake_drain_waiter();
        }
    }

    #[cold]
    fn wake_drain_waiter(&self) {
        // SAFETY: the key is our own field's address, used for this queue
        // only.
        unsafe { self.parker.unpark_all(self.key(Queue::Drain), Queue::Drain) };
    }

    /// Waits until the writer flag is down (it may be up again by the time
    /// the caller looks).
    #[cold]
    fn wait_for_flag_down(&self) {
        let backoff = Backoff::new();
        loop {
            // Acquire: pairs with the flag holder's store of `false`.
            if !self.writer.load(Ordering::Acquire) {
                return;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            // SeqCst: announce, then re-check in `validate` (module docs).
            self.parked.fetch_or(FLAG_WAITERS, Ordering::SeqCst);
            let validate = || {
                self.writer.dekker_load() && self.parked.load(Ordering::SeqCst) & FLAG_WAITERS != 0
            };
            // SAFETY: `validate` neither panics nor calls into the parking
            // lot: it only loads atomics. The key is the address of our own
            // field, used for this queue only.
            unsafe {
                self.parker
                    .park(self.key(Queue::Flag), Queue::Flag, validate)
            };
        }
    }

    /// Lowers the writer flag (unlock, or a writer stepping back), waking
    /// the threads asleep waiting for it.
    #[inline]
    fn lower_flag(&self) {
        debug_assert!(self.writer.load(Ordering::Relaxed));
        // SeqCst: Release for readers and the next writer (our writes happen
        // before their accesses), and the Dekker pair with a waiter's
        // `FLAG_WAITERS` announcement.
        self.writer.store(false, Ordering::SeqCst);
        if self.parked.dekker_load() & FLAG_WAITERS != 0 {
            self.wake_flag_waiters();
        }
    }

    #[cold]
    fn wake_flag_waiters(&self) {
        // SeqCst: a waiter that announces itself after this sees the flag
        // down (or up again, by a writer that will wake it in turn) in its
        // validation.
        self.parked.fetch_and(!FLAG_WAITERS, Ordering::SeqCst);
        // SAFETY: the key is our own field's address, used for this queue
        // only.
        unsafe { self.parker.unpark_all(self.key(Queue::Flag), Queue::Flag) };
    }

    /// With the flag held, waits until every reader slot is zero.
    #[cold]
    fn wait_for_drain(&self) {
        let backoff = Backoff::new();
        let mut marked = false;
        loop {
            if self.readers_drained() {
                break;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            // Mark every slot, then re-check in `validate`: a reader that
            // leaves a marked slot last wakes us (module docs). SeqCst: the
            // total order of RMWs on each slot decides who sees whom.
            for counter in self.readers.iter() {
                counter.fetch_or(DRAIN_WAITER, Ordering::SeqCst);
            }
            marked = true;
            let validate = || !self.readers_drained();
            // SAFETY: `validate` neither panics nor calls into the parking
            // lot: it only loads atomics. The key is the address of our own
            // field, used for this queue only.
            unsafe {
                self.parker
                    .park(self.key(Queue::Drain), Queue::Drain, validate)
            };
        }
        if marked {
            for counter in self.readers.iter() {
                // Relaxed: only this writer sets or clears the bit, and it
                // holds the flag; readers only act on it when it is set.
                counter.fetch_and(!DRAIN_WAITER, Ordering::Relaxed);
            }
        }
    }

    /// Takes the exclusive lock. `op` names the calling map operation for
    /// the re-entry check.
    #[inline]
    #[track_caller]
    pub(crate) fn write(&self, op: &'static str) -> WriteGuard<'_, T> {
        reentry::enter(self.id, op);
        // The uncontended case inline: raise the flag, find no reader inside.
        // SeqCst: the Dekker pair with the readers' slot increments; as an
        // acquire, pairs with the previous holder's store of `false`.
        let raised = self
            .writer
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        if !(raised && self.readers_drained()) {
            self.write_contended(raised);
        }
        WriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Turns a read hold into the write lock, with no writer in between:
    /// the data is unchanged since the guard was taken, so what the reader
    /// found (a bucket index, say) is still valid. Fails, giving the read
    /// guard back, if another writer holds or is entering the lock (it
    /// waits for this reader; the caller then drops the guard and locks
    /// anew).
    ///
    /// Why nothing can change in between: while the read hold lasts, every
    /// writer that raises the flag finds this guard's slot non-zero (the
    /// Dekker pair of the module docs), so none is inside. Raising the flag
    /// here keeps arriving readers and writers out; then this reader's own
    /// count goes, and the readers still inside (who only read) are waited
    /// for, with the flag kept up throughout (never stepping back, which
    /// would let a writer in).
    #[inline]
    pub(crate) fn try_upgrade(
        guard: ReadGuard<'_, T>,
    ) -> Result<WriteGuard<'_, T>, ReadGuard<'_, T>> {
        let lock = guard.lock;
        // SeqCst: as in `write` (the Dekker pair with the readers'
        // increments; as an acquire, pairs with the previous holder's store
        // of `false`).
        if lock
            .writer
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return Err(guard);
        }
        let slot = guard.slot;
        // The hold moves to the write guard: the re-entry record stays as
        // it is (one hold of this lock), and the slot count is taken back
        // here instead of in the read guard's `Drop`.
        std::mem::forget(guard);
        lock.release_slot(slot);
        if !lock.readers_drained() {
            lock.wait_for_drain_holding_flag();
        }
        Ok(WriteGuard {
            lock,
            _not_send: PhantomData,
        })
    }

    /// With the flag held, waits until every reader slot is zero, keeping
    /// the flag up (a short spin, then [`wait_for_drain`](Self::wait_for_drain)).
    #[cold]
    #[inline(never)]
    fn wait_for_drain_holding_flag(&self) {
        if !self.spin_for_drain() {
            self.wait_for_drain();
        }
    }

    /// Gives the readers inside a short spin to leave: 127 pause
    /// instructions in all (one under loom), checking less and less often. True if every
    /// reader slot drained.
    #[inline]
    fn spin_for_drain(&self) -> bool {
        for round in 0..=Self::SPIN_ROUNDS {
            if self.readers_drained() {
                return true;
            }
            if round < Self::SPIN_ROUNDS {
                for _ in 0..1u32 << round {
                    sync::spin_loop();
                }
            }
        }
        false
    }

    /// The rest of [`write`](Self::write) when the flag was taken
    /// (`flag_held`) but readers are inside, or when another writer holds
    /// it: returns once this thread holds the flag and every reader slot is
    /// drained.
    #[cold]
    #[inline(never)]
    fn write_contended(&self, mut flag_held: bool) {
        let mut polite = Self::POLITE_ATTEMPTS;
        let step_back = Backoff::new();
        loop {
            // SeqCst: as in `write`.
            if !flag_held
                && self
                    .writer
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
            {
                self.wait_for_flag_down();
                continue;
            }
            flag_held = false;
            // Give the readers inside (and those about to step aside) a
            // short spin to leave.
            if self.spin_for_drain() {
                return;
            }
            if polite == 0 {
                // Keep the flag up: only the readers inside remain.
                self.wait_for_drain();
                return;
            }
            // A reader is slow to leave: step back so that the shard's
            // other readers can go on, and retry.
            polite -= 1;
            self.lower_flag();
            step_back.snooze();
        }
    }

    /// How often a writer steps back for slow readers before insisting
    /// (once under loom: the models take both paths in few steps).
    const POLITE_ATTEMPTS: u32 = if cfg!(epochmap_loom) { 1 } else { 8 };
    /// Rounds of the writer's spin for readers to leave (round `i` pauses
    /// `2^i` times; one pause under loom, where a pause is a yield).
    const SPIN_ROUNDS: u32 = if cfg!(epochmap_loom) { 1 } else { 7 };

    /// True when every reader slot is zero.
    #[inline]
    fn readers_drained(&self) -> bool {
        // SeqCst: the Dekker pair with the readers' increments; as an
        // acquire, pairs with their Release decrements, so their reads
        // happen before our writes.
        self.readers
            .iter()
            .all(|counter| counter.dekker_load() & !DRAIN_WAITER == 0)
    }

    /// Whether a writer holds or is entering the lock. Called by a holder of
    /// a read guard, `true` means a writer waits for the readers inside to
    /// leave: a long read section that can stop early (a traversal between
    /// two entries) should release its guard soon. Only a hint: nothing is
    /// read under its authority, so Relaxed (the writer's flag CAS is seen a
    /// little later at worst, and the lock's Dekker pair still decides who
    /// enters).
    #[inline]
    pub(crate) fn writer_waiting(&self) -> bool {
        self.writer.load(Ordering::Relaxed)
    }

    /// Exclusive access through `&mut self`: no locking needed.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Consumes the lock, returning the data.
    pub(crate) fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbrown::HashTable;
    use std::sync::Arc;

    #[test]
    fn read_write_exclusion() {
        let threads = if cfg!(miri) { 2 } else { 4 };
        let iters = if cfg!(miri) { 50 } else { 20_000 };
        // Invariant: both halves equal whenever a reader looks.
        let lock = Arc::new(RwLock::new((0u64, 0u64), 2));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for i in 0..iters {
                        if (i + t) % 4 == 0 {
                            let mut g = lock.write("test");
                            g.0 += 1;
                            std::hint::spin_loop();
                            g.1 += 1;
                        } else {
                            let g = lock.read("test");
                            assert_eq!(g.0, g.1);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let g = lock.read("test");
        let writes = (0..threads)
            .map(|t| (0..iters).filter(|i| (i + t) % 4 == 0).count() as u64)
            .sum::<u64>();
        assert_eq!(*g, (writes, writes));
    }

    #[test]
    fn slots_rounded_and_clamped() {
        assert_eq!(RwLock::new((), 0).reader_slots(), 1);
        assert_eq!(RwLock::new((), 3).reader_slots(), 4);
        assert_eq!(RwLock::new((), 1000).reader_slots(), MAX_READER_SLOTS);
    }

    #[test]
    fn panic_releases() {
        let lock = RwLock::new(1, 2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut g = lock.write("test");
            *g = 2;
            panic!("boom");
        }));
        assert!(r.is_err());
        assert_eq!(*lock.read("test"), 2);
        *lock.write("test") = 3;
        assert_eq!(*lock.read("test"), 3);
    }

    #[test]
    fn mapped_and_iter_guards() {
        let lock = RwLock::new(vec![1, 2, 3], 1);
        {
            let m = lock.read("t").try_map(|v| v.get(1)).unwrap();
            assert_eq!(*m, 2);
        }
        {
            let mut m = lock.write("t").try_map(|v| v.get_mut(2)).unwrap();
            *m = 30;
        }
        assert!(lock.read("t").try_map(|v| v.get(7)).is_none());
        let table = RwLock::new(HashTable::new(), 1);
        {
            let mut g = table.write("t");
            for x in [1u64, 2, 3] {
                g.insert_unique(x, x, |&x| x);
            }
        }
        {
            let g = UniqueGuard::new(table.write("t"));
            let mut items: Vec<_> = (0..g.num_buckets())
                .filter_map(|i| g.bucket_mut(i))
                .collect();
            drop(g);
            for x in items.iter_mut() {
                **x += 10;
            }
        }
        let g = SharedGuard::new(table.read("t"));
        let items: Vec<_> = (0..g.data().num_buckets())
            .filter_map(|i| g.item(|t| t.get_bucket(i)))
            .collect();
        let weak = g.downgrade();
        drop(g);
        assert!(weak.upgrade().is_some(), "items keep the lock");
        let mut values: Vec<u64> = items.iter().map(|x| **x).collect();
        values.sort_unstable();
        assert_eq!(values, vec![11, 12, 13]);
        drop(items);
        assert!(weak.upgrade().is_none());
        *lock.write("t") = vec![];
    }

    #[test]
    fn long_hold_parks_waiters() {
        // A writer waits behind a reader that holds the lock for a while
        // (long enough to reach the sleeping phase), then gets in.
        let lock = Arc::new(RwLock::new(0u32, 2));
        let guard = lock.read("t");
        let l2 = Arc::clone(&lock);
        let writer = std::thread::spawn(move || *l2.write("t") += 1);
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) {
            1
        } else {
            20
        }));
        assert_eq!(*guard, 0, "the writer cannot get in while we read");
        drop(guard);
        writer.join().unwrap();
        assert_eq!(*lock.read("t"), 1);
    }

    #[test]
    fn long_write_parks_readers_and_writers() {
        // Readers and a second writer wait behind a writer that holds the
        // lock long enough for them to go to sleep; all get in afterwards.
        let lock = Arc::new(RwLock::new(0u32, 2));
        let mut guard = lock.write("t");
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let l = Arc::clone(&lock);
                std::thread::spawn(move || {
                    if i == 0 {
                        *l.write("t") += 1;
                    } else {
                        assert!(*l.read("t") >= 10);
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) {
            1
        } else {
            20
        }));
        *guard = 10;
        drop(guard);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*lock.read("t"), 11);
    }

    #[test]
    fn upgrade_excludes_writers_and_waits_for_readers() {
        let threads = if cfg!(miri) { 2 } else { 4 };
        let iters = if cfg!(miri) { 40 } else { 20_000 };
        // Each thread reads the counter, upgrades, and writes it plus one;
        // a write between the read and the upgrade would lose an
        // increment. Failed upgrades retry under a plain write lock.
        let lock = Arc::new(RwLock::new(0u64, 2));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    let mut upgraded = 0u64;
                    for i in 0..iters {
                        if (i + t) % 3 == 0 {
                            let g = lock.read("test");
                            let _ = *g;
                            continue;
                        }
                        let r = lock.read("test");
                        let seen = *r;
                        match RwLock::try_upgrade(r) {
                            Ok(mut w) => {
                                assert_eq!(*w, seen, "a write got in before the upgrade");
                                *w = seen + 1;
                                upgraded += 1;
                            }
                            Err(r) => {
                                drop(r);
                                *lock.write("test") += 1;
                            }
                        }
                    }
                    upgraded
                })
            })
            .collect();
        let upgraded: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let writes = (0..threads)
            .map(|t| (0..iters).filter(|i| (i + t) % 3 != 0).count() as u64)
            .sum::<u64>();
        assert_eq!(*lock.read("test"), writes);
        assert!(upgraded > 0);
        // The upgraded hold is one hold: the lock is free afterwards, and
        // the re-entry check still knows it while it lives.
        let w = RwLock::try_upgrade(lock.read("t")).ok().unwrap();
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(lock.read("again"));
        }));
        assert!(again.is_err());
        drop(w);
        drop(lock.write("t"));
    }

    #[test]
    #[should_panic(expected = "ShardMap::again called while this thread holds a guard")]
    fn relock_detected() {
        let lock = RwLock::new(0, 1);
        let _g = lock.read("first");
        let _h = lock.read("again");
    }
}
