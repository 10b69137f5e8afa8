//! scc 3 `HashMap`: bucket-level locks, lock-free bucket array growth, sdd
//! reclamation; ahash hasher. The `_sync` API throughout.

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
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
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(::scc::HashMap<u64, V, Hasher>);

impl<V: Value> ConcurrentMap<u64, V> for Adapter<V> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.upsert_sync(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.remove_sync(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        self.0.read_sync(key, |_, v| v.clone())
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.contains_sync(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        self.0.update_sync(key, |_, v| *v = f(v)).is_some()
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0.entry_sync(key).or_insert_with(f).get().clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        self.0.iter_sync(|k, v| {
            f(k, v);
            true
        });
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.retain_sync(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn clear(&self) {
        self.0.clear_sync();
    }
}

impl<V: Value> CrisisMap<V> for Adapter<V> {
    const EXACT_LEN: bool = false;
    fn with_capacity(capacity: usize) -> Self {
        Self(::scc::HashMap::with_capacity_and_hasher(capacity, hasher()))
    }
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V)) {
        Self(self.0.clone()).for_each(f);
    }
}

/// Go's operations: `entry_sync` (LoadOrStore, CompareAndSwap),
/// `remove_sync`, `upsert_sync` (Swap), `remove_if_sync`
/// (CompareAndDelete), `clear_sync`; each one locked step on the key's
/// bucket.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: entry_sync; LoadAndDelete: remove_sync; Swap: upsert_sync; CompareAndSwap: update_sync; CompareAndDelete: remove_if_sync; Clear: clear_sync (atomic per key)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        match self.0.entry_sync(key) {
            ::scc::hash_map::Entry::Occupied(e) => (*e.get(), true),
            ::scc::hash_map::Entry::Vacant(e) => {
                e.insert_entry(value);
                (value, false)
            }
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.remove_sync(&key).map(|(_, v)| v)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.upsert_sync(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        self.0.update_sync(&key, |_, v| {
            let hit = *v == old;
            if hit {
                *v = new;
            }
            hit
        }) == Some(true)
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        self.0.remove_if_sync(&key, |v| *v == old).is_some()
    }
    fn first_key(&self) -> Option<u64> {
        let mut first = None;
        self.0.iter_sync(|k, _| {
            first = Some(*k);
            false
        });
        first
    }
}
