//! Guards that give access to one entry while holding its shard's lock.
//!
//! Accessor methods on guards take no lock: the guard already holds it.
//!
//! All guards are `!Send`: a lock is released by the thread that took it, and
//! a guard cannot live across an `.await` in a `Send` future. Holding a guard
//! while calling the map again on the same shard would deadlock; such a call
//! panics instead (see the module docs of `shard_map`).

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::lock::{MappedReadGuard, MappedWriteGuard, SharedRef, UniqueRef};
use super::shard::Table;

/// The accessors an entry guard offers: `key`, `value` and `pair` (or, on
/// guards with unique access, `value_mut` and `pair_mut`), `Deref` (and
/// `DerefMut`) to the value, and `Debug`. Every guard's `inner` dereferences
/// to the `(K, V)` pair it guards.
macro_rules! entry_guard {
    ($guard:ident) => {
        entry_guard!(@common $guard);
        impl<K, V> $guard<'_, K, V> {
            /// Key and value.
            pub fn pair(&self) -> (&K, &V) {
                (&self.inner.0, &self.inner.1)
            }
        }
    };
    ($guard:ident, mut) => {
        entry_guard!(@common $guard);
        impl<K, V> $guard<'_, K, V> {
            /// The value, mutably.
            pub fn value_mut(&mut self) -> &mut V {
                &mut self.inner.1
            }
            /// The key, and the value mutably.
            pub fn pair_mut(&mut self) -> (&K, &mut V) {
                let pair = &mut *self.inner;
                (&pair.0, &mut pair.1)
            }
        }
        impl<K, V> DerefMut for $guard<'_, K, V> {
            fn deref_mut(&mut self) -> &mut V {
                self.value_mut()
            }
        }
    };
    (@common $guard:ident) => {
        impl<K, V> $guard<'_, K, V> {
            /// The key.
            pub fn key(&self) -> &K {
                &self.inner.0
            }
            /// The value.
            pub fn value(&self) -> &V {
                &self.inner.1
            }
        }
        impl<K, V> Deref for $guard<'_, K, V> {
            type Target = V;
            fn deref(&self) -> &V {
                self.value()
            }
        }
        impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for $guard<'_, K, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($guard))
                    .field(self.key())
                    .field(self.value())
                    .finish()
            }
        }
    };
}

/// Shared access to one entry, from [`ShardMap::get`](super::ShardMap::get).
///
/// Holds a read lock on the entry's shard until dropped: other readers
/// proceed, writers to that shard wait. Dereferences to the value.
///
/// Guards are not `Send`, so they cannot cross threads or be held across an
/// `.await` in a `Send` future:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let map = epochmap::ShardMap::<u32, u32>::new();
/// map.insert(1, 1);
/// let guard = map.get(&1).unwrap();
/// assert_send(&guard); // error: `Ref` is not `Send`
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let map = epochmap::ShardMap::<u32, u32>::new();
/// let entry = map.entry(1);
/// assert_send(&entry); // error: `Entry` is not `Send`
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let map = epochmap::ShardMap::<u32, u32>::new();
/// let items: Vec<_> = map.iter_mut().collect();
/// assert_send(&items); // error: `MultiRefMut` is not `Send`
/// ```
///
/// ```
/// // (The same checks compile for the map itself.)
/// fn assert_send<T: Send + Sync>(_: &T) {}
/// assert_send(&epochmap::ShardMap::<u32, u32>::new());
/// ```
///
/// **Locking behaviour:** its methods take no lock (the guard holds one).
pub struct Ref<'a, K, V> {
    pub(crate) inner: MappedReadGuard<'a, Table<K, V>, (K, V)>,
}

entry_guard!(Ref);

/// Unique access to one entry's value, from
/// [`ShardMap::get_mut`](super::ShardMap::get_mut) or the entry API.
///
/// Holds the write lock on the entry's shard until dropped: every other
/// access to that shard waits. Dereferences to the value.
///
/// **Locking behaviour:** its methods take no lock (the guard holds one).
pub struct RefMut<'a, K, V> {
    pub(crate) inner: MappedWriteGuard<'a, Table<K, V>, (K, V)>,
}

entry_guard!(RefMut, mut);

/// Shared access to one entry, yielded by [`ShardMap::iter`](super::ShardMap::iter)
/// and [`ShardMap::values`](super::ShardMap::values).
///
/// Items of the same shard share one read lock, held until the last of them
/// (and the iterator, while it is on that shard) is dropped. Dereferences to
/// the value.
///
/// **Locking behaviour:** its methods take no lock (the guard holds one).
pub struct MultiRef<'a, K, V> {
    pub(crate) inner: SharedRef<'a, Table<K, V>, (K, V)>,
}

entry_guard!(MultiRef);

/// Unique access to one entry's value, yielded by
/// [`ShardMap::iter_mut`](super::ShardMap::iter_mut).
///
/// Items of the same shard share one write lock, held until the last of them
/// (and the iterator, while it is on that shard) is dropped. Dereferences to
/// the value.
///
/// **Locking behaviour:** its methods take no lock (the guard holds one).
pub struct MultiRefMut<'a, K, V> {
    pub(crate) inner: UniqueRef<'a, (K, V)>,
}

entry_guard!(MultiRefMut, mut);

/// Shared access to one key, yielded by [`ShardMap::keys`](super::ShardMap::keys).
///
/// Locks like [`MultiRef`]. Dereferences to the key.
///
/// **Locking behaviour:** its methods take no lock (the guard holds one).
pub struct KeyRef<'a, K, V> {
    pub(crate) inner: SharedRef<'a, Table<K, V>, (K, V)>,
}

impl<K, V> KeyRef<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.0
    }
}

impl<K, V> Deref for KeyRef<'_, K, V> {
    type Target = K;
    fn deref(&self) -> &K {
        self.key()
    }
}

impl<K: fmt::Debug, V> fmt::Debug for KeyRef<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyRef").field(self.key()).finish()
    }
}
