//! Loom models of `AtomicPtrMap`'s engine: publish, merge and retire, with two
//! threads, on the real code (`src/atomic_map/raw/`, the engine, takes its
//! atomics and mutexes from loom under `--cfg epochmap_loom`, and crossbeam-epoch its
//! own under `--cfg crossbeam_loom`).
//!
//! Run (seconds; figures in `.ci/run`):
//!
//! ```text
//! RUSTFLAGS="--cfg epochmap_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test --release --manifest-path loom/Cargo.toml -- --nocapture
//! ```
//!
//! Every model uses one partition and merge threshold 1, so that one insert
//! or `shrink_to_fit` seals the overlay, merges it (whole, or incrementally over
//! the next inserts of new keys), publishes a new snapshot and retires the
//! old one. Each model asserts that its setup reached the intended state
//! (merges done or in progress), so a change of the merge policy cannot
//! silently turn it into a model of nothing.
//!
//! What loom checks beyond the assertions: keys and values carry a loom
//! `UnsafeCell`, written when made, read by `Eq` (keys) and by the readers
//! (values), written again by `Drop`. So a reader that sees a key or value
//! without happening-after its publication (a missing Release/Acquire), or a
//! key or value freed while a reader may still read it (premature
//! reclamation), is a loom "causality violation". The engine's layer sets
//! carry such a cell too (`Layers::witness`, loom only). Drops are counted
//! (plain `std` atomics: loom runs all its threads on one OS thread), and
//! every key and value made must be dropped exactly once (see [`run`]).
//!
//! Two things keep loom from missing the interleavings that matter, both
//! found by breaking the engine on purpose (a `Relaxed` value load or CAS
//! went unreported without them):
//! - writers make their keys and values *after* pinning: under loom,
//!   crossbeam-epoch's pin is a `SeqCst` fence (loom has no compiler fence),
//!   and a fence releases everything before it through every later store of
//!   the thread, even a `Relaxed` one, which would hide a missing Release in
//!   the engine;
//! - readers call [`pause`] inside their critical sections.
#![cfg(epochmap_loom)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use epochmap::AtomicPtrMap;
use loom::cell::UnsafeCell;

/// Drop counts, per id, of the keys and values made in one execution.
struct Ledger {
    made: [AtomicUsize; 2 * IDS],
    dropped: [AtomicUsize; 2 * IDS],
}

/// Ids per kind (keys: `0..IDS`, values: `IDS..2 * IDS` in the arrays).
const IDS: usize = 16;

impl Ledger {
    fn new() -> Arc<Self> {
        Arc::new(Ledger {
            made: std::array::from_fn(|_| AtomicUsize::new(0)),
            dropped: std::array::from_fn(|_| AtomicUsize::new(0)),
        })
    }

