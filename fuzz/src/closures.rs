//! The `closures` target's engine: the entry API, `update`, `compute`,
//! `get_or_insert_with` and `retain` with user closures that panic, and
//! operations whose hasher panics ([`crate::trap`]). After every caught panic
//! the map must still be consistent with a model:
//!
//! - a closure that panics changes nothing (the old value stays, the value
//!   the closure made is dropped);
//! - `retain` whose predicate panics has removed at most the keys it had
//!   already rejected;
//! - an operation whose *hasher* panics may or may not have happened, and
//!   may lose other entries (hashbrown drops entries it cannot rehash when a
//!   hasher panics mid-rehash); whatever is left must be intact: every key
//!   once, with a value that was really stored under it, `len` agreeing, and
//!   every value dropped exactly once in the end.
//!
//! Panics are raised with `resume_unwind`, which skips the panic hook, so
//! libFuzzer's abort-on-panic hook only sees real failures.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use arbitrary::Arbitrary;

use crate::iter_delete::collect_exact;
use crate::maps::{ConcurrentMap, FuzzMap};
use crate::trap;
use crate::val::{Drops, Val};

/// The payload of a closure's deliberate panic.
#[derive(Debug)]
pub struct ClosurePanic;

fn boom() -> ! {
    resume_unwind(Box::new(ClosurePanic))
}

/// Entry-API shapes, as [`EntryMap::entry`] runs them.
pub mod entry_kind {
    /// `entry(k).or_insert_with(make)`
    pub const OR_INSERT_WITH: u8 = 0;
    /// `entry(k).and_modify(|v| *v = make(Some(v))).or_insert_with(|| make(None))`
    pub const AND_MODIFY_OR_INSERT: u8 = 1;
    /// occupied: `remove`; vacant: `insert(make(None))`
    pub const TOGGLE: u8 = 2;
    /// occupied: `insert(make(Some(v)))` (replace); vacant: nothing
    pub const REPLACE_IF_OCCUPIED: u8 = 3;
    /// Number of kinds.
    pub const COUNT: u8 = 4;
}

/// Maps with an entry API (or an equivalent) for the `closures` target.
pub trait EntryMap: FuzzMap {
    /// Runs the entry shape `kind` ([`entry_kind`]) on key `k`; returns the id
    /// stored under `k` afterwards. `make` may panic.
    fn entry(&self, k: u64, kind: u8, make: &mut dyn FnMut(Option<&Val>) -> Val) -> Option<u64>;
}

/// One operation.
#[derive(Arbitrary, Debug, Clone)]
pub enum COp {
    /// `insert`
    Insert(u8),
    /// `remove`
    Remove(u8),
    /// `get`
    Get(u8),
    /// `update`; the closure panics when `panic`.
    Update { key: u8, panic: bool },
    /// `compute` (kind % 3: keep, replace/insert, remove); panics when `panic`.
    Compute { key: u8, kind: u8, panic: bool },
    /// `get_or_insert_with`; panics when `panic`.
    GetOrInsertWith { key: u8, panic: bool },
    /// An entry-API shape; `make` panics when `panic`.
    Entry { key: u8, kind: u8, panic: bool },
    /// `retain`; the predicate panics on call `1 + panic_at` when `panic_at < 32`.
    Retain { m: u8, r: u8, panic_at: u8 },
    /// The hash computed `1 + n % 8` hashes from now panics.
    ArmHash(u8),
    /// `compact`
    Compact,
    /// `clear`
    Clear,
    /// insert a run of fresh keys (growth and rehashes, where a trapped hash hurts)
    Grow(u8),
    /// a full traversal compared with the model
    Iterate,
}

/// Input of the `closures` target (after the map choice).
#[derive(Arbitrary, Debug, Clone)]
pub struct ClosuresInput {
    /// Keys `0..=key_space`, plus what `Grow` adds.
    pub key_space: u8,
    /// The operations.
    pub ops: Vec<COp>,
}

/// What the model knows after an operation.
enum Outcome {
    /// The model was updated exactly.
    Exact,
    /// A closure panicked: nothing may have changed.
    Unchanged,
    /// `retain` panicked: these keys may or may not be gone.
    MaybeRemoved(Vec<u64>),
    /// The hasher panicked: the op may or may not have happened (storing
    /// one of `ids`, or removing its key), and other entries may be lost.
    Trapped { ids: Vec<u64> },
}

