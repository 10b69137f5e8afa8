//! The marker that makes the crate's guards `!Send`, named so that the
//! compiler's error for a guard held across an `.await` says what to do.
//!
//! A `Send` future (`tokio::spawn`) that holds a guard across an `.await`
//! fails to compile with "the trait `Send` is not implemented for `dyn
//! epochmap::GuardHeldAcrossAwait_UseGetClonedOrViewInstead`": the one type
//! every guard is `!Send` through. (Types that hold raw pointers besides the
//! marker are `Send` exactly when the marker is, which is never, so the
//! compiler reports the marker once instead of each pointer.)

use std::marker::PhantomData;

/// Never implemented: its name is the compiler's message for a guard of this
/// crate (`shard_map::Ref`, `RefMut`, an `Entry`, `atomic_map::Ref`,
/// `Pinned`, ...) held across an `.await` in a `Send` future. Take the
/// value out before the `.await` instead: `get_cloned`, or `view(key, f)`
/// (which runs `f` and releases at once).
#[doc(hidden)]
#[allow(non_camel_case_types)]
pub trait GuardHeldAcrossAwait_UseGetClonedOrViewInstead {}

/// `!Send` and `Sync` (like `MutexGuard`): a guard that holds a lock or pins
/// a thread must be released on the thread that took it.
pub(crate) type NotSend =
    PhantomData<Box<dyn GuardHeldAcrossAwait_UseGetClonedOrViewInstead + Sync>>;

/// As [`NotSend`], generic, for the `where NotSendFor<X>: Send` bounds of
/// impls that must not be trivially false (they never hold). (Used only in
/// such bounds, which Rust 1.80's dead-code lint does not count.)
#[allow(dead_code)]
pub(crate) type NotSendFor<T> = PhantomData<(fn() -> T, NotSend)>;