    fn check(&self) {
        let mut wrong = Vec::new();
        for i in 0..2 * IDS {
            let (made, dropped) = (self.made[i].load(Relaxed), self.dropped[i].load(Relaxed));
            if made != dropped {
                let what = if i < IDS { "key" } else { "value" };
                wrong.push(format!(
                    "{what} {}: made {made}, dropped {dropped}",
                    i % IDS
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("; "));
    }
}

/// The memory of a key or a value, as loom sees it: a cell that holds `id`
/// from creation until `Drop` overwrites it. Readers read the cell, so loom
/// reports a read that does not happen-after the creation, or that races the
/// `Drop` (a free while a reader may still hold the object). `slot` is its
/// place in the ledger (keys first, then values).
struct Witnessed {
    id: usize,
    slot: usize,
    cell: UnsafeCell<usize>,
    ledger: Arc<Ledger>,
}

impl Witnessed {
    fn new(ledger: &Arc<Ledger>, slot: usize, id: usize) -> Self {
        ledger.made[slot].fetch_add(1, Relaxed);
        let made = Witnessed {
            id,
            slot,
            cell: UnsafeCell::new(usize::MAX),
            ledger: Arc::clone(ledger),
        };
        // The write loom checks readers against (a cell's creation is not
        // enough: loom dates it before the thread's first operation).
        // SAFETY: not shared yet.
        made.cell.with_mut(|p| unsafe { *p = id });
        made
    }

    fn read(&self) -> usize {
        // SAFETY: the cell is written only at creation and by `Drop` (which
        // has `&mut self`); loom checks that this read does not race them.
        self.cell.with(|p| unsafe { *p })
    }
}

impl Drop for Witnessed {
    fn drop(&mut self) {
        // SAFETY: `&mut self`; loom checks that no reader races this write.
        self.cell.with_mut(|p| unsafe { *p = usize::MAX });
        self.ledger.dropped[self.slot].fetch_add(1, Relaxed);
    }
}

// SAFETY: the cell is written only through `&mut self` (creation, `Drop`);
// shared references only read it.
unsafe impl Sync for Witnessed {}

/// A key: hashed by id; `Eq` reads both keys' cells.
struct Key(Witnessed);

impl Key {
    fn new(ledger: &Arc<Ledger>, id: usize) -> Self {
        Key(Witnessed::new(ledger, id, id))
    }

    fn id(&self) -> usize {
        self.0.id
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.read(), other.0.read());
        assert_eq!((a, b), (self.0.id, other.0.id), "a key's memory changed");
        a == b
    }
}
impl Eq for Key {}

/// A value: readers read its cell, which must hold its id.
struct Val(Witnessed);

impl Val {
    fn new(ledger: &Arc<Ledger>, id: usize) -> Self {
        Val(Witnessed::new(ledger, IDS + id, id))
    }

    /// The value's id, read through its cell.
    fn read(&self) -> usize {
        let v = self.0.read();
        assert_eq!(v, self.0.id, "a value's memory changed (freed?)");
        v
    }
}

/// A deterministic hasher: loom replays executions, so hashes (and so probe
/// sequences) must not change between them.
type Map = AtomicPtrMap<Key, Val, BuildHasherDefault<DefaultHasher>>;

/// A voluntary switch point of a model's reader: called right after it pins
/// (and between the steps of a traversal), it lets the other thread run
/// inside the reader's critical section.
///
/// Without it loom misses most such interleavings: crossbeam-epoch's
/// collector (run by the writer's first pin and by every flush) loads each
/// participant's epoch, and loom's partial-order reduction takes the writer's
/// load of the reader's *unpin* store as ordering the reader's whole critical
/// section before the writer, so it never schedules the writer inside it. (A
/// `Relaxed` value load in `get` went unreported without this.) A yield does
/// not count against `LOOM_MAX_PREEMPTIONS`, and from there loom explores the
/// preemptions of both threads as usual.
fn pause() {
    loom::thread::yield_now();
}

/// Keys the first overlay of [`small_map`] takes: the smallest table, 8
/// slots, at the engine's highest load factor, 7/8.
const FILL: usize = 7;

/// One partition, merge threshold 1: an overlay takes [`FILL`] keys, and the
/// insert that fills it seals it and merges it, at once or (`incremental`)
/// over the next inserts of new keys.
fn small_map(incremental: bool) -> Map {
    AtomicPtrMap::builder()
        .partitions(1)
        .merge_threshold(1)
        .incremental_merge(incremental)
        .hasher(BuildHasherDefault::<DefaultHasher>::default())
        .build()
        .expect("a valid configuration")
}

/// Runs `model` under loom, printing the time and the number of executions,
/// and checks each execution's drop counts once it is over: loom tears down
/// an execution's global collector (crossbeam-epoch's, per execution under
/// loom) after the model returns, and that runs the deferred destructors
/// still queued; so the counts of an execution are checked at the start of
/// the next one, and the last one's after the exploration. (Collecting the
/// garbage inside the model instead does not work: loom lets Relaxed loads of
/// the global epoch read stale values, so a collection loop need not end.)
fn run(name: &str, model: impl Fn(&Arc<Ledger>) + Sync + Send + 'static) {
    let execs = Arc::new(AtomicUsize::new(0));
    let last: Arc<Mutex<Option<Arc<Ledger>>>> = Arc::default();
    let (counter, previous) = (Arc::clone(&execs), Arc::clone(&last));
    let mut builder = loom::model::Builder::new();
    // The engine's paths are long (a merge probes every slot): raise loom's
    // default limit of 1000 branches per execution (LOOM_MAX_BRANCHES wins).
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = 100_000;
    }
    let bound = builder.preemption_bound;
    let t = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        let ledger = Ledger::new();
        if let Some(done) = previous.lock().unwrap().replace(Arc::clone(&ledger)) {
            done.check();
        }
        model(&ledger);
    });
    let done = last.lock().unwrap().take().expect("at least one execution");
    done.check();
    println!(
        "loom model {name}: {} executions in {:.1?} (preemption bound {bound:?})",
        execs.load(Relaxed),
        t.elapsed()
    );
}

