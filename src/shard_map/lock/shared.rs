//! Guards shared by the items of an iterator, so that items may outlive the
//! iterator and the lock is released when the last of them drops.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::{Rc, Weak};

use hashbrown::HashTable;

use super::{ReadGuard, WriteGuard};

/// A read guard shared by the items of an iterator (reference-counted), so
/// that items may outlive the iterator; the lock is released when the last
/// of them drops.
pub(crate) struct SharedGuard<'a, T>(Rc<ReadGuard<'a, T>>);

/// A [`SharedGuard`] that does not keep the lock: it finds the guard again
/// while items keep it alive.
pub(crate) struct WeakShared<'a, T>(Weak<ReadGuard<'a, T>>);

/// An item of a [`SharedGuard`]: shared access to one `U`.
pub(crate) struct SharedRef<'a, T, U> {
    ptr: NonNull<U>,
    _guard: Rc<ReadGuard<'a, T>>,
}

// The impls below are vacuous: `ReadGuard` and `WriteGuard` hold the `!Send`
// marker, so their bounds never hold and they never apply. They only make
// the compiler blame the marker (whose name says what to do) instead of the
// `Rc`s and pointers here when an item is held across an `.await`.

// SAFETY: vacuous, see above.
unsafe impl<'a, T> Send for SharedGuard<'a, T> where ReadGuard<'a, T>: Send {}
// SAFETY: see above.
unsafe impl<'a, T> Send for WeakShared<'a, T> where ReadGuard<'a, T>: Send {}
// SAFETY: see above.
unsafe impl<'a, T, U> Send for SharedRef<'a, T, U> where ReadGuard<'a, T>: Send {}
// SAFETY: see above.
unsafe impl<'a, E> Send for UniqueRef<'a, E> where WriteGuard<'a, HashTable<E>>: Send {}
// SAFETY: see above.
unsafe impl<'a, E> Send for UniqueGuard<'a, E> where WriteGuard<'a, HashTable<E>>: Send {}
// SAFETY: see above.
unsafe impl<'a, E> Send for WeakUnique<'a, E> where WriteGuard<'a, HashTable<E>>: Send {}

impl<'a, T> SharedGuard<'a, T> {
    /// Shares `guard`.
    pub(crate) fn new(guard: ReadGuard<'a, T>) -> Self {
        SharedGuard(Rc::new(guard))
    }

    /// The locked data.
    #[inline]
    pub(crate) fn data(&self) -> &T {
        &self.0
    }

    /// An item that keeps the lock held while it lives, pointing at the part
    /// that `f` selects; `None` if `f` selects nothing. `f` is
    /// higher-ranked, so it cannot keep the reference it is given.
    #[inline]
    pub(crate) fn item<U>(&self, f: impl FnOnce(&T) -> Option<&U>) -> Option<SharedRef<'a, T, U>> {
        let ptr = NonNull::from(f(&self.0)?);
        Some(SharedRef {
            ptr,
            _guard: Rc::clone(&self.0),
        })
    }

    /// A handle that does not keep the lock.
    pub(crate) fn downgrade(&self) -> WeakShared<'a, T> {
        WeakShared(Rc::downgrade(&self.0))
    }
}

impl<'a, T> WeakShared<'a, T> {
    /// The guard, if items still keep it (the lock is then still held).
    pub(crate) fn upgrade(&self) -> Option<SharedGuard<'a, T>> {
        self.0.upgrade().map(SharedGuard)
    }
}

impl<T, U> Deref for SharedRef<'_, T, U> {
    type Target = U;
    #[inline]
    fn deref(&self) -> &U {
        // SAFETY: `ptr` came from a shared reference into the data of the
        // read lock that `_guard` (a clone of the shared guard) keeps held;
        // the lock keeps writers out, so the pointee is alive and unchanged.
        unsafe { self.ptr.as_ref() }
    }
}

