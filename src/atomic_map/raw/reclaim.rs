//! Reclamation: the one place of [`AtomicPtrMap`](crate::AtomicPtrMap) that
//! talks to `crossbeam-epoch`.
//!
//! Everything the map unlinks (an overwritten or removed value, an expunged
//! entry, a superseded snapshot array, overlay array or layer set) is handed
//! to [`retire`], which defers its destruction until every thread that was
//! pinned when it was unlinked has unpinned. The map uses the global
//! collector of `crossbeam-epoch` (one `pin` is a thread-local counter bump,
//! which is what makes per-call reads cheap), so retired objects are freed by
//! whichever thread next collects garbage, possibly after the map itself has
//! been dropped. That is why the map's operations require `K`, `V: Send +
//! 'static`.
//!
//! Large arrays (a superseded snapshot or overlay, [`OFFLOAD_BYTES`] or more)
//! are not freed by the thread that runs their deferred destructor: that is
//! often a writer (a pin collects garbage), and freeing an array returns its
//! pages to the system, at a cost that grows with the array, so the slowest
//! insert grew with the map. The destructor hands them to the *reclaimer*, one
//! background thread per process started on first use, which frees them
//! ([`free_large`]). If that thread cannot be started, arrays are freed where
//! they are; under loom and Miri they always are.
//!
//! The garbage counters count on retire and count down in the deferred
//! destructor (for a large array: once it is handed to the reclaimer), so [`Stats`](crate::atomic_map::Stats) reports how much memory is waiting
//! for readers to unpin: a long-held guard shows up there instead of growing
//! memory unnoticed.

use std::sync::Arc;
#[cfg(not(any(loom, miri)))]
use std::sync::{mpsc, OnceLock};

use super::pool::free_value;
use super::sync::{AtomicUsize, Ordering};

pub(crate) use crossbeam_epoch::Guard;

/// Pins the current thread to the global epoch.
#[inline]
pub(crate) fn pin() -> Guard {
    crossbeam_epoch::pin()
}

/// Objects and bytes retired but not yet freed, for one partition.
///
/// Held in an `Arc` by the partition, and every retired object holds one
/// more strong reference until its destructor has run (so the counters
/// outlive the map when the collector frees its garbage later). That strong
/// count *is* the object counter: `objects = strong_count - 1`, which makes
/// retiring a value, the common case, cost one atomic increment and freeing
/// it one decrement (the reference the closure holds). Values are counted
/// at `size_of::<V>()` bytes each, computed when the statistics are read;
/// only the other objects (arrays, layer sets, batches of entries), which
/// are retired rarely, count their bytes as they go.
#[derive(Debug, Default)]
pub(super) struct Garbage {
    /// Retired objects other than values. Counter only: Relaxed.
    other_objects: AtomicUsize,
    /// Their bytes. Counter only: Relaxed.
    other_bytes: AtomicUsize,
}

impl Garbage {
    /// Objects retired and not yet freed (a racy statistic).
    pub(super) fn objects(this: &Arc<Self>) -> usize {
        // The partition's own reference is the one not held by garbage.
        Arc::strong_count(this).saturating_sub(1)
    }

    /// Bytes of those objects, values counted at `value_size` each.
    pub(super) fn bytes(this: &Arc<Self>, value_size: usize) -> usize {
        let objects = Self::objects(this);
        let others = this.other_objects.load(Ordering::Relaxed);
        let values = objects.saturating_sub(others);
        this.other_bytes
            .load(Ordering::Relaxed)
            .saturating_add(values.saturating_mul(value_size))
    }
}

/// Defers `destroy()` until no thread pinned now can still be reading the
/// object it frees, and counts it (with `bytes`) as garbage until then.
/// For values, [`retire_value`] is cheaper.
///
/// # Safety
/// 1. The object that `destroy` frees has been unlinked: no pointer to it is
///    reachable from anything published by the map any more, so only threads
///    pinned now (before this call returns) can still hold a reference.
/// 2. `destroy` is called at most once for that object, here and nowhere else
///    (the caller gives up ownership).
/// 3. `destroy` may run on any thread, at any later time, even after the map
///    is dropped: whatever it drops must be `Send + 'static`.
pub(super) unsafe fn retire<F>(guard: &Guard, garbage: &Arc<Garbage>, bytes: usize, destroy: F)
where
    F: FnOnce() + 'static,
{
    garbage.other_objects.fetch_add(1, Ordering::Relaxed);
    garbage.other_bytes.fetch_add(bytes, Ordering::Relaxed);
    // The strong reference counts the object (see `Garbage`).
    let garbage = Arc::clone(garbage);
    // SAFETY: the caller guarantees (1) the object is unlinked, so after the
    // current epoch has passed no thread can reach it, (2) it is destroyed only
    // here and (3) the closure may run on any thread at any later time.
    unsafe {
        guard.defer_unchecked(move || {
            destroy();
            garbage.other_objects.fetch_sub(1, Ordering::Relaxed);
            garbage.other_bytes.fetch_sub(bytes, Ordering::Relaxed);
            drop(garbage);
        });
    }
}

/// [`retire`] for a value: counted by the strong reference alone (see
/// [`Garbage`]), so it costs one atomic increment now and one decrement when
/// it is freed.
///
/// # Safety
/// As [`retire`].
#[inline]
pub(super) unsafe fn retire_value<F>(guard: &Guard, garbage: &Arc<Garbage>, destroy: F)
where
    F: FnOnce() + 'static,
{
    let garbage = Arc::clone(garbage);
    // SAFETY: as in `retire`, from the caller's guarantees.
    unsafe {
        guard.defer_unchecked(move || {
            destroy();
            drop(garbage);
        });
    }
}