/// (a) A reader gets while a writer inserts a new key whose insert seals the
/// overlay, merges it, publishes the new snapshot and retires the old layer
/// set and tables. The reader sees the new key absent or complete, and the
/// old keys present throughout.
#[test]
fn get_during_insert_merge_publish() {
    run("get_during_insert_merge_publish", |ledger| {
        let map = Arc::new(small_map(false));
        // FILL - 1 keys in the overlay: the next one fills it.
        const LAST: usize = FILL - 1;
        for id in 0..LAST {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        assert_eq!(map.stats().merges, 0);
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            let p = m.pin();
            p.insert(Key::new(&l, LAST), Val::new(&l, LAST));
        });
        {
            let (k0, k_last) = (Key::new(ledger, 0), Key::new(ledger, LAST));
            let pinned = map.pin();
            pause();
            if let Some(v) = pinned.get(&k_last) {
                assert_eq!(v.read(), LAST);
            }
            let v = pinned.get(&k0).expect("key 0 is present throughout");
            assert_eq!(v.read(), 0);
        }
        writer.join().unwrap();
        // The insert did seal and merge (else the model tests nothing).
        let s = map.stats();
        assert_eq!((s.merges, s.snapshot_entries, s.len), (1, FILL, FILL));
    });
}

/// (b) An overwrite races a get of the same key; the writer then flushes its
/// garbage twice so the old value may be reclaimed during the model. The
/// reader sees the old or the new value, complete, for as long as it is
/// pinned.
#[test]
fn overwrite_vs_get() {
    run("overwrite_vs_get", |ledger| {
        let map = Arc::new(small_map(false));
        map.insert(Key::new(ledger, 0), Val::new(ledger, 0));
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            {
                let p = m.pin();
                let old = p.insert(Key::new(&l, 0), Val::new(&l, 1));
                assert_eq!(old.map(Val::read), Some(0), "an overwrite");
            }
            crossbeam_epoch::pin().flush();
            crossbeam_epoch::pin().flush();
        });
        {
            let k0 = Key::new(ledger, 0);
            let pinned = map.pin();
            pause();
            let v = pinned.get(&k0).expect("key 0 is present throughout");
            assert!(matches!(v.read(), 0 | 1));
            // Still readable after the writer may have retired it.
            loom::thread::yield_now();
            assert!(matches!(v.read(), 0 | 1));
        }
        writer.join().unwrap();
        let v = map.pin().get(&Key::new(ledger, 0)).map(Val::read);
        assert_eq!(v, Some(1));
    });
}

/// (c) Remove and re-insert a key of the snapshot while a merge (`shrink_to_fit`)
/// expunges tombstones: the writer's CAS null -> value and the merge's CAS
/// null -> EXPUNGED race on the entry, exactly one wins, and either way the
/// key ends present once, with the new value; every key and value is
/// dropped exactly once. (Three keys: the removal leaves one tombstone in
/// three entries, too few for it to assist a merge itself, which model (i)
/// covers.)
#[test]
fn reinsert_vs_expunge() {
    run("reinsert_vs_expunge", |ledger| {
        let map = Arc::new(small_map(false));
        for id in 0..3 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        map.shrink_to_fit();
        let m = Arc::clone(&map);
        let merger = loom::thread::spawn(move || m.shrink_to_fit());
        {
            let p = map.pin();
            let old = p.remove(&Key::new(ledger, 0)).map(Val::read);
            assert_eq!(old, Some(0));
            let old = p.insert(Key::new(ledger, 0), Val::new(ledger, 2));
            assert!(old.is_none(), "re-inserted");
        }
        merger.join().unwrap();
        let pinned = map.pin();
        let mut pairs: Vec<usize> = pinned.iter().map(|(k, v)| k.id() * 10 + v.read()).collect();
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            [2, 11, 22],
            "key 0 -> value 2 once, keys 1, 2 -> 1, 2"
        );
        drop(pinned);
        assert_eq!(map.len(), 3);
    });
}

