//! Real-thread stress of AtomicPtrMap: iterating while others delete and
//! re-insert (the weak-consistency guarantee checked on every traversal),
//! concurrent insert/overwrite/remove with drop counting, and merges of
//! large partitions against a model. Sizes are
//! fixed operation counts (no timing), scaled down under Miri.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::atomic::{atomic_configs, collect_until};
use common::{DropCounter, TestMap, Tracked};
use epochmap::AtomicPtrMap;
use epochmap_testkit::{scaled, Rng};

/// Sizes: scaled down under Miri, multiplied by `EPOCHMAP_STRESS=<factor>`
/// for soak runs (e.g. `EPOCHMAP_STRESS=50 cargo test --release --test
/// stress_atomic`).
fn n(full: u64) -> u64 {
    scaled(full, (full / 200).max(4))
}

/// A value for `key`: the key in the high bits, a generation in the low bits,
/// so a reader can check that a value yielded for a key was stored for it.
fn value_for(key: u64, generation: u64) -> u64 {
    (key << 24) | (generation & 0xFF_FFFF)
}

#[test]
fn iterate_while_deleting_and_reinserting() {
    for (name, make) in atomic_configs::<u64, u64>() {
        let map = Arc::new(make());
        let stable = n(2000);
        let churn = n(2000);
        for k in 0..stable + churn {
            map.insert(k, value_for(k, 0));
        }
        let writers = 2;
        let stop = Arc::new(AtomicBool::new(false));
        let traversals = Arc::new(AtomicU64::new(0));
        let start = Arc::new(Barrier::new(writers + 1));
        let handles: Vec<_> = (0..writers as u64)
            .map(|t| {
                let (map, stop, start) = (map.clone(), stop.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mut g = 1u64;
                    // Keep going until the reader is done, but at least a
                    // fixed number of rounds.
                    while !stop.load(Ordering::Relaxed) || g < n(20_000) {
                        // Churn keys: delete, re-insert, overwrite.
                        let k = stable + (g * 7919 + t) % churn;
                        match g % 4 {
                            0 | 1 => {
                                map.remove(&k);
                            }
                            2 => {
                                map.insert(k, value_for(k, g));
                            }
                            _ => {
                                map.update(&k, |v| value_for(v >> 24, g));
                            }
                        }
                        // Stable keys: only overwritten, never deleted.
                        let s = (g * 31 + t) % stable;
                        map.insert(s, value_for(s, g));
                        // Brand-new keys that come and go, to force merges.
                        let fresh = 1 << 30 | (t << 28) | g;
                        map.insert(fresh, value_for(fresh, g));
                        map.remove(&fresh);
                        g += 1;
                    }
                })
            })
            .collect();
        start.wait();
        let rounds = n(60).max(3);
        for round in 0..rounds {
            let mut seen = HashSet::new();
            let mut visit = |k: u64, v: u64| {
                assert!(seen.insert(k), "{name}: key {k} yielded twice");
                assert_eq!(v >> 24, k, "{name}: value {v:#x} not stored for key {k}");
            };
            // Both traversals: one guard for the whole of it, and
            // `for_each`'s guard per partition.
            if round % 2 == 0 {
                for (k, v) in map.pin().iter() {
                    visit(*k, *v);
                }
            } else {
                map.for_each(|k, v| visit(*k, *v));
            }
            for k in 0..stable {
                assert!(seen.contains(&k), "{name}: stable key {k} missing");
            }
            traversals.fetch_add(1, Ordering::Relaxed);
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(traversals.load(Ordering::Relaxed), rounds);
        assert_eq!(map.len(), map.pin().iter().count(), "{name}: len after");
    }
}

