//! `AtomicPtrMap` behind the [`FuzzMap`] trait (its `ConcurrentMap` impl is
//! the test kit's).

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use epochmap::atomic_map::{Iter as AtomicIter, Pinned};
use epochmap::AtomicPtrMap;

use super::FuzzMap;
use crate::trap::TrapState;
use crate::val::Val;

type Map = AtomicPtrMap<u64, Val, TrapState>;

/// An `AtomicPtrMap<u64, Val>` with the deterministic (trappable) hasher.
#[derive(Debug)]
pub struct Atomic {
    map: Map,
    desc: String,
}

impl Atomic {
    /// The configuration `config` picks: partitions, merge threshold and
    /// ratio, incremental or whole merges, and a capacity (the top two bits:
    /// none, or a few dozen or hundred keys, so that the presized first
    /// overlays fill, get sealed by removals or compaction, or never fill).
    /// Thresholds of 1 and 2 merge almost on every new key.
    pub fn new(config: u8) -> Self {
        let c = usize::from(config);
        let partitions = [1, 2, 4, 16][c % 4];
        let threshold = [1, 2, 16, 256][(c / 4) % 4];
        let ratio = [1, 4][(c / 16) % 2];
        let incremental = (c / 32) % 2 == 0;
        let capacity = [0, 0, 24, 300][(c / 64) % 4];
        let map = AtomicPtrMap::builder()
            .capacity(capacity)
            .partitions(partitions)
            .merge_threshold(threshold)
            .merge_ratio(ratio)
            .incremental_merge(incremental)
            .hasher(TrapState)
            .build()
            .expect("valid AtomicPtrMap configuration");
        Atomic {
            map,
            desc: format!(
                "AtomicPtrMap(partitions {partitions}, merge threshold {threshold}, \
                 ratio {ratio}, incremental {incremental}, capacity {capacity})"
            ),
        }
    }
}

/// An iterator that owns the pinned handle it borrows from (the map's
/// iterators borrow a [`Pinned`]; the engines keep several live iterators,
/// each with its own guard, in one `Vec`).
struct PinnedIter<'m> {
    /// Borrows `*pinned`; its real lifetime ends in `drop`, before the handle
    /// is freed. Its items never leave `next`.
    iter: ManuallyDrop<AtomicIter<'static, u64, Val>>,
    /// Owned (from `Box::into_raw`); a raw pointer rather than a `Box`, so
    /// that moving this struct asserts nothing about the pointee while
    /// `iter` borrows it.
    pinned: NonNull<Pinned<'m, u64, Val, TrapState>>,
}

impl<'m> PinnedIter<'m> {
    fn new(map: &'m Map) -> Self {
        let pinned = NonNull::from(Box::leak(Box::new(map.pin())));
        // SAFETY: `pinned` points to a live heap allocation that this struct
        // owns and frees only in `drop`, after dropping `iter`; the heap
        // allocation does not move when the struct moves. So the borrow
        // behind `iter` is valid for as long as `iter` exists, even though
        // its type claims `'static`; and no `&'static` item escapes `next`.
        let iter = unsafe {
            std::mem::transmute::<AtomicIter<'_, u64, Val>, AtomicIter<'static, u64, Val>>(
                (*pinned.as_ptr()).iter(),
            )
        };
        PinnedIter {
            iter: ManuallyDrop::new(iter),
            pinned,
        }
    }
}

impl Iterator for PinnedIter<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        self.iter.next().map(|(k, v)| (*k, v.check(*k)))
    }
}

impl Drop for PinnedIter<'_> {
    fn drop(&mut self) {
        // SAFETY: `iter` is dropped exactly once, here, before the handle it
        // borrows; then the handle, allocated by `Box::new` in `new`, is
        // freed exactly once.
        unsafe {
            ManuallyDrop::drop(&mut self.iter);
            drop(Box::from_raw(self.pinned.as_ptr()));
        }
    }
}

impl FuzzMap for Atomic {
    type Map = Map;
    type Pinned<'a> = Pinned<'a, u64, Val, TrapState>;

