//! Loom models of `AtomicPtrMap`'s engine: publish, merge and retire, with two
//! threads, on the real code (`src/atomic_map/raw.rs` and friends take their
//! atomics and mutexes from loom under `--cfg loom`, and crossbeam-epoch its
//! own under `--cfg crossbeam_loom`).
//!
//! Run (about a minute in all on 2 cores; figures in the README):
//!
//! ```text
//! RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --manifest-path loom/Cargo.toml -- --nocapture
//! ```
//!
//! Every model uses one partition, merge threshold 1 and whole (not
//! incremental) merges, so that one insert or `compact` seals the overlay,
//! merges it, publishes a new snapshot and retires the old one.
//!
//! What loom checks beyond the assertions: keys and values carry a loom
//! `UnsafeCell`, written when made, read by `Eq` (keys) and by the readers
//! (values), written again by `Drop`. So a reader that sees a key or value
//! without happening-after its publication (a missing Release/Acquire), or a
//! key or value freed while a reader may still read it (premature
//! reclamation), is a loom "causality violation". The engine's layer sets
//! carry such a cell too (`Layers::witness`, loom only). Drops are counted
//! (plain `std` atomics: loom runs all its threads on one OS thread): after
//! the threads are joined, the map dropped and the garbage collected, every
//! key and value made must have been dropped exactly once.
#![cfg(loom)]

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

/// A key: hashed by id; `Eq` reads both keys' cells, `Drop` writes the cell.
struct Key {
    id: usize,
    cell: UnsafeCell<usize>,
    ledger: Arc<Ledger>,
}

impl Key {
    fn new(ledger: &Arc<Ledger>, id: usize) -> Self {
        ledger.made[id].fetch_add(1, Relaxed);
        Key {
            id,
            cell: UnsafeCell::new(id),
            ledger: Arc::clone(ledger),
        }
    }

    fn read(&self) -> usize {
        // SAFETY: the cell is written only at creation and by `Drop` (which
        // has `&mut self`); loom checks that this read does not race them.
        self.cell.with(|p| unsafe { *p })
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.id.hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.read(), other.read());
        assert_eq!((a, b), (self.id, other.id), "a key's memory changed");
        a == b
    }
}
impl Eq for Key {}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: `&mut self`; loom checks that no reader races this write.
        self.cell.with_mut(|p| unsafe { *p = usize::MAX });
        self.ledger.dropped[self.id].fetch_add(1, Relaxed);
    }
}

// SAFETY: the cell is written only through `&mut self` (creation, `Drop`);
// shared references only read it.
unsafe impl Sync for Key {}

/// A value: readers read its cell (which must hold `id`), `Drop` writes it.
struct Val {
    id: usize,
    cell: UnsafeCell<usize>,
    ledger: Arc<Ledger>,
}

impl Val {
    fn new(ledger: &Arc<Ledger>, id: usize) -> Self {
        ledger.made[IDS + id].fetch_add(1, Relaxed);
        Val {
            id,
            cell: UnsafeCell::new(id),
            ledger: Arc::clone(ledger),
        }
    }

    /// The value's id, read through its cell.
    fn read(&self) -> usize {
        // SAFETY: as `Key::read`.
        let v = self.cell.with(|p| unsafe { *p });
        assert_eq!(v, self.id, "a value's memory changed (freed?)");
        v
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        // SAFETY: as `Key::drop`.
        self.cell.with_mut(|p| unsafe { *p = usize::MAX });
        self.ledger.dropped[IDS + self.id].fetch_add(1, Relaxed);
    }
}

// SAFETY: as for `Key`.
unsafe impl Sync for Val {}

/// A deterministic hasher: loom replays executions, so hashes (and so probe
/// sequences) must not change between them.
type Map = AtomicPtrMap<Key, Val, BuildHasherDefault<DefaultHasher>>;

