//! The `iter_delete` target's engine: live iterators interleaved with
//! deletes, re-inserts, overwrites, `retain`, `clear` and merges, every item
//! checked against the iteration guarantee ([`crate::iter_check`]).
//!
//! Two modes:
//! - **single thread**: one thread owns up to [`MAX_ITERS`] live iterators
//!   and makes every write itself, so each step is deterministic and a crash
//!   replays exactly. Maps whose iterators hold locks (ShardMap holds a
//!   shard's read lock while it yields that shard's entries) say so through
//!   [`WritePolicy`], and the engine only makes a write where it is legal.
//! - **threaded**: a second thread deletes, re-inserts, overwrites, retains
//!   and merges a set of "churn" keys while the first thread traverses the
//!   map again and again. Keys outside the churn set are present throughout
//!   and must be yielded exactly once with their exact value; churn keys at
//!   most once, with a value the writer really stored.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};

use arbitrary::Arbitrary;

use crate::detector::try_legal;
use crate::iter_check::{Traversal, Traversals};
use crate::maps::{ConcurrentMap, FuzzMap};
use crate::val::Drops;

/// Live iterators at most, in single-thread mode.
pub const MAX_ITERS: usize = 4;

/// How the single-thread engine may touch the map while iterators are live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Any time, with up to [`MAX_ITERS`] live iterators (lock-free
    /// iteration: AtomicPtrMap).
    Always,
    /// The iterator holds the read lock of the shard it is in (ShardMap), so
    /// one live iterator at a time; single-key writes and reads go through
    /// [`try_legal`]: those on other shards happen between the iterator's
    /// steps, those on the held shard are refused by ShardMap's debug
    /// deadlock detector and skipped. Whole-map writes (`retain`, `clear`)
    /// wait until no iterator is live. Concurrent writes to every shard come
    /// from the threaded mode.
    DetectorChecked,
}
/// One step of the single-thread mode. Keys are taken modulo the key space.
#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    /// Start a new live iterator (ignored when [`MAX_ITERS`] are live).
    NewIter,
    /// Advance a live iterator by `1 + n % 16` items.
    Next { which: u8, n: u8 },
    /// Drop a live iterator before its end.
    DropIter { which: u8 },
    /// Remove a key.
    Remove { key: u8 },
    /// Insert a fresh value (a re-insert or an overwrite).
    Insert { key: u8 },
    /// Remove and immediately re-insert a key.
    RemoveInsert { key: u8 },
    /// `retain` with a predicate drawn from `(m, r)`.
    Retain { m: u8, r: u8 },
    /// Remove everything.
    Clear,
    /// Force a merge (AtomicPtrMap's `shrink_to_fit`).
    Compact,
    /// A lookup, compared with the model.
    Get { key: u8 },
    /// Read a value under the long-lived pinned handle and keep the
    /// reference: it must stay valid until the handle is dropped.
    HoldGet { key: u8 },
    /// Drop the pinned handle (and the references held under it), open a new one.
    Repin,
    /// Pin and flush crossbeam-epoch, so retired garbage really gets freed.
    Flush,
}

/// Input of the single-thread mode.
#[derive(Arbitrary, Debug, Clone)]
pub struct SingleInput {
    /// Keys are `0..=key_space % 64`.
    pub key_space: u8,
    /// Keys `0..prefill % (key space + 1)` are inserted first.
    pub prefill: u8,
    /// The steps.
    pub steps: Vec<Step>,
}

fn retain_pred(m: u8, r: u8) -> impl Fn(u64, u64) -> bool {
    let m = u64::from(m % 5) + 2;
    let r = u64::from(r) % m;
    move |k, id| (k.wrapping_mul(31) ^ id) % m != r
}

/// What a single-thread run did, for the engine's own tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleStats {
    /// Single-key operations made while an iterator was live.
    pub during_iteration: usize,
    /// Those refused by ShardMap's deadlock detector.
    pub refused: usize,
}

