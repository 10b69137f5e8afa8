//! [`ConcurrentMap`]: the one adapter trait over concurrent maps, shared by
//! the behaviour and model tests (`tests/common`), the crisis suite
//! (`benches/crisis`) and the fuzz targets (`fuzz/src/maps`). Each of them
//! adds only what is its own, as an extension trait on top of this one:
//! configurations and reclamation for the tests, capacity hints, snapshots
//! and Go's operations for the crisis suite, value ids and API variants for
//! the fuzz targets.
//!
//! The impls for [`ShardMap`] and [`AtomicPtrMap`] live here, once; the
//! peers of the crisis suite (dashmap, papaya, scc, std locks) implement the
//! trait in `benches/crisis/maps/`, because they are dependencies of the
//! benches only.
//!
//! # Contract
//!
//! Every method takes `&self`: the map is shared by reference between real
//! threads. Each method is one idiomatic operation of the map (the one a
//! user would call), so that what a test checks or a benchmark measures is
//! that operation. Return values mean the same on every map, whatever the
//! map's own API returns (`AtomicPtrMap::insert` returns true for a *new*
//! key, `ShardMap::insert` the replaced value; here `insert` returns true
//! when the key was present before, as `Option::is_some` of std's `insert`).
//! Methods are generic (not `dyn`), so that each map is measured through
//! monomorphised, inlinable calls.

use std::hash::{BuildHasher, Hash};

use epochmap::{AtomicPtrMap, ShardMap};

/// The operations every map under test offers, with one contract (see the
/// [module docs](self)).
pub trait ConcurrentMap<K, V>: Send + Sync {
    /// Inserts or overwrites; true when the key was present before.
    fn insert(&self, key: K, value: V) -> bool;
    /// Removes; true when the key was present.
    fn remove(&self, key: &K) -> bool;
    /// A clone of the value for `key`.
    fn get_cloned(&self, key: &K) -> Option<V>
    where
        V: Clone;
    /// Whether `key` is present.
    fn contains_key(&self, key: &K) -> bool;
    /// Atomic read-modify-write of a present key: the value becomes
    /// `f(old)`. False when the key is absent. `f` may be called more than
    /// once by maps that retry on conflict; the last call took effect.
    fn update(&self, key: &K, f: impl Fn(&V) -> V) -> bool;
    /// The value for `key` (a clone), inserting `f()` first when absent.
    fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone;
    /// Live traversal: calls `f` on each entry the map yields while others
    /// may write (each map's own consistency rules apply).
    fn for_each(&self, f: impl FnMut(&K, &V));
    /// Keeps the entries for which `f` returns true (not atomic across keys).
    fn retain(&self, f: impl FnMut(&K, &V) -> bool);
    /// The map's own entry count.
    fn len(&self) -> usize;
    /// The map's own emptiness check.
    fn is_empty(&self) -> bool;
    /// Removes every entry.
    fn clear(&self);
}

/// `ShardMap`: each operation one locked step on the key's shard;
/// traversal by `iter()` (one shard read-locked at a time).
impl<K, V, S> ConcurrentMap<K, V> for ShardMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Send + Sync,
{
    fn insert(&self, key: K, value: V) -> bool {
        ShardMap::insert(self, key, value).is_some()
    }
    fn remove(&self, key: &K) -> bool {
        ShardMap::remove(self, key).is_some()
    }
    fn get_cloned(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        ShardMap::get_cloned(self, key)
    }
    fn contains_key(&self, key: &K) -> bool {
        ShardMap::contains_key(self, key)
    }
    fn update(&self, key: &K, f: impl Fn(&V) -> V) -> bool {
        ShardMap::update(self, key, |v| *v = f(v)).is_some()
    }
    fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        ShardMap::get_or_insert_with(self, key, f)
    }
    fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for r in self.iter() {
            f(r.key(), r.value());
        }
    }
    fn retain(&self, mut f: impl FnMut(&K, &V) -> bool) {
        ShardMap::retain(self, |k, v| f(k, v))
    }
    fn len(&self) -> usize {
        ShardMap::len(self)
    }
    fn is_empty(&self) -> bool {
        ShardMap::is_empty(self)
    }
    fn clear(&self) {
        ShardMap::clear(self)
    }
}

/// `AtomicPtrMap`: the unpinned convenience methods (each pins for one
/// operation); traversal by `for_each` (one pin per chunk of entries).
impl<K, V, S> ConcurrentMap<K, V> for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync,
{
    fn insert(&self, key: K, value: V) -> bool {
        // AtomicPtrMap's `insert` returns true for a new key.
        !AtomicPtrMap::insert(self, key, value)
    }
    fn remove(&self, key: &K) -> bool {
        AtomicPtrMap::remove(self, key)
    }
    fn get_cloned(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        AtomicPtrMap::get_cloned(self, key)
    }
    fn contains_key(&self, key: &K) -> bool {
        AtomicPtrMap::contains_key(self, key)
    }
    fn update(&self, key: &K, f: impl Fn(&V) -> V) -> bool {
        AtomicPtrMap::update(self, key, f)
    }
    fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        AtomicPtrMap::get_or_insert_with(self, key, f)
    }
    fn for_each(&self, f: impl FnMut(&K, &V)) {
        AtomicPtrMap::for_each(self, f)
    }
    fn retain(&self, f: impl FnMut(&K, &V) -> bool) {
        AtomicPtrMap::retain(self, f)
    }
    fn len(&self) -> usize {
        AtomicPtrMap::len(self)
    }
    fn is_empty(&self) -> bool {
        AtomicPtrMap::is_empty(self)
    }
    fn clear(&self) {
        AtomicPtrMap::clear(self)
    }
}
