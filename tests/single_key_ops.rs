//! ShardMap single-key operations: which lock they take (an operation that
//! finds nothing to change takes no write lock), and the length counter
//! under panicking `Hash` impls.

mod common;

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::DropCounter;
use epochmap::ShardMap;

type Fixed = ahash::RandomState;

fn fixed() -> Fixed {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

/// `len` agrees with the entries, and every entry is found by lookup.
fn assert_consistent<K: Hash + Eq + Clone + std::fmt::Debug, V, S: std::hash::BuildHasher>(
    m: &ShardMap<K, V, S>,
) {
    let keys: Vec<K> = m.keys().map(|k| k.clone()).collect();
    assert_eq!(m.len(), keys.len(), "len counter matches the tables");
    assert_eq!(m.is_empty(), keys.is_empty());
    for k in &keys {
        assert!(m.contains_key(k), "{k:?} iterated but not found");
    }
}

// ------------------------------------------------ panicking Hash, len counter

thread_local! {
    /// Hashes left before `Evil` panics (`u32::MAX`: never).
    static HASH_FUSE: Cell<u32> = const { Cell::new(u32::MAX) };
}

thread_local! {
    /// Comparisons left before `Evil` panics (`u32::MAX`: never).
    static EQ_FUSE: Cell<u32> = const { Cell::new(u32::MAX) };
}

fn burn(fuse: &'static std::thread::LocalKey<Cell<u32>>, what: &str) {
    fuse.with(|f| match f.get() {
        u32::MAX => {}
        0 => {
            f.set(u32::MAX);
            panic!("{what} panics");
        }
        n => f.set(n - 1),
    })
}

/// A key whose `Hash` and `Eq` panic when this thread's fuses burn down.
#[derive(Debug, Clone)]
struct Evil(u64);

impl Hash for Evil {
    fn hash<H: Hasher>(&self, state: &mut H) {
        burn(&HASH_FUSE, "hash");
        self.0.hash(state)
    }
}

impl PartialEq for Evil {
    fn eq(&self, other: &Self) -> bool {
        burn(&EQ_FUSE, "eq");
        self.0 == other.0
    }
}
impl Eq for Evil {}

/// Hashes every key to 0: the keys of a table then fill consecutive
/// buckets, so removing them leaves tombstones (hashbrown marks a slot
/// empty only if no run of a group's width of full slots passes it).
#[derive(Default, Clone)]
struct Collide;

impl Hasher for Collide {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _: &[u8]) {}
}

type Colliding = std::hash::BuildHasherDefault<Collide>;

/// A one-shard map holding keys `0..4` in a table of 32 buckets that was
/// filled to its capacity of 28 and then emptied but for four: its next
/// insert of a new key rehashes the table in place, and a `Hash` that
/// panics there makes hashbrown drop the entries it has not rehashed yet.
/// Returns the map and a fresh key.
fn tombstoned(c: &DropCounter) -> (ShardMap<Evil, common::Tracked, Colliding>, u64) {
    let m = ShardMap::builder()
        .shards(1)
        .hasher(Colliding::default())
        .build()
        .unwrap();
    let mut k = 0;
    while m.len() < m.capacity() || m.len() < 20 {
        m.insert(Evil(k), c.track(k));
        k += 1;
    }
    for k in 4..k {
        m.remove(&Evil(k));
    }
    assert_eq!(m.len(), 4);
    (m, k)
}