/// (d) Iterate while another thread deletes a key, merges (expunging it, and
/// retiring the tables the iteration walks) and inserts it again. Keys
/// present throughout are yielded exactly once, the churned key at most once.
#[test]
fn iterate_during_delete_merge_reinsert() {
    run("iterate_during_delete_merge_reinsert", |ledger| {
        let map = Arc::new(small_map(false));
        for id in 0..3 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        map.shrink_to_fit();
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            assert!(m.remove(&Key::new(&l, 1)));
            m.shrink_to_fit();
            let p = m.pin();
            assert!(p.insert(Key::new(&l, 1), Val::new(&l, 3)).is_none());
        });
        {
            let pinned = map.pin();
            pause();
            let mut seen = [0usize; 3];
            for (k, v) in pinned.iter() {
                let pair = (k.id(), v.read());
                assert!(
                    matches!(pair, (0, 0) | (1, 1) | (1, 3) | (2, 2)),
                    "{pair:?}"
                );
                seen[k.id()] += 1;
                // Let the writer run between two steps of the traversal.
                pause();
            }
            assert_eq!((seen[0], seen[2]), (1, 1), "present throughout: once");
            assert!(seen[1] <= 1, "key 1 yielded {} times", seen[1]);
        }
        writer.join().unwrap();
    });
}

/// The scenario of models (e) and (h), traversed by `traverse`, which calls
/// the visitor it is given on every key it yields (the visitor pauses, to let
/// the writer run between two steps of the traversal). Keys 1..=4 go into
/// the overlay (room for [`FILL`]), and lookups that hit them seal it (a
/// read-assisted merge, see model (f)): an incremental merge starts, still
/// in progress when the traversal begins (asserted). The writer deletes
/// key 1, then inserts a new key, 5, whose insert finishes the merge
/// (expunging key 1's entry) and publishes a layer set with the same active
/// overlay, which key 1 then enters again. Keys present throughout are
/// yielded once, keys 1 and 5 at most once. (Four keys, not an overlay
/// filled: a traversal that made its chunk plan again after the writer
/// would cut the partition in 8 chunks, not the 4 of its start.)
fn traverse_during_incremental_merge(
    ledger: &Arc<Ledger>,
    traverse: impl FnOnce(&Map, &mut dyn FnMut(&Key, &Val)),
) {
    let map = Arc::new(small_map(true));
    for id in 1..=4 {
        map.insert(Key::new(ledger, id), Val::new(ledger, id));
    }
    // One overlay hit in 8 is counted, and one counted hit seals an overlay
    // of up to 8 keys.
    let k2 = Key::new(ledger, 2);
    for _ in 0..8 {
        assert!(map.pin().get(&k2).is_some());
    }
    drop(k2);
    assert_eq!((map.stats().merges, map.stats().merges_in_progress), (0, 1));
    let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
    let writer = loom::thread::spawn(move || {
        assert!(m.remove(&Key::new(&l, 1)));
        let p = m.pin();
        assert!(p.insert(Key::new(&l, 5), Val::new(&l, 5)).is_none());
        assert!(p.insert(Key::new(&l, 1), Val::new(&l, 6)).is_none());
    });
    let mut seen = [0usize; 6];
    traverse(&map, &mut |k, v| {
        let pair = (k.id(), v.read());
        assert!(pair.0 == pair.1 || pair == (1, 6), "{pair:?}");
        seen[k.id()] += 1;
        pause();
    });
    assert_eq!(seen[2..5], [1; 3], "present throughout: once");
    assert!(seen[1] <= 1, "key 1 yielded {} times", seen[1]);
    assert!(seen[5] <= 1, "key 5 yielded {} times", seen[5]);
    writer.join().unwrap();
    // The writer's insert finished the merge (else the model tests less).
    assert_eq!((map.stats().merges, map.stats().merges_in_progress), (1, 0));
}