/// Pushes this thread's garbage to the global queue and tries to collect:
/// called after retiring a snapshot, so large arrays do not wait in a
/// thread-local bag.
///
/// Collecting runs deferred destructors, which may be any user `Drop`, and a
/// `Drop` that writes to a map can merge and call `flush` again. Nested flushes
/// are skipped: without that, each level collects more garbage whose
/// destructors flush again, and the recursion is bounded only by the amount of
/// garbage (it overflowed a 2 MiB test-thread stack in a debug build). The
/// skipped garbage stays queued and is collected by the outer flush or by a
/// later pin, so nothing leaks.
#[inline]
pub(super) fn flush(guard: &Guard) {
    use std::cell::Cell;

    #[cfg(not(loom))]
    thread_local! {
        static FLUSHING: Cell<bool> = const { Cell::new(false) };
    }
    // Loom runs its threads on one OS thread: a `std` thread-local would be
    // shared by them.
    #[cfg(loom)]
    super::sync::thread_local! {
        static FLUSHING: Cell<bool> = Cell::new(false);
    }
    /// Clears the flag even if a destructor panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = FLUSHING.try_with(|f| f.set(false));
        }
    }

    // During thread teardown the TLS slot may be gone; then flushing is
    // skipped too (crossbeam collects the garbage later).
    let entered = FLUSHING.try_with(|f| !f.replace(true)).unwrap_or(false);
    if entered {
        let _reset = Reset;
        guard.flush();
    }
}

/// Retires a boxed `T`: it is dropped once every thread pinned now unpins.
///
/// # Safety
/// As [`retire`]: `p` came from `Box::into_raw`, is unlinked and is
/// retired only once; `T: Send` in the sense that dropping it on another
/// thread is sound.
pub(super) unsafe fn retire_box<T: 'static>(
    guard: &Guard,
    garbage: &Arc<Garbage>,
    p: *mut T,
    bytes: usize,
) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        drop(unsafe { Box::from_raw(p) })
    };
    // SAFETY: forwarded from the caller.
    unsafe { retire(guard, garbage, bytes, destroy) }
}

/// Retires a boxed value, counted as garbage at `size_of::<V>()` bytes;
/// once freed, its memory is recycled ([`free_value`]).
///
/// # Safety
/// As [`retire_box`].
#[inline]
pub(super) unsafe fn retire_boxed_value<V: 'static>(
    guard: &Guard,
    garbage: &Arc<Garbage>,
    p: *mut V,
) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it: its value is dropped and
        // its memory recycled for this thread's next value box.
        unsafe { free_value(p) }
    };
    // SAFETY: forwarded from the caller.
    unsafe { retire_value(guard, garbage, destroy) }
}

/// Arrays of at least this many bytes are freed by the reclaimer thread
/// (there is none under loom and Miri: everything is freed inline).
#[cfg_attr(any(loom, miri), allow(dead_code))]
pub(super) const OFFLOAD_BYTES: usize = 64 * 1024;

/// Drops `b`, about `bytes` bytes: on the reclaimer thread if it is at least
/// [`OFFLOAD_BYTES`] (and the thread runs), else here. For memory only:
/// `T`'s drop must run no user code (it may run at any later time, and
/// after the map is dropped).
pub(super) fn free_large<T: Send + 'static>(b: Box<T>, bytes: usize) {
    #[cfg(not(any(loom, miri)))]
    if bytes >= OFFLOAD_BYTES {
        if let Some(tx) = reclaimer() {
            // A send fails only if the reclaimer is gone; then the box comes
            // back and is dropped here.
            if let Err(mpsc::SendError(b)) = tx.send(b) {
                drop(b);
            }
            #[cfg(test)]
            tests::OFFLOADED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let _ = bytes;
    drop(b);
}

/// The reclaimer's queue, starting the thread on first use; `None` if it
/// could not be started.
#[cfg(not(any(loom, miri)))]
fn reclaimer() -> Option<&'static mpsc::Sender<Box<dyn Send>>> {
    static RECLAIMER: OnceLock<Option<mpsc::Sender<Box<dyn Send>>>> = OnceLock::new();
    RECLAIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Box<dyn Send>>();
            std::thread::Builder::new()
                .name("epochmap-reclaim".into())
                // It only frees memory.
                .stack_size(64 * 1024)
                .spawn(move || {
                    for b in rx {
                        drop(b);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// [`retire_box`] for an array (a table): freed through [`free_large`].
///
/// # Safety
/// As [`retire_box`]; dropping a `T` frees memory and runs no user code.
pub(super) unsafe fn retire_array<T: Send + 'static>(
    guard: &Guard,
    garbage: &Arc<Garbage>,
    p: *mut T,
    bytes: usize,
) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        free_large(unsafe { Box::from_raw(p) }, bytes)
    };
    // SAFETY: forwarded from the caller.
    unsafe { retire(guard, garbage, bytes, destroy) }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Boxes handed to the reclaimer (by any test of this binary).
    pub(in super::super) static OFFLOADED: AtomicUsize = AtomicUsize::new(0);

    /// Records the thread that drops it.
    struct Probe(std::sync::mpsc::Sender<std::thread::ThreadId>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    #[test]
    fn large_arrays_are_freed_by_the_reclaimer() {
        let (tx, rx) = std::sync::mpsc::channel();
        let me = std::thread::current().id();
        free_large(Box::new(Probe(tx.clone())), 16);
        assert_eq!(rx.recv().unwrap(), me, "a small array is freed here");
        // (The size is what the caller says it is.)
        free_large(Box::new(Probe(tx)), OFFLOAD_BYTES);
        let by = rx.recv().unwrap();
        if cfg!(miri) {
            assert_eq!(by, me);
        } else {
            assert_ne!(by, me, "a large array is freed by the reclaimer");
        }
    }
}
