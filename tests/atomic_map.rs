//! AtomicPtrMap-specific tests: API against a std `HashMap` model in every
//! configuration, merges/compaction/stats, drop counting, panic safety of
//! user code, and small two-thread tests (these run under Miri too).

mod common;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::atomic::{atomic_configs, collect_until};
use common::{DropCounter, TestMap, Tracked};
use epochmap::atomic_map::BuildError as AtomicBuildError;
use epochmap::AtomicPtrMap;
use epochmap_testkit::{scaled, Rng};

/// Scales sizes down under Miri.
fn n(full: u64) -> u64 {
    scaled(full, (full / 50).max(8))
}

fn check_against_model(map: &AtomicPtrMap<u64, Tracked>, model: &HashMap<u64, u64>, name: &str) {
    assert_eq!(map.len(), model.len(), "{name}: len");
    assert_eq!(map.is_empty(), model.is_empty(), "{name}: is_empty");
    let mut seen: Vec<(u64, u64)> = TestMap::entries(map)
        .into_iter()
        .map(|(k, v)| (k, v.payload))
        .collect();
    seen.sort_unstable();
    let mut want: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
    want.sort_unstable();
    assert_eq!(seen, want, "{name}: entries");
    for (k, v) in model {
        assert_eq!(
            map.get_cloned(k).map(|t| t.payload),
            Some(*v),
            "{name}: get {k}"
        );
    }
}

#[test]
fn random_ops_match_model_and_drop_everything_once() {
    for (name, make) in atomic_configs::<u64, Tracked>() {
        random_ops_against_model(name, make);
    }
    // Presized maps: the first overlay of each partition is sized for the
    // capacity (here about the key space), and is sealed by compaction,
    // removals or when it fills, not by reads.
    random_ops_against_model("presized/with_capacity", || {
        AtomicPtrMap::with_capacity(n(300) as usize)
    });
    random_ops_against_model("presized/builder", || {
        AtomicPtrMap::builder()
            .partitions(2)
            .capacity(n(300) as usize / 2)
            .merge_threshold(2)
            .build()
            .unwrap()
    });
}

/// Random operations on `make()`'s map, checked against a `HashMap`, with
/// values that count their drops.
fn random_ops_against_model(name: &str, make: fn() -> AtomicPtrMap<u64, Tracked>) {
    {
        let counter = DropCounter::new();
        {
            let map = make();
            let mut model: HashMap<u64, u64> = HashMap::new();
            let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
            let keys = n(300);
            for step in 0..n(6000) {
                let k = rng.below(keys);
                let v = rng.next_u64() >> 8;
                match rng.below(10) {
                    0..=2 => {
                        let was = !map.insert(k, counter.track(v));
                        assert_eq!(was, model.insert(k, v).is_some(), "{name}: insert");
                    }
                    3 => {
                        assert_eq!(map.remove(&k), model.remove(&k).is_some(), "{name}: remove");
                    }
                    4 => {
                        let got = map.get_or_insert_with(k, || counter.track(v));
                        let want = *model.entry(k).or_insert(v);
                        assert_eq!(got.payload, want, "{name}: get_or_insert_with");
                    }
                    5 => {
                        let ok = map.update(&k, |old| counter.track(old.payload + 1));
                        let want = model.get_mut(&k).map(|x| *x += 1).is_some();
                        assert_eq!(ok, want, "{name}: update");
                    }
                    6 => {
                        // compute: toggle between removing and incrementing.
                        let got = map.compute(k, |old| match old {
                            Some(o) if o.payload % 2 == 0 => None,
                            Some(o) => Some(counter.track(o.payload + 1)),
                            None => Some(counter.track(v)),
                        });
                        // It returns the value it replaced or removed.
                        let want = model.get(&k).copied();
                        match want {
                            Some(o) if o % 2 == 0 => {
                                model.remove(&k);
                            }
                            Some(o) => {
                                model.insert(k, o + 1);
                            }
                            None => {
                                model.insert(k, v);
                            }
                        }
                        assert_eq!(got.map(|t| t.payload), want, "{name}: compute");
                    }
                    7 => {
                        assert_eq!(
                            map.contains_key(&k),
                            model.contains_key(&k),
                            "{name}: contains"
                        );
                    }
                    8 => {
                        let m = map.pin();
                        assert_eq!(m.get(&k).map(|t| t.payload), model.get(&k).copied());
                    }
                    _ => {
                        if step % 500 == 0 {
                            map.shrink_to_fit();
                        }
                        if step % 1500 == 0 {
                            let keep = rng.below(3);
                            map.retain(|k, _| k % 3 != keep);
                            model.retain(|k, _| k % 3 != keep);
                        }
                    }
                }
                if step % 1000 == 0 {
                    check_against_model(&map, &model, name);
                }
            }
            check_against_model(&map, &model, name);
            map.clear();
            model.clear();
            check_against_model(&map, &model, name);
            for k in 0..keys {
                map.insert(k, counter.track(k));
                model.insert(k, k);
            }
            check_against_model(&map, &model, name);
        }
        assert!(
            collect_until(|| counter.live() == 0),
            "{name}: {} values never dropped",
            counter.live()
        );
    }
}