/// (e) The same during an incremental merge, where the deleted key's entry is
/// expunged and the key inserted again *within one layer set*: the sealed
/// overlay's entry dies and a new entry appears in the active overlay, which
/// the layer set the traversal walks holds too. Walking the active overlay
/// before the sealed one (invariant 5 of the engine) is what yields the key
/// at most once. The traversal starts before the reader's first pause, so
/// the schedule in which the writer runs after the traversal's first step is
/// explored without any preemption.
#[test]
fn iterate_during_incremental_merge() {
    run("iterate_during_incremental_merge", |ledger| {
        traverse_during_incremental_merge(ledger, |map, visit| {
            for (k, v) in map.pin().iter() {
                visit(k, v);
            }
        });
    });
}

/// (h) Model (e) for `for_each`, which visits a partition a chunk of keys at
/// a time, each chunk under a pin of its own (one key per chunk under loom:
/// four chunks here). Within a chunk it visits the layer set's tables newest
/// first, as the iterator does; between two chunks the writer may merge and
/// publish new layer sets, which the next chunk then walks.
#[test]
fn for_each_in_chunks_during_incremental_merge() {
    run("for_each_in_chunks_during_incremental_merge", |ledger| {
        traverse_during_incremental_merge(ledger, |map, visit| map.for_each(visit));
    });
}

/// (f) A lookup that hits the overlay assists the merge: the reader's `get`
/// is the eighth overlay hit of its thread, so it is counted, tries the
/// partition mutex and, if it gets it, seals the overlay and runs a merge
/// step (publishing a layer set and retiring the old one) while the writer
/// inserts a new key, which takes the mutex and runs its share of the merge.
/// Keys present throughout stay visible, the new key is absent or complete.
#[test]
fn get_assists_merge_vs_insert() {
    let assisted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&assisted);
    run("get_assists_merge_vs_insert", move |ledger| {
        let map = Arc::new(small_map(true));
        for id in [0, 2] {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        // Lookups count overlay hits one in eight per thread: seven hits
        // now, so that the reader's next one below is counted.
        let k0 = Key::new(ledger, 0);
        for _ in 0..7 {
            assert!(map.pin().get(&k0).is_some());
        }
        assert_eq!(map.stats().merges_in_progress, 0, "no assist yet");
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            let p = m.pin();
            assert!(p.insert(Key::new(&l, 3), Val::new(&l, 3)).is_none());
        });
        {
            let (k2, k3) = (Key::new(ledger, 2), Key::new(ledger, 3));
            let pinned = map.pin();
            pause();
            let v = pinned.get(&k2).expect("key 2 is present throughout");
            assert_eq!(v.read(), 2);
            let v = pinned.get(&k0).expect("key 0 is present throughout");
            assert_eq!(v.read(), 0);
            if let Some(v) = pinned.get(&k3) {
                assert_eq!(v.read(), 3);
            }
            assert_eq!(pinned.get(&k2).map(Val::read), Some(2));
        }
        writer.join().unwrap();
        let s = map.stats();
        assert_eq!(s.len, 3);
        if s.merges + s.merges_in_progress > 0 {
            // Only lookups seal here (three keys do not fill the overlay).
            count.fetch_add(1, Relaxed);
        }
    });
    let assisted = assisted.load(Relaxed);
    println!("  (in {assisted} executions a lookup assisted the merge)");
    assert!(assisted > 0, "no execution had a lookup assist the merge");
}

