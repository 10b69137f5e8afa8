//! The guards of [`RwLock`]: shared and exclusive access,
//! released on drop, and guards narrowed to a part of the data.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::{reentry, NotSend, RwLock};

/// Shared access to the data of a [`RwLock`], released on drop.
pub(crate) struct ReadGuard<'a, T> {
    pub(super) lock: &'a RwLock<T>,
    /// The reader slot this guard incremented.
    pub(super) slot: usize,
    pub(super) _not_send: NotSend,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds a read lock (its slot count is non-zero
        // and it was admitted with no writer present); writers wait for the
        // slot to drain, so no `&mut T` exists while `&self` lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        reentry::leave(self.lock.id);
        self.lock.release_slot(self.slot);
    }
}

/// Exclusive access to the data of a [`RwLock`], released on drop.
pub(crate) struct WriteGuard<'a, T> {
    pub(super) lock: &'a RwLock<T>,
    pub(super) _not_send: NotSend,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the write lock: it holds the `writer`
        // flag (other writers wait for it, arriving readers step aside) and
        // saw every reader slot drained after raising it (Dekker pair, module
        // docs). `&self` rules out a live `&mut T` from this guard.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the returned borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        reentry::leave(self.lock.id);
        self.lock.lower_flag();
    }
}

/// A read guard narrowed to a part `U` of the locked data.
pub(crate) struct MappedReadGuard<'a, T, U: ?Sized> {
    /// Points into the data behind `_guard`; valid while it lives.
    ptr: NonNull<U>,
    _guard: ReadGuard<'a, T>,
}

impl<'a, T> ReadGuard<'a, T> {
    /// Narrows the guard to the part that `f` selects, or releases the lock
    /// and returns `None`. `f` is higher-ranked, so it cannot keep the
    /// reference it is given.
    #[inline]
    pub(crate) fn try_map<U: ?Sized>(
        self,
        f: impl FnOnce(&T) -> Option<&U>,
    ) -> Option<MappedReadGuard<'a, T, U>> {
        let ptr = NonNull::from(f(&*self)?);
        Some(MappedReadGuard { ptr, _guard: self })
    }
}

// SAFETY: vacuous: a `ReadGuard` holds the `!Send` marker, so the bound never
// holds and this never applies. It only makes the compiler blame the marker
// (whose name says what to do) instead of `ptr` when a guard is held across
// an `.await`.
unsafe impl<'a, T, U: ?Sized> Send for MappedReadGuard<'a, T, U> where ReadGuard<'a, T>: Send {}

impl<T, U: ?Sized> Deref for MappedReadGuard<'_, T, U> {
    type Target = U;
    #[inline]
    fn deref(&self) -> &U {
        // SAFETY: `ptr` came from a `&U` borrowed from the data of the read
        // lock that `_guard` still holds; the lock keeps writers out, so the
        // pointee is alive and not mutated while `&self` lives.
        unsafe { self.ptr.as_ref() }
    }
}

/// A write guard narrowed to a part `U` of the locked data.
pub(crate) struct MappedWriteGuard<'a, T, U: ?Sized> {
    /// Points into the data behind `_guard`; the only path to it while the
    /// guard lives.
    ptr: NonNull<U>,
    _guard: WriteGuard<'a, T>,
}

impl<'a, T> WriteGuard<'a, T> {
    /// Narrows the guard to the part that `f` selects, or releases the lock
    /// and returns `None`. `f` is higher-ranked, so it cannot keep the
    /// reference it is given.
    #[inline]
    pub(crate) fn try_map<U: ?Sized>(
        mut self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Option<MappedWriteGuard<'a, T, U>> {
        let ptr = NonNull::from(f(&mut *self)?);
        Some(MappedWriteGuard { ptr, _guard: self })
    }
}

// SAFETY: vacuous, as for `MappedReadGuard` (`WriteGuard` holds the marker).
unsafe impl<'a, T, U: ?Sized> Send for MappedWriteGuard<'a, T, U> where WriteGuard<'a, T>: Send {}

impl<T, U: ?Sized> Deref for MappedWriteGuard<'_, T, U> {
    type Target = U;
    #[inline]
    fn deref(&self) -> &U {
        // SAFETY: `ptr` came from the unique `&mut U` borrowed from the data
        // of the write lock `_guard` holds, and `_guard` is never dereferenced
        // again; so the pointee is alive and only reachable through `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T, U: ?Sized> DerefMut for MappedWriteGuard<'_, T, U> {
    #[inline]
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`; `&mut self` makes the returned borrow unique.
        unsafe { self.ptr.as_mut() }
    }
}
