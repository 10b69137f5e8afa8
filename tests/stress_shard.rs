//! ShardMap stress with real threads. Sizes are small by default (a few
//! seconds in a debug build); multiply them with `EPOCHMAP_STRESS=<factor>`,
//! e.g. `EPOCHMAP_STRESS=50 cargo test --release --test stress_shard`. Under Miri
//! they shrink further.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{DropCounter, Tracked};
use epochmap::ShardMap;
use epochmap_testkit::scaled;

fn scale(base: usize) -> usize {
    let base = base as u64;
    scaled(base, (base / 200).max(4)) as usize
}

/// More threads than cores: lock holders get preempted.
fn threads() -> usize {
    if cfg!(miri) {
        3
    } else {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        (2 * cores).clamp(4, 16)
    }
}

fn shard_maps<V>() -> Vec<(&'static str, ShardMap<u64, V>)> {
    vec![
        ("1 shard", ShardMap::builder().shards(1).build().unwrap()),
        ("default", ShardMap::new()),
        (
            "64 shards, 1 slot",
            ShardMap::builder()
                .shards(64)
                .reader_slots(1)
                .build()
                .unwrap(),
        ),
    ]
}

#[test]
fn shard_map_disjoint_ranges() {
    let per = scale(4_000) as u64;
    let t = threads() as u64;
    for (name, map) in shard_maps::<Tracked>() {
        let c = DropCounter::new();
        let stop = AtomicBool::new(false);
        // The checking reader is made to run: every writer, halfway through,
        // waits until the reader has completed a pass that began after all
        // writers got there (so it checks a half-filled map, and its later
        // passes overlap the second halves). `reader_gone` releases the
        // writers if the reader fails, so a failure fails instead of hanging.
        let at_half = AtomicUsize::new(0);
        let checked_at_half = AtomicBool::new(false);
        let reader_gone = AtomicBool::new(false);
        let passes = AtomicUsize::new(0);
        std::thread::scope(|s| {
            // A reader that checks what it can while the writers run.
            s.spawn(|| {
                struct Gone<'a>(&'a AtomicBool);
                impl Drop for Gone<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _gone = Gone(&reader_gone);
                while !stop.load(Ordering::SeqCst) {
                    let all_at_half = at_half.load(Ordering::SeqCst) == t as usize;
                    assert!(map.len() as u64 <= t * per, "{name}");
                    for r in map.iter().take(50) {
                        assert_eq!(r.payload % 1_000_000, *r.key(), "{name}");
                    }
                    passes.fetch_add(1, Ordering::Relaxed);
                    if all_at_half {
                        checked_at_half.store(true, Ordering::SeqCst);
                    }
                    std::thread::yield_now();
                }
            });
            let writers: Vec<_> = (0..t)
                .map(|w| {
                    let (map, c) = (&map, &c);
                    let (at_half, checked_at_half) = (&at_half, &checked_at_half);
                    let reader_gone = &reader_gone;
                    s.spawn(move || {
                        let base = w * per;
                        for i in 0..per {
                            if i == per / 2 {
                                at_half.fetch_add(1, Ordering::SeqCst);
                                while !checked_at_half.load(Ordering::SeqCst)
                                    && !reader_gone.load(Ordering::SeqCst)
                                {
                                    std::thread::yield_now();
                                }
                            }
                            let k = base + i;
                            assert!(map.insert(k, c.track(k)).is_none());
                            if i % 4 == 1 {
                                // Overwrite, keeping payload % 1e6 == key.
                                let old = map.insert(k, c.track(k + 1_000_000));
                                assert_eq!(old.map(|v| v.payload), Some(k));
                            }
                            if i % 4 == 2 {
                                assert_eq!(map.remove(&k).map(|v| v.payload), Some(k));
                            }
                            if i % 8 == 3 {
                                map.update(&k, |v| v.payload += 2_000_000);
                            }
                        }
                    })
                })
                .collect();
            for h in writers {
                h.join().unwrap();
            }
            stop.store(true, Ordering::SeqCst);
        });
        assert!(
            checked_at_half.into_inner(),
            "{name}: the reader never checked"
        );
        assert!(passes.into_inner() >= 1, "{name}");
        for k in 0..t * per {
            let i = k % per;
            let want = match i % 4 {
                2 => None,
                1 => Some(k + 1_000_000),
                _ if i % 8 == 3 => Some(k + 2_000_000),
                _ => Some(k),
            };
            assert_eq!(
                map.get_cloned(&k).map(|v| v.payload),
                want,
                "{name}: key {k}"
            );
        }
        let expected = (t * per - t * (per / 4 + u64::from(per % 4 > 2))) as usize;
        assert_eq!(map.len(), expected, "{name}");
        assert_eq!(map.iter().count(), expected, "{name}");
        assert_eq!(c.live() as usize, expected, "{name}");
        drop(map);
        assert_eq!(c.live(), 0, "{name}");
    }
}

#[test]
fn shard_map_shared_counters_add_up() {
    let per = scale(3_000);
    let t = threads();
    let keys = 16u64;
    for (name, map) in shard_maps::<u64>() {
        std::thread::scope(|s| {
            for w in 0..t {
                let map = &map;
                s.spawn(move || {
                    for i in 0..per {
                        let k = (i as u64 + w as u64) % keys;
                        match i % 4 {
                            0 => {
                                map.upsert(k, || 1, |v| *v += 1);
                            }
                            1 => *map.entry(k).or_insert(0) += 1,
                            2 => {
                                map.compute(k, |v| Some(v.copied().unwrap_or(0) + 1));
                            }
                            _ => {
                                // update only counts if present; fall back to
                                // the entry API otherwise.
                                if map.update(&k, |v| *v += 1).is_none() {
                                    *map.entry(k).or_default() += 1;
                                }
                            }
                        }
                        if i % 16 == 0 {
                            // Readers in the mix.
                            let _ = map.get(&k).map(|r| *r);
                        }
                    }
                });
            }
        });
        let total: u64 = map.iter().map(|r| *r.value()).sum();
        assert_eq!(total, (t * per) as u64, "{name}: increments lost");
        assert_eq!(map.len() as u64, keys.min((t * per) as u64), "{name}");
    }
}

#[test]
fn shard_map_readers_never_see_torn_values() {
    let per = scale(5_000);
    let t = threads();
    let (name, map) = (
        "1 shard",
        ShardMap::<u64, (u64, u64)>::builder()
            .shards(1)
            .build()
            .unwrap(),
    );
    for k in 0..8 {
        map.insert(k, (0, 0));
    }
    let torn = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..t {
            let (map, torn) = (&map, &torn);
            s.spawn(move || {
                for i in 0..per {
                    let k = (i % 8) as u64;
                    if (i + w) % 5 == 0 {
                        map.update(&k, |v| {
                            v.0 += 1;
                            std::hint::black_box(&v);
                            v.1 += 1;
                        });
                    } else if let Some(r) = map.get(&k) {
                        if r.0 != r.1 {
                            torn.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(torn.load(Ordering::Relaxed), 0, "{name}");
    let writes: u64 = (0..t)
        .map(|w| (0..per).filter(|i| (i + w) % 5 == 0).count() as u64)
        .sum();
    let total: u64 = map.iter().map(|r| r.0).sum();
    assert_eq!(total, writes, "{name}");
}