/// `shrink_to_fit` merges only partitions that a merge would change: a
/// compact map (all keys in the snapshots, no tombstones) merges nothing,
/// and `clear` of a map of one key merges only the partition that held it
/// (it merged all of them: Go's Clear shape, 7.5 µs a call against Go's
/// 0.1). Tombstones and overlay entries still get compacted.
#[test]
fn shrink_to_fit_merges_only_what_it_changes() {
    let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder().partitions(8).build().unwrap();
    let n: u64 = if cfg!(miri) { 200 } else { 10_000 };
    for k in 0..n {
        map.insert(k, k);
    }
    map.shrink_to_fit();
    let s = map.stats();
    assert_eq!(
        (s.snapshot_entries, s.overlay_entries),
        (n as usize, 0),
        "{s:?}"
    );
    // Compact already: nothing to merge.
    map.shrink_to_fit();
    assert_eq!(map.stats().merges, s.merges, "a compact map merged again");
    // A tombstone in one partition: that partition merges, alone.
    assert_eq!(map.remove_cloned(&0), Some(0));
    map.shrink_to_fit();
    let t = map.stats();
    assert_eq!(t.merges, s.merges + 1, "{t:?}");
    assert_eq!(
        t.snapshot_entries,
        n as usize - 1,
        "the tombstone stayed: {t:?}"
    );
    // That merge sized its snapshot for every entry it started with, the
    // tombstone's too (a tombstone may be revived while a merge runs).
    // Where one entry fewer fits a table half the size, the next compaction
    // shrinks that partition (one merge); then nothing is left to merge.
    map.shrink_to_fit();
    let t = {
        let t2 = map.stats();
        assert!(t2.merges <= t.merges + 1, "{t2:?}");
        map.shrink_to_fit();
        assert_eq!(map.stats().merges, t2.merges, "a compact map merged again");
        t2
    };
    // Overlay entries: their partitions merge.
    map.insert(n, n);
    map.shrink_to_fit();
    let u = map.stats();
    assert_eq!(u.merges, t.merges + 1, "{u:?}");
    assert_eq!(
        (u.snapshot_entries, u.overlay_entries),
        (n as usize, 0),
        "{u:?}"
    );
    // Clear of a one-key map merges the key's partition only. (Emptying
    // the map leaves snapshots sized for the entries they had: a merge
    // sizes its target for every entry, as a tombstone may be revived
    // meanwhile. The next compaction shrinks them; then nothing is left.)
    map.clear();
    assert_eq!(map.len(), 0);
    map.shrink_to_fit();
    let c = map.stats().merges;
    map.shrink_to_fit();
    assert_eq!(map.stats().merges, c, "an empty, shrunk map merged again");
    map.insert(7, 7);
    let before = map.stats().merges;
    map.clear();
    let after = map.stats();
    assert_eq!(after.merges, before + 1, "{after:?}");
    assert_eq!(
        (after.len, after.snapshot_entries, after.overlay_entries),
        (0, 0, 0)
    );
    for k in 0..n {
        assert_eq!(map.get_cloned(&k), None);
    }
}

/// `with_capacity(n)` and `Builder::capacity(n)` presize the map: a prefill
/// of `n` keys seals no overlay, so no merge runs (none completed, none in
/// progress), where the same prefill without a capacity runs many; reads do
/// not seal the presized overlay; past the prefill the map merges as usual.
#[test]
fn capacity_presizes_the_map() {
    let n: u64 = if cfg!(miri) { 300 } else { 100_000 };
    let prefill = |map: &AtomicPtrMap<u64, u64>| {
        for k in 0..n {
            assert!(map.insert(k, k + 1));
        }
    };
    // The comparison that gives the assertions below their meaning.
    let plain: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder().partitions(8).build().unwrap();
    prefill(&plain);
    let s = plain.stats();
    assert!(s.merges + s.merges_in_progress >= 8, "{s:?}");

    let with_capacity: AtomicPtrMap<u64, u64> = AtomicPtrMap::with_capacity(n as usize);
    let builder: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
        .partitions(8)
        .capacity(n as usize)
        .build()
        .unwrap();
    for (name, map) in [("with_capacity", with_capacity), ("builder", builder)] {
        prefill(&map);
        let s = map.stats();
        assert_eq!((s.merges, s.merges_in_progress), (0, 0), "{name}: {s:?}");
        assert_eq!(
            (s.len, s.overlay_entries),
            (n as usize, n as usize),
            "{name}"
        );
        // Reads leave it alone (they would seal an ordinary overlay).
        for _ in 0..3 {
            for k in 0..n {
                assert_eq!(map.get_cloned(&k), Some(k + 1), "{name}");
            }
        }
        let s = map.stats();
        assert_eq!((s.merges, s.merges_in_progress), (0, 0), "{name}: {s:?}");
        // Compaction folds it into the snapshots; more keys merge as usual.
        map.shrink_to_fit();
        let s = map.stats();
        assert_eq!(s.snapshot_entries, n as usize, "{name}: {s:?}");
        for k in n..2 * n {
            assert!(map.insert(k, k + 1));
        }
        assert!(map.stats().merges > s.merges, "{name}");
        assert_eq!(map.len(), 2 * n as usize);
        for k in 0..2 * n {
            assert_eq!(map.get_cloned(&k), Some(k + 1), "{name}");
        }
        // A clone is presized for the original's length.
        let copy = map.clone();
        let s = copy.stats();
        assert_eq!((s.merges, s.merges_in_progress), (0, 0), "{name}: {s:?}");
        assert_eq!(copy.len(), 2 * n as usize);
    }
}

