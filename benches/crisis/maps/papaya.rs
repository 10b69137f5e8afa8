//! papaya 0.2: lock-free reads, incremental resize, seize reclamation; ahash
//! hasher. One `pin()` per operation, as its docs show.

use crate::adapter::{CrisisMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `papaya::HashMap`.
pub struct Papaya;

impl MapKind for Papaya {
    const ID: &'static str = "papaya";
    const NAME: &'static str = "papaya";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "pin().iter(): lock-free, weakly consistent";
    const SNAPSHOT: &'static str = "clone(): built by iteration (not point-in-time)";
    const POINT_IN_TIME: bool = false;
    type Map<V: Value> = Adapter<V>;
}

/// The adapter.
pub struct Adapter<V>(::papaya::HashMap<u64, V, Hasher>);

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(::papaya::HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn get(&self, key: u64) -> Option<V> {
        self.0.pin().get(&key).cloned()
    }
    fn contains(&self, key: u64) -> bool {
        self.0.pin().contains_key(&key)
    }
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.pin().insert(key, value).is_some()
    }
    fn remove(&self, key: u64) -> bool {
        self.0.pin().remove(&key).is_some()
    }
    fn update(&self, key: u64, f: impl Fn(&V) -> V) -> bool {
        self.0.pin().update(key, f).is_some()
    }
    fn for_each(&self, mut f: impl FnMut(u64, &V)) {
        for (k, v) in self.0.pin().iter() {
            f(*k, v);
        }
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(u64, &V)) {
        let copy = self.0.clone();
        for (k, v) in copy.pin().iter() {
            f(*k, v);
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
