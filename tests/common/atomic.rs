//! [`TestMap`] for [`AtomicPtrMap`], across configurations, and helpers for
//! the garbage that epoch reclamation frees later.

use std::hash::Hash;

use epochmap::AtomicPtrMap;

use super::{DropCounter, TestMap};

/// Configurations: one partition, many, merges constantly (incremental and
/// in one go), merges never (large threshold).
/// A named constructor of one configuration.
pub type Config<M> = (&'static str, fn() -> M);

pub fn atomic_configs<K, V>() -> Vec<Config<AtomicPtrMap<K, V>>>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    vec![
        ("atomic/one-partition", || {
            AtomicPtrMap::builder().partitions(1).build().unwrap()
        }),
        ("atomic/many-partitions", || {
            AtomicPtrMap::builder().partitions(16).build().unwrap()
        }),
        ("atomic/tiny-merge", || {
            AtomicPtrMap::builder()
                .partitions(2)
                .merge_threshold(1)
                .merge_ratio(64)
                .build()
                .unwrap()
        }),
        ("atomic/tiny-merge-one-go", || {
            AtomicPtrMap::builder()
                .partitions(1)
                .merge_threshold(2)
                .merge_ratio(64)
                .incremental_merge(false)
                .build()
                .unwrap()
        }),
        ("atomic/large-merge", || {
            AtomicPtrMap::builder()
                .partitions(4)
                .merge_threshold(if cfg!(miri) { 64 } else { 1 << 14 })
                .build()
                .unwrap()
        }),
    ]
}

impl<K, V> TestMap<K, V> for AtomicPtrMap<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn configs() -> Vec<(&'static str, fn() -> Self)> {
        atomic_configs()
    }
    /// By `pin().iter()`, one pin for the whole traversal (the kit's
    /// `for_each` pins per chunk).
    fn entries(&self) -> Vec<(K, V)> {
        self.pin()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    fn live_after_reclaim(c: &DropCounter, expected: isize) -> isize {
        collect_until(|| c.live() == expected);
        c.live()
    }
}

/// Drives epoch reclamation until `done()` holds: values retired by a map
/// are freed by the global collector some epochs later, on whichever thread
/// collects, and only once every thread pinned meanwhile (other tests of the
/// same binary included) has unpinned. Returns whether `done()` became true
/// within a bounded number of collection rounds; after the first thousand
/// rounds each waits a millisecond, so a test elsewhere that holds a guard
/// for a while delays the check rather than failing it.
pub fn collect_until(mut done: impl FnMut() -> bool) -> bool {
    for round in 0..60_000 {
        if done() {
            return true;
        }
        crossbeam_epoch::pin().flush();
        if round < 1000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    done()
}