/// Deleting keys gives their entries back without inserts or `shrink_to_fit`:
/// removals assist merges once most of a partition's entries are
/// tombstones, and the merges expunge them. After deleting all `n` keys,
/// fewer than `2 x merge threshold` entries per partition are held (the
/// bound of `RawMap::after_removal`, single remover), where without the
/// assists every one of the `n` entries stayed until `compact`. The entries
/// are really freed (their keys are dropped once the epoch passes), and every
/// key and value is dropped exactly once.
#[test]
fn removals_alone_give_the_entries_back() {
    let (n, partitions) = if cfg!(miri) { (400, 2) } else { (20_000, 8) };
    let threshold = 16;
    let bound = 2 * threshold * partitions;
    for remove_with in ["remove", "compute", "retain"] {
        let (keys, values) = (DropCounter::new(), DropCounter::new());
        {
            let map: AtomicPtrMap<Tracked, Tracked> = AtomicPtrMap::builder()
                .partitions(partitions)
                .merge_threshold(threshold)
                .build()
                .unwrap();
            for k in 0..n {
                map.insert(keys.track(k), values.track(k));
            }
            let s = map.stats();
            assert_eq!(s.snapshot_entries + s.overlay_entries, n as usize);
            let full_bytes = s.table_bytes;
            match remove_with {
                "remove" => {
                    for k in 0..n {
                        assert!(map.remove(&keys.track(k)));
                    }
                }
                "compute" => {
                    for k in 0..n {
                        assert!(map.compute(keys.track(k), |_| None).is_some());
                    }
                }
                _ => map.retain(|_, _| false),
            }
            let s = map.stats();
            assert_eq!(s.len, 0);
            let held = s.snapshot_entries + s.overlay_entries;
            assert!(held < bound, "{remove_with}: {held} entries held: {s:?}");
            // The arrays shrink with the entries: under a tenth of the full
            // map's bytes (the tables of `bound` entries, and an overlay of
            // at least the merge threshold per partition, are far less; at
            // Miri's 400 keys those smallest tables weigh more: a quarter).
            let shrink = if cfg!(miri) { 4 } else { 10 };
            assert!(
                s.table_bytes * shrink < full_bytes,
                "{remove_with}: {} of {full_bytes} bytes held: {s:?}",
                s.table_bytes
            );
            // Every value was retired by its removal, and the entries the
            // merges expunged with their keys: all freed once the epoch
            // passes, before the map is dropped.
            assert!(
                collect_until(|| values.live() == 0),
                "{remove_with}: {} values never dropped",
                values.live()
            );
            assert!(
                collect_until(|| keys.live() <= held as isize),
                "{remove_with}: {} keys alive, {held} entries held",
                keys.live()
            );
            // The map goes on.
            for k in 0..100 {
                map.insert(keys.track(k), values.track(k + 1));
            }
            assert_eq!(map.len(), 100);
            assert_eq!(map.pin().get(&keys.track(7)).map(|v| v.payload), Some(8));
        }
        assert!(collect_until(|| keys.live() == 0 && values.live() == 0));
    }
}

#[test]
fn merges_compaction_and_stats() {
    let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
        .partitions(2)
        .merge_threshold(4)
        .build()
        .unwrap();
    let count = n(2000);
    for i in 0..count {
        map.insert(i, i);
    }
    let s = map.stats();
    assert_eq!(s.partitions, 2);
    assert_eq!(s.len as u64, count);
    assert!(s.merges > 0, "merges: {s:?}");
    assert_eq!((s.snapshot_entries + s.overlay_entries) as u64, count);

    map.shrink_to_fit();
    let s = map.stats();
    assert_eq!(s.overlay_entries, 0, "{s:?}");
    assert_eq!(s.merges_in_progress, 0);
    assert_eq!(s.snapshot_entries as u64, count);

    // Tombstones stay until a merge: `compact`, or one that removals start
    // once half of a partition's entries are tombstones (small sizes, as
    // under Miri, reach that); compact drops them.
    for i in (0..count).step_by(2) {
        assert!(map.remove(&i));
    }
    let s = map.stats();
    let held = s.snapshot_entries as u64;
    assert!(held >= count / 2 && held <= count, "{s:?}");
    map.shrink_to_fit();
    let s = map.stats();
    assert_eq!(s.snapshot_entries as u64, count / 2, "{s:?}");
    assert_eq!(s.len as u64, count / 2);

    // Expunged keys come back as fresh entries.
    for i in (0..count).step_by(2) {
        assert!(map.insert(i, i + 1));
    }
    for i in 0..count {
        let want = if i % 2 == 0 { i + 1 } else { i };
        assert_eq!(map.get_cloned(&i), Some(want));
    }
    assert_eq!(map.len() as u64, count);

    // Garbage is counted, then freed.
    assert!(collect_until(|| map.stats().garbage_objects == 0));
    {
        let _pinned = map.pin();
        for i in 0..count {
            map.insert(i, 0);
            // A first value lives inline in its entry (for `V` without drop
            // glue) and is freed with the entry, not retired: the second
            // overwrite retires a boxed value.
            map.insert(i, 1);
        }
        // Our own guard holds these back: at least the overwritten values.
        assert!(map.stats().garbage_objects as u64 >= count);
        assert!(map.stats().garbage_bytes as u64 >= count * 8);
    }
    assert!(collect_until(|| map.stats().garbage_objects == 0));
}

