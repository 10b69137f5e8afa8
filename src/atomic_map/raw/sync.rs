//! The synchronisation primitives of [`AtomicPtrMap`](crate::AtomicPtrMap)'s
//! engine: `std`'s normally, [loom]'s mocks under `--cfg epochmap_loom`, so that the
//! loom models (`loom/tests/loom.rs`) check the real engine, not a copy.
//!
//! Without `cfg(epochmap_loom)` this module only re-exports `std` items, so the
//! normal build compiles exactly the same code as if the engine imported
//! them from `std` directly.
//!
//! Loom's atomics cannot be made from zeroed memory or in `const`/`static`
//! contexts; the few places of the engine that build atomics that way have a
//! `cfg(epochmap_loom)` path that builds them one at a time. Loom runs every model
//! thread on one OS thread, so `std::thread_local!` would be shared by them:
//! the engine's thread-locals use [`thread_local`] under loom.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(epochmap_loom))]
pub(crate) use std::sync::atomic::{AtomicIsize, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(epochmap_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(epochmap_loom)]
pub(crate) use loom::sync::atomic::{AtomicIsize, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(epochmap_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(epochmap_loom)]
pub(crate) use loom::{cell::UnsafeCell, thread_local};

/// One round of a short spin-wait for another thread's store: a CPU hint
/// (a yield under loom, so that the model runs the thread waited for).
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(not(epochmap_loom))]
    std::hint::spin_loop();
    #[cfg(epochmap_loom)]
    loom::thread::yield_now();
}
