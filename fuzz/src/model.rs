//! The `model` target's engine: random operation sequences on a map and on
//! std `HashMap`, compared after every operation; values count their drops,
//! so a value dropped twice or never fails the run.

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;

use crate::iter_delete::collect_exact;
use crate::maps::{ConcurrentMap, FuzzMap};
use crate::val::Drops;

/// One operation. Keys are taken modulo the key space.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// `insert`, through the API variant picked by the second byte
    Insert(u8, u8),
    /// `remove`, through the API variant picked by the second byte
    Remove(u8, u8),
    /// `get`, through the API variant picked by the second byte
    Get(u8, u8),
    /// `contains_key`
    Contains(u8),
    /// `get_or_insert_with`
    GetOrInsertWith(u8),
    /// `update` (replace by a fresh value)
    Update(u8),
    /// `compute`: 0 keep as is (re-store a clone), 1 replace or insert,
    /// 2 remove.
    Compute(u8, u8),
    /// `retain` with a predicate drawn from the two bytes
    Retain(u8, u8),
    /// `clear`
    Clear,
    /// `compact` (a merge)
    Compact,
    /// a full traversal, through the iteration API picked by the byte,
    /// compared with the model
    Iterate(u8),
    /// map-specific upkeep (`shrink_to_fit`, `compact`, statistics)
    Upkeep(u8),
    /// `len` and `is_empty`
    Len,
    /// insert a run of fresh keys above the key space (growth, resizes)
    Grow(u8),
    /// pin and flush crossbeam-epoch
    Flush,
}

/// Input of the `model` target (after the map choice).
#[derive(Arbitrary, Debug, Clone)]
pub struct ModelInput {
    /// Keys are `0..=key_space`, plus what `Grow` adds.
    pub key_space: u8,
    /// The operations.
    pub ops: Vec<Op>,
}

