//! Our `ShardMap`: hash-sharded reader-sharded RwLocks over hashbrown
//! tables, built with the suite's ahash hasher like every other map.

use crate::adapter::{CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `epochmap::ShardMap`.
pub struct Shard;

impl MapKind for Shard {
    const ID: &'static str = "shard";
    const NAME: &'static str = "ShardMap";
    const OURS: bool = true;
    const TRAVERSAL: &'static str = "iter(): read-locks one shard at a time";
    const SNAPSHOT: &'static str = "clone(): copies shard by shard (not point-in-time)";
    const POINT_IN_TIME: bool = false;
    type Map<V: Value> = Adapter<V>;
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(epochmap::ShardMap<u64, V, Hasher>);

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(epochmap::ShardMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn get(&self, key: u64) -> Option<V> {
        self.0.get_cloned(&key)
    }
    fn contains(&self, key: u64) -> bool {
        self.0.contains_key(&key)
    }
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.insert(key, value).is_some()
    }
    fn remove(&self, key: u64) -> bool {
        self.0.remove(&key).is_some()
    }
    fn update(&self, key: u64, f: impl Fn(&V) -> V) -> bool {
        self.0.update(&key, |v| *v = f(v)).is_some()
    }
    fn for_each(&self, mut f: impl FnMut(u64, &V)) {
        for r in self.0.iter() {
            f(*r.key(), r.value());
        }
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(u64, &V)) {
        let copy = self.0.clone();
        for r in copy.iter() {
            f(*r.key(), r.value());
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Go's operations: `entry` (LoadOrStore), `remove`, `insert` (Swap),
/// `update` (CompareAndSwap), `remove_if` (CompareAndDelete), `clear`; each
/// one locked step on the key's shard.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: entry; LoadAndDelete: remove; Swap: insert; CompareAndSwap: update; CompareAndDelete: remove_if; Clear: clear (all atomic per key, under the shard lock)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        // `get_or_insert_with` reads a present key under the read lock and
        // runs its closure at most once, exactly when this call stores: so
        // "loaded" is exact, not a racy emulation.
        let mut stored = false;
        let v = self.0.get_or_insert_with(key, || {
            stored = true;
            value
        });
        (v, !stored)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        self.0.update(&key, |v| {
            let hit = *v == old;
            if hit {
                *v = new;
            }
            hit
        }) == Some(true)
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        self.0.remove_if(&key, |_, v| *v == old).is_some()
    }
    fn clear(&self) {
        self.0.clear();
    }
    fn first_key(&self) -> Option<u64> {
        self.0.iter().next().map(|r| *r.key())
    }
}
