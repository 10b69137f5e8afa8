//! dashmap 6: sharded `RwLock<HashTable>`s, with the ahash hasher.

use crate::adapter::{CrisisMap, MapKind, Value};
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
}

/// The adapter.
pub struct Adapter<V>(::dashmap::DashMap<u64, V, Hasher>);

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(::dashmap::DashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn get(&self, key: u64) -> Option<V> {
        self.0.get(&key).map(|r| r.value().clone())
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
        match self.0.get_mut(&key) {
            Some(mut r) => {
                let new = f(r.value());
                *r.value_mut() = new;
                true
            }
            None => false,
        }
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