/// Runs the single-thread mode on `map` (empty when given).
pub fn run_single<M: FuzzMap>(
    map: &M,
    drops: &Drops,
    input: &SingleInput,
    policy: WritePolicy,
) -> SingleStats {
    let mut stats = SingleStats::default();
    let space = u64::from(input.key_space % 64) + 1;
    let mut model: HashMap<u64, u64> = HashMap::new();
    for k in 0..u64::from(input.prefill) % (space + 1) {
        let v = drops.make(k);
        model.insert(k, v.id());
        assert_eq!(map.insert_id(k, v), None, "{}: prefill", map.describe());
    }
    assert_eq!(map.map().len(), model.len());

    let mut iters: Vec<Box<dyn Iterator<Item = (u64, u64)> + '_>> = Vec::new();
    let mut tr = Traversals::default();

    // The steps, split into segments at `Repin`: each segment runs under its
    // own pinned handle, and the references held under it live as long.
    for segment in input.steps.split(|s| matches!(s, Step::Repin)) {
        // Pinned only when the segment holds references: a guard alive on
        // this thread stops the reclamation of anything retired meanwhile.
        let pinned = segment
            .iter()
            .any(|s| matches!(s, Step::HoldGet { .. }))
            .then(|| map.pin());
        let mut held: Vec<(u64, u64, &crate::val::Val)> = Vec::new();
        for step in segment {
            let checked = policy == WritePolicy::DetectorChecked && !iters.is_empty();
            // Runs a single-key operation, unless it is refused as illegal now.
            let live = !iters.is_empty();
            let mut legal = |f: &mut dyn FnMut()| {
                let ok = if checked {
                    try_legal(f).is_some()
                } else {
                    f();
                    true
                };
                if live {
                    stats.during_iteration += usize::from(ok);
                    stats.refused += usize::from(!ok);
                }
                ok
            };
            let max_iters = match policy {
                WritePolicy::Always => MAX_ITERS,
                WritePolicy::DetectorChecked => 1,
            };
            match *step {
                Step::NewIter => {
                    if iters.len() < max_iters {
                        iters.push(map.iter());
                        tr.live.push(Some(Traversal::start(&model)));
                    }
                }
                Step::Next { which, n } => {
                    if !iters.is_empty() {
                        let i = usize::from(which) % iters.len();
                        for _ in 0..=(n % 16) {
                            let t = tr.live[i].as_mut().expect("live traversal");
                            match iters[i].next() {
                                Some((k, id)) => t.yielded(k, id),
                                None => {
                                    t.finish();
                                    drop(iters.remove(i));
                                    tr.live.remove(i);
                                    break;
                                }
                            }
                        }
                    }
                }
                Step::DropIter { which } => {
                    if !iters.is_empty() {
                        let i = usize::from(which) % iters.len();
                        drop(iters.remove(i));
                        tr.live.remove(i);
                    }
                }
                Step::Remove { key } => {
                    let k = u64::from(key) % space;
                    let mut got = None;
                    if legal(&mut || got = Some(map.remove_id(k))) {
                        let got = got.expect("ran");
                        assert_eq!(got, model.remove(&k), "{}: remove {k}", map.describe());
                        tr.removed(k);
                    }
                }
                Step::Insert { key } => {
                    let k = u64::from(key) % space;
                    let mut got = None;
                    let mut id = 0;
                    if legal(&mut || {
                        let v = drops.make(k);
                        id = v.id();
                        got = Some(map.insert_id(k, v));
                    }) {
                        let got = got.expect("ran");
                        assert_eq!(got, model.insert(k, id), "{}: insert {k}", map.describe());
                        tr.stored(k, id);
                    }
                }
                Step::RemoveInsert { key } => {
                    let k = u64::from(key) % space;
                    let mut got = None;
                    if legal(&mut || got = Some(map.remove_id(k))) {
                        let got = got.expect("ran");
                        assert_eq!(got, model.remove(&k), "{}: remove {k}", map.describe());
                        tr.removed(k);
                        // Same key, same shard: legal as the remove was.
                        let v = drops.make(k);
                        let id = v.id();
                        assert_eq!(
                            map.insert_id(k, v),
                            None,
                            "{}: re-insert {k}",
                            map.describe()
                        );
                        model.insert(k, id);
                        tr.stored(k, id);
                    }
                }
                Step::Retain { m, r } if !checked => {
                    let pred = retain_pred(m, r);
                    let mut visited = HashSet::new();
                    map.map().retain(|&k, v| {
                        assert!(visited.insert(k), "retain visited key {k} twice");
                        pred(k, v.check(k))
                    });
                    let expect: HashSet<u64> = model.keys().copied().collect();
                    assert_eq!(visited, expect, "{}: retain visited", map.describe());
                    model.retain(|&k, &mut id| {
                        let keep = pred(k, id);
                        if !keep {
                            tr.removed(k);
                        }
                        keep
                    });
                }
                Step::Clear if !checked => {
                    map.map().clear();
                    for k in model.drain().map(|(k, _)| k) {
                        tr.removed(k);
                    }
                }
                Step::Compact if !checked => map.compact(),
                // Whole-map writes wait until no iterator holds a lock.
                Step::Retain { .. } | Step::Clear | Step::Compact => {}
                Step::Get { key } => {
                    let k = u64::from(key) % space;
                    let mut got = None;
                    if legal(&mut || got = Some(map.get_id(k))) {
                        let got = got.expect("ran");
                        assert_eq!(got, model.get(&k).copied(), "{}: get {k}", map.describe());
                    }
                }
                Step::HoldGet { key } => {
                    let k = u64::from(key) % space;
                    let p = pinned.as_ref().expect("pinned for this segment");
                    if let Some(v) = map.pinned_get(p, k) {
                        let id = v.check(k);
                        assert_eq!(
                            Some(id),
                            model.get(&k).copied(),
                            "{}: pinned get {k}",
                            map.describe()
                        );
                        held.push((k, id, v));
                    }
                }
                Step::Flush => crossbeam_epoch::pin().flush(),
                Step::Repin => unreachable!("segments are split at Repin"),
            }
            // Values read under the pinned handle stay valid and unchanged,
            // whatever was removed, overwritten or merged since.
            for &(k, id, v) in &held {
                assert_eq!(v.check(k), id, "held value changed under the guard");
            }
            // `len` takes no lock on either map.
            assert_eq!(map.map().len(), model.len(), "{}: len", map.describe());
        }
        drop(held);
        drop(pinned);
    }

    // Run the live iterators to their end.
    for (mut it, t) in iters.into_iter().zip(tr.live.iter_mut()) {
        let t = t.as_mut().expect("live traversal");
        for (k, id) in &mut it {
            t.yielded(k, id);
        }
        t.finish();
    }
    // A quiet traversal sees exactly the model.
    let all: HashMap<u64, u64> = collect_exact(map);
    assert_eq!(all, model, "{}: final content", map.describe());
    assert_eq!(
        map.map().len(),
        model.len(),
        "{}: final len",
        map.describe()
    );
    stats
}