/// One partition, merge threshold 1, whole merges: an overlay takes 4 keys
/// (the smallest table, 8 slots, half full), and the insert that fills it
/// seals it and merges it at once.
fn small_map() -> Map {
    AtomicPtrMap::builder()
        .partitions(1)
        .merge_threshold(1)
        .incremental_merge(false)
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
        let map = Arc::new(small_map());
        // Three keys in the overlay: the fourth fills it.
        for id in 0..3 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        assert_eq!(map.stats().merges, 0);
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            m.insert(Key::new(&l, 3), Val::new(&l, 3));
        });
        {
            let (k0, k3) = (Key::new(ledger, 0), Key::new(ledger, 3));
            let pinned = map.pin();
            if let Some(v) = pinned.get(&k3) {
                assert_eq!(v.read(), 3);
            }
            let v = pinned.get(&k0).expect("key 0 is present throughout");
            assert_eq!(v.read(), 0);
        }
        writer.join().unwrap();
        // The insert did seal and merge (else the model tests nothing).
        let s = map.stats();
        assert_eq!((s.merges, s.snapshot_entries, s.len), (1, 4, 4));
    });
}

/// (b) An overwrite races a get of the same key; the writer then flushes its
/// garbage twice so the old value may be reclaimed during the model. The
/// reader sees the old or the new value, complete, for as long as it is
/// pinned.
#[test]
fn overwrite_vs_get() {
    run("overwrite_vs_get", |ledger| {
        let map = Arc::new(small_map());
        map.insert(Key::new(ledger, 0), Val::new(ledger, 0));
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            assert!(m.insert(Key::new(&l, 0), Val::new(&l, 1)), "an overwrite");
            crossbeam_epoch::pin().flush();
            crossbeam_epoch::pin().flush();
        });
        {
            let k0 = Key::new(ledger, 0);
            let pinned = map.pin();
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

/// (c) Remove and re-insert a key of the snapshot while a merge (`compact`)
/// expunges tombstones: the writer's CAS null -> value and the merge's CAS
/// null -> EXPUNGED race on the entry, exactly one wins, and either way the
/// key ends present once, with the new value; every key and value is
/// dropped exactly once.
#[test]
fn reinsert_vs_expunge() {
    run("reinsert_vs_expunge", |ledger| {
        let map = Arc::new(small_map());
        map.insert(Key::new(ledger, 0), Val::new(ledger, 0));
        map.insert(Key::new(ledger, 1), Val::new(ledger, 1));
        map.compact();
        let m = Arc::clone(&map);
        let merger = loom::thread::spawn(move || m.compact());
        assert!(map.remove(&Key::new(ledger, 0)));
        assert!(
            !map.insert(Key::new(ledger, 0), Val::new(ledger, 2)),
            "re-inserted"
        );
        merger.join().unwrap();
        let pinned = map.pin();
        let keys: Vec<usize> = pinned.iter().map(|(k, v)| k.id * 10 + v.read()).collect();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, [2, 11], "key 0 -> value 2 once, key 1 -> value 1");
        drop(pinned);
        assert_eq!(map.len(), 2);
    });
}

/// (d) Iterate while another thread deletes a key, merges (expunging it),
/// and inserts it again (a new entry, in the overlay). Keys present
/// throughout are yielded exactly once, the churned key at most once.
#[test]
fn iterate_during_delete_merge_reinsert() {
    run("iterate_during_delete_merge_reinsert", |ledger| {
        let map = Arc::new(small_map());
        for id in 0..3 {
            map.insert(Key::new(ledger, id), Val::new(ledger, id));
        }
        map.compact();
        let (m, l) = (Arc::clone(&map), Arc::clone(ledger));
        let writer = loom::thread::spawn(move || {
            assert!(m.remove(&Key::new(&l, 1)));
            m.compact();
            assert!(!m.insert(Key::new(&l, 1), Val::new(&l, 3)));
        });
        {
            let pinned = map.pin();
            let mut seen = [0usize; 3];
            for (k, v) in pinned.iter() {
                assert!(matches!(
                    (k.id, v.read()),
                    (0, 0) | (1, 1) | (1, 3) | (2, 2)
                ));
                seen[k.id] += 1;
            }
            assert_eq!((seen[0], seen[2]), (1, 1), "present throughout: once");
            assert!(seen[1] <= 1, "key 1 yielded {} times", seen[1]);
        }
        writer.join().unwrap();
    });
}
