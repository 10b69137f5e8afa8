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

/// A key whose `Hash` panics when this thread's fuse burns down.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Evil(u64);

impl Hash for Evil {
    fn hash<H: Hasher>(&self, state: &mut H) {
        HASH_FUSE.with(|f| match f.get() {
            u32::MAX => {}
            0 => {
                f.set(u32::MAX);
                panic!("hash panics");
            }
            n => f.set(n - 1),
        });
        self.0.hash(state)
    }
}

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