/// `Extend` (and so `FromIterator`) resyncs the shard's length counter also
/// when a `Hash` panics while the table is rehashed and hashbrown drops
/// entries: `len` stayed at the old count while iteration found fewer.
#[test]
fn extend_keeps_len_true_when_hash_panics_in_rehash() {
    let c = DropCounter::new();
    let (mut m, k) = tombstoned(&c);
    // The new key hashes fine (one call), the first rehash panics.
    HASH_FUSE.with(|f| f.set(1));
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.extend([(Evil(k), c.track(k))]);
    }));
    HASH_FUSE.with(|f| f.set(u32::MAX));
    assert!(r.is_err());
    assert_consistent(&m);
    assert_eq!(c.live() as usize, m.len(), "no leak, no double drop");
    // Still usable.
    m.extend((2_000..2_100).map(|k| (Evil(k), c.track(k))));
    m.insert(Evil(7), c.track(7));
    assert_consistent(&m);
    assert_eq!(c.live() as usize, m.len());
    drop(m);
    assert_eq!(c.live(), 0);
}

/// The `&self` paths sync the counter through the shard's write guard, also
/// on unwind.
#[test]
fn insert_keeps_len_true_when_hash_panics_in_rehash() {
    let c = DropCounter::new();
    let (m, k) = tombstoned(&c);
    HASH_FUSE.with(|f| f.set(1));
    let r = catch_unwind(AssertUnwindSafe(|| m.insert(Evil(k), c.track(k))));
    HASH_FUSE.with(|f| f.set(u32::MAX));
    assert!(r.is_err());
    assert_consistent(&m);
    assert_eq!(c.live() as usize, m.len());
    for k in 2_000..2_100 {
        m.insert(Evil(k), c.track(k));
    }
    assert_consistent(&m);
    drop(m);
    assert_eq!(c.live(), 0);
}

/// `get_or_insert_with` writes through the shard's guard, which syncs the
/// counter on unwind.
#[test]
fn get_or_insert_with_keeps_len_true_when_hash_panics_in_rehash() {
    let c = DropCounter::new();
    let (m, k) = tombstoned(&c);
    HASH_FUSE.with(|f| f.set(1));
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.get_or_insert_with(Evil(k), || c.track(k)).payload
    }));
    HASH_FUSE.with(|f| f.set(u32::MAX));
    assert!(r.is_err());
    assert_consistent(&m);
    assert_eq!(c.live() as usize, m.len());
}

/// A comparison that panics in the read-locked look or in the write-locked
/// step releases the lock and changes nothing.
#[test]
fn panicking_eq_in_look_then_lock_leaves_map_usable() {
    let c = DropCounter::new();
    let m: ShardMap<Evil, common::Tracked, Fixed> = ShardMap::builder()
        .shards(1)
        .hasher(fixed())
        .build()
        .unwrap();
    for k in 0..8 {
        m.insert(Evil(k), c.track(k));
    }
    type Op = fn(&ShardMap<Evil, common::Tracked, Fixed>, &DropCounter);
    let ops: [Op; 6] = [
        |m, _| drop(m.remove(&Evil(3))),
        |m, _| drop(m.remove_entry(&Evil(3))),
        |m, _| drop(m.remove_if(&Evil(3), |_, _| true)),
        |m, _| {
            let _ = m.update(&Evil(3), |v| v.payload += 1);
        },
        |m, _| drop(m.get_mut(&Evil(3))),
        |m, c| drop(m.get_or_insert_with(Evil(3), || c.track(3))),
    ];
    for (i, op) in ops.iter().enumerate() {
        for fuse in 0..3 {
            EQ_FUSE.with(|f| f.set(fuse));
            let _ = catch_unwind(AssertUnwindSafe(|| op(&m, &c)));
            EQ_FUSE.with(|f| f.set(u32::MAX));
            assert_consistent(&m);
            assert_eq!(c.live() as usize, m.len(), "op {i}, fuse {fuse}");
            // No lock was left behind: a write to the shard goes through.
            m.insert(Evil(3), c.track(3));
            assert_eq!(m.len(), 8);
        }
    }
    drop(m);
    assert_eq!(c.live(), 0);
}

// ------------------------------------------------------ look before locking