/// Runs `input` on `map` (empty when given). Panics on any inconsistency.
pub fn run_closures<M: EntryMap>(map: &M, drops: &Drops, input: &ClosuresInput) {
    let space = u64::from(input.key_space) + 1;
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut grown = space;
    let what = map.describe();
    for op in &input.ops {
        // Fresh ids made by this op, for the trapped case.
        let mut made: Vec<u64> = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| -> Outcome {
            match *op {
                COp::Insert(k) => {
                    let k = u64::from(k) % space;
                    let v = drops.make(k);
                    made.push(v.id());
                    let id = v.id();
                    assert_eq!(
                        map.insert_id(k, v),
                        model.get(&k).copied(),
                        "{what}: insert {k}"
                    );
                    model.insert(k, id);
                    Outcome::Exact
                }
                COp::Remove(k) => {
                    let k = u64::from(k) % space;
                    assert_eq!(
                        map.remove_id(k),
                        model.get(&k).copied(),
                        "{what}: remove {k}"
                    );
                    model.remove(&k);
                    Outcome::Exact
                }
                COp::Get(k) => {
                    let k = u64::from(k) % space;
                    assert_eq!(map.get_id(k), model.get(&k).copied(), "{what}: get {k}");
                    Outcome::Exact
                }
                COp::Update { key, panic } => {
                    let k = u64::from(key) % space;
                    let mut last = None;
                    let present = map.update_mut(k, &mut |old| {
                        let v = old.successor();
                        made.push(v.id());
                        if panic {
                            drop(v);
                            boom();
                        }
                        last = Some(v.id());
                        v
                    });
                    assert_eq!(present, model.contains_key(&k), "{what}: update {k}");
                    if let Some(id) = last {
                        model.insert(k, id);
                    }
                    Outcome::Exact
                }
                COp::Compute { key, kind, panic } => {
                    let k = u64::from(key) % space;
                    let before = model.get(&k).copied();
                    let mut new = None;
                    let now = map.compute(k, &mut |cur| {
                        let out = match kind % 3 {
                            0 => cur.cloned(),
                            1 => Some(drops.make(k)),
                            _ => None,
                        };
                        if panic {
                            drop(out);
                            boom();
                        }
                        new = out.as_ref().map(|v| v.id());
                        made.extend(new);
                        out
                    });
                    let expect = if kind % 3 == 0 { before } else { new };
                    assert_eq!(now, expect, "{what}: compute {k}");
                    match expect {
                        Some(id) => model.insert(k, id),
                        None => model.remove(&k),
                    };
                    Outcome::Exact
                }
                COp::GetOrInsertWith { key, panic } => {
                    let k = u64::from(key) % space;
                    let id = map.get_or_insert_id(k, &mut || {
                        let v = drops.make(k);
                        made.push(v.id());
                        if panic {
                            drop(v);
                            boom();
                        }
                        v
                    });
                    match model.get(&k) {
                        Some(&old) => assert_eq!(id, old, "{what}: get_or_insert_with {k}"),
                        None => {
                            model.insert(k, id);
                        }
                    }
                    Outcome::Exact
                }
                COp::Entry { key, kind, panic } => {
                    let k = u64::from(key) % space;
                    let kind = kind % entry_kind::COUNT;
                    let before = model.get(&k).copied();
                    let mut new = None;
                    let now = map.entry(k, kind, &mut |cur| {
                        if let Some(v) = cur {
                            assert_eq!(Some(v.check(k)), before, "{what}: entry saw");
                        }
                        let v = drops.make(k);
                        made.push(v.id());
                        if panic {
                            drop(v);
                            boom();
                        }
                        new = Some(v.id());
                        v
                    });
                    use entry_kind::*;
                    let expect = match (kind, before) {
                        (OR_INSERT_WITH, Some(id)) => Some(id),
                        (TOGGLE, Some(_)) => None,
                        (REPLACE_IF_OCCUPIED, None) => None,
                        _ => new,
                    };
                    assert_eq!(now, expect, "{what}: entry kind {kind} on {k}");
                    match expect {
                        Some(id) => model.insert(k, id),
                        None => model.remove(&k),
                    };
                    Outcome::Exact
                }
                COp::Retain { m, r, panic_at } => {
                    let m = u64::from(m % 5) + 1;
                    let r = u64::from(r) % m;
                    let mut calls = 0u32;
                    let mut rejected = Vec::new();
                    let res = catch_unwind(AssertUnwindSafe(|| {
                        map.map().retain(|&k, v| {
                            if panic_at < 32 && calls == u32::from(panic_at) {
                                boom();
                            }
                            calls += 1;
                            let keep = (k ^ v.check(k)) % m != r;
                            if !keep {
                                rejected.push(k);
                            }
                            keep
                        })
                    }));
                    match res {
                        Ok(()) => {
                            for k in rejected {
                                model.remove(&k);
                            }
                            Outcome::Exact
                        }
                        Err(p) if p.is::<ClosurePanic>() => Outcome::MaybeRemoved(rejected),
                        Err(p) => resume_unwind(p),
                    }
                }
                COp::ArmHash(n) => {
                    trap::arm(u32::from(n % 8) + 1);
                    Outcome::Exact
                }
                COp::Compact => {
                    map.compact();
                    Outcome::Exact
                }
                COp::Clear => {
                    map.map().clear();
                    model.clear();
                    Outcome::Exact
                }
                COp::Grow(n) => {
                    // At most 512 keys in all: every operation's check is O(n).
                    for _ in 0..(n % 64).min(512u64.saturating_sub(grown - space) as u8) {
                        let k = grown;
                        grown += 1;
                        let v = drops.make(k);
                        made.push(v.id());
                        let id = v.id();
                        assert_eq!(map.insert_id(k, v), None, "{what}: grow {k}");
                        model.insert(k, id);
                    }
                    Outcome::Exact
                }
                COp::Iterate => {
                    assert_eq!(collect_exact(map), model, "{what}: iteration");
                    Outcome::Exact
                }
            }
        }));
        let outcome = match result {
            Ok(o) => o,
            Err(p) if p.is::<ClosurePanic>() => Outcome::Unchanged,
            Err(p) if p.is::<trap::TrapPanic>() => Outcome::Trapped { ids: made },
            Err(p) => resume_unwind(p),
        };
        // Hashes below are the checker's own: never trapped.
        let left = trap::disarm();
        resync(map, &mut model, outcome);
        trap::arm(left);
    }
    trap::disarm();
    assert_eq!(collect_exact(map), model, "{what}: final content");
    for (&k, &id) in &model {
        assert_eq!(map.get_id(k), Some(id), "{what}: final get {k}");
    }
    assert_eq!(map.map().len(), model.len(), "{what}: final len");
}

