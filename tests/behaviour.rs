//! The behaviour suite: every map of the crate, in every configuration its
//! `TestMap` impl lists, must pass these. To add a map, add one
//! `behaviour_suite!` line at the bottom.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{DropCounter, TestMap, Tracked};

/// Sizes: small under Miri.
fn n(normal: u64) -> u64 {
    if cfg!(miri) {
        normal.min(64)
    } else {
        normal
    }
}

/// Runs `test` on a fresh map of every configuration, then checks that the
/// map, once dropped, has dropped every value exactly once.
pub fn run<M: TestMap<u64, Tracked>>(test: fn(&DropCounter, &M)) {
    for (name, make) in M::configs() {
        eprintln!("config: {name}");
        let counter = DropCounter::new();
        let map = make();
        test(&counter, &map);
        drop(map);
        assert_eq!(
            M::live_after_reclaim(&counter, 0),
            0,
            "config {name}: values leaked"
        );
    }
}

pub fn insert_get_remove<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    assert!(m.is_empty());
    assert_eq!(m.len(), 0);
    assert!(!m.insert(1, c.track(10)));
    assert!(!m.insert(2, c.track(20)));
    assert_eq!(m.len(), 2);
    assert!(!m.is_empty());
    assert_eq!(m.get_cloned(&1).map(|v| v.payload), Some(10));
    assert_eq!(m.get_cloned(&3).map(|v| v.payload), None);
    assert!(m.contains_key(&2));
    assert!(!m.contains_key(&3));
    assert!(m.remove(&1));
    assert!(!m.remove(&1));
    assert!(!m.contains_key(&1));
    assert_eq!(m.len(), 1);
    assert_eq!(M::live_after_reclaim(c, 1), 1);
}

pub fn overwrite_drops_old_value<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    assert!(!m.insert(7, c.track(1)));
    assert!(m.insert(7, c.track(2)));
    assert!(m.insert(7, c.track(3)));
    assert_eq!(m.len(), 1);
    assert_eq!(m.get_cloned(&7).map(|v| v.payload), Some(3));
    assert_eq!(
        M::live_after_reclaim(c, 1),
        1,
        "overwritten values dropped exactly once"
    );
}

pub fn clear_drops_everything<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    for k in 0..n(1000) {
        m.insert(k, c.track(k));
    }
    assert_eq!(m.len() as u64, n(1000));
    assert_eq!(M::live_after_reclaim(c, n(1000) as isize) as u64, n(1000));
    m.clear();
    assert!(m.is_empty());
    assert_eq!(m.len(), 0);
    assert_eq!(M::live_after_reclaim(c, 0), 0);
    assert!(m.entries().is_empty());
    // Usable after clear.
    m.insert(5, c.track(5));
    assert_eq!(m.get_cloned(&5).map(|v| v.payload), Some(5));
}

pub fn retain_keeps_matching<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    for k in 0..n(500) {
        m.insert(k, c.track(k * 10));
    }
    m.retain(|k, v| {
        assert_eq!(v.payload, k * 10);
        k % 3 == 0
    });
    let expected = (0..n(500)).filter(|k| k % 3 == 0).count();
    assert_eq!(m.len(), expected);
    assert_eq!(
        M::live_after_reclaim(c, expected as isize) as usize,
        expected
    );
    for k in 0..n(500) {
        assert_eq!(m.contains_key(&k), k % 3 == 0, "key {k}");
    }
}

pub fn update_in_place<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    m.insert(1, c.track(1));
    assert!(m.update(&1, |v| c.track(v.payload + 41)));
    assert_eq!(m.get_cloned(&1).map(|v| v.payload), Some(42));
    assert!(!m.update(&2, |_| unreachable!("no value for an absent key")));
    assert!(!m.contains_key(&2));
    assert_eq!(M::live_after_reclaim(c, 1), 1);
}

pub fn get_or_insert_with_inserts_once<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    let calls = AtomicUsize::new(0);
    let v = m.get_or_insert_with(3, || {
        calls.fetch_add(1, Ordering::Relaxed);
        c.track(30)
    });
    assert_eq!(v.payload, 30);
    let v2 = m.get_or_insert_with(3, || {
        calls.fetch_add(1, Ordering::Relaxed);
        c.track(31)
    });
    assert_eq!(v2.payload, 30);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(m.len(), 1);
    drop((v, v2));
    assert_eq!(M::live_after_reclaim(c, 1), 1);
}

