//! dashmap 6: sharded `RwLock<HashTable>`s, with the ahash hasher.

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `dashmap::DashMap`.
pub struct Dash;

impl MapKind for Dash {
    const ID: &'static str = "dashmap";
    const NAME: &'static str = "dashmap";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "iter(): read-locks one shard at a time";
    const SNAPSHOT: &'static str = "clone(): copies shard by shard (not point-in-time)";
    const POINT_IN_TIME: bool = false;
    type Map<V: Value> = Adapter<V>;
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(::dashmap::DashMap<u64, V, Hasher>);

impl<V: Value> ConcurrentMap<u64, V> for Adapter<V> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.get(key).map(|r| r.value().clone())
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        match self.0.get_mut(key) {
            Some(mut r) => {
                let new = f(r.value());
                *r.value_mut() = new;
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.entry(key).or_insert_with(f).value().clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for r in self.0.iter() {
            f(r.key(), r.value());
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.retain(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn clear(&self) {
        self.0.clear();
    }
}

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(::dashmap::DashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V)) {
        Self(self.0.clone()).for_each(f);
    }
}

/// Go's operations: `entry` (LoadOrStore), `remove`, `insert` (Swap),
/// `get_mut` (CompareAndSwap), `remove_if` (CompareAndDelete), `clear`;
/// each one locked step on the key's shard.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: entry; LoadAndDelete: remove; Swap: insert; CompareAndSwap: get_mut; CompareAndDelete: remove_if; Clear: clear (atomic per key, under the shard lock)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        match self.0.entry(key) {
            ::dashmap::mapref::entry::Entry::Occupied(e) => (*e.get(), true),
            ::dashmap::mapref::entry::Entry::Vacant(e) => {
                e.insert(value);
                (value, false)
            }
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.remove(&key).map(|(_, v)| v)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        match self.0.get_mut(&key) {
            Some(mut r) if *r.value() == old => {
                *r.value_mut() = new;
                true
            }
            _ => false,
        }
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        self.0.remove_if(&key, |_, v| *v == old).is_some()
    }
    fn first_key(&self) -> Option<u64> {
        self.0.iter().next().map(|r| *r.key())
    }
}