/// Checks the map against the model after `outcome`, and brings the model
/// up to date where the outcome left it uncertain.
fn resync<M: FuzzMap>(map: &M, model: &mut HashMap<u64, u64>, outcome: Outcome) {
    let what = map.describe();
    let actual = collect_exact(map);
    match outcome {
        Outcome::Exact | Outcome::Unchanged => {
            assert_eq!(actual, *model, "{what}: content after the operation");
        }
        Outcome::MaybeRemoved(keys) => {
            let maybe: HashSet<u64> = keys.into_iter().collect();
            for (k, id) in model.iter() {
                match actual.get(k) {
                    Some(a) => assert_eq!(a, id, "{what}: retain panic changed {k}"),
                    None => assert!(
                        maybe.contains(k),
                        "{what}: retain panic removed kept key {k}"
                    ),
                }
            }
            assert!(
                actual.keys().all(|k| model.contains_key(k)),
                "{what}: retain panic added a key"
            );
            *model = actual;
        }
        Outcome::Trapped { ids } => {
            for (k, id) in &actual {
                // (The adapter checked that the value belongs to `k`.)
                let ok = model.get(k) == Some(id) || ids.contains(id);
                assert!(
                    ok,
                    "{what}: after a hasher panic, key {k} holds value #{id}, never stored"
                );
            }
            *model = actual;
        }
    }
    assert_eq!(
        map.map().len(),
        model.len(),
        "{what}: len after the operation"
    );
    for (&k, &id) in model.iter() {
        assert_eq!(
            map.get_id(k),
            Some(id),
            "{what}: get {k} after the operation"
        );
    }
}

/// The entry shapes built from `compute`, for maps without an entry API.
pub fn generic_entry<M: FuzzMap>(
    map: &M,
    k: u64,
    kind: u8,
    make: &mut dyn FnMut(Option<&Val>) -> Val,
) -> Option<u64> {
    use entry_kind::*;
    map.compute(k, &mut |cur| match (kind, cur) {
        (OR_INSERT_WITH, Some(v)) => Some(v.clone()),
        (OR_INSERT_WITH, None) => Some(make(None)),
        (AND_MODIFY_OR_INSERT, cur) => Some(make(cur)),
        (TOGGLE, Some(_)) => None,
        (TOGGLE, None) => Some(make(None)),
        (REPLACE_IF_OCCUPIED, Some(v)) => Some(make(Some(v))),
        (REPLACE_IF_OCCUPIED, None) => None,
        _ => unreachable!("entry kind {kind}"),
    })
}

impl EntryMap for crate::maps::Reference {
    fn entry(&self, k: u64, kind: u8, make: &mut dyn FnMut(Option<&Val>) -> Val) -> Option<u64> {
        generic_entry(self, k, kind, make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::Reference;

    #[test]
    fn reference_passes_panicking_closures() {
        let drops = Drops::new();
        let map = Reference::default();
        let mut ops = vec![
            COp::Grow(10),
            COp::Insert(1),
            COp::Insert(2),
            COp::ArmHash(3),
            COp::Grow(20),
        ];
        for panic in [true, false] {
            ops.extend([
                COp::Update { key: 1, panic },
                COp::Compute {
                    key: 2,
                    kind: 1,
                    panic,
                },
                COp::Compute {
                    key: 3,
                    kind: 2,
                    panic,
                },
                COp::GetOrInsertWith { key: 4, panic },
                COp::Entry {
                    key: 1,
                    kind: 1,
                    panic,
                },
                COp::Entry {
                    key: 5,
                    kind: 2,
                    panic,
                },
                COp::Retain {
                    m: 2,
                    r: 1,
                    panic_at: if panic { 3 } else { 200 },
                },
            ]);
        }
        let input = ClosuresInput { key_space: 9, ops };
        run_closures(&map, &drops, &input);
        drop(map);
        drops.assert_all_dropped("reference");
        for config in [0, 4, 19, 33] {
            let drops = Drops::new();
            run_closures(&crate::maps::Shard::new(config), &drops, &input);
            drops.assert_all_dropped("shard");
            let drops = Drops::new();
            run_closures(&crate::maps::Atomic::new(config), &drops, &input);
            drops.assert_all_dropped("atomic");
        }
    }
}