#[test]
fn references_outlive_removal_under_the_guard() {
    for (name, make) in atomic_configs::<u64, String>() {
        let map = make();
        let m = map.pin();
        m.insert(1, "one".to_string());
        let one = m.get(&1).unwrap();
        let old = m.insert(1, "uno".to_string()).unwrap();
        assert_eq!(old, "one", "{name}");
        let removed = m.remove(&1).unwrap();
        assert_eq!(removed, "uno");
        for i in 0..n(500) {
            m.insert(i, i.to_string());
            m.remove(&i);
        }
        map.shrink_to_fit();
        assert_eq!(one, "one");
        assert!(m.get(&1).is_none());
        assert_eq!(m.get_key_value(&1), None);
        m.insert(7, "seven".into());
        assert_eq!(m.get_key_value(&7), Some((&7, &"seven".to_string())));
        assert_eq!(
            m.update(&7, |s| format!("{s}!")).map(String::as_str),
            Some("seven!")
        );
        assert_eq!(m.update(&8, |s| s.clone()), None);
        assert_eq!(m.get_or_insert_with(8, || "eight".into()), "eight");
        assert_eq!(m.get_or_insert_with(8, || unreachable!()), "eight");
        assert_eq!(m.compute(8, |_| None).map(String::as_str), Some("eight"));
        assert!(!m.contains_key(&8));
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![7]);
        assert_eq!(m.values().collect::<Vec<_>>(), vec!["seven!"]);
        assert_eq!((&m).into_iter().count(), 1);
        assert_eq!(m.len(), 1);
        assert!(!m.is_empty());
    }
}

#[test]
fn builder_errors_and_clamps() {
    type M = AtomicPtrMap<u64, u64>;
    assert_eq!(
        M::builder().partitions(0).build().unwrap_err(),
        AtomicBuildError::ZeroPartitions
    );
    let err = M::builder().partitions(usize::MAX).build().unwrap_err();
    assert!(matches!(err, AtomicBuildError::TooManyPartitions { .. }));
    assert!(err.to_string().contains("partitions"));
    assert!(M::builder().merge_threshold(0).build().is_err());
    assert!(M::builder().merge_ratio(0).build().is_err());
    assert!(M::builder().merge_threshold(usize::MAX).build().is_err());
    // Each allowed alone, but together 2^16 x 2^24 entries up front.
    let err = M::builder()
        .partitions(1 << 16)
        .merge_threshold(1 << 24)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, AtomicBuildError::UpFrontTooLarge { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("up front"));
    // Capacities: refused above the maximum (nothing allocated), clamped by
    // `with_capacity`.
    for c in [usize::MAX, M::MAX_CAPACITY + 1] {
        let err = M::builder().capacity(c).build().unwrap_err();
        assert_eq!(err, AtomicBuildError::CapacityTooLarge { requested: c });
        assert!(err.to_string().contains("capacity"));
    }
    if !cfg!(miri) {
        // Clamped to 2^30 keys: tens of GB of address space, zeroed lazily
        // and never touched (or, if the allocator refuses, not presized).
        let m: AtomicPtrMap<u64, u64> = AtomicPtrMap::with_capacity(usize::MAX);
        m.insert(1, 2);
        assert_eq!(m.get_cloned(&1), Some(2));
    }
    let m: AtomicPtrMap<u64, u64> = M::builder().partitions(3).build().unwrap();
    assert_eq!(m.stats().partitions, 4, "rounded up to a power of two");
    let d = AtomicPtrMap::<u64, u64>::new().stats().partitions;
    assert!(d.is_power_of_two() && (1..=64).contains(&d));
}

