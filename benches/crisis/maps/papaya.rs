//! papaya 0.2: lock-free reads, incremental resize, seize reclamation; ahash
//! hasher. One `pin()` per operation, as its docs show.

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
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
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(::papaya::HashMap<u64, V, Hasher>);

impl<V: Value> ConcurrentMap<u64, V> for Adapter<V> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.pin().insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.pin().remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.pin().get(key).cloned()
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.pin().contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        self.0.pin().update(*key, f).is_some()
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.pin().get_or_insert_with(key, f).clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for (k, v) in self.0.pin().iter() {
            f(k, v);
        }
    }
    fn retain(&self, f: impl FnMut(&u64, &V) -> bool) {
        self.0.pin().retain(f);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn clear(&self) {
        self.0.pin().clear();
    }
}

impl<V: Value> CrisisMap<V> for Adapter<V> {
    fn with_capacity(capacity: usize) -> Self {
        Self(::papaya::HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        ))
    }
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V)) {
        Self(self.0.clone()).for_each(f);
    }
}

/// Go's operations: `get_or_insert` (LoadOrStore), `remove`, `insert`
/// (Swap), `compute` with `Operation::Abort` on a mismatch
/// (CompareAndSwap), `remove_if` (CompareAndDelete), `clear`; all
/// lock-free and atomic per key.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: get, then get_or_insert; LoadAndDelete: remove; Swap: insert; CompareAndSwap: compute with Operation::Abort on a mismatch; CompareAndDelete: remove_if; Clear: clear (lock-free, atomic per key)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        let pin = self.0.pin();
        // papaya tells no "loaded" flag; a lookup first, as Go's fast path.
        // A racing insert of the same value reads as "stored" (no Go shape
        // can tell, and none checks it).
        if let Some(v) = pin.get(&key) {
            return (*v, true);
        }
        let v = *pin.get_or_insert(key, value);
        (v, v != value)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.pin().remove(&key).copied()
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.pin().insert(key, value).copied()
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        use ::papaya::{Compute, Operation};
        let pin = self.0.pin();
        let r = pin.compute(key, |cur| match cur {
            Some((_, v)) if *v == old => Operation::Insert(new),
            _ => Operation::Abort(()),
        });
        matches!(r, Compute::Updated { .. } | Compute::Inserted(..))
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        matches!(self.0.pin().remove_if(&key, |_, v| *v == old), Ok(Some(_)))
    }
    fn first_key(&self) -> Option<u64> {
        self.0.pin().iter().next().map(|(k, _)| *k)
    }
}