/// A one-shard map (every key shares the shard) holding `0 -> 10`.
fn one_shard() -> Arc<ShardMap<u64, u64, Fixed>> {
    let m = ShardMap::builder()
        .shards(1)
        .hasher(fixed())
        .build()
        .unwrap();
    m.insert(0, 10);
    Arc::new(m)
}

/// Runs `op` on another thread while this thread holds a `Ref` on key 0,
/// read-locking the map's only shard. An `op` that took the write lock
/// would wait for that `Ref` forever: the watchdog fails the test after a
/// generous 30 s instead (the `Ref` is then dropped, which frees the
/// worker).
fn beside_a_reader<R: Send + 'static>(
    m: &Arc<ShardMap<u64, u64, Fixed>>,
    op: impl FnOnce(&ShardMap<u64, u64, Fixed>) -> R + Send + 'static,
) -> R {
    let guard = m.get(&0).expect("key 0 is present");
    let (tx, rx) = mpsc::channel();
    let map = Arc::clone(m);
    let worker = std::thread::spawn(move || {
        let _ = tx.send(op(&map));
    });
    let Ok(r) = rx.recv_timeout(Duration::from_secs(30)) else {
        panic!("the operation waited for the write lock beside a reader")
    };
    assert_eq!(*guard, 10);
    drop(guard);
    worker.join().unwrap();
    r
}

#[test]
fn absent_key_removals_take_no_write_lock() {
    let m = one_shard();
    assert_eq!(beside_a_reader(&m, |m| m.remove(&1)), None);
    assert_eq!(beside_a_reader(&m, |m| m.remove_entry(&1)), None);
    let refused = beside_a_reader(&m, |m| m.remove_if(&1, |_, _| unreachable!()));
    assert_eq!(refused, Err(epochmap::NotRemoved::Absent));
    assert_eq!(m.len(), 1);
}

#[test]
fn absent_key_updates_take_no_write_lock() {
    let m = one_shard();
    let r = beside_a_reader(&m, |m| m.update(&1, |_: &mut u64| unreachable!()));
    assert_eq!(r, None::<()>);
    assert!(beside_a_reader(&m, |m| m.get_mut(&1).is_none()));
    assert_eq!(m.len(), 1);
}

/// A compare-and-swap or compare-and-delete that finds another value
/// changes nothing, so it compares under the read lock of its look and
/// takes no write lock (Go's CompareAndSwapValueNotEqual shape: every
/// thread's failing CAS used to queue on the shard's write lock).
#[test]
fn failing_compare_and_swap_takes_no_write_lock() {
    let m = one_shard();
    assert_eq!(
        beside_a_reader(&m, |m| m.compare_and_swap(&0, &11, 12)),
        Err(12)
    );
    assert!(!beside_a_reader(&m, |m| m.compare_and_delete(&0, &11)));
    // Absent keys too.
    assert_eq!(
        beside_a_reader(&m, |m| m.compare_and_swap(&1, &10, 12)),
        Err(12)
    );
    assert!(!beside_a_reader(&m, |m| m.compare_and_delete(&1, &10)));
    // A matching value still swaps and deletes.
    assert_eq!(m.compare_and_swap(&0, &10, 12), Ok(()));
    assert_eq!(m.get_cloned(&0), Some(12));
    assert!(m.compare_and_delete(&0, &12));
    assert_eq!(m.len(), 0);
}

