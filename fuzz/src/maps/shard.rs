//! `ShardMap` behind the [`FuzzMap`] trait (its `ConcurrentMap` impl is the
//! test kit's).

use epochmap::shard_map::Entry;
use epochmap::ShardMap;

use super::FuzzMap;
use crate::trap::TrapState;
use crate::val::Val;

/// A `ShardMap<u64, Val>` with the deterministic (trappable) hasher, so that a
/// crash input replays exactly.
#[derive(Debug)]
pub struct Shard {
    map: ShardMap<u64, Val, TrapState>,
    desc: String,
}

impl Shard {
    /// The configuration `config` picks: shard count, initial capacity and
    /// reader slots.
    pub fn new(config: u8) -> Self {
        let c = usize::from(config);
        let shards = [1, 2, 4, 16, 64][c % 5];
        let capacity = [0, 1, 64][(c / 5) % 3];
        let slots = [1, 2, 16][(c / 15) % 3];
        let map = ShardMap::builder()
            .shards(shards)
            .capacity(capacity)
            .reader_slots(slots)
            .hasher(TrapState)
            .build()
            .expect("valid ShardMap configuration");
        Shard {
            map,
            desc: format!("ShardMap(shards {shards}, capacity {capacity}, reader slots {slots})"),
        }
    }
}

impl FuzzMap for Shard {
    type Map = ShardMap<u64, Val, TrapState>;
    type Pinned<'a> = ();

    fn map(&self) -> &Self::Map {
        &self.map
    }
    fn describe(&self) -> String {
        self.desc.clone()
    }
    fn insert_id(&self, k: u64, v: Val) -> Option<u64> {
        self.map.insert(k, v).map(|o| o.check(k))
    }
    fn remove_id(&self, k: u64) -> Option<u64> {
        self.map.remove(&k).map(|o| o.check(k))
    }
    fn get_id(&self, k: u64) -> Option<u64> {
        self.map.view(&k, |v| v.check(k))
    }
    fn compact(&self) {}
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        Box::new(self.map.iter().map(|r| {
            let (k, v) = r.pair();
            (*k, v.check(*k))
        }))
    }
    fn get_or_insert_id(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64 {
        self.map.entry(k).or_insert_with(f).value().check(k)
    }
    fn compute(&self, k: u64, f: &mut dyn FnMut(Option<&Val>) -> Option<Val>) -> Option<u64> {
        let mut before = None;
        let mut now = None;
        let old = self.map.compute(k, |cur| {
            before = cur.map(|v| v.check(k));
            let new = f(cur);
            now = new.as_ref().map(|v| v.check(k));
            new
        });
        // `compute` returns the value it replaced or removed.
        assert_eq!(old.map(|v| v.check(k)), before, "compute's return value");
        now
    }

    fn get_via(&self, k: u64, how: u8) -> Option<u64> {
        match how % 4 {
            0 => self.map.view(&k, |v| v.check(k)),
            1 => self.map.get(&k).map(|r| {
                assert_eq!(*r.key(), k);
                r.value().check(k)
            }),
            2 => self.map.get_cloned(&k).map(|v| v.check(k)),
            _ => self.map.get_mut(&k).map(|mut r| r.value_mut().check(k)),
        }
    }
    fn insert_via(&self, k: u64, v: Val, how: u8) -> Option<u64> {
        match how % 4 {
            0 => self.insert_id(k, v),
            1 => match self.map.entry(k) {
                Entry::Occupied(mut o) => Some(o.insert(v).check(k)),
                Entry::Vacant(e) => {
                    assert_eq!(*e.key(), k);
                    let id = v.id();
                    assert_eq!(e.insert(v).value().check(k), id);
                    None
                }
            },
            2 => {
                let slot = std::cell::Cell::new(Some(v));
                let mut old = None;
                let inserted = self.map.upsert(
                    k,
                    || slot.take().expect("one closure runs"),
                    |x| old = Some(std::mem::replace(x, slot.take().expect("one closure runs"))),
                );
                assert_eq!(inserted, old.is_none(), "upsert's return value");
                old.map(|o| o.check(k))
            }
            _ => self.map.compute(k, |_| Some(v)).map(|o| o.check(k)),
        }
    }
    fn remove_via(&self, k: u64, how: u8) -> Option<u64> {
        match how % 5 {
            0 => self.remove_id(k),
            1 => self.map.remove_entry(&k).map(|(k2, v)| {
                assert_eq!(k2, k);
                v.check(k)
            }),
            2 => self
                .map
                .remove_if(&k, |_, _| true)
                .ok()
                .map(|(_, v)| v.check(k)),
            3 => match self.map.entry(k) {
                Entry::Occupied(o) => Some(o.remove().check(k)),
                Entry::Vacant(_) => None,
            },
            _ => self.map.compute(k, |_| None).map(|o| o.check(k)),
        }
    }
    fn iter_via(&self, how: u8) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        match how % 4 {
            0 => self.iter(),
            1 => Box::new(self.map.iter_mut().map(|mut r| {
                let (k, v) = r.pair_mut();
                (*k, v.check(*k))
            })),
            2 => Box::new(self.map.values().map(|r| {
                let v: &Val = &r;
                (v.key(), v.check(v.key()))
            })),
            _ => Box::new(
                self.map
                    .clone()
                    .into_iter()
                    .map(|(k, v)| (k, v.check(k)))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
        }
    }
    fn upkeep(&self, how: u8) {
        if how.is_multiple_of(2) {
            self.map.shrink_to_fit();
        }
        assert!(self.map.capacity() >= self.map.len(), "capacity below len");
        assert!(self.map.shard_count().is_power_of_two());
    }
    fn pin(&self) {}
    fn pinned_get<'g>(&self, _: &'g (), _: u64) -> Option<&'g Val> {
        None
    }
}

impl crate::closures::EntryMap for Shard {
    fn entry(&self, k: u64, kind: u8, make: &mut dyn FnMut(Option<&Val>) -> Val) -> Option<u64> {
        use crate::closures::entry_kind::*;
        match kind {
            OR_INSERT_WITH => Some(
                self.map
                    .entry(k)
                    .or_insert_with(|| make(None))
                    .value()
                    .check(k),
            ),
            AND_MODIFY_OR_INSERT => {
                let e = self.map.entry(k).and_modify(|v| {
                    let new = make(Some(v));
                    *v = new;
                });
                Some(e.or_insert_with(|| make(None)).value().check(k))
            }
            TOGGLE => match self.map.entry(k) {
                Entry::Occupied(o) => {
                    o.remove().check(k);
                    None
                }
                Entry::Vacant(e) => Some(e.insert(make(None)).value().check(k)),
            },
            REPLACE_IF_OCCUPIED => match self.map.entry(k) {
                Entry::Occupied(mut o) => {
                    let new = make(Some(o.get()));
                    o.insert(new).check(k);
                    Some(o.get().check(k))
                }
                Entry::Vacant(_) => None,
            },
            _ => unreachable!("entry kind {kind}"),
        }
    }
}
