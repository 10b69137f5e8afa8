//! Our `AtomicPtrMap`: lock-free reads over epoch-reclaimed partitioned
//! snapshots plus delta overlays; built with the suite's ahash hasher. It
//! takes no capacity hint (partitions and overlays size themselves). Its
//! operations are the test kit's `ConcurrentMap` impl.

use std::collections::HashMap;

use epochmap::AtomicPtrMap;

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
    type Map<V: Value> = AtomicPtrMap<u64, V, Hasher>;
    type Go = AtomicPtrMap<u64, u64, Hasher>;
}

impl<V: Value> CrisisMap<V> for AtomicPtrMap<u64, V, Hasher> {
    // Presized, as every peer is: a prefill then lands in each partition's
    // first overlay, sized for the capacity, whose hits count towards no
    // read-assisted merge.
    fn with_capacity(capacity: usize) -> Self {
        AtomicPtrMap::with_capacity_and_hasher(capacity, hasher())
    }
    fn snapshot_for_each(&self, mut f: impl FnMut(&u64, &V)) {
        // `for_each` (a pin per chunk), not `pin().iter()` (one pin for the
        // whole copy, which holds back the writers' garbage meanwhile).
        // `clone()` builds another AtomicPtrMap, entry by entry: slower.
        let mut copy: HashMap<u64, V, Hasher> =
            HashMap::with_capacity_and_hasher(self.len(), hasher());
        AtomicPtrMap::for_each(self, |k, v| {
            copy.insert(*k, v.clone());
        });
        for (k, v) in copy.iter() {
            f(k, v);
        }
    }
}

/// Go's operations, one real AtomicPtrMap operation each: `load_or_store`,
/// `remove_cloned` (LoadAndDelete), `insert_cloned` (Swap),
/// `compare_and_swap`, `compare_and_delete` (a CAS on the key's entry,
/// lock-free), `clear`.
impl GoMap for AtomicPtrMap<u64, u64, Hasher> {
    const OPS: &'static str = "LoadOrStore: load_or_store; LoadAndDelete: remove_cloned; Swap: insert_cloned; CompareAndSwap: compare_and_swap; CompareAndDelete: compare_and_delete (lock-free CAS on the entry); Clear: clear (retain + shrink_to_fit, not atomic across keys)";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        AtomicPtrMap::load_or_store(self, key, value)
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.remove_cloned(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.insert_cloned(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        AtomicPtrMap::compare_and_swap(self, &key, &old, new).is_ok()
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        AtomicPtrMap::compare_and_delete(self, &key, &old)
    }
    fn first_key(&self) -> Option<u64> {
        self.pin().iter().next().map(|(k, _)| *k)
    }
}
