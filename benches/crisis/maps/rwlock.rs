//! `Arc<RwLock<std HashMap>>`: readers share the lock, writers exclude. ahash hasher.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `Arc<RwLock<HashMap>>`.
pub struct RwLockStd;

impl MapKind for RwLockStd {
    const ID: &'static str = "rwlock";
    const NAME: &'static str = "Arc<RwLock<HashMap>>";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "iterates under the read lock (writers wait)";
    const SNAPSHOT: &'static str = "clone under the read lock, then iterate the clone";
    const POINT_IN_TIME: bool = true;
    type Map<V: Value> = Adapter<V>;
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(Arc<RwLock<HashMap<u64, V, Hasher>>>);

impl<V: Value> ConcurrentMap<u64, V> for Adapter<V> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.write().unwrap().insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.write().unwrap().remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.read().unwrap().get(key).cloned()
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.read().unwrap().contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        let mut map = self.0.write().unwrap();
        match map.get_mut(key) {
            Some(v) => {
                *v = f(v);
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.write().unwrap().entry(key).or_insert_with(f).clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for (k, v) in self.0.read().unwrap().iter() {
            f(k, v);
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.write().unwrap().retain(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        self.0.read().unwrap().len()
    }
    fn is_empty(&self) -> bool {
        self.0.read().unwrap().is_empty()
    }
    fn clear(&self) {
        self.0.write().unwrap().clear();
    }
}

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(RwLock::new(HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))))
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(&u64, &V)) {
        let copy = self.0.read().unwrap().clone();
        for (k, v) in copy.iter() {
            f(k, v);
        }
    }
}

/// Go's operations, each one critical section over the std map.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "every write one write-locked section (entry, remove, insert, get_mut, get + remove, clear); Load and Range read-lock";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        match self.0.write().unwrap().entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => (*e.get(), true),
            std::collections::hash_map::Entry::Vacant(e) => (*e.insert(value), false),
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.write().unwrap().remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.write().unwrap().insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        match self.0.write().unwrap().get_mut(&key) {
            Some(v) if *v == old => {
                *v = new;
                true
            }
            _ => false,
        }
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        let mut map = self.0.write().unwrap();
        if map.get(&key) == Some(&old) {
            map.remove(&key);
            true
        } else {
            false
        }
    }
    fn first_key(&self) -> Option<u64> {
        self.0.read().unwrap().keys().next().copied()
    }
}
