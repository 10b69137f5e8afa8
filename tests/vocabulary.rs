//! The shared vocabulary of both maps (`load_or_store`, `compare_and_swap`,
//! `compare_and_delete`, `remove_if`, `compute`, both `get_or_insert_with`s,
//! the value-returning insert and remove, `get`, `get_key_value_cloned`,
//! equality): random sequences against std `HashMap` with drop-counting
//! values, and races that must have exactly one winner.

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use common::{DropCounter, TestMap, Tracked};
use epochmap::{AtomicPtrMap, NotRemoved, ShardMap};
use proptest::prelude::*;

/// The operations of the vocabulary, with the return meaning each map
/// documents; per-call results are owned values (clones on AtomicPtrMap).
trait Vocab: TestMap<u64, Tracked> {
    /// The value replaced, if any.
    fn insert_prev(&self, k: u64, v: Tracked) -> Option<Tracked>;
    /// The value removed, if any.
    fn remove_prev(&self, k: u64) -> Option<Tracked>;
    fn load_or_store(&self, k: u64, v: Tracked) -> (Tracked, bool);
    fn get_or_insert_once(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked;
    fn get_or_insert_optimistic(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked;
    /// The previous value.
    fn compute(
        &self,
        k: u64,
        f: impl FnMut(Option<&Tracked>) -> Option<Tracked>,
    ) -> Option<Tracked>;
    fn compare_and_swap(&self, k: u64, cur: &Tracked, new: Tracked) -> Result<(), Tracked>;
    fn compare_and_delete(&self, k: u64, cur: &Tracked) -> bool;
    /// `Ok(payload removed)` or why not.
    fn remove_if(&self, k: u64, f: impl FnMut(&u64, &Tracked) -> bool) -> Result<u64, NotRemoved>;
    fn get_key_value_cloned(&self, k: u64) -> Option<(u64, Tracked)>;
    /// The payload through `get`'s guard.
    fn get_payload(&self, k: u64) -> Option<u64>;
    /// A fresh map with `entries`, compared with `==` to this one.
    fn equals_fresh(&self, entries: &[(u64, Tracked)]) -> bool;
}

impl Vocab for ShardMap<u64, Tracked> {
    fn insert_prev(&self, k: u64, v: Tracked) -> Option<Tracked> {
        self.insert(k, v)
    }
    fn remove_prev(&self, k: u64) -> Option<Tracked> {
        self.remove(&k)
    }
    fn load_or_store(&self, k: u64, v: Tracked) -> (Tracked, bool) {
        ShardMap::load_or_store(self, k, v)
    }
    fn get_or_insert_once(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked {
        ShardMap::get_or_insert_with(self, k, f)
    }
    fn get_or_insert_optimistic(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked {
        self.get_or_insert_with_optimistic(k, f)
    }
    fn compute(
        &self,
        k: u64,
        f: impl FnMut(Option<&Tracked>) -> Option<Tracked>,
    ) -> Option<Tracked> {
        ShardMap::compute(self, k, f)
    }
    fn compare_and_swap(&self, k: u64, cur: &Tracked, new: Tracked) -> Result<(), Tracked> {
        ShardMap::compare_and_swap(self, &k, cur, new)
    }
    fn compare_and_delete(&self, k: u64, cur: &Tracked) -> bool {
        ShardMap::compare_and_delete(self, &k, cur)
    }
    fn remove_if(
        &self,
        k: u64,
        mut f: impl FnMut(&u64, &Tracked) -> bool,
    ) -> Result<u64, NotRemoved> {
        ShardMap::remove_if(self, &k, |k, v| f(k, v)).map(|(_, v)| v.payload)
    }
    fn get_key_value_cloned(&self, k: u64) -> Option<(u64, Tracked)> {
        ShardMap::get_key_value_cloned(self, &k)
    }
    fn get_payload(&self, k: u64) -> Option<u64> {
        let via_try = self
            .try_get(&k)
            .expect("no writer, no guard held")
            .map(|r| r.payload);
        let via_get = self.get(&k).map(|r| r.payload);
        assert_eq!(via_try, via_get, "try_get and get disagree");
        via_get
    }
    // Both orders on purpose: `==` traverses one side and looks up the other.
    #[allow(clippy::eq_op, clippy::nonminimal_bool)]
    fn equals_fresh(&self, entries: &[(u64, Tracked)]) -> bool {
        let other: ShardMap<u64, Tracked> = entries.iter().cloned().collect();
        *self == other && other == *self
    }
}

impl Vocab for AtomicPtrMap<u64, Tracked> {
    fn insert_prev(&self, k: u64, v: Tracked) -> Option<Tracked> {
        self.insert_cloned(k, v)
    }
    fn remove_prev(&self, k: u64) -> Option<Tracked> {
        self.remove_cloned(&k)
    }
    fn load_or_store(&self, k: u64, v: Tracked) -> (Tracked, bool) {
        AtomicPtrMap::load_or_store(self, k, v)
    }
    fn get_or_insert_once(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked {
        AtomicPtrMap::get_or_insert_with(self, k, f)
    }
    fn get_or_insert_optimistic(&self, k: u64, f: impl FnOnce() -> Tracked) -> Tracked {
        self.get_or_insert_with_optimistic(k, f)
    }
    fn compute(
        &self,
        k: u64,
        f: impl FnMut(Option<&Tracked>) -> Option<Tracked>,
    ) -> Option<Tracked> {
        AtomicPtrMap::compute(self, k, f)
    }
    fn compare_and_swap(&self, k: u64, cur: &Tracked, new: Tracked) -> Result<(), Tracked> {
        AtomicPtrMap::compare_and_swap(self, &k, cur, new)
    }
    fn compare_and_delete(&self, k: u64, cur: &Tracked) -> bool {
        AtomicPtrMap::compare_and_delete(self, &k, cur)
    }
    fn remove_if(&self, k: u64, f: impl FnMut(&u64, &Tracked) -> bool) -> Result<u64, NotRemoved> {
        self.pin().remove_if(&k, f).map(|v| v.payload)
    }
    fn get_key_value_cloned(&self, k: u64) -> Option<(u64, Tracked)> {
        AtomicPtrMap::get_key_value_cloned(self, &k)
    }
    fn get_payload(&self, k: u64) -> Option<u64> {
        let r = self.get(&k)?;
        assert_eq!(*r.key(), k);
        Some(r.payload)
    }
    // Both orders on purpose: `==` traverses one side and looks up the other.
    #[allow(clippy::eq_op, clippy::nonminimal_bool)]
    fn equals_fresh(&self, entries: &[(u64, Tracked)]) -> bool {
        let other: AtomicPtrMap<u64, Tracked> = entries.iter().cloned().collect();
        *self == other && other == *self
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u64),
    Remove(u64),
    LoadOrStore(u64, u64),
    GetOrInsertOnce(u64, u64),
    GetOrInsertOptimistic(u64, u64),
    /// 0: keep, 1: set the payload, 2: remove.
    Compute(u64, u8, u64),
    Cas(u64, u64, u64),
    Cad(u64, u64),
    /// Removes when the payload is below the bound.
    RemoveIf(u64, u64),
    GetKeyValue(u64),
    Get(u64),
    Equal,
}

fn op() -> impl Strategy<Value = Op> {
    // Few keys and payloads, so that compares hit and miss.
    let k = 0u64..12;
    let v = 0u64..4;
    prop_oneof![
        3 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => k.clone().prop_map(Op::Remove),
        2 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::LoadOrStore(k, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::GetOrInsertOnce(k, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::GetOrInsertOptimistic(k, v)),
        2 => (k.clone(), 0u8..3, v.clone()).prop_map(|(k, m, v)| Op::Compute(k, m, v)),
        3 => (k.clone(), v.clone(), v.clone()).prop_map(|(k, c, n)| Op::Cas(k, c, n)),
        2 => (k.clone(), v.clone()).prop_map(|(k, c)| Op::Cad(k, c)),
        2 => (k.clone(), 0u64..5).prop_map(|(k, b)| Op::RemoveIf(k, b)),
        1 => k.clone().prop_map(Op::GetKeyValue),
        1 => k.prop_map(Op::Get),
        1 => Just(Op::Equal),
    ]
}

fn payload(v: Option<&Tracked>) -> Option<u64> {
    v.map(|v| v.payload)
}

fn check<M: Vocab>(make: fn() -> M, ops: &[Op]) -> Result<(), TestCaseError> {
    let c = DropCounter::new();
    let m = make();
    let mut model: HashMap<u64, u64> = HashMap::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => {
                let got = m.insert_prev(k, c.track(v));
                prop_assert_eq!(payload(got.as_ref()), model.insert(k, v), "insert");
            }
            Op::Remove(k) => {
                let got = m.remove_prev(k);
                prop_assert_eq!(payload(got.as_ref()), model.remove(&k), "remove");
            }
            Op::LoadOrStore(k, v) => {
                let (got, loaded) = m.load_or_store(k, c.track(v));
                let want = match model.get(&k) {
                    Some(&old) => (old, true),
                    None => {
                        model.insert(k, v);
                        (v, false)
                    }
                };
                prop_assert_eq!((got.payload, loaded), want, "load_or_store");
            }
            Op::GetOrInsertOnce(k, v) | Op::GetOrInsertOptimistic(k, v) => {
                let mut runs = 0;
                let f = || {
                    runs += 1;
                    c.track(v)
                };
                let got = if matches!(op, Op::GetOrInsertOnce(..)) {
                    m.get_or_insert_once(k, f)
                } else {
                    m.get_or_insert_optimistic(k, f)
                };
                let present = model.contains_key(&k);
                let want = *model.entry(k).or_insert(v);
                prop_assert_eq!(got.payload, want, "get_or_insert_with");
                prop_assert_eq!(runs, usize::from(!present), "closure runs");
            }
            Op::Compute(k, mode, v) => {
                let before = model.get(&k).copied();
                let mut seen = None;
                let got = m.compute(k, |cur| {
                    seen = Some(payload(cur));
                    match mode {
                        0 => cur.cloned(),
                        1 => Some(c.track(v)),
                        _ => None,
                    }
                });
                prop_assert_eq!(seen, Some(before), "compute's closure saw");
                prop_assert_eq!(
                    payload(got.as_ref()),
                    before,
                    "compute returns the previous value"
                );
                match mode {
                    0 => {}
                    1 => {
                        model.insert(k, v);
                    }
                    _ => {
                        model.remove(&k);
                    }
                }
            }
            Op::Cas(k, cur, new) => {
                let got = m.compare_and_swap(k, &c.track(cur), c.track(new));
                if model.get(&k) == Some(&cur) {
                    prop_assert!(got.is_ok(), "compare_and_swap refused a match");
                    model.insert(k, new);
                } else {
                    prop_assert_eq!(got.map_err(|v| v.payload), Err(new), "compare_and_swap");
                }
            }
            Op::Cad(k, cur) => {
                let got = m.compare_and_delete(k, &c.track(cur));
                let want = model.get(&k) == Some(&cur);
                if want {
                    model.remove(&k);
                }
                prop_assert_eq!(got, want, "compare_and_delete");
            }
            Op::RemoveIf(k, bound) => {
                let mut runs = 0;
                let got = m.remove_if(k, |_, v| {
                    runs += 1;
                    v.payload < bound
                });
                let want = match model.get(&k).copied() {
                    None => Err(NotRemoved::Absent),
                    Some(v) if v < bound => {
                        model.remove(&k);
                        Ok(v)
                    }
                    Some(_) => Err(NotRemoved::Refused),
                };
                prop_assert_eq!(runs, usize::from(want != Err(NotRemoved::Absent)));
                prop_assert_eq!(got, want, "remove_if");
            }
            Op::GetKeyValue(k) => {
                let got = m.get_key_value_cloned(k).map(|(k, v)| (k, v.payload));
                prop_assert_eq!(got, model.get(&k).map(|&v| (k, v)), "get_key_value_cloned");
            }
            Op::Get(k) => prop_assert_eq!(m.get_payload(k), model.get(&k).copied(), "get"),
            Op::Equal => {
                let entries: Vec<(u64, Tracked)> =
                    model.iter().map(|(&k, &v)| (k, c.track(v))).collect();
                prop_assert!(m.equals_fresh(&entries), "a map equal to the model");
                if let Some((&k, &v)) = model.iter().next() {
                    let mut changed = entries;
                    let at = changed.iter().position(|(x, _)| *x == k).unwrap();
                    changed[at].1 = c.track(v + 1);
                    prop_assert!(!m.equals_fresh(&changed), "a map that differs in one value");
                }
            }
        }
        prop_assert_eq!(m.len(), model.len(), "len");
    }
    drop(m);
    prop_assert_eq!(
        M::live_after_reclaim(&c, 0),
        0,
        "values leaked or dropped twice"
    );
    Ok(())
}

fn cases() -> u32 {
    128
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    // Under Miri, proptest's failure persistence needs the file system,
    // which isolation refuses; the other tests here run.
    #[cfg_attr(miri, ignore)]
    #[test]
    fn shard_map_vocabulary_matches_std(ops in proptest::collection::vec(op(), 1..120)) {
        for (_, make) in <ShardMap<u64, Tracked> as TestMap<u64, Tracked>>::configs() {
            check(make, &ops)?;
        }
    }

    #[cfg_attr(miri, ignore)]
    #[test]
    fn atomic_map_vocabulary_matches_std(ops in proptest::collection::vec(op(), 1..120)) {
        for (_, make) in <AtomicPtrMap<u64, Tracked> as TestMap<u64, Tracked>>::configs() {
            check(make, &ops)?;
        }
    }
}

fn threads() -> usize {
    4
}

fn rounds() -> u64 {
    if cfg!(miri) {
        4
    } else {
        300
    }
}

/// Every thread calls `load_or_store(k, its id)` on the same fresh keys at
/// once: per key exactly one call stores, and every other call reports
/// "loaded" with the stored value.
fn load_or_store_race<M: Vocab>(make: fn() -> M) {
    let c = DropCounter::new();
    let m = make();
    let n = threads();
    let barrier = Barrier::new(n);
    let results: Vec<Vec<(u64, bool)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n as u64)
            .map(|t| {
                let (m, c, barrier) = (&m, &c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..rounds())
                        .map(|k| {
                            let (v, loaded) = m.load_or_store(k, c.track(t));
                            (v.payload, loaded)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for k in 0..rounds() {
        let stored = m.get_cloned(&k).expect("a key every thread stored").payload;
        let per_key: Vec<(u64, bool)> = results.iter().map(|r| r[k as usize]).collect();
        let winners: Vec<_> = per_key.iter().filter(|(_, loaded)| !loaded).collect();
        assert_eq!(winners.len(), 1, "key {k}: one store, got {per_key:?}");
        assert!(
            per_key.iter().all(|&(v, _)| v == stored),
            "key {k}: every call sees the stored value {stored}: {per_key:?}"
        );
    }
    drop(m);
    assert_eq!(M::live_after_reclaim(&c, 0), 0, "values leaked");
}

/// Every thread tries `compare_and_swap(k, &0, its id + 1)` on keys holding
/// 0: per key exactly one succeeds, and the map holds its value; then every
/// thread tries `compare_and_delete(k, &winner)`: exactly one deletes.
fn cas_race<M: Vocab>(make: fn() -> M) {
    let c = DropCounter::new();
    let m = make();
    for k in 0..rounds() {
        m.insert_prev(k, c.track(0));
    }
    let n = threads();
    let barrier = Barrier::new(n);
    let swaps: Vec<Vec<bool>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n as u64)
            .map(|t| {
                let (m, c, barrier) = (&m, &c, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let zero = c.track(0);
                    (0..rounds())
                        .map(|k| m.compare_and_swap(k, &zero, c.track(t + 1)).is_ok())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for k in 0..rounds() {
        let won: Vec<u64> = (0..n as u64)
            .filter(|&t| swaps[t as usize][k as usize])
            .collect();
        assert_eq!(won.len(), 1, "key {k}: one successful CAS, got {won:?}");
        assert_eq!(m.get_cloned(&k).unwrap().payload, won[0] + 1, "key {k}");
    }
    let deletes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                barrier.wait();
                for k in 0..rounds() {
                    let stored = m.get_cloned(&k);
                    if let Some(v) = stored {
                        if m.compare_and_delete(k, &v) {
                            deletes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(deletes.into_inner() as u64, rounds(), "one delete per key");
    assert!(m.is_empty());
    drop(m);
    assert_eq!(M::live_after_reclaim(&c, 0), 0, "values leaked");
}

/// Every thread calls the at-most-once `get_or_insert_with` on the same
/// absent keys at once: the closure runs once per key, and all calls get its
/// value.
fn get_or_insert_once_race<M: Vocab>(make: fn() -> M) {
    let c = DropCounter::new();
    let m = make();
    let runs: Vec<AtomicUsize> = (0..rounds()).map(|_| AtomicUsize::new(0)).collect();
    let n = threads();
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        for t in 0..n as u64 {
            let (m, c, barrier, runs) = (&m, &c, &barrier, &runs);
            s.spawn(move || {
                barrier.wait();
                for k in 0..rounds() {
                    let v = m.get_or_insert_once(k, || {
                        runs[k as usize].fetch_add(1, Ordering::Relaxed);
                        // Widen the window in which others look.
                        std::thread::yield_now();
                        c.track(t)
                    });
                    assert_eq!(Some(v.payload), m.get_cloned(&k).map(|v| v.payload));
                }
            });
        }
    });
    for (k, r) in runs.iter().enumerate() {
        assert_eq!(r.load(Ordering::Relaxed), 1, "key {k}: closure runs");
    }
    drop(m);
    assert_eq!(M::live_after_reclaim(&c, 0), 0, "values leaked");
}

fn shard() -> ShardMap<u64, Tracked> {
    ShardMap::new()
}

fn atomic() -> AtomicPtrMap<u64, Tracked> {
    AtomicPtrMap::builder().merge_threshold(1).build().unwrap()
}

#[test]
fn load_or_store_has_one_winner_shard() {
    load_or_store_race(shard);
}

#[test]
fn load_or_store_has_one_winner_atomic() {
    load_or_store_race(atomic);
}

#[test]
fn cas_has_one_winner_shard() {
    cas_race(shard);
}

#[test]
fn cas_has_one_winner_atomic() {
    cas_race(atomic);
}

#[test]
fn get_or_insert_with_runs_once_shard() {
    get_or_insert_once_race(shard);
}

#[test]
fn get_or_insert_with_runs_once_atomic() {
    get_or_insert_once_race(atomic);
}

/// A closure of AtomicPtrMap's at-most-once `get_or_insert_with` that calls
/// it again panics (naming this file) instead of deadlocking; a panicking
/// closure stores nothing, releases the stripe, and leaks nothing.
#[test]
fn atomic_get_or_insert_with_reentry_panics_and_releases() {
    let c = DropCounter::new();
    let m = atomic();
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.get_or_insert_with(1, || m.get_or_insert_with(2, || c.track(2)))
    }));
    let msg = r.expect_err("a re-entrant call panics");
    let msg = msg
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| msg.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("get_or_insert_with"), "{msg}");
    assert!(m.is_empty());
    // Other calls from the closure are fine.
    let v = m.get_or_insert_with(3, || {
        m.insert(4, c.track(4));
        c.track(m.get_cloned(&4).unwrap().payload + 1)
    });
    assert_eq!(v.payload, 5);
    // The same stripe and key work after a panicking closure.
    let r = catch_unwind(AssertUnwindSafe(|| m.get_or_insert_with(1, || panic!("f"))));
    assert!(r.is_err());
    assert_eq!(m.get_or_insert_with(1, || c.track(1)).payload, 1);
    assert_eq!(m.len(), 3);
    drop((v, m));
    assert_eq!(
        <AtomicPtrMap<u64, Tracked> as TestMap<u64, Tracked>>::live_after_reclaim(&c, 0),
        0
    );
}

/// ShardMap's at-most-once closure runs under the shard's write lock: a call
/// on the same shard from it panics (the re-entry detector; its message
/// names the method, its location the caller's line); the optimistic one
/// may call the map.
#[test]
fn shard_get_or_insert_with_reentry_panics_optimistic_does_not() {
    let m: ShardMap<u64, u64> = ShardMap::builder().shards(1).build().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.get_or_insert_with(1, || m.get_cloned(&2).unwrap_or(0))
    }));
    let msg = r.expect_err("a re-entrant call panics");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("ShardMap::get_cloned"),
        "names the method: {msg}"
    );
    assert!(m.is_empty());
    m.insert(2, 41);
    assert_eq!(
        m.get_or_insert_with_optimistic(1, || m.get_cloned(&2).unwrap() + 1),
        42
    );
}

/// `try_get` does not wait for a writer, and reports a guard this thread
/// holds instead of panicking.
#[test]
fn shard_try_get_never_waits() {
    let m: ShardMap<u64, u64> = ShardMap::builder().shards(1).build().unwrap();
    m.insert(1, 1);
    {
        let _w = m.get_mut(&1).unwrap();
        assert!(m.try_get(&1).is_err(), "write guard held by this thread");
        std::thread::scope(|s| {
            s.spawn(|| assert!(m.try_get(&1).is_err(), "write guard held by another"));
        });
    }
    {
        let _r = m.get(&1).unwrap();
        assert!(m.try_get(&1).is_err(), "read guard held by this thread");
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(m.try_get(&1).unwrap().map(|r| *r), Some(1)));
        });
    }
    assert_eq!(m.try_get(&1).unwrap().map(|r| *r), Some(1));
    assert!(m.try_get(&2).unwrap().is_none());
    // No hold left behind: a write works.
    m.insert(1, 2);
}