pub fn entries_match_model<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    let mut model = HashMap::new();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..n(5000) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = x % 300;
        match x % 5 {
            0..=2 => {
                assert_eq!(m.insert(k, c.track(x)), model.insert(k, x).is_some());
            }
            3 => assert_eq!(m.remove(&k), model.remove(&k).is_some()),
            _ => assert_eq!(m.get_cloned(&k).map(|v| v.payload), model.get(&k).copied()),
        }
    }
    assert_eq!(m.len(), model.len());
    let mut got: Vec<(u64, u64)> = m
        .entries()
        .into_iter()
        .map(|(k, v)| (k, v.payload))
        .collect();
    got.sort_unstable();
    let mut want: Vec<(u64, u64)> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(
        M::live_after_reclaim(c, (want.len()) as isize) as usize,
        want.len()
    );
}

pub fn growth_and_shrink<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    let count = n(20_000);
    for k in 0..count {
        assert!(!m.insert(k, c.track(k)));
    }
    assert_eq!(m.len() as u64, count);
    for k in (0..count).step_by(2) {
        assert!(m.remove(&k));
    }
    assert_eq!(m.len() as u64, count / 2);
    for k in 0..count {
        assert_eq!(
            m.get_cloned(&k).map(|v| v.payload),
            (k % 2 == 1).then_some(k)
        );
    }
    assert_eq!(
        M::live_after_reclaim(c, (count / 2) as isize) as u64,
        count / 2
    );
}

pub fn drop_with_entries_drops_values<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    // `run` drops the map afterwards and checks that these are freed.
    for k in 0..n(300) {
        m.insert(k, c.track(k));
    }
    m.insert(0, c.track(1000));
    assert_eq!(M::live_after_reclaim(c, n(300) as isize) as u64, n(300));
}

pub fn threads_disjoint_inserts<M: TestMap<u64, Tracked>>(c: &DropCounter, m: &M) {
    let threads = 4u64;
    let per = n(2000);
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in 0..per {
                    let k = t * per + i;
                    assert!(!m.insert(k, c.track(k)));
                    if i % 3 == 0 {
                        assert!(m.remove(&k));
                    }
                }
            });
        }
    });
    let expected = threads * per - threads * per.div_ceil(3);
    assert_eq!(m.len() as u64, expected);
    for k in 0..threads * per {
        assert_eq!(m.contains_key(&k), (k % per) % 3 != 0, "key {k}");
    }
    assert_eq!(M::live_after_reclaim(c, expected as isize) as u64, expected);
}

/// Instantiates the suite for one map type.
#[macro_export]
macro_rules! behaviour_suite {
    ($name:ident, $map:ty) => {
        mod $name {
            use super::*;
            type M = $map;
            #[test]
            fn insert_get_remove() {
                run::<M>(super::insert_get_remove::<M>)
            }
            #[test]
            fn overwrite_drops_old_value() {
                run::<M>(super::overwrite_drops_old_value::<M>)
            }
            #[test]
            fn clear_drops_everything() {
                run::<M>(super::clear_drops_everything::<M>)
            }
            #[test]
            fn retain_keeps_matching() {
                run::<M>(super::retain_keeps_matching::<M>)
            }
            #[test]
            fn update_in_place() {
                run::<M>(super::update_in_place::<M>)
            }
            #[test]
            fn get_or_insert_with_inserts_once() {
                run::<M>(super::get_or_insert_with_inserts_once::<M>)
            }
            #[test]
            fn entries_match_model() {
                run::<M>(super::entries_match_model::<M>)
            }
            #[test]
            fn growth_and_shrink() {
                run::<M>(super::growth_and_shrink::<M>)
            }
            #[test]
            fn drop_with_entries_drops_values() {
                run::<M>(super::drop_with_entries_drops_values::<M>)
            }
            #[test]
            fn threads_disjoint_inserts() {
                run::<M>(super::threads_disjoint_inserts::<M>)
            }
        }
    };
}

behaviour_suite!(shard_map, epochmap::ShardMap<u64, Tracked>);
behaviour_suite!(atomic_map, epochmap::AtomicPtrMap<u64, Tracked>);
