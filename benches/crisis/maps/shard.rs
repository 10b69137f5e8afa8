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

/// Go's operations, one real ShardMap operation each: `load_or_store`,
/// `remove` (LoadAndDelete), `insert` (Swap), `compare_and_swap`,
/// `compare_and_delete`, `clear`; each one locked step on the key's shard.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: load_or_store; LoadAndDelete: remove; Swap: insert; CompareAndSwap: compare_and_swap; CompareAndDelete: compare_and_delete; Clear: clear (all atomic per key, under the shard lock)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        self.0.load_or_store(key, value)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        self.0.compare_and_swap(&key, &old, new).is_ok()
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        self.0.compare_and_delete(&key, &old)
    }
    fn clear(&self) {
        self.0.clear();
    }
    fn first_key(&self) -> Option<u64> {
        self.0.iter().next().map(|r| *r.key())
    }
}