    fn map(&self) -> &Map {
        &self.map
    }
    fn describe(&self) -> String {
        self.desc.clone()
    }
    fn insert_id(&self, k: u64, v: Val) -> Option<u64> {
        self.map.pin().insert(k, v).map(|o| o.check(k))
    }
    fn remove_id(&self, k: u64) -> Option<u64> {
        self.map.pin().remove(&k).map(|o| o.check(k))
    }
    fn get_id(&self, k: u64) -> Option<u64> {
        self.map.view(&k, |v| v.check(k))
    }
    fn compact(&self) {
        self.map.shrink_to_fit()
    }
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        Box::new(PinnedIter::new(&self.map))
    }
    fn get_or_insert_id(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64 {
        self.map.pin().get_or_insert_with(k, f).check(k)
    }
    fn compute(&self, k: u64, f: &mut dyn FnMut(Option<&Val>) -> Option<Val>) -> Option<u64> {
        // The map returns the value it replaced (as ShardMap's does); the
        // harness wants the one now stored. `f` may run more than once: the
        // last run is the one that took effect.
        let mut before = None;
        let mut now = None;
        let old = self.map.compute(k, |cur| {
            before = cur.map(|v| v.check(k));
            let new = f(cur);
            now = new.as_ref().map(|v| v.check(k));
            new
        });
        assert_eq!(old.map(|v| v.check(k)), before, "compute's return value");
        now
    }

    fn get_via(&self, k: u64, how: u8) -> Option<u64> {
        match how % 5 {
            0 => self.get_id(k),
            1 => self.map.get_cloned(&k).map(|v| v.check(k)),
            2 => self.map.pin().get(&k).map(|v| v.check(k)),
            3 => self.map.get(&k).map(|r| {
                assert_eq!(*r.key(), k);
                r.check(k)
            }),
            _ => self.map.pin().get_key_value(&k).map(|(k2, v)| {
                assert_eq!(*k2, k);
                v.check(k)
            }),
        }
    }
    fn insert_via(&self, k: u64, v: Val, how: u8) -> Option<u64> {
        // The map's own insert returns a bool (true: newly inserted): read
        // the old id first (this engine is single-threaded).
        let old = self.get_id(k);
        match how % 4 {
            0 => return self.insert_id(k, v),
            1 => assert_eq!(
                self.map.insert(k, v),
                old.is_none(),
                "insert's return value"
            ),
            2 => {
                let mut slot = Some(v);
                let prev = self.map.compute(k, |_| slot.take());
                assert_eq!(prev.map(|n| n.check(k)), old, "compute's return value");
            }
            _ => (&self.map).extend(std::iter::once((k, v))),
        }
        old
    }
    fn remove_via(&self, k: u64, how: u8) -> Option<u64> {
        let old = self.get_id(k);
        match how % 4 {
            0 => return self.remove_id(k),
            1 => assert_eq!(self.map.remove(&k), old.is_some(), "remove's return value"),
            2 => assert_eq!(
                self.map.compute(k, |_| None).map(|v| v.check(k)),
                old,
                "compute returns the removed value"
            ),
            _ => {
                let p = self.map.pin();
                let got = p.compute(k, |_| None).map(|v| v.check(k));
                assert_eq!(got, old, "compute returning None removes");
            }
        }
        old
    }
    fn iter_via(&self, how: u8) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        let p = self.map.pin();
        let items: Vec<(u64, u64)> = match how % 4 {
            0 => return self.iter(),
            1 => p
                .keys()
                .map(|k| (*k, p.get(k).expect("key yielded by keys()").check(*k)))
                .collect(),
            2 => p.values().map(|v| (v.key(), v.check(v.key()))).collect(),
            _ => (&p).into_iter().map(|(k, v)| (*k, v.check(*k))).collect(),
        };
        Box::new(items.into_iter())
    }
    fn upkeep(&self, how: u8) {
        if how.is_multiple_of(2) {
            self.map.shrink_to_fit();
        }
        let s = self.map.stats();
        assert_eq!(s.len, self.map.len(), "stats().len");
        assert!(s.partitions.is_power_of_two());
        assert!(s.snapshot_entries + s.overlay_entries >= s.len, "{s:?}");
        if how.is_multiple_of(2) {
            assert_eq!(
                s.merges_in_progress, 0,
                "compact left a merge in progress: {s:?}"
            );
            assert_eq!(s.overlay_entries, 0, "compact left overlay entries: {s:?}");
        }
        if how % 4 == 3 {
            // No guard is held here: everything retired so far must be freed
            // after enough flushes, and the garbage counters must come back
            // to zero. (Other threads' guards can hold the epoch back a while.)
            let mut tries = 0u32;
            while self.map.stats().garbage_objects != 0 {
                crossbeam_epoch::pin().flush();
                tries += 1;
                if tries > 64 {
                    std::thread::yield_now();
                }
                assert!(
                    tries < 100_000,
                    "garbage never freed: {:?}",
                    self.map.stats()
                );
            }
            assert_eq!(
                self.map.stats().garbage_bytes,
                0,
                "garbage bytes without objects"
            );
        }
    }
    fn pin(&self) -> Self::Pinned<'_> {
        self.map.pin()
    }
    fn pinned_get<'g>(&self, p: &'g Self::Pinned<'_>, k: u64) -> Option<&'g Val> {
        p.get(&k)
    }
}

impl crate::closures::EntryMap for Atomic {
    fn entry(&self, k: u64, kind: u8, make: &mut dyn FnMut(Option<&Val>) -> Val) -> Option<u64> {
        crate::closures::generic_entry(self, k, kind, make)
    }
}
