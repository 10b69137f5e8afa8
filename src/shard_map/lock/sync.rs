//! The synchronisation primitives of the shard lock: `std`'s, crossbeam's
//! `Backoff` and the parking lot of [`parking_lot_core`] normally, [loom]'s
//! mocks under `--cfg epochmap_loom`, so that the loom models
//! (`loom/tests/shard_lock.rs`) check the real lock, not a copy.
//!
//! Without `cfg(epochmap_loom)` this module only re-exports `std` and crossbeam
//! items and forwards to `parking_lot_core`, so the normal build compiles
//! the same code as if the lock used them directly ([`Parker`] is then
//! zero-sized).
//!
//! Under loom:
//! - the atomics and thread-locals (`thread_local`) are loom's (loom runs every model thread
//!   on one OS thread, so `std::thread_local!` would be shared by them);
//! - every spin or snooze is a `yield_now`, so that the model runs the
//!   thread waited for, and a [`Backoff`] completes after one snooze, so that
//!   the models reach the sleeping paths in few steps;
//! - the parking lot is a loom `Mutex` and one `Condvar` per queue in each
//!   lock ([`Parker`]), with the semantics the lock relies on from
//!   `parking_lot_core`: `validate` runs under the queue's lock, and
//!   `unpark_all` takes that lock, so a waker either runs before the
//!   validation (which then sees the changed condition) or finds the waiter
//!   queued. A lost wake-up is then a loom deadlock.
//!
//! The re-entry detector's lock-id counter stays a `std` atomic: it only
//! hands out distinct ids, which are compared for equality and order
//! nothing.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(epochmap_loom))]
pub(super) use crossbeam_utils::Backoff;
#[cfg(not(epochmap_loom))]
pub(super) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