/// A `PartialEq` that panics inside `compare_and_swap` or
/// `compare_and_delete` (it now runs under the read lock of the look)
/// leaves the map usable and unchanged.
#[test]
fn panicking_eq_in_compare_and_swap_leaves_the_map_usable() {
    #[derive(Debug, Clone)]
    struct Touchy(u64);
    impl PartialEq for Touchy {
        fn eq(&self, other: &Self) -> bool {
            if self.0 == 13 || other.0 == 13 {
                panic!("PartialEq refuses 13");
            }
            self.0 == other.0
        }
    }
    let m: ShardMap<u64, Touchy> = ShardMap::builder().shards(1).build().unwrap();
    m.insert(0, Touchy(1));
    m.insert(1, Touchy(2));
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.compare_and_swap(&0, &Touchy(13), Touchy(5))
    }));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| m.compare_and_delete(&1, &Touchy(13))));
    assert!(r.is_err());
    // Unchanged, and every operation still works (no lock left held).
    assert_eq!(m.len(), 2);
    assert_eq!(m.get_cloned(&0).map(|v| v.0), Some(1));
    assert_eq!(m.compare_and_swap(&0, &Touchy(1), Touchy(5)), Ok(()));
    assert!(m.compare_and_delete(&1, &Touchy(2)));
    assert_eq!(m.get_cloned(&0).map(|v| v.0), Some(5));
    assert_eq!(m.len(), 1);
}

#[test]
fn present_key_load_takes_no_write_lock() {
    let m = one_shard();
    let v = beside_a_reader(&m, |m| m.get_or_insert_with(0, || unreachable!()));
    assert_eq!(v, 10);
    assert_eq!(m.len(), 1);
}

#[test]
fn get_or_insert_with_loads_or_stores() {
    let m: ShardMap<u64, String> = ShardMap::new();
    assert_eq!(m.get_or_insert_with(1, || "a".into()), "a");
    assert_eq!(m.get_or_insert_with(1, || unreachable!()), "a");
    assert_eq!(m.len(), 1);
    // A panicking `f` inserts nothing and leaves the map usable.
    let r = catch_unwind(AssertUnwindSafe(|| m.get_or_insert_with(2, || panic!("f"))));
    assert!(r.is_err());
    assert_eq!(m.len(), 1);
    assert_eq!(m.get_or_insert_with(2, || "b".into()), "b");
    assert_consistent(&m);
}

/// Threads racing on one absent key: `f` runs once in all, everyone gets
/// its value. Threads racing to remove one present key: one gets it.
#[test]
fn look_then_lock_races_on_one_key() {
    const THREADS: usize = 4;
    for round in 0..if cfg!(miri) { 2 } else { 200 } {
        let m: ShardMap<u64, u64> = ShardMap::builder().shards(1).build().unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let removed = std::sync::atomic::AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (m, calls, removed, barrier) = (&m, &calls, &removed, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let v = m.get_or_insert_with(round, || {
                        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        t as u64
                    });
                    assert_eq!(m.get_cloned(&round), Some(v), "one value for all");
                    barrier.wait();
                    if m.remove(&round).is_some() {
                        removed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(calls.into_inner(), 1);
        assert_eq!(removed.into_inner(), 1);
        assert!(m.is_empty());
    }
}

/// Threads updating, removing and re-inserting keys of one shard at once:
/// a present-key write upgrades its read-locked look to the write lock, and
/// an upgrade that let another writer in between would lose an increment or
/// act on a stale bucket.
#[test]
fn present_key_writes_race_without_losing_one() {
    const THREADS: u64 = 4;
    let per_thread: u64 = if cfg!(miri) { 30 } else { 20_000 };
    let m: ShardMap<u64, u64> = ShardMap::builder().shards(1).build().unwrap();
    m.insert(0, 0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let m = &m;
            s.spawn(move || {
                let mine = 100 + t;
                for i in 0..per_thread {
                    assert!(m.update(&0, |v| *v += 1).is_some());
                    // A key of this thread comes and goes beside the hot one.
                    match i % 3 {
                        0 => assert_eq!(m.insert(mine, i), None),
                        1 => {
                            assert_eq!(m.remove_if(&mine, |_, v| *v + 1 == i), Ok((mine, i - 1)))
                        }
                        _ => {
                            assert_eq!(m.get_mut(&mine).map(|r| *r), None);
                            assert_eq!(m.remove(&mine), None);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(m.get_cloned(&0), Some(THREADS * per_thread));
    assert_eq!(m.len(), 1);
    assert_consistent(&m);
}