#[test]
fn std_traits() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AtomicPtrMap<u64, String>>();
    assert_send_sync::<epochmap::atomic_map::Stats>();
    let map: AtomicPtrMap<u32, u32> = (0..10).map(|i| (i, i * 2)).collect();
    assert_eq!(map.len(), 10);
    let mut map2 = AtomicPtrMap::default();
    map2.extend([(1u32, 1u32), (2, 2)]);
    (&map2).extend([(3, 3)]);
    assert_eq!(map2.len(), 3);
    let dbg = format!("{:?}", map2);
    assert!(dbg.starts_with('{') && dbg.contains("3: 3"), "{dbg}");
    let mut all: Vec<(u32, u32)> = map.into_iter().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).map(|i| (i, i * 2)).collect::<Vec<_>>());
    assert!(format!("{:?}", map2.pin()).contains("Pinned"));
    assert_eq!(map2.view(&2, |v| *v), Some(2));
    assert!(map2.hasher().hash_one(1u32) == map2.hasher().hash_one(1u32));
}

#[test]
fn clone_copies_every_entry_and_is_independent() {
    for (name, make) in atomic_configs::<u64, Tracked>() {
        let counter = DropCounter::new();
        let mut model = HashMap::new();
        {
            let map = make();
            let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
            for i in 0..n(5_000) {
                let k = rng.below(n(3_000));
                if i % 4 == 3 {
                    map.remove(&k);
                    model.remove(&k);
                } else {
                    map.insert(k, counter.track(i));
                    model.insert(k, i);
                }
            }
            let copy = map.clone();
            check_against_model(&copy, &model, name);
            // Independent: changing one changes nothing in the other.
            let before = model.clone();
            for k in 0..n(3_000) {
                map.remove(&k);
            }
            map.insert(u64::MAX, counter.track(0));
            check_against_model(&copy, &before, name);
            copy.insert(u64::MAX - 1, counter.track(1));
            assert!(!map.contains_key(&(u64::MAX - 1)), "{name}");
            // The copy keeps the configuration: it merges like the original.
            assert_eq!(copy.stats().partitions, map.stats().partitions, "{name}");
        }
        collect_until(|| counter.live() == 0);
        assert_eq!(counter.live(), 0, "{name}: every value dropped once");
    }
}

#[test]
fn owned_guard() {
    let map = Arc::new(AtomicPtrMap::<u64, u64>::new());
    map.insert(1, 1);
    let mut r = map.pin_owned();
    let v = r.get(&1).copied();
    assert_eq!(v, Some(1));
    map.insert(1, 2);
    assert_eq!(r.get(&1), Some(&2));
    r.repin();
    assert!(r.contains_key(&1));
    assert_eq!(r.iter().count(), 1);
    assert_eq!(r.map().len(), 1);
}

#[test]
fn into_iter_and_drop_count() {
    let counter = DropCounter::new();
    {
        let map: AtomicPtrMap<u64, Tracked> = AtomicPtrMap::builder()
            .partitions(2)
            .merge_threshold(1)
            .build()
            .unwrap();
        for i in 0..n(500) {
            map.insert(i, counter.track(i));
            if i % 3 == 0 {
                map.remove(&(i / 2));
            }
        }
        let len = map.len();
        let drained: Vec<_> = map.into_iter().collect();
        assert_eq!(drained.len(), len);
    }
    assert!(collect_until(|| counter.live() == 0), "{}", counter.live());
}

// ----- panic safety -------------------------------------------------------

/// A key whose `Eq` panics while `PANIC_EQ` is set.
#[derive(Debug, Clone)]
struct TouchyKey(u64);
static PANIC_EQ: AtomicBool = AtomicBool::new(false);
impl PartialEq for TouchyKey {
    fn eq(&self, o: &Self) -> bool {
        if PANIC_EQ.load(Ordering::Relaxed) {
            panic!("Eq panics");
        }
        self.0 == o.0
    }
}
impl Eq for TouchyKey {}
impl Hash for TouchyKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // All keys collide in few buckets, so Eq runs often.
        (self.0 % 4).hash(h)
    }
}

/// A hasher that panics on key 13.
#[derive(Default, Clone)]
struct PanicHasher(u64, bool);
impl Hasher for PanicHasher {
    fn finish(&self) -> u64 {
        if self.1 {
            panic!("hasher panics");
        }
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.1 |= x == 13;
        self.0 ^= x;
    }
}
#[derive(Default, Clone)]
struct PanicBuild;
impl BuildHasher for PanicBuild {
    type Hasher = PanicHasher;
    fn build_hasher(&self) -> PanicHasher {
        PanicHasher::default()
    }
}

