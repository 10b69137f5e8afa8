//! Our `AtomicPtrMap`: lock-free reads over epoch-reclaimed partitioned
//! snapshots plus delta overlays; built with the suite's ahash hasher. It
//! takes no capacity hint (partitions and overlays size themselves).

use std::collections::HashMap;

use crate::adapter::{CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// Marker for `epochmap::AtomicPtrMap`.
pub struct Atomic;

impl MapKind for Atomic {
    const ID: &'static str = "atomic";
    const NAME: &'static str = "AtomicPtrMap";
    const OURS: bool = true;
    const TRAVERSAL: &'static str =
        "for_each: lock-free, weakly consistent, one epoch pin per ~1000 entries";
    const SNAPSHOT: &'static str =
        "collected by for_each into a std HashMap (faster than clone(); not point-in-time)";
    const POINT_IN_TIME: bool = false;
    type Map<V: Value> = Adapter<V>;
    type Go = Adapter<u64>;
}

/// The adapter.
pub struct Adapter<V>(epochmap::AtomicPtrMap<u64, V, Hasher>);

impl<V: Value> CrisisMap<V> for Adapter<V> {
    // Not presized, on purpose: `with_capacity` puts a prefill's keys in an
    // overlay, where lookups cost more than in a snapshot until a merge or
    // `compact()` (2026-12-03, quick profile, 2 cores: C2 fell from 0.63x to
    // 0.36x of the best peer at 1 thread; C1 gained a few percent). Grown
    // through merges, the prefilled keys end in snapshots.
    fn with_capacity(_capacity: usize) -> Self {
        Self(epochmap::AtomicPtrMap::with_hasher(hasher()))
    }
    fn get(&self, key: u64) -> Option<V> {
        self.0.get_cloned(&key)
    }
    fn contains(&self, key: u64) -> bool {
        self.0.contains_key(&key)
    }
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.insert(key, value)
    }
    fn remove(&self, key: u64) -> bool {
        self.0.remove(&key)
    }
    fn update(&self, key: u64, f: impl Fn(&V) -> V) -> bool {
        self.0.update(&key, f)
    }
    fn for_each(&self, mut f: impl FnMut(u64, &V)) {
        // Pins once per chunk of about a thousand entries, not for the
        // whole traversal.
        self.0.for_each(|k, v| f(*k, v));
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(u64, &V)) {
        // `for_each` (a pin per chunk), not `pin().iter()` (one pin for the
        // whole copy, which holds back the writers' garbage meanwhile).
        // `clone()` builds another AtomicPtrMap, entry by entry: slower.
        let mut copy: HashMap<u64, V, Hasher> =
            HashMap::with_capacity_and_hasher(self.0.len(), hasher());
        self.0.for_each(|k, v| {
            copy.insert(*k, v.clone());
        });
        for (k, v) in copy.iter() {
            f(*k, v);
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Go's operations: `get_or_insert_with` (LoadOrStore), `Pinned::remove`
/// (LoadAndDelete), `Pinned::insert` (Swap), and `Pinned::compute` behind a
/// lock-free read for CompareAndSwap and CompareAndDelete (as Go's loads
/// first): atomic per key. When the value changes between the read and the
/// compute and no longer matches, `compute` writes the current value back
/// unchanged (it has no abort), a write Go would not do.
impl GoMap for Adapter<u64> {
    const OPS: &'static str = "LoadOrStore: get_or_insert_with; LoadAndDelete: Pinned::remove; Swap: Pinned::insert; CompareAndSwap, CompareAndDelete: lock-free get, then Pinned::compute (atomic per key; a value that changed in between is written back unchanged); Clear: clear (retain + compact, not atomic across keys)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        let stored = std::cell::Cell::new(false);
        let v = self.0.get_or_insert_with(key, || {
            stored.set(true);
            value
        });
        // `f` may run for an insert that another thread's insert beat; the
        // value returned is then theirs. (When theirs equals ours, this
        // says "stored": no Go shape can tell, and none checks it.)
        let loaded = !stored.get() || v != value;
        (v, loaded)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.pin().remove(&key).copied()
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.pin().insert(key, value).copied()
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        let pin = self.0.pin();
        if pin.get(&key) != Some(&old) {
            return false;
        }
        let mut hit = false;
        pin.compute(key, |cur| {
            hit = cur == Some(&old);
            if hit {
                Some(new)
            } else {
                cur.copied()
            }
        });
        hit
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        let pin = self.0.pin();
        if pin.get(&key) != Some(&old) {
            return false;
        }
        let mut hit = false;
        pin.compute(key, |cur| {
            hit = cur == Some(&old);
            if hit {
                None
            } else {
                cur.copied()
            }
        });
        hit
    }
    fn clear(&self) {
        self.0.clear();
    }
    fn first_key(&self) -> Option<u64> {
        self.0.pin().iter().next().map(|(k, _)| *k)
    }
}