/// A whole traversal with no concurrent writer; panics on a duplicate key.
pub fn collect_exact<M: FuzzMap>(map: &M) -> HashMap<u64, u64> {
    let mut all = HashMap::new();
    for (k, id) in map.iter() {
        assert!(
            all.insert(k, id).is_none(),
            "{}: key {k} yielded twice",
            map.describe()
        );
    }
    all
}

/// One operation of the writer thread in threaded mode, on churn keys only.
#[derive(Arbitrary, Debug, Clone)]
pub enum WriterOp {
    /// Remove a churn key.
    Remove(u8),
    /// Insert a fresh value under a churn key (re-insert or overwrite).
    Insert(u8),
    /// Remove a churn key and re-insert it at once.
    RemoveInsert(u8),
    /// Remove the churn keys selected by the predicate.
    Retain(u8, u8),
    /// Force a merge.
    Compact,
    /// Let the reader run.
    Yield,
}

/// Input of the threaded mode.
#[derive(Arbitrary, Debug, Clone)]
pub struct ThreadedInput {
    /// Keys `0..=prefill` (at least 1, at most 256) are inserted first.
    pub prefill: u8,
    /// Every `2 + stride % 4`-th key is a churn key; the others are stable.
    pub stride: u8,
    /// Full traversals the reader makes: `1 + traversals % 4`.
    pub traversals: u8,
    /// The writer's program, run again and again until the reader is done.
    pub ops: Vec<WriterOp>,
}