#[test]
fn panicking_user_code_leaves_the_map_consistent() {
    let counter = DropCounter::new();
    {
        // Closures.
        let map: AtomicPtrMap<u64, Tracked> = AtomicPtrMap::builder()
            .partitions(1)
            .merge_threshold(1)
            .build()
            .unwrap();
        for i in 0..20 {
            map.insert(i, counter.track(i));
        }
        let r = catch_unwind(AssertUnwindSafe(|| map.update(&3, |_| panic!("update"))));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| map.compute(4, |_| panic!("compute"))));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with(100, || panic!("get_or_insert_with"))
        }));
        assert!(r.is_err());
        let mut seen = 0;
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.retain(|_, _| {
                seen += 1;
                if seen == 10 {
                    panic!("retain")
                }
                seen % 2 == 0
            })
        }));
        assert!(r.is_err());
        // Still usable and consistent with what it reports.
        let entries = TestMap::entries(&map);
        assert_eq!(entries.len(), map.len());
        assert!(!map.contains_key(&100));
        for i in 200..260 {
            map.insert(i, counter.track(i));
        }
        map.shrink_to_fit();
        assert_eq!(TestMap::entries(&map).len(), map.len());
        assert_eq!(map.get_cloned(&200).map(|t| t.payload), Some(200));
    }
    {
        // Eq panicking under the partition mutex (inserting new keys).
        let map: AtomicPtrMap<TouchyKey, Tracked> = AtomicPtrMap::builder()
            .partitions(1)
            .merge_threshold(2)
            .build()
            .unwrap();
        for i in 0..16 {
            map.insert(TouchyKey(i), counter.track(i));
        }
        PANIC_EQ.store(true, Ordering::Relaxed);
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.insert(TouchyKey(99), counter.track(99))
        }));
        let r2 = catch_unwind(AssertUnwindSafe(|| map.get_cloned(&TouchyKey(5))));
        PANIC_EQ.store(false, Ordering::Relaxed);
        assert!(r.is_err() && r2.is_err());
        // The mutex was poisoned; the map ignores poisoning and goes on.
        assert!(map.insert(TouchyKey(99), counter.track(99)));
        assert_eq!(map.len(), 17);
        for i in 0..16 {
            assert_eq!(map.get_cloned(&TouchyKey(i)).unwrap().payload, i);
        }
        map.shrink_to_fit();
        assert_eq!(TestMap::entries(&map).len(), 17);
    }
    {
        // Hasher panicking.
        let map: AtomicPtrMap<u64, Tracked, PanicBuild> =
            AtomicPtrMap::builder().hasher(PanicBuild).build().unwrap();
        for i in 0..12 {
            if i != 13 {
                map.insert(i, counter.track(i));
            }
        }
        let r = catch_unwind(AssertUnwindSafe(|| map.insert(13, counter.track(13))));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| map.get_cloned(&13)));
        assert!(r.is_err());
        assert_eq!(map.len(), 12);
        assert_eq!(map.pin().iter().count(), 12);
    }
    assert!(collect_until(|| counter.live() == 0), "{}", counter.live());
}

/// Runs `body` on a thread of its own and fails the test if it has not
/// finished after `secs` seconds (a deadlock), instead of hanging the run.
/// A panic of `body` is passed on.
fn with_watchdog(secs: u64, what: &str, body: impl FnOnce() + Send + 'static) {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // `body` panicked: pass its panic on.
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
        // The thread is left behind, blocked; the test binary exits anyway.
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no progress in {secs} s (deadlock)")
        }
    }
}

/// A key for [`panicking_eq_under_the_mutex_drops_key_and_value_after_it`]:
/// every key hashes alike (so `Eq` runs against every stored key); a `trap`
/// key's `Eq` and `Drop` call the map (see the test).
#[derive(Debug)]
struct TrapKey {
    id: u64,
    trap: bool,
}
/// A value whose `Drop` inserts a new key when `trap`.
struct TrapValue {
    trap: bool,
}
type TrapMap = AtomicPtrMap<TrapKey, TrapValue>;
thread_local! {
    static TRAP_MAP: std::cell::RefCell<Option<Arc<TrapMap>>> = const { std::cell::RefCell::new(None) };
    /// Comparisons of the trap key with key 1.
    static TRAP_EQ_WITH_1: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}
fn trap_map_insert(id: u64) {
    let map = TRAP_MAP
        .with(|m| m.borrow().clone())
        .expect("set by the test");
    map.insert(TrapKey { id, trap: false }, TrapValue { trap: false });
}
impl PartialEq for TrapKey {
    fn eq(&self, o: &Self) -> bool {
        if self.trap || o.trap {
            let other = if self.trap { o.id } else { self.id };
            if other == 1 {
                let n = TRAP_EQ_WITH_1.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                });
                if n == 1 {
                    // First comparison (the search without the mutex): add a
                    // key, so that the insert must search again under it.
                    trap_map_insert(3);
                } else {
                    // The search under the mutex.
                    panic!("Eq panics under the partition mutex");
                }
            }
        }
        self.id == o.id
    }
}
impl Eq for TrapKey {}
impl Hash for TrapKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        0u8.hash(h)
    }
}
impl Drop for TrapKey {
    fn drop(&mut self) {
        if self.trap {
            trap_map_insert(4);
        }
    }
}
impl Drop for TrapValue {
    fn drop(&mut self) {
        if self.trap {
            trap_map_insert(5);
        }
    }
}