/// Runs `input` on `map` (empty when given) against std `HashMap`.
pub fn run_model<M: FuzzMap>(map: &M, drops: &Drops, input: &ModelInput) {
    let space = u64::from(input.key_space) + 1;
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut grown = space;
    let what = map.describe();
    for op in &input.ops {
        match *op {
            Op::Insert(k, how) => {
                let k = u64::from(k) % space;
                let v = drops.make(k);
                let id = v.id();
                let got = map.insert_via(k, v, how);
                assert_eq!(got, model.insert(k, id), "{what}: insert {k} via {how}");
            }
            Op::Remove(k, how) => {
                let k = u64::from(k) % space;
                let got = map.remove_via(k, how);
                assert_eq!(got, model.remove(&k), "{what}: remove {k} via {how}");
            }
            Op::Get(k, how) => {
                let k = u64::from(k) % space;
                let got = map.get_via(k, how);
                assert_eq!(got, model.get(&k).copied(), "{what}: get {k} via {how}");
            }
            Op::Contains(k) => {
                let k = u64::from(k) % space;
                assert_eq!(
                    map.map().contains_key(&k),
                    model.contains_key(&k),
                    "{what}: contains {k}"
                );
            }
            Op::GetOrInsertWith(k) => {
                let k = u64::from(k) % space;
                let mut calls = 0;
                let id = map.get_or_insert_id(k, &mut || {
                    calls += 1;
                    drops.make(k)
                });
                match model.get(&k) {
                    Some(&old) => {
                        assert_eq!(id, old, "{what}: get_or_insert_with {k} (present)");
                        assert_eq!(
                            calls, 0,
                            "{what}: get_or_insert_with ran f for a present key"
                        );
                    }
                    None => {
                        assert!(calls >= 1, "{what}: get_or_insert_with did not run f");
                        model.insert(k, id);
                    }
                }
            }
            Op::Update(k) => {
                let k = u64::from(k) % space;
                let mut last = None;
                let present = map.update_mut(k, &mut |old| {
                    assert_eq!(
                        Some(old.check(k)),
                        model.get(&k).copied(),
                        "{what}: update saw"
                    );
                    let v = old.successor();
                    last = Some(v.id());
                    v
                });
                assert_eq!(present, model.contains_key(&k), "{what}: update {k}");
                if present {
                    model.insert(k, last.expect("update ran its closure"));
                }
            }
            Op::Compute(k, kind) => {
                let k = u64::from(k) % space;
                let before = model.get(&k).copied();
                let mut made = None;
                let now = map.compute(k, &mut |cur| {
                    assert_eq!(cur.map(|v| v.check(k)), before, "{what}: compute saw");
                    match kind % 3 {
                        0 => cur.cloned(),
                        1 => {
                            let v = drops.make(k);
                            made = Some(v.id());
                            Some(v)
                        }
                        _ => None,
                    }
                });
                let expect = match kind % 3 {
                    0 => before,
                    1 => made,
                    _ => None,
                };
                assert_eq!(now, expect, "{what}: compute {k} kind {}", kind % 3);
                match expect {
                    Some(id) => model.insert(k, id),
                    None => model.remove(&k),
                };
            }
            Op::Retain(m, r) => {
                let m = u64::from(m % 7) + 1;
                let r = u64::from(r) % m;
                let pred = |k: u64, id: u64| (k ^ id) % m != r;
                let mut visited = HashSet::new();
                map.map().retain(|&k, v| {
                    assert!(visited.insert(k), "{what}: retain visited {k} twice");
                    pred(k, v.check(k))
                });
                let keys: HashSet<u64> = model.keys().copied().collect();
                assert_eq!(visited, keys, "{what}: retain visited");
                model.retain(|&k, &mut id| pred(k, id));
            }
            Op::Clear => {
                map.map().clear();
                model.clear();
            }
            Op::Compact => map.compact(),
            Op::Iterate(how) => {
                let mut all = HashMap::new();
                for (k, id) in map.iter_via(how) {
                    assert!(all.insert(k, id).is_none(), "{what}: {k} twice via {how}");
                }
                assert_eq!(all, model, "{what}: iteration via {how}");
            }
            Op::Upkeep(how) => map.upkeep(how),
            Op::Len => {
                assert_eq!(map.map().len(), model.len(), "{what}: len");
                assert_eq!(map.map().is_empty(), model.is_empty(), "{what}: is_empty");
            }
            Op::Grow(n) => {
                // At most 512 keys in all: every operation's check is O(n).
                for _ in 0..(n % 64).min(512u64.saturating_sub(grown - space) as u8) {
                    let k = grown;
                    grown += 1;
                    let v = drops.make(k);
                    let id = v.id();
                    assert_eq!(map.insert_id(k, v), None, "{what}: grow {k}");
                    model.insert(k, id);
                }
            }
            Op::Flush => crossbeam_epoch::pin().flush(),
        }
        assert_eq!(map.map().len(), model.len(), "{what}: len after {op:?}");
    }
    assert_eq!(collect_exact(map), model, "{what}: final content");
    for (&k, &id) in &model {
        assert_eq!(map.get_id(k), Some(id), "{what}: final get {k}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::Reference;

    fn sample() -> ModelInput {
        ModelInput {
            key_space: 7,
            ops: vec![
                Op::Insert(1, 0),
                Op::Insert(1, 1),
                Op::GetOrInsertWith(2),
                Op::GetOrInsertWith(2),
                Op::Update(1),
                Op::Update(5),
                Op::Compute(3, 1),
                Op::Compute(3, 0),
                Op::Compute(1, 2),
                Op::Grow(20),
                Op::Retain(2, 1),
                Op::Iterate(0),
                Op::Remove(2, 3),
                Op::Get(1, 1),
                Op::Clear,
                Op::Len,
                Op::Upkeep(0),
            ],
        }
    }

    #[test]
    fn reference_passes() {
        let drops = Drops::new();
        run_model(&Reference::default(), &drops, &sample());
        drops.assert_all_dropped("reference");
    }

    #[test]
    fn both_maps_pass_in_many_configurations() {
        // The low configurations, and a few presized ones (top bits).
        for config in (0..45).chain([129, 150, 198, 227]) {
            let drops = Drops::new();
            let mut input = sample();
            for how in 0..5 {
                input.ops.extend([
                    Op::Insert(how, how),
                    Op::Get(how, how),
                    Op::Iterate(how),
                    Op::Upkeep(how),
                    Op::Remove(how, how),
                ]);
            }
            run_model(&crate::maps::Shard::new(config), &drops, &input);
            drops.assert_all_dropped("shard");
            let drops = Drops::new();
            run_model(&crate::maps::Atomic::new(config), &drops, &input);
            drops.assert_all_dropped("atomic");
        }
    }
}