/// Runs the threaded mode on `map` (empty when given).
pub fn run_threaded<M: FuzzMap>(map: &M, drops: &Drops, input: &ThreadedInput) {
    let n = u64::from(input.prefill) + 1;
    let stride = u64::from(input.stride % 4) + 2;
    let churn: Vec<u64> = (0..n).filter(|k| k % stride == 0).collect();
    let mut prefill_ids = HashMap::new();
    for k in 0..n {
        let v = drops.make(k);
        prefill_ids.insert(k, v.id());
        map.insert_id(k, v);
    }
    // Every id the writer ever stores, per key, recorded before it is stored.
    let written: Mutex<HashMap<u64, HashSet<u64>>> = Mutex::new(HashMap::new());
    let done = AtomicBool::new(false);
    let start = Barrier::new(2);
    let ops: Vec<WriterOp> = if input.ops.is_empty() {
        vec![WriterOp::RemoveInsert(0)]
    } else {
        input.ops.iter().take(64).cloned().collect()
    };

    let writer_model = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut model: HashMap<u64, u64> = churn.iter().map(|k| (*k, prefill_ids[k])).collect();
            let key = |i: u8| churn[usize::from(i) % churn.len()];
            let fresh = |k: u64| {
                let v = drops.make(k);
                written.lock().unwrap().entry(k).or_default().insert(v.id());
                v
            };
            start.wait();
            for _round in 0..64 {
                for op in &ops {
                    match *op {
                        WriterOp::Remove(i) => {
                            let k = key(i);
                            assert_eq!(map.remove_id(k), model.remove(&k), "writer remove {k}");
                        }
                        WriterOp::Insert(i) => {
                            let k = key(i);
                            let v = fresh(k);
                            let id = v.id();
                            assert_eq!(
                                map.insert_id(k, v),
                                model.insert(k, id),
                                "writer insert {k}"
                            );
                        }
                        WriterOp::RemoveInsert(i) => {
                            let k = key(i);
                            assert_eq!(map.remove_id(k), model.remove(&k), "writer remove {k}");
                            let v = fresh(k);
                            let id = v.id();
                            assert_eq!(map.insert_id(k, v), None, "writer re-insert {k}");
                            model.insert(k, id);
                        }
                        WriterOp::Retain(m, r) => {
                            let pred = retain_pred(m, r);
                            let churned = |k: u64| k.is_multiple_of(stride);
                            map.map().retain(|&k, v| !churned(k) || pred(k, v.check(k)));
                            model.retain(|&k, &mut id| pred(k, id));
                        }
                        WriterOp::Compact => map.compact(),
                        WriterOp::Yield => std::thread::yield_now(),
                    }
                }
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
            model
        });

        start.wait();
        for round in 0..=(input.traversals % 4) {
            // On odd rounds, hold references to churn keys' values under a
            // guard for the whole traversal, while the writer deletes and
            // merges them: they must stay alive and unchanged.
            let pinned = (round % 2 == 1).then(|| map.pin());
            let held: Vec<(u64, u64, &crate::val::Val)> = match &pinned {
                Some(p) => churn
                    .iter()
                    .filter_map(|&k| map.pinned_get(p, k).map(|v| (k, v.check(k), v)))
                    .collect(),
                None => Vec::new(),
            };
            let mut seen = HashSet::new();
            for (k, id) in map.iter() {
                assert!(seen.insert(k), "{}: key {k} yielded twice", map.describe());
                assert!(k < n, "{}: key {k} was never inserted", map.describe());
                if k % stride != 0 {
                    assert_eq!(id, prefill_ids[&k], "{}: stable key {k}", map.describe());
                } else if id != prefill_ids[&k] {
                    let w = written.lock().unwrap();
                    assert!(
                        w.get(&k).is_some_and(|ids| ids.contains(&id)),
                        "{}: churn key {k} yielded value #{id}, never stored",
                        map.describe()
                    );
                }
            }
            for k in (0..n).filter(|k| k % stride != 0) {
                assert!(
                    seen.contains(&k),
                    "{}: stable key {k} missed",
                    map.describe()
                );
            }
            for &(k, id, v) in &held {
                assert_eq!(v.check(k), id, "{}: held value changed", map.describe());
            }
            drop(held);
            drop(pinned);
            // Stable keys read directly too.
            let k = (n - 1) / 2;
            if k % stride != 0 {
                assert_eq!(map.get_id(k), Some(prefill_ids[&k]));
            }
        }
        done.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });

    let all = collect_exact(map);
    for k in 0..n {
        let expect = if k % stride == 0 {
            writer_model.get(&k).copied()
        } else {
            Some(prefill_ids[&k])
        };
        assert_eq!(
            all.get(&k).copied(),
            expect,
            "{}: final value of {k}",
            map.describe()
        );
    }
    assert_eq!(all.len(), map.map().len(), "{}: final len", map.describe());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::Reference;

    fn single(steps: Vec<Step>) -> SingleInput {
        SingleInput {
            key_space: 15,
            prefill: 10,
            steps,
        }
    }

    #[test]
    fn reference_passes_a_busy_single_run() {
        let drops = Drops::new();
        let map = Reference::default();
        let steps = vec![
            Step::NewIter,
            Step::Next { which: 0, n: 2 },
            Step::Remove { key: 3 },
            Step::NewIter,
            Step::Insert { key: 12 },
            Step::Retain { m: 1, r: 0 },
            Step::Next { which: 1, n: 30 },
            Step::Clear,
            Step::Insert { key: 1 },
            Step::Repin,
            Step::Next { which: 0, n: 3 },
        ];
        run_single(&map, &drops, &single(steps), WritePolicy::Always);
        drop(map);
        drops.assert_all_dropped("reference");
    }

    #[test]
    fn shard_interleaves_writes_with_a_live_iterator() {
        let mut steps = vec![Step::NewIter, Step::Next { which: 0, n: 0 }];
        for key in 0..16 {
            steps.extend([
                Step::Insert { key },
                Step::Remove { key: key + 3 },
                Step::Get { key: key + 1 },
                Step::RemoveInsert { key: key + 7 },
                Step::Retain { m: key, r: 1 },
                Step::Next { which: 0, n: 0 },
            ]);
        }
        steps.extend([
            Step::Clear,
            Step::NewIter,
            Step::NewIter,
            Step::Insert { key: 1 },
        ]);
        for config in [0, 1, 2, 3, 4, 19, 44] {
            let drops = Drops::new();
            let map = crate::maps::Shard::new(config);
            let stats = run_single(
                &map,
                &drops,
                &single(steps.clone()),
                WritePolicy::DetectorChecked,
            );
            if config % 5 == 4 {
                // 64 shards: most writes land on another shard than the iterator's.
                assert!(stats.during_iteration > 20, "{stats:?}");
            }
            if config % 5 == 0 {
                // One shard: every write under a started iterator is refused
                // (the last, under an iterator not started yet, is not).
                assert!(
                    stats.refused >= 40 && stats.during_iteration <= 1,
                    "{stats:?}"
                );
            }
            drop(map);
            drops.assert_all_dropped("shard");
        }
    }

    #[test]
    fn shard_passes_threaded() {
        for config in [0, 3, 4] {
            let drops = Drops::new();
            let map = crate::maps::Shard::new(config);
            let input = ThreadedInput {
                prefill: 100,
                stride: 0,
                traversals: 3,
                ops: vec![
                    WriterOp::Remove(1),
                    WriterOp::Insert(2),
                    WriterOp::RemoveInsert(3),
                    WriterOp::Retain(2, 1),
                    WriterOp::Insert(1),
                ],
            };
            run_threaded(&map, &drops, &input);
            drop(map);
            drops.assert_all_dropped("shard");
        }
    }

    #[test]
    fn atomic_passes_single_and_threaded() {
        let mut steps = vec![
            Step::NewIter,
            Step::HoldGet { key: 2 },
            Step::Next { which: 0, n: 0 },
        ];
        for key in 0..16 {
            steps.extend([
                Step::Insert { key },
                Step::NewIter,
                Step::Remove { key: key + 3 },
                Step::HoldGet { key },
                Step::Compact,
                Step::RemoveInsert { key: key + 7 },
                Step::Retain { m: key, r: 1 },
                Step::Next { which: key, n: key },
                Step::Flush,
            ]);
            if key % 5 == 0 {
                steps.extend([Step::Repin, Step::DropIter { which: key }, Step::Clear]);
            }
        }
        for config in [0, 1, 3, 4, 9, 19, 33, 63] {
            let drops = Drops::new();
            let map = crate::maps::Atomic::new(config);
            run_single(&map, &drops, &single(steps.clone()), WritePolicy::Always);
            drop(map);
            drops.assert_all_dropped("atomic");
            let drops = Drops::new();
            let map = crate::maps::Atomic::new(config);
            let input = ThreadedInput {
                prefill: 100,
                stride: 0,
                traversals: 3,
                ops: vec![
                    WriterOp::Remove(1),
                    WriterOp::Insert(2),
                    WriterOp::RemoveInsert(3),
                    WriterOp::Compact,
                    WriterOp::Retain(2, 1),
                    WriterOp::Insert(1),
                ],
            };
            run_threaded(&map, &drops, &input);
            drop(map);
            drops.assert_all_dropped("atomic");
        }
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_duplicate_is_caught() {
        let drops = Drops::new();
        let map = Reference::with_duplicate_fault();
        run_single(
            &map,
            &drops,
            &single(vec![Step::NewIter, Step::Next { which: 0, n: 15 }]),
            WritePolicy::Always,
        );
    }

    #[test]
    fn reference_passes_threaded() {
        let drops = Drops::new();
        let map = Reference::default();
        let input = ThreadedInput {
            prefill: 40,
            stride: 1,
            traversals: 3,
            ops: vec![
                WriterOp::Remove(1),
                WriterOp::Insert(2),
                WriterOp::RemoveInsert(3),
                WriterOp::Retain(2, 1),
                WriterOp::Yield,
            ],
        };
        run_threaded(&map, &drops, &input);
        drop(map);
        drops.assert_all_dropped("reference");
    }
}
