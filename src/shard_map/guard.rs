//! Guards that give access to one entry while holding its shard's lock.
//!
//! Accessor methods on guards take no lock: the guard already holds it.
//!
//! All guards are `!Send`: a lock is released by the thread that took it, and
//! a guard cannot live across an `.await` in a `Send` future. Holding a guard
//! while calling the map again on the same shard would deadlock; debug builds
//! panic instead (see the module docs of `shard_map`).

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::lock::{MappedReadGuard, MappedWriteGuard, SharedRef, UniqueRef};
use super::shard::Table;

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

impl<K, V> Ref<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.0
    }
    /// The value.
    pub fn value(&self) -> &V {
        &self.inner.1
    }
    /// Key and value.
    pub fn pair(&self) -> (&K, &V) {
        (&self.inner.0, &self.inner.1)
    }
}

impl<K, V> Deref for Ref<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Ref<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ref")
            .field(self.key())
            .field(self.value())
            .finish()
    }
}

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

impl<K, V> RefMut<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.0
    }
    /// The value.
    pub fn value(&self) -> &V {
        &self.inner.1
    }
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

impl<K, V> Deref for RefMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K, V> DerefMut for RefMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.value_mut()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for RefMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RefMut")
            .field(self.key())
            .field(self.value())
            .finish()
    }
}

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

impl<K, V> MultiRef<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.0
    }
    /// The value.
    pub fn value(&self) -> &V {
        &self.inner.1
    }
    /// Key and value.
    pub fn pair(&self) -> (&K, &V) {
        (&self.inner.0, &self.inner.1)
    }
}

impl<K, V> Deref for MultiRef<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for MultiRef<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MultiRef")
            .field(self.key())
            .field(self.value())
            .finish()
    }
}

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

impl<K, V> MultiRefMut<'_, K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.0
    }
    /// The value.
    pub fn value(&self) -> &V {
        &self.inner.1
    }
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

impl<K, V> Deref for MultiRefMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.value()
    }
}

impl<K, V> DerefMut for MultiRefMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        self.value_mut()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for MultiRefMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MultiRefMut")
            .field(self.key())
            .field(self.value())
            .finish()
    }
}

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
