//! A found entry carried together with the guard that keeps it alive, for
//! the façade's per-call `get`, which returns a value without a `Pinned`.
//! (The one module that uses [`RawMap`]: it is an engine call.)

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::reclaim::{pin, Guard};
use super::RawMap;
use crate::not_send::{NotSend, NotSendFor};

/// An epoch guard for the façade's handles (`Pinned`, `OwnedPinned`):
/// derefs to the crossbeam [`Guard`], and is `!Send` through the crate's
/// marker, whose name is the compiler's error for a handle held across an
/// `.await`.
///
/// (Generic only so that its `Send` impl's bound is not trivially false;
/// always `PinGuard<()>`.)
pub(crate) struct PinGuard<T = ()> {
    guard: Guard,
    _not_send: PhantomData<(T, NotSend)>,
}

impl<T> PinGuard<T> {
    /// Pins this thread.
    pub(crate) fn new() -> Self {
        PinGuard {
            guard: pin(),
            _not_send: PhantomData,
        }
    }
}

impl<T> std::ops::Deref for PinGuard<T> {
    type Target = Guard;
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for PinGuard<T> {
    fn deref_mut(&mut self) -> &mut Guard {
        &mut self.guard
    }
}

// SAFETY: vacuous: `NotSendFor<T>` is never `Send`, so this never applies.
// It only makes the compiler blame the marker (whose name says what to do)
// instead of crossbeam's pointer when a handle is held across an `.await`.
unsafe impl<T> Send for PinGuard<T> where NotSendFor<T>: Send {}

/// The key and value of an entry of a map borrowed for `'m`, found under
/// `guard` and valid while this lives. `!Send` and `!Sync` (it holds a
/// guard, which pins this thread).
pub(crate) struct Guarded<'m, K, V> {
    /// Both point into memory loaded under `guard` (see [`Guarded::find`]).
    key: NonNull<K>,
    value: NonNull<V>,
    /// Dropped after the pointers are last usable (they are only read
    /// through `&self`). Never repinned: nothing hands out `&mut Guard`.
    _guard: Guard,
    /// The map outlives this: its `Drop` frees entries without waiting for
    /// guards, so it must not run while a `Guarded` of it lives.
    _map: PhantomData<&'m RawMap<K, V>>,
}

// SAFETY: vacuous, as for `PinGuard` (the bound never holds): the compiler
// then blames the marker instead of the pointers and the guard.
unsafe impl<K, V> Send for Guarded<'_, K, V> where NotSendFor<(K, V)>: Send {}

impl<'m, K: Send + 'static, V: Send + 'static> Guarded<'m, K, V> {
    /// Pins this thread and looks `key` up; keeps the pin if it is present.
    pub(crate) fn find<Q>(map: &'m RawMap<K, V>, hash: u64, key: &Q) -> Option<Self>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let guard = pin();
        let (entry, loaded) = map.find(&guard, hash, key)?;
        let value = NonNull::from(loaded.value()?);
        let key = NonNull::from(entry.key());
        Some(Guarded {
            key,
            value,
            _guard: guard,
            _map: PhantomData,
        })
    }
}

impl<K, V> Guarded<'_, K, V> {
    /// The stored key.
    #[inline]
    pub(crate) fn key(&self) -> &K {
        // SAFETY: the entry was loaded under `self._guard` (Acquire, see the
        // table in the module docs) from a map borrowed for 'm, which
        // outlives `self`; entries are freed only after every guard that
        // could have loaded them is dropped (invariant 1). Moving a `Guard`
        // keeps the thread pinned (it is a handle to the thread's epoch
        // record), and it is dropped only with `self`, so the entry lives at
        // least as long as `&self`. A key is never written after its entry
        // is published.
        unsafe { self.key.as_ref() }
    }

    /// The value, as it was when found.
    #[inline]
    pub(crate) fn value(&self) -> &V {
        // SAFETY: as for `key`: the value was loaded under `self._guard`
        // (Acquire), is retired only after a CAS unlinks it and freed only
        // after that guard is dropped (invariant 1), which happens only with
        // `self`; values are immutable once published (invariant 4).
        unsafe { self.value.as_ref() }
    }
}