/// (g) Two threads insert the same new key at once. Each searches without
/// the mutex, finds nothing, and takes the mutex; the second must find the
/// entry the first created (it skips its search under the mutex only if the
/// layer set and the overlay's length are unchanged since its lock-free
/// search, and the length is published with Release after the slot). Exactly
/// one insert creates the entry, the other overwrites it; the key has one
/// entry, and every value is dropped once.
#[test]
fn racing_inserts_of_a_new_key() {
    run("racing_inserts_of_a_new_key", |ledger| {
        let map = Arc::new(small_map(true));
        map.insert(Key::new(ledger, 0), Val::new(ledger, 0));
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let other = loom::thread::spawn(move || {
            let p = m.pin();
            p.insert(Key::new(&l, 1), Val::new(&l, 1)).map(Val::read)
        });
        let mine = {
            let p = map.pin();
            pause();
            p.insert(Key::new(ledger, 1), Val::new(ledger, 2))
                .map(Val::read)
        };
        let theirs = other.join().unwrap();
        // One created the entry, the other replaced the first one's value.
        assert!(
            matches!((mine, theirs), (None, Some(2)) | (Some(1), None)),
            "{mine:?} {theirs:?}"
        );
        let pinned = map.pin();
        let ones = pinned.iter().filter(|(k, _)| k.id() == 1).count();
        assert_eq!(ones, 1, "key 1 has one entry");
        let v = pinned.get(&Key::new(ledger, 1)).map(Val::read);
        assert_eq!(v, Some(if mine.is_none() { 1 } else { 2 }));
        drop(pinned);
        assert_eq!(map.len(), 2);
    });
}

/// (i) A removal assists the merge: after it, every entry of the partition
/// but one is a tombstone (one of two, at merge threshold 1), so the remover
/// tries the partition mutex and, with it, seals the overlay and runs the
/// merge, which expunges the tombstone, publishes a new layer set and
/// retires the old one and the expunged entry (its key). Meanwhile a reader
/// looks both keys up: the removed key's value, if it got it, stays readable
/// while it is pinned, and the key present throughout stays visible.
#[test]
fn remove_assists_merge_vs_get() {
    run("remove_assists_merge_vs_get", |ledger| {
        let map = Arc::new(small_map(true));
        for id in 0..2 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        map.shrink_to_fit();
        assert_eq!(map.stats().merges, 1);
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            assert!(m.remove(&Key::new(&l, 0)));
            crossbeam_epoch::pin().flush();
            crossbeam_epoch::pin().flush();
        });
        {
            let (k0, k1) = (Key::new(ledger, 0), Key::new(ledger, 1));
            let pinned = map.pin();
            pause();
            if let Some(v) = pinned.get(&k0) {
                assert_eq!(v.read(), 0);
                // Still readable after the writer may have retired it.
                pause();
                assert_eq!(v.read(), 0);
            }
            assert_eq!(pinned.get(&k1).map(Val::read), Some(1));
        }
        writer.join().unwrap();
        // The removal sealed and finished a merge that dropped the
        // tombstone (the reader never takes the mutex: its keys are in the
        // snapshot), else the model tests nothing.
        let s = map.stats();
        let held = s.snapshot_entries + s.overlay_entries;
        assert_eq!((s.merges, s.merges_in_progress, held, s.len), (2, 0, 1, 1));
    });
}

/// (j) A lock-free insert of a new key races the insert that seals the
/// overlay: FILL - 1 keys leave the active overlay room for one more, then
/// two threads insert one new key each. One takes the last slot without the
/// mutex; the other finds the overlay full, takes the mutex, seals the
/// overlay (waiting for the first to store its entry) and merges it whole.
/// Every key must then be found once, with its value: a seal that did not
/// wait would let the merge pass the slot before the entry is stored, and
/// lose the key.
#[test]
fn lock_free_insert_vs_seal() {
    run("lock_free_insert_vs_seal", |ledger| {
        let map = Arc::new(small_map(false));
        for id in 0..FILL - 1 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        assert_eq!(
            map.stats().merges,
            0,
            "the setup fills the first overlay only"
        );
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let other = loom::thread::spawn(move || {
            let id = FILL - 1;
            assert!(m.insert(Key::new(&l, id), Val::new(&l, id)), "a new key");
        });
        assert!(
            map.insert(Key::new(ledger, FILL), Val::new(ledger, FILL)),
            "a new key"
        );
        other.join().unwrap();
        assert_eq!(
            map.stats().merges,
            1,
            "one of the inserts sealed and merged"
        );
        let pinned = map.pin();
        for id in 0..=FILL {
            let v = pinned.get(&Key::new(ledger, id)).map(Val::read);
            assert_eq!(v, Some(id), "key {id}");
        }
        assert_eq!(pinned.iter().count(), FILL + 1);
        drop(pinned);
        assert_eq!(map.len(), FILL + 1);
    });
}
