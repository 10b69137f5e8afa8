//! Regression tests for the bugs the fuzz targets found (fuzz/README.md;
//! details in the fuzz notes). Each replays the minimised input as plain
//! calls.

use epochmap::AtomicPtrMap;
use epochmap_testkit::alloc::{self, KitAlloc};

/// Counts the bytes currently allocated, so a test can bound a map's memory.
#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

/// The configuration of fuzz bug 1: one partition, merges on almost every
/// new key, overlays as large as the snapshot.
fn ratio_one_map() -> AtomicPtrMap<u64, u64> {
    AtomicPtrMap::builder()
        .partitions(1)
        .merge_threshold(1)
        .merge_ratio(1)
        .build()
        .unwrap()
}

/// Fuzz bug 1 (`iter_delete`, single-thread mode, config "1 partition, merge
/// threshold 1, ratio 1"): with `merge_ratio(1)`, every `compact()` (and so
/// every `clear()`) doubled the overlay the next merge prepares, so memory
/// and time doubled per call: one key and 23 compacts asked for 2 GiB.
#[test]
fn atomic_repeated_compact_keeps_memory_bounded() {
    let map = ratio_one_map();
    map.insert(1, 1);
    map.shrink_to_fit();
    alloc::keep_counting();
    let base = alloc::live_bytes();
    for i in 0..40 {
        map.shrink_to_fit();
        let grown = (alloc::live_bytes() - base).max(0);
        // One key: a few KiB of tables at most. (The bug reached 1 MiB at
        // about the 12th call, and stops here long before a huge allocation.)
        assert!(grown < 1 << 20, "compact #{i}: heap grew by {grown} bytes");
    }
    assert_eq!(map.len(), 1);
}

/// The same bug under churn: with `merge_ratio(1)`, inserting and removing
/// fresh keys grew the overlays without bound (16 MB for a map of one key
/// after 160k insert + remove pairs).
#[test]
fn atomic_churn_keeps_memory_bounded() {
    let map = ratio_one_map();
    map.insert(0, 0);
    let rounds = if cfg!(miri) { 200 } else { 100_000 };
    let mut peak = 0;
    alloc::keep_counting();
    let base = alloc::live_bytes();
    for k in 1..=rounds {
        map.insert(k, k);
        map.remove(&k);
        if k % 1000 == 0 {
            // Garbage waits for the epoch; count what is live.
            map.shrink_to_fit();
            peak = peak.max(settled_growth(&map, base, 4 << 20));
        }
    }
    assert!(
        peak < 4 << 20,
        "heap grew by {peak} bytes for a map of one key"
    );
    assert_eq!(map.len(), 1);
}

/// The heap's growth since `base`, given up to a second to fall below
/// `bound`: the map's garbage is freed only once every thread pinned
/// meanwhile has moved on, and a test running beside this one (same
/// process, same allocator count) can hold the epoch back for a while on a
/// loaded machine (CI saw 5.8 MB of garbage waiting once, against 10 KB
/// live in 60 local runs). Lookups pin and collect; the growth the bug
/// caused was live tables, which no waiting frees.
fn settled_growth(map: &AtomicPtrMap<u64, u64>, base: i64, bound: i64) -> i64 {
    let mut grown = alloc::live_bytes() - base;
    for _ in 0..1000 {
        if grown < bound {
            break;
        }
        for _ in 0..256 {
            assert_eq!(map.get_cloned(&0), Some(0));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        grown = alloc::live_bytes() - base;
    }
    grown
}

/// Fuzz bug 2 (`model`, 2026-11-22): in a single-threaded program,
/// `compute` on a removed key (a tombstone in an overlay) called its closure
/// twice. Its lookup counted an overlay hit and helped the merge along, the
/// merge step expunged that very tombstone, so the revival CAS that followed
/// failed and `compute` retried. Lookups now help merges only when they found
/// a live value, which a merge never changes.
#[test]
fn compute_on_a_tombstone_calls_its_closure_once_in_one_thread() {
    let rounds = if cfg!(miri) { 16 } else { 200 };
    for round in 0..rounds {
        // Overlays of 8 entries: the 8th insert seals the overlay and starts
        // a merge, which later steps (inserts, or lookups helping) continue.
        let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
            .partitions(1)
            .merge_threshold(8)
            .merge_ratio(1024)
            .build()
            .unwrap();
        for k in 0..8 {
            map.insert(k, k);
        }
        // Tombstones in the sealed overlay, not yet expunged.
        for k in 0..8 {
            map.remove(&k);
        }
        for k in 0..8 {
            let mut calls = 0;
            let before = map.compute(k, |old| {
                calls += 1;
                Some(old.copied().unwrap_or(100) + 1)
            });
            assert_eq!(
                calls, 1,
                "round {round}, key {k}: closure called {calls} times"
            );
            assert_eq!(before, None);
            assert_eq!(map.get_cloned(&k), Some(101));
        }
    }
}
