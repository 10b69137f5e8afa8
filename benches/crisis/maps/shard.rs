//! Our `ShardMap`: hash-sharded reader-sharded RwLocks over hashbrown
//! tables, built with the suite's ahash hasher like every other map. Its
//! operations are the test kit's `ConcurrentMap` impl.

use epochmap::ShardMap;

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
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
    type Map<V: Value> = ShardMap<u64, V, Hasher>;
    type Go = ShardMap<u64, u64, Hasher>;
}

impl<V: Value> CrisisMap<V> for ShardMap<u64, V, Hasher> {
    fn with_capacity(capacity: usize) -> Self {
        ShardMap::with_capacity_and_hasher(capacity, hasher())
    }
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V)) {
        ConcurrentMap::for_each(&self.clone(), f);
    }
}

/// Go's operations, one real ShardMap operation each: `load_or_store`,
/// `remove` (LoadAndDelete), `insert` (Swap), `compare_and_swap`,
/// `compare_and_delete`, `clear`; each one locked step on the key's shard.
impl GoMap for ShardMap<u64, u64, Hasher> {
    const OPS: &'static str = "LoadOrStore: load_or_store; LoadAndDelete: remove; Swap: insert; CompareAndSwap: compare_and_swap; CompareAndDelete: compare_and_delete; Clear: clear (all atomic per key, under the shard lock)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        ShardMap::load_or_store(self, key, value)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        ShardMap::remove(self, &key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        ShardMap::insert(self, key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        ShardMap::compare_and_swap(self, &key, &old, new).is_ok()
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        ShardMap::compare_and_delete(self, &key, &old)
    }
    fn first_key(&self) -> Option<u64> {
        self.iter().next().map(|r| *r.key())
    }
}
