//! Real-thread stress of AtomicPtrMap: iterating while others delete and
//! re-insert (the weak-consistency guarantee checked on every traversal),
//! and concurrent insert/overwrite/remove with drop counting. Sizes are
//! fixed operation counts (no timing), scaled down under Miri.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::atomic::{atomic_configs, collect_until};
use common::{DropCounter, TestMap, Tracked};

/// Sizes: scaled down under Miri, multiplied by `EPOCHMAP_STRESS=<factor>`
/// for soak runs (e.g. `EPOCHMAP_STRESS=50 cargo test --release --test
/// stress_atomic`).
fn n(full: u64) -> u64 {
    if cfg!(miri) {
        return (full / 200).max(4);
    }
    let factor: u64 = std::env::var("EPOCHMAP_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    full * factor
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
        for _ in 0..rounds {
            let m = map.pin();
            let mut seen = HashSet::new();
            for (k, v) in m.iter() {
                assert!(seen.insert(*k), "{name}: key {k} yielded twice");
                assert_eq!(v >> 24, *k, "{name}: value {v:#x} not stored for key {k}");
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
                        let mut x = 0x2545_F491_4F6C_DD1D ^ (t + 1);
                        for i in 0..n(20_000) {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
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
                                map.compact();
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