#[test]
fn concurrent_insert_overwrite_remove_drop_counting() {
    for (name, make) in atomic_configs::<u64, Tracked>() {
        let counter = DropCounter::new();
        {
            let map = Arc::new(make());
            let threads = 4u64;
            let keys = n(512);
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (map, counter) = (map.clone(), counter.clone());
                    thread::spawn(move || {
                        let mut rng = Rng::new(t + 1);
                        for i in 0..n(20_000) {
                            let x = rng.next_u64();
                            let k = x % keys;
                            match x >> 60 {
                                0..=5 => {
                                    map.insert(k, counter.track(k));
                                }
                                6..=9 => {
                                    map.remove(&k);
                                }
                                10 | 11 => {
                                    map.update(&k, |v| counter.track(v.payload));
                                }
                                12 => {
                                    let v = map.get_or_insert_with(k, || counter.track(k));
                                    assert_eq!(v.payload, k);
                                }
                                13 => {
                                    map.compute(k, |v| match v {
                                        Some(_) => None,
                                        None => Some(counter.track(k)),
                                    });
                                }
                                _ => {
                                    let m = map.pin();
                                    if let Some(v) = m.get(&k) {
                                        assert_eq!(v.payload, k);
                                    }
                                }
                            }
                            if i % 5000 == 4999 && t == 0 {
                                map.shrink_to_fit();
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            let entries = TestMap::entries(&*map);
            assert_eq!(entries.len(), map.len(), "{name}: len");
            for (k, v) in &entries {
                assert_eq!(*k, v.payload, "{name}");
            }
            drop(entries);
            let live = map.len() as isize;
            // Everything not in the map is freed once readers unpin.
            assert!(
                collect_until(|| counter.live() == live),
                "{name}: {} live, {} in map",
                counter.live(),
                live
            );
        }
        assert!(
            collect_until(|| counter.live() == 0),
            "{name}: {} values never dropped",
            counter.live()
        );
    }
}

/// Threads race to insert the same fresh keys (`get_or_insert_with`, and
/// `insert` of the same key): exactly one entry per key must result. This is
/// the race the insert path's search shortcut must get right: a writer that
/// searched without the mutex and found nothing may skip searching again
/// under the mutex only if no entry was created meanwhile.
#[test]
fn racing_inserts_of_the_same_new_keys_make_one_entry_each() {
    let threads = 4;
    let keys = n(20_000);
    for (name, make) in atomic_configs::<u64, u64>() {
        let map = Arc::new(make());
        let barrier = Arc::new(Barrier::new(threads));
        let winners: Vec<Vec<u64>> = (0..threads as u64)
            .map(|t| {
                let map = Arc::clone(&map);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    (0..keys)
                        .map(|k| {
                            if k % 2 == 0 {
                                // The value each thread would store; the one
                                // stored first wins for every thread.
                                map.get_or_insert_with(k, || t)
                            } else {
                                map.insert(k, t);
                                t
                            }
                        })
                        .collect()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        // Every thread saw the same winner for each even key.
        for k in (0..keys as usize).step_by(2) {
            let w = winners[0][k];
            assert!(
                winners.iter().all(|ws| ws[k] == w),
                "{name}: key {k} has two winners"
            );
            assert_eq!(map.get_cloned(&(k as u64)), Some(w), "{name}: key {k}");
        }
        assert_eq!(map.len(), keys as usize, "{name}: len");
        let mut seen: Vec<u64> = map.entries().into_iter().map(|(k, _)| k).collect();
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        assert_eq!(
            before,
            seen.len(),
            "{name}: a key yielded twice (two entries)"
        );
        assert_eq!(seen.len(), keys as usize, "{name}");
    }
}

/// Merges of a large partition (tens of thousands of entries: multi-page
/// arrays, incremental zeroing over many inserts, tombstones expunged in
/// bulk): churn through many merges against a std `HashMap` model, with drop
/// counting. A slot left stale by the incremental zeroing would show up as a
/// key that should be absent, a wrong value, or a value dropped twice.
///
/// Not under Miri: too many operations for the interpreter. The sanitizer
/// runs of the CI cover it (this file).
#[test]
#[cfg_attr(miri, ignore)]
fn large_partition_merges_match_the_model() {
    use std::collections::HashMap;
    let (n, rounds): (u64, u64) = (30_000, 6);
    let drops = DropCounter::new();
    let map: AtomicPtrMap<u64, Tracked> = AtomicPtrMap::builder().partitions(1).build().unwrap();
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut created = 0u64;
    for k in 0..n {
        map.insert(k, drops.track(k));
        model.insert(k, k);
        created += 1;
    }
    let merges_before = map.stats().merges;
    for r in 1..=rounds {
        // Remove a third, re-insert half of those with new values, add new
        // keys: tombstones expunged, entries moved, arrays rebuilt.
        for k in (0..n).filter(|k| k % 3 == r % 3) {
            assert_eq!(map.remove(&k), model.remove(&k).is_some());
        }
        for k in (0..n).filter(|k| k % 6 == r % 3) {
            map.insert(k, drops.track(k * 10 + r));
            model.insert(k, k * 10 + r);
            created += 1;
        }
        for k in n * r..n * r + n / 4 {
            map.insert(k, drops.track(k));
            model.insert(k, k);
            created += 1;
        }
        map.shrink_to_fit();
        let pinned = map.pin();
        for (k, v) in &model {
            assert_eq!(pinned.get(k).map(|t| t.payload), Some(*v), "key {k}");
        }
        for k in (0..n).filter(|k| !model.contains_key(k)) {
            assert!(pinned.get(&k).is_none(), "removed key {k} is back");
        }
        assert_eq!(pinned.iter().count(), model.len());
    }
    assert!(map.stats().merges >= merges_before + rounds as usize);
    assert_eq!(map.len(), model.len());
    drop(map);
    assert_eq!(drops.created(), created);
    // Every value dropped exactly once (a second drop panics in `Tracked`).
    assert!(collect_until(|| drops.live() == 0));
    assert_eq!(drops.live(), 0);
}