/// When the user's `Eq` panics in the search that an insert of a new key
/// makes under the partition mutex, the key and value being inserted are
/// dropped after the mutex is released: their `Drop` may insert into the
/// same partition. Regression test: that `Drop` used to run while the
/// unwinding thread still held the mutex, and deadlocked on it (the watchdog
/// fails the test then).
#[test]
fn panicking_eq_under_the_mutex_drops_key_and_value_after_it() {
    with_watchdog(30, "Drop of a key and value after Eq panicked", || {
        let map: Arc<TrapMap> = Arc::new(AtomicPtrMap::builder().partitions(1).build().unwrap());
        TRAP_MAP.with(|m| *m.borrow_mut() = Some(Arc::clone(&map)));
        map.insert(TrapKey { id: 1, trap: false }, TrapValue { trap: false });
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.insert(TrapKey { id: 2, trap: true }, TrapValue { trap: true })
        }));
        assert!(r.is_err(), "Eq was to panic");
        assert_eq!(
            TRAP_EQ_WITH_1.with(|c| c.get()),
            2,
            "Eq ran under the mutex"
        );
        // The key and value were dropped (their inserts happened), the trap
        // key was not stored, and the map goes on.
        let mut ids: Vec<u64> = map.pin().keys().map(|k| k.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 3, 4, 5]);
        assert_eq!(map.len(), 4);
        for id in 6..40 {
            map.insert(TrapKey { id, trap: false }, TrapValue { trap: false });
        }
        map.shrink_to_fit();
        assert_eq!(map.len(), 38);
        assert!(map.pin().get(&TrapKey { id: 2, trap: false }).is_none());
        TRAP_MAP.with(|m| m.borrow_mut().take());
    });
}

// ----- two threads (small; also run under Miri) ---------------------------

