//! scc 3 `HashMap`: bucket-level locks, lock-free bucket array growth, sdd
//! reclamation; ahash hasher. The `_sync` API throughout.

use crate::adapter::{CrisisMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `scc::HashMap`.
pub struct Scc;

impl MapKind for Scc {
    const ID: &'static str = "scc";
    const NAME: &'static str = "scc::HashMap";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "iter_sync(): locks one bucket at a time";
    const SNAPSHOT: &'static str = "clone(): built by iteration (not point-in-time)";
    const POINT_IN_TIME: bool = false;
    type Map<V: Value> = Adapter<V>;
}

/// The adapter.
pub struct Adapter<V>(::scc::HashMap<u64, V, Hasher>);

impl<V: Value> CrisisMap<V> for Adapter<V> {
    /// scc documents that `len` "may overcount entries if an old bucket
    /// array has not yet been dropped" (reclamation is deferred).
    const EXACT_LEN: bool = false;
    fn with_capacity(capacity: usize) -> Self {
        Self(::scc::HashMap::with_capacity_and_hasher(capacity, hasher()))
    }
    fn get(&self, key: u64) -> Option<V> {
        self.0.read_sync(&key, |_, v| v.clone())
    }
    fn contains(&self, key: u64) -> bool {
        self.0.contains_sync(&key)
    }
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.upsert_sync(key, value).is_some()
    }
    fn remove(&self, key: u64) -> bool {
        self.0.remove_sync(&key).is_some()
    }
    fn update(&self, key: u64, f: impl Fn(&V) -> V) -> bool {
        self.0.update_sync(&key, |_, v| *v = f(v)).is_some()
    }
    fn for_each(&self, mut f: impl FnMut(u64, &V)) {
        self.0.iter_sync(|k, v| {
            f(*k, v);
            true
        });
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(u64, &V)) {
        let copy = self.0.clone();
        copy.iter_sync(|k, v| {
            f(*k, v);
            true
        });
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