/// The shared part of a [`UniqueGuard`].
struct UniqueInner<'a, E> {
    /// Points at the table behind `guard`, which is never dereferenced
    /// after `data` was taken from it: this is the only path to the table.
    data: NonNull<HashTable<E>>,
    /// Invariant: no item handed out by this guard is in a bucket at or
    /// after this index.
    next: Cell<usize>,
    _guard: WriteGuard<'a, HashTable<E>>,
}

/// A write guard over a table shared by the items of an iterator
/// (reference-counted): each item has unique access to one entry, and the
/// lock is released when the last of them and the iterator's handle drop.
/// Items are handed out in strictly increasing bucket order, which keeps them
/// disjoint.
pub(crate) struct UniqueGuard<'a, E>(Rc<UniqueInner<'a, E>>);

/// A [`UniqueGuard`] that does not keep the lock.
pub(crate) struct WeakUnique<'a, E>(Weak<UniqueInner<'a, E>>);

/// An item of a [`UniqueGuard`]: unique access to one `E`.
pub(crate) struct UniqueRef<'a, E> {
    ptr: NonNull<E>,
    _guard: Rc<UniqueInner<'a, E>>,
}

impl<'a, E> UniqueGuard<'a, E> {
    /// Shares `guard`.
    pub(crate) fn new(mut guard: WriteGuard<'a, HashTable<E>>) -> Self {
        let data = NonNull::from(&mut *guard);
        UniqueGuard(Rc::new(UniqueInner {
            data,
            next: Cell::new(0),
            _guard: guard,
        }))
    }

    /// The table's bucket count.
    #[inline]
    pub(crate) fn num_buckets(&self) -> usize {
        // SAFETY: a shared read of the table's header, which no item points
        // into (items point into buckets); no `&mut HashTable` is live, since
        // `bucket_mut` ends its borrow before returning.
        unsafe { self.0.data.as_ref() }.num_buckets()
    }

    /// An item with unique access to the entry in bucket `i`, or `None` if
    /// the bucket is empty.
    ///
    /// # Panics
    ///
    /// If `i` is below a bucket asked for before through this guard (that
    /// could alias an item).
    #[inline]
    pub(crate) fn bucket_mut(&self, i: usize) -> Option<UniqueRef<'a, E>> {
        assert!(i >= self.0.next.get(), "buckets must be visited in order");
        self.0.next.set(i + 1);
        if i >= self.num_buckets() {
            return None;
        }
        // SAFETY:
        // 1. The write lock is held by `_guard` while `self.0` lives, and
        //    `data` is the only path to the table (see `UniqueInner`).
        // 2. The items handed out so far are in buckets below `i` (the
        //    invariant on `next`, kept by the assertion above), so the entry
        //    of bucket `i` is reachable by no item; `get_bucket_mut` reads
        //    only the header and control bytes, which no item points into,
        //    and the `&mut HashTable` ends with this statement.
        let table = unsafe { &mut *self.0.data.as_ptr() };
        let ptr = NonNull::from(table.get_bucket_mut(i)?);
        Some(UniqueRef {
            ptr,
            _guard: Rc::clone(&self.0),
        })
    }

    /// A handle that does not keep the lock.
    pub(crate) fn downgrade(&self) -> WeakUnique<'a, E> {
        WeakUnique(Rc::downgrade(&self.0))
    }
}

impl<'a, E> WeakUnique<'a, E> {
    /// The guard, if items still keep it (the lock is then still held).
    pub(crate) fn upgrade(&self) -> Option<UniqueGuard<'a, E>> {
        self.0.upgrade().map(UniqueGuard)
    }
}

impl<E> Deref for UniqueRef<'_, E> {
    type Target = E;
    #[inline]
    fn deref(&self) -> &E {
        // SAFETY: `ptr` came from a unique `&mut E` into the table of the
        // write lock that `_guard` keeps held; no other item reaches the same
        // bucket (items are handed out in strictly increasing bucket order).
        unsafe { self.ptr.as_ref() }
    }
}

impl<E> DerefMut for UniqueRef<'_, E> {
    #[inline]
    fn deref_mut(&mut self) -> &mut E {
        // SAFETY: as in `deref`; `&mut self` makes the returned borrow unique.
        unsafe { self.ptr.as_mut() }
    }
}
