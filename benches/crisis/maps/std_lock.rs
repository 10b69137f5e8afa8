//! A std `HashMap` behind a std lock, what users replace: `Arc<Mutex<_>>`
//! (every operation excludes every other) and `Arc<RwLock<_>>` (readers
//! share the lock, writers exclude). ahash hasher, as every map here. One
//! adapter serves both, through [`StdLock`]: the mutex's `lock()` is both
//! its read and its write lock.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, RwLock};

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
    type Map<V: Value> = Adapter<Mutex<Table<V>>>;
    type Go = Adapter<Mutex<Table<u64>>>;
}

/// Marker for `Arc<RwLock<HashMap>>`.
pub struct RwLockStd;

impl MapKind for RwLockStd {
    const ID: &'static str = "rwlock";
    const NAME: &'static str = "Arc<RwLock<HashMap>>";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "iterates under the read lock (writers wait)";
    const SNAPSHOT: &'static str = "clone under the read lock, then iterate the clone";
    const POINT_IN_TIME: bool = true;
    type Map<V: Value> = Adapter<RwLock<Table<V>>>;
    type Go = Adapter<RwLock<Table<u64>>>;
}

/// The std map under the lock.
pub type Table<V> = HashMap<u64, V, Hasher>;

/// A std lock around a [`Table`]: `read` for the operations that only
/// read, `write` for the others.
pub trait StdLock<V>: Send + Sync {
    /// Go's operations as this lock serves them (shown in the report).
    const GO_OPS: &'static str;
    /// The lock around `table`.
    fn new(table: Table<V>) -> Self;
    /// Locked for reading.
    fn read(&self) -> impl Deref<Target = Table<V>> + '_;
    /// Locked for writing.
    fn write(&self) -> impl DerefMut<Target = Table<V>> + '_;
}

impl<V: Value> StdLock<V> for Mutex<Table<V>> {
    const GO_OPS: &'static str = "every operation one critical section of the Mutex (entry, remove, insert, get_mut, get + remove, clear)";
    fn new(table: Table<V>) -> Self {
        Mutex::new(table)
    }
    fn read(&self) -> impl Deref<Target = Table<V>> + '_ {
        self.lock().unwrap()
    }
    fn write(&self) -> impl DerefMut<Target = Table<V>> + '_ {
        self.lock().unwrap()
    }
}

impl<V: Value> StdLock<V> for RwLock<Table<V>> {
    const GO_OPS: &'static str = "every write one write-locked section (entry, remove, insert, get_mut, get + remove, clear); Load and Range read-lock";
    fn new(table: Table<V>) -> Self {
        RwLock::new(table)
    }
    fn read(&self) -> impl Deref<Target = Table<V>> + '_ {
        RwLock::read(self).unwrap()
    }
    fn write(&self) -> impl DerefMut<Target = Table<V>> + '_ {
        RwLock::write(self).unwrap()
    }
}

/// The adapter, for either lock.
pub struct Adapter<L>(Arc<L>);

impl<V: Value, L: StdLock<V>> ConcurrentMap<u64, V> for Adapter<L> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.write().insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.write().remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.read().get(key).cloned()
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.read().contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        let mut map = self.0.write();
        match map.get_mut(key) {
            Some(v) => {
                *v = f(v);
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.write().entry(key).or_insert_with(f).clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for (k, v) in self.0.read().iter() {
            f(k, v);
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.write().retain(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        self.0.read().len()
    }
    fn is_empty(&self) -> bool {
        self.0.read().is_empty()
    }
    fn clear(&self) {
        self.0.write().clear();
    }
}

impl<V: Value, L: StdLock<V>> CrisisMap<V> for Adapter<L> {
    fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(L::new(HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))))
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(&u64, &V)) {
        let copy = self.0.read().clone();
        for (k, v) in copy.iter() {
            f(k, v);
        }
    }
}

/// Go's operations, each one critical section over the std map.
impl<L: StdLock<u64>> GoMap for Adapter<L> {
    const OPS: &'static str = L::GO_OPS;
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        match self.0.write().entry(key) {
            Entry::Occupied(e) => (*e.get(), true),
            Entry::Vacant(e) => (*e.insert(value), false),
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.write().remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.write().insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        match self.0.write().get_mut(&key) {
            Some(v) if *v == old => {
                *v = new;
                true
            }
            _ => false,
        }
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        let mut map = self.0.write();
        if map.get(&key) == Some(&old) {
            map.remove(&key);
            true
        } else {
            false
        }
    }
    fn first_key(&self) -> Option<u64> {
        self.0.read().keys().next().copied()
    }
}
