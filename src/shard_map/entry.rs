//! The entry API: one locked step to inspect, insert, modify or remove.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use super::guard::RefMut;
use super::shard::ShardWriteGuard;

/// A view into one key's place in a [`ShardMap`](super::ShardMap), from
/// [`ShardMap::entry`](super::ShardMap::entry).
///
/// **Locking behaviour:** an entry holds the write lock on its key's shard
/// until it is dropped or turned into a [`RefMut`] (which keeps holding it).
/// Do not call the map again from this thread while it lives (a call that
/// would lock the same shard panics, naming its line, instead of hanging).
pub enum Entry<'a, K, V, S = ahash::RandomState> {
    /// The key is present.
    Occupied(OccupiedEntry<'a, K, V>),
    /// The key is absent.
    Vacant(VacantEntry<'a, K, V, S>),
}

/// An entry whose key is present. Locks like [`Entry`].
pub struct OccupiedEntry<'a, K, V> {
    pub(crate) guard: ShardWriteGuard<'a, K, V>,
    /// Invariant: a full bucket of the table behind `guard`.
    pub(crate) index: usize,
}

/// An entry whose key is absent. Locks like [`Entry`].
pub struct VacantEntry<'a, K, V, S = ahash::RandomState> {
    pub(crate) guard: ShardWriteGuard<'a, K, V>,
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) hasher: &'a S,
}

impl<'a, K: Hash + Eq, V, S: BuildHasher> Entry<'a, K, V, S> {
    /// The key of this entry.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(e) => e.key(),
            Entry::Vacant(e) => e.key(),
        }
    }

    /// The value, inserting `value` first if the key is absent.
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn or_insert(self, value: V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(e) => e.into_ref(),
            Entry::Vacant(e) => e.insert(value),
        }
    }

    /// The value, inserting `f()` first if the key is absent. If `f` panics,
    /// nothing is inserted and the lock is released.
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn or_insert_with(self, f: impl FnOnce() -> V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(e) => e.into_ref(),
            Entry::Vacant(e) => e.insert(f()),
        }
    }

    /// The value, inserting `f(&key)` first if the key is absent.
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn or_insert_with_key(self, f: impl FnOnce(&K) -> V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(e) => e.into_ref(),
            Entry::Vacant(e) => {
                let v = f(e.key());
                e.insert(v)
            }
        }
    }

    /// The value, inserting `V::default()` first if the key is absent.
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn or_default(self) -> RefMut<'a, K, V>
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }

    /// Runs `f` on the value if the key is present; returns the entry.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn and_modify(mut self, f: impl FnOnce(&mut V)) -> Self {
        if let Entry::Occupied(e) = &mut self {
            f(e.get_mut());
        }
        self
    }

    /// Sets the value (inserting or replacing; a replaced value is dropped)
    /// and returns it.
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn insert(self, value: V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(mut e) => {
                e.insert(value);
                e.into_ref()
            }
            Entry::Vacant(e) => e.insert(value),
        }
    }
}

impl<'a, K, V> OccupiedEntry<'a, K, V> {
    fn pair(&self) -> &(K, V) {
        self.guard
            .get_bucket(self.index)
            .expect("occupied entry points at a full bucket")
    }

    fn pair_mut(&mut self) -> &mut (K, V) {
        self.guard
            .get_bucket_mut(self.index)
            .expect("occupied entry points at a full bucket")
    }

    /// The key in the map.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn key(&self) -> &K {
        &self.pair().0
    }

    /// The value.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn get(&self) -> &V {
        &self.pair().1
    }

    /// The value, mutably.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn get_mut(&mut self) -> &mut V {
        &mut self.pair_mut().1
    }

    /// Replaces the value, returning the old one.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn insert(&mut self, value: V) -> V {
        std::mem::replace(self.get_mut(), value)
    }

    /// Turns the entry into a guard on the value (keeping the lock).
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn into_ref(self) -> RefMut<'a, K, V> {
        let index = self.index;
        let inner = self
            .guard
            .into_inner()
            .try_map(|t| t.get_bucket_mut(index))
            .expect("occupied entry points at a full bucket");
        RefMut { inner }
    }

    /// Removes the entry, returning the value.
    ///
    /// **Locking behaviour:** uses the entry's write lock, then releases it.
    pub fn remove(self) -> V {
        self.remove_entry().1
    }

    /// Removes the entry, returning key and value.
    ///
    /// **Locking behaviour:** uses the entry's write lock, then releases it.
    pub fn remove_entry(mut self) -> (K, V) {
        match self.guard.get_bucket_entry(self.index) {
            Ok(e) => e.remove().0,
            Err(_) => unreachable!("occupied entry points at a full bucket"),
        }
    }
}

impl<'a, K: Hash + Eq, V, S: BuildHasher> VacantEntry<'a, K, V, S> {
    /// The key that would be inserted.
    ///
    /// **Locking behaviour:** uses the lock the entry holds (no new locking).
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Gives the key back, releasing the lock.
    ///
    /// **Locking behaviour:** releases the lock (the entry is consumed).
    pub fn into_key(self) -> K {
        self.key
    }

    /// Inserts `value` and returns a guard on it (keeping the lock).
    ///
    /// **Locking behaviour:** uses the entry's write lock; a returned guard keeps it.
    pub fn insert(self, value: V) -> RefMut<'a, K, V> {
        let VacantEntry {
            mut guard,
            hash,
            key,
            hasher,
        } = self;
        let index = guard
            .insert_unique(hash, (key, value), |(k, _)| hasher.hash_one(k))
            .bucket_index();
        guard.inserted(index);
        let inner = guard
            .into_inner()
            .try_map(|t| t.get_bucket_mut(index))
            .expect("just inserted");
        RefMut { inner }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for Entry<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Occupied(e) => f.debug_tuple("Entry").field(e).finish(),
            Entry::Vacant(e) => f.debug_tuple("Entry").field(e).finish(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for OccupiedEntry<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OccupiedEntry")
            .field("key", self.key())
            .field("value", self.get())
            .finish()
    }
}

impl<K: fmt::Debug, V, S> fmt::Debug for VacantEntry<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VacantEntry")
            .field("key", &self.key)
            .finish()
    }
}