#[test]
fn reserve_and_extend_by_reference() {
    let mut s: ShardMap<u64, u64> = ShardMap::new();
    s.reserve(5000);
    assert!(s.capacity() >= 5000);
    assert!(s.try_reserve(usize::MAX).is_err());
    let pairs: Vec<(u64, u64)> = (0..10).map(|i| (i, i * 2)).collect();
    s.extend(pairs.iter().map(|(k, v)| (k, v)));
    let mut a: AtomicPtrMap<u64, u64> = AtomicPtrMap::with_capacity(10);
    a.extend(pairs.iter().map(|(k, v)| (k, v)));
    for (k, v) in &pairs {
        assert_eq!(s.get_cloned(k), Some(*v));
        assert_eq!(a.get_cloned(k), Some(*v));
    }
}

/// A `Ref` from `AtomicPtrMap::get` keeps its value alive across removal
/// and reclamation attempts, and drops it once released.
#[test]
fn atomic_get_ref_outlives_removal() {
    let c = DropCounter::new();
    let m = atomic();
    m.insert(1, c.track(10));
    let r = m.get(&1).unwrap();
    assert!(m.remove(&1));
    for k in 2..200 {
        m.insert(k, c.track(k));
        m.remove(&k);
    }
    m.shrink_to_fit();
    assert_eq!(r.payload, 10);
    assert_eq!(r.pair().0, &1);
    drop(r);
    drop(m);
    assert_eq!(
        <AtomicPtrMap<u64, Tracked> as TestMap<u64, Tracked>>::live_after_reclaim(&c, 0),
        0
    );
}
