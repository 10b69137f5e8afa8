//! `Arc<Mutex<std HashMap>>`: what users replace. ahash hasher, as every map here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `Arc<Mutex<HashMap>>`.
pub struct MutexStd;

impl MapKind for MutexStd {
    const ID: &'static str = "mutex";
    const NAME: &'static str = "Arc<Mutex<HashMap>>";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "iterates under the lock (writers wait)";
    const SNAPSHOT: &'static str = "clone under the lock, then iterate the clone";
    const POINT_IN_TIME: bool = true;
    type Map<V: Value> = Adapter<V>;
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(Arc<Mutex<HashMap<u64, V, Hasher>>>);

impl<V: Value> ConcurrentMap<u64, V> for Adapter<V> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.lock().unwrap().insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.lock().unwrap().remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.lock().unwrap().get(key).cloned()
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.lock().unwrap().contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        let mut map = self.0.lock().unwrap();
        match map.get_mut(key) {
            Some(v) => {
                *v = f(v);
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.lock().unwrap().entry(key).or_insert_with(f).clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for (k, v) in self.0.lock().unwrap().iter() {
            f(k, v);
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.lock().unwrap().retain(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))))
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(&u64, &V)) {
        let copy = self.0.lock().unwrap().clone();
        for (k, v) in copy.iter() {
            f(k, v);
        }
    }
}

/// Go's operations, each one critical section over the std map.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "every operation one critical section of the Mutex (entry, remove, insert, get_mut, get + remove, clear)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        match self.0.lock().unwrap().entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => (*e.get(), true),
            std::collections::hash_map::Entry::Vacant(e) => (*e.insert(value), false),
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.lock().unwrap().remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.lock().unwrap().insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        match self.0.lock().unwrap().get_mut(&key) {
            Some(v) if *v == old => {
                *v = new;
                true
            }
            _ => false,
        }
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        let mut map = self.0.lock().unwrap();
        if map.get(&key) == Some(&old) {
            map.remove(&key);
            true
        } else {
            false
        }
    }
    fn first_key(&self) -> Option<u64> {
        self.0.lock().unwrap().keys().next().copied()
    }
}