#[test]
fn two_threads_insert_overwrite_remove_with_merges() {
    for (name, make) in atomic_configs::<u64, Tracked>() {
        let counter = DropCounter::new();
        {
            let map = Arc::new(make());
            let per = n(400);
            let handles: Vec<_> = (0..2u64)
                .map(|t| {
                    let map = Arc::clone(&map);
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        for i in 0..per {
                            // Own keys: t, t+2, ...; shared keys: 0..16.
                            let own = 1000 + i * 2 + t;
                            map.insert(own, counter.track(own));
                            map.insert(i % 16, counter.track(t));
                            if i % 3 == 0 {
                                map.remove(&(1000 + (i / 2) * 2 + t));
                            }
                            map.update(&(i % 16), |v| counter.track(v.payload + 10));
                            let m = map.pin();
                            if let Some(v) = m.get(&own) {
                                assert_eq!(v.payload, own);
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            // Every own key: present unless its removal ran.
            for t in 0..2u64 {
                for i in 0..per {
                    let own = 1000 + i * 2 + t;
                    let removed = (0..per).any(|j| j % 3 == 0 && j / 2 == i && j >= i);
                    assert_eq!(map.contains_key(&own), !removed, "{name}: key {own}");
                }
            }
            assert_eq!(map.len(), TestMap::entries(&*map).len(), "{name}");
        }
        assert!(
            collect_until(|| counter.live() == 0),
            "{name}: {}",
            counter.live()
        );
    }
}

#[test]
fn two_threads_iterate_while_deleting() {
    let map = Arc::new(
        AtomicPtrMap::builder()
            .partitions(2)
            .merge_threshold(1)
            .build()
            .unwrap(),
    );
    let stable = n(100);
    for k in 0..stable {
        map.insert(k, k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Both threads start together, and the traversals go on until at least
    // one of them saw the writer make progress while it ran: the race this
    // test is about is reached, not hoped for.
    let start = Arc::new(std::sync::Barrier::new(2));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
        let (start, writes) = (Arc::clone(&start), Arc::clone(&writes));
        std::thread::spawn(move || {
            start.wait();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) || i < n(200) {
                let k = 1_000_000 + i % 64;
                map.insert(k, k);
                map.remove(&(1_000_000 + (i + 32) % 64));
                writes.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    start.wait();
    let (mut traversals, mut overlapped) = (0u64, 0u64);
    while traversals < n(100) / 4 || overlapped == 0 {
        assert!(
            traversals < 100_000,
            "no traversal overlapped a write in {traversals}"
        );
        let before = writes.load(Ordering::SeqCst);
        let m = map.pin();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in m.iter() {
            assert_eq!(k, v);
            assert!(seen.insert(*k), "key {k} yielded twice");
        }
        for k in 0..stable {
            assert!(seen.contains(&k), "stable key {k} missing");
        }
        drop(m);
        overlapped += u64::from(writes.load(Ordering::SeqCst) != before);
        traversals += 1;
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
}

#[cfg(feature = "serde")]
#[test]
fn serde_round_trip() {
    let map: AtomicPtrMap<u32, String> = (0..20).map(|i| (i, i.to_string())).collect();
    let json = serde_json::to_string(&map).unwrap();
    let back: AtomicPtrMap<u32, String> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.len(), 20);
    for i in 0..20 {
        assert_eq!(back.get_cloned(&i), Some(i.to_string()));
    }
    assert!(serde_json::from_str::<AtomicPtrMap<u32, String>>("[1]").is_err());
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_support() {
    use rayon::prelude::*;
    let count = n(2000);
    let map: AtomicPtrMap<u64, u64> = (0..count).into_par_iter().map(|i| (i, i * 2)).collect();
    assert_eq!(map.len() as u64, count);
    let sum: u64 = map.par_iter_cloned().map(|(_, v)| v).sum();
    assert_eq!(sum, count * (count - 1));
    let seen = std::sync::atomic::AtomicU64::new(0);
    map.par_for_each(|k, v| {
        assert_eq!(*v, k * 2);
        seen.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(seen.into_inner(), count);
    let mut map = map;
    map.par_extend((count..count + 10).into_par_iter().map(|i| (i, i * 2)));
    let mut all: Vec<(u64, u64)> = map.into_par_iter().collect();
    all.sort_unstable();
    assert_eq!(all.len() as u64, count + 10);
    assert!(all.iter().all(|(k, v)| *v == k * 2));
}

/// A value whose `Drop` inserts a new key into the map that held it. The map
/// frees replaced values later, in whichever thread collects garbage; that
/// used to happen while a merge held the partition mutex, so such a `Drop`
/// deadlocked on the mutex its own thread held (regression test: it hangs
/// without the fix, it cannot pass by accident).
#[test]
fn value_drop_that_reenters_the_map_during_merges() {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;

    static MAP: OnceLock<AtomicPtrMap<u64, Reenter>> = OnceLock::new();
    static REENTERED: AtomicU64 = AtomicU64::new(0);
    static NEXT_KEY: AtomicU64 = AtomicU64::new(1 << 40);

    struct Reenter {
        armed: bool,
    }
    impl Drop for Reenter {
        fn drop(&mut self) {
            if self.armed {
                let k = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                MAP.get()
                    .expect("set before use")
                    .insert(k, Reenter { armed: false });
                REENTERED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    let map = MAP.get_or_init(|| {
        AtomicPtrMap::builder()
            .partitions(1)
            .merge_threshold(1)
            .merge_ratio(1024)
            .build()
            .unwrap()
    });
    let rounds = if cfg!(miri) { 40 } else { 4_000 };
    let mut i = 0u64;
    // Overwrites retire armed values; new keys force seals and merges, and a
    // merge that publishes a snapshot flushes this thread's garbage.
    while REENTERED.load(Ordering::Relaxed) == 0 || i < rounds {
        map.insert(i % 8, Reenter { armed: true });
        map.insert(1_000_000 + i, Reenter { armed: false });
        if i % 16 == 0 {
            map.shrink_to_fit();
        }
        i += 1;
        assert!(
            i < 10 * rounds + 100_000,
            "retired values were never dropped"
        );
    }
    assert!(REENTERED.load(Ordering::Relaxed) > 0);
    assert!(map.len() >= 8);
}

/// A map filled once and then only read must not keep keys in its overlays
/// for good: lookups that find their key in an overlay assist the merge
/// (try-lock, bounded step), so reads alone move every key into the
/// snapshots. Without that, merges progressed only on inserts of new keys,
/// and up to a third of a freshly filled map stayed in overlays (slower
/// lookups: more tables probed).
#[test]
fn reads_alone_promote_overlay_keys_into_the_snapshot() {
    // Under Miri: few keys, and small overlays so that some are left in one.
    let (n, threshold): (u64, usize) = if cfg!(miri) { (40, 4) } else { (20_000, 64) };
    for partitions in [1, 4] {
        let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
            .partitions(partitions)
            .merge_threshold(threshold)
            .build()
            .unwrap();
        for k in 0..n {
            map.insert(k, k + 1);
        }
        let before = map.stats();
        assert!(
            before.overlay_entries > 0,
            "the test needs keys in overlays: {before:?}"
        );
        let mut passes = 0;
        while map.stats().overlay_entries > 0 {
            for k in 0..n {
                assert_eq!(map.get_cloned(&k), Some(k + 1));
            }
            passes += 1;
            assert!(passes <= 200, "reads never promoted: {:?}", map.stats());
        }
        let after = map.stats();
        assert_eq!(after.snapshot_entries, n as usize, "{after:?}");
        assert_eq!(after.merges_in_progress, 0);
        assert_eq!(map.len(), n as usize);
        // Nothing lost or duplicated on the way.
        let mut keys: Vec<u64> = map.pin().keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());
    }
    // A few hot keys (the last inserted, so in the active overlay) read
    // again and again get promoted too, whatever their hashes: sampling is
    // per thread, not by key.
    let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder().partitions(1).build().unwrap();
    let n = if cfg!(miri) { 40 } else { 1000 };
    for k in 0..n {
        map.insert(k, k);
    }
    assert!(map.stats().overlay_entries > 0);
    let mut reads = 0;
    while map.stats().overlay_entries > 0 {
        for k in n - 3..n {
            assert_eq!(map.get_cloned(&k), Some(k));
        }
        reads += 3;
        assert!(
            reads < 300_000,
            "hot keys never promoted: {:?}",
            map.stats()
        );
    }
}