#[cfg(epochmap_loom)]
pub(super) use loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// `std::thread_local!` with `const` initialisers, and loom's under loom
/// (whose macro takes no `const` block: there the block is the lazy
/// initialiser).
macro_rules! lock_thread_local {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = const $init:block;)*) => {
        $(
            #[cfg(not(epochmap_loom))]
            std::thread_local!($(#[$attr])* static $name: $t = const $init;);
            #[cfg(epochmap_loom)]
            loom::thread_local!($(#[$attr])* static $name: $t = $init;);
        )*
    };
}
pub(super) use lock_thread_local as thread_local;

/// `load(SeqCst)` for a load that ends one side of a Dekker pair (a thread
/// stores to one atomic and then loads another, against a thread that does
/// the converse, and at least one of them must see the other's store).
///
/// Loom does not model the store-load ordering of `SeqCst` accesses (for
/// it, `SeqCst` is `AcqRel` plus coherence: both sides may read the old
/// values). Under loom such a load is therefore a compare-exchange that
/// always fails (its expected value never occurs): a failed compare-exchange
/// reads the newest value in the variable's modification order, like a
/// read-modify-write, and writes nothing, so the side that comes second
/// sees the other's store, which is the Dekker pair's guarantee. (A
/// read-modify-write that writes the value back would create release edges
/// the real load lacks; and loom orders all `SeqCst` fences, so a fence would
/// release each thread's earlier writes to every later fence. Either would
/// hide missing Releases from the models.)
pub(super) trait DekkerLoad {
    type Value;
    fn dekker_load(&self) -> Self::Value;
}

impl DekkerLoad for AtomicBool {
    type Value = bool;
    #[cfg(not(epochmap_loom))]
    #[inline]
    fn dekker_load(&self) -> bool {
        self.load(Ordering::SeqCst)
    }
    #[cfg(epochmap_loom)]
    fn dekker_load(&self) -> bool {
        self.0.dekker_load() != 0
    }
}

impl DekkerLoad for AtomicU8 {
    type Value = u8;
    #[cfg(not(epochmap_loom))]
    #[inline]
    fn dekker_load(&self) -> u8 {
        self.load(Ordering::SeqCst)
    }
    /// `parked` holds only the `FLAG_WAITERS` bit, the loom writer flag 0
    /// or 1: never `u8::MAX`.
    #[cfg(epochmap_loom)]
    fn dekker_load(&self) -> u8 {
        let (Ok(v) | Err(v)) =
            self.compare_exchange(u8::MAX, u8::MAX, Ordering::SeqCst, Ordering::SeqCst);
        v
    }
}

impl DekkerLoad for AtomicUsize {
    type Value = usize;
    #[cfg(not(epochmap_loom))]
    #[inline]
    fn dekker_load(&self) -> usize {
        self.load(Ordering::SeqCst)
    }
    /// A reader slot never counts `usize::MAX & !DRAIN_WAITER` readers.
    #[cfg(epochmap_loom)]
    fn dekker_load(&self) -> usize {
        let (Ok(v) | Err(v)) =
            self.compare_exchange(usize::MAX, usize::MAX, Ordering::SeqCst, Ordering::SeqCst);
        v
    }
}

/// The writer flag under loom: a loom `AtomicU8` holding 0 or 1, with the
/// part of `AtomicBool`'s API the lock uses, so that
/// [`dekker_load`](DekkerLoad::dekker_load) can compare against a value
/// that never occurs (`u8::MAX`).
#[cfg(epochmap_loom)]
pub(super) struct AtomicBool(AtomicU8);

#[cfg(epochmap_loom)]
impl AtomicBool {
    pub(super) fn new(v: bool) -> Self {
        AtomicBool(AtomicU8::new(v as u8))
    }

    pub(super) fn load(&self, order: Ordering) -> bool {
        self.0.load(order) != 0
    }

    pub(super) fn store(&self, v: bool, order: Ordering) {
        self.0.store(v as u8, order);
    }

    pub(super) fn compare_exchange(
        &self,
        current: bool,
        new: bool,
        success: Ordering,
        failure: Ordering,
    ) -> Result<bool, bool> {
        self.0
            .compare_exchange(current as u8, new as u8, success, failure)
            .map(|v| v != 0)
            .map_err(|v| v != 0)
    }
}

/// One pause of a spin-wait: a CPU hint (a yield under loom, so that the
/// model runs the thread waited for).
#[inline]
pub(super) fn spin_loop() {
    #[cfg(not(epochmap_loom))]
    std::hint::spin_loop();
    #[cfg(epochmap_loom)]
    loom::thread::yield_now();
}

/// Crossbeam's `Backoff` under loom: one snooze (a yield), then completed.
#[cfg(epochmap_loom)]
pub(super) struct Backoff {
    snoozed: std::cell::Cell<bool>,
}

#[cfg(epochmap_loom)]
impl Backoff {
    pub(super) fn new() -> Self {
        Backoff {
            snoozed: std::cell::Cell::new(false),
        }
    }

    pub(super) fn snooze(&self) {
        self.snoozed.set(true);
        loom::thread::yield_now();
    }

    pub(super) fn is_completed(&self) -> bool {
        self.snoozed.get()
    }
}

/// The lock's two wait queues.
#[derive(Clone, Copy)]
pub(super) enum Queue {
    /// Threads waiting for the writer flag to drop.
    Flag = 0,
    /// The flag holder waiting for the reader slots to drain.
    Drain = 1,
}

/// A lock's entry to the parking lot: zero-sized normally (the parking lot
/// of `parking_lot_core` is global, keyed by address), a loom mutex and a
/// condition variable per queue under loom.
pub(super) struct Parker {
    #[cfg(epochmap_loom)]
    mutex: loom::sync::Mutex<()>,
    #[cfg(epochmap_loom)]
    queues: [loom::sync::Condvar; 2],
}

impl Parker {
    pub(super) fn new() -> Self {
        Parker {
            #[cfg(epochmap_loom)]
            mutex: loom::sync::Mutex::new(()),
            #[cfg(epochmap_loom)]
            queues: [loom::sync::Condvar::new(), loom::sync::Condvar::new()],
        }
    }

    /// Sleeps on `queue` if `validate` (run while no waker of the queue can
    /// run) returns true, until woken by [`unpark_all`](Self::unpark_all)
    /// (or spuriously: callers re-check their condition). `key` is the
    /// queue's parking-lot key: an address of the lock, unique to the
    /// queue.
    ///
    /// # Safety
    ///
    /// `validate` neither panics nor calls into the parking lot, and `key`
    /// is used by no one else than this lock's `queue` (the contract of
    /// `parking_lot_core::park`).
    pub(super) unsafe fn park(&self, key: usize, queue: Queue, validate: impl FnOnce() -> bool) {
        #[cfg(not(epochmap_loom))]
        {
            let _ = queue;
            // SAFETY: the caller's contract is `park`'s: the callbacks
            // neither panic nor call into the parking lot (the two others
            // do nothing), and the key belongs to this queue.
            unsafe {
                parking_lot_core::park(
                    key,
                    validate,
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    None,
                );
            }
        }
        #[cfg(epochmap_loom)]
        {
            let _ = key;
            let held = self.mutex.lock().unwrap();
            if validate() {
                drop(self.queues[queue as usize].wait(held).unwrap());
            }
        }
    }

    /// Wakes every thread asleep on `queue` (`key`: as in
    /// [`park`](Self::park)).
    ///
    /// # Safety
    ///
    /// `key` is used by no one else than this lock's `queue` (the contract
    /// of `parking_lot_core::unpark_all`).
    pub(super) unsafe fn unpark_all(&self, key: usize, queue: Queue) {
        #[cfg(not(epochmap_loom))]
        {
            let _ = queue;
            // SAFETY: no callbacks; the key belongs to this queue (the
            // caller's contract).
            unsafe {
                parking_lot_core::unpark_all(key, parking_lot_core::DEFAULT_UNPARK_TOKEN);
            }
        }
        #[cfg(epochmap_loom)]
        {
            let _ = key;
            let _held = self.mutex.lock().unwrap();
            self.queues[queue as usize].notify_all();
        }
    }
}
