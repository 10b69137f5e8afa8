//! `for_each` and `retain` visit a partition a chunk at a time (about a
//! thousand entries per chunk, each under a guard of its own), and merges
//! may publish new tables between two chunks. These tests make that happen
//! in one thread, deterministically: the traversal's own closure inserts and
//! deletes keys, so seals and merges run between (and within) chunks of
//! large partitions. Every key present for the whole traversal must be
//! visited exactly once, no key twice.

use std::collections::HashMap;

use epochmap::AtomicPtrMap;

/// Configurations with large partitions (many chunks each) and frequent
/// merges.
fn configs() -> Vec<(&'static str, AtomicPtrMap<u64, u64>)> {
    vec![
        (
            "one partition, incremental merges",
            AtomicPtrMap::builder().partitions(1).build().unwrap(),
        ),
        (
            "one partition, small overlays",
            AtomicPtrMap::builder()
                .partitions(1)
                .merge_threshold(16)
                .merge_ratio(64)
                .build()
                .unwrap(),
        ),
        (
            "two partitions, one-go merges",
            AtomicPtrMap::builder()
                .partitions(2)
                .merge_threshold(16)
                .merge_ratio(32)
                .incremental_merge(false)
                .build()
                .unwrap(),
        ),
    ]
}

/// Stable keys (never deleted during the traversal) and churned keys.
const STABLE: u64 = if cfg!(miri) { 300 } else { 30_000 };
const CHURN: u64 = 64;
/// Keys inserted during the traversal (never present at its start).
const FRESH: u64 = 1 << 40;

#[test]
fn for_each_visits_each_key_once_while_its_closure_forces_merges() {
    for (name, map) in configs() {
        for k in 0..STABLE + CHURN {
            map.insert(k, k);
        }
        let merges_before = map.stats().merges;
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut i = 0u64;
        map.for_each(|k, v| {
            assert_eq!(
                *v & 0xFFFF_FFFF,
                *k & 0xFFFF_FFFF,
                "{name}: value of another key"
            );
            *seen.entry(*k).or_default() += 1;
            // Delete a churn key, and insert again the one deleted half a
            // churn set ago (a new entry if a merge expunged its tombstone
            // meanwhile: found again in the same chunk, its new entry is
            // where a traversal that visited older tables first would yield
            // it twice). Overwrite a stable key, and add a fresh key: the
            // overlays fill, seal and merge.
            map.remove(&(STABLE + i % CHURN));
            let back = STABLE + (i + CHURN / 2) % CHURN;
            map.insert(back, back);
            map.insert(i % STABLE, (i % STABLE) | (i << 32));
            map.insert(FRESH + i, FRESH + i);
            i += 1;
        });
        for k in 0..STABLE {
            assert_eq!(seen.get(&k), Some(&1), "{name}: stable key {k}");
        }
        for (k, n) in &seen {
            assert_eq!(*n, 1, "{name}: key {k} visited {n} times");
        }
        // The closure really did change the tables under the traversal.
        assert!(
            map.stats().merges > merges_before,
            "{name}: no merge during the traversal"
        );
    }
}

#[test]
fn retain_keeps_exactly_what_it_is_told_while_its_closure_forces_merges() {
    for (name, map) in configs() {
        for k in 0..STABLE {
            map.insert(k, k);
        }
        let mut asked: HashMap<u64, u32> = HashMap::new();
        let mut i = 0u64;
        map.retain(|k, _| {
            *asked.entry(*k).or_default() += 1;
            map.insert(FRESH + i, FRESH + i);
            i += 1;
            *k % 2 == 0 || *k >= FRESH
        });
        for k in 0..STABLE {
            assert_eq!(asked.get(&k), Some(&1), "{name}: key {k} asked");
            assert_eq!(map.contains_key(&k), k % 2 == 0, "{name}: key {k}");
        }
        for (k, n) in &asked {
            assert_eq!(*n, 1, "{name}: key {k} asked {n} times");
        }
        // Fresh keys were all kept, whether the traversal saw them or not.
        for j in 0..i {
            assert!(map.contains_key(&(FRESH + j)), "{name}: fresh key {j}");
        }
        assert_eq!(map.len() as u64, STABLE / 2 + i, "{name}: len");
    }
}
