//! Single-thread costs of `get`, `insert` and `remove`, against std
//! `HashMap` (the ceiling: no synchronisation at all) and dashmap (the
//! closest peer). `cargo bench --bench single_thread`.
//!
//! Every map uses the same ahash hasher with fixed seeds. Keys are
//! pseudo-random u64s; each measured call walks a precomputed key list, so
//! the figure is one operation on a map of `N` entries (hits spread over the
//! whole map, not one hot key). The multi-thread scenarios are in
//! `benches/crisis.rs`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

type Hasher = ahash::RandomState;

fn hasher() -> Hasher {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

/// Distinct indices give distinct keys (the test kit's splitmix64 bijection).
use epochmap_testkit::key;

/// The operations measured, as each map offers them (`&self` where the map
/// is concurrent; std's through `&mut`).
trait Bench {
    const NAME: &'static str;
    fn new() -> Self;
    fn get(&mut self, k: u64) -> Option<u64>;
    fn insert(&mut self, k: u64, v: u64) -> bool;
    fn remove(&mut self, k: u64) -> bool;
}

struct Std(HashMap<u64, u64, Hasher>);
impl Bench for Std {
    const NAME: &'static str = "std HashMap";
    fn new() -> Self {
        Std(HashMap::with_hasher(hasher()))
    }
    fn get(&mut self, k: u64) -> Option<u64> {
        self.0.get(&k).copied()
    }
    fn insert(&mut self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_some()
    }
    fn remove(&mut self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
}

struct Shard(epochmap::ShardMap<u64, u64, Hasher>);
impl Bench for Shard {
    const NAME: &'static str = "ShardMap";
    fn new() -> Self {
        Shard(epochmap::ShardMap::with_hasher(hasher()))
    }
    fn get(&mut self, k: u64) -> Option<u64> {
        self.0.get_cloned(&k)
    }
    fn insert(&mut self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_some()
    }
    fn remove(&mut self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
}

struct Atomic(epochmap::AtomicPtrMap<u64, u64, Hasher>);
impl Bench for Atomic {
    const NAME: &'static str = "AtomicPtrMap";
    fn new() -> Self {
        Atomic(epochmap::AtomicPtrMap::with_hasher(hasher()))
    }
    fn get(&mut self, k: u64) -> Option<u64> {
        self.0.get_cloned(&k)
    }
    fn insert(&mut self, k: u64, v: u64) -> bool {
        !self.0.insert(k, v)
    }
    fn remove(&mut self, k: u64) -> bool {
        self.0.remove(&k)
    }
}

struct Dash(dashmap::DashMap<u64, u64, Hasher>);
impl Bench for Dash {
    const NAME: &'static str = "dashmap";
    fn new() -> Self {
        Dash(dashmap::DashMap::with_hasher(hasher()))
    }
    fn get(&mut self, k: u64) -> Option<u64> {
        self.0.get(&k).map(|r| *r)
    }
    fn insert(&mut self, k: u64, v: u64) -> bool {
        self.0.insert(k, v).is_some()
    }
    fn remove(&mut self, k: u64) -> bool {
        self.0.remove(&k).is_some()
    }
}

/// Entries in the measured maps: well past the L2 cache of this machine.
const N: u64 = 100_000;

fn prefilled<M: Bench>() -> M {
    let mut m = M::new();
    for i in 0..N {
        m.insert(key(i), i);
    }
    m
}

/// The measured operations, each a criterion group with one line per map.
const OPS: [&str; 4] = [
    "get hit",
    "get miss",
    "insert overwrite",
    "remove + insert back",
];

/// Registers operation `op` of map `m` in group `g`.
fn op<M: Bench>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    op: &str,
    m: &mut M,
    hits: &[u64],
    misses: &[u64],
) {
    let mut i = 0usize;
    let mut next = |keys: &[u64]| {
        i = if i + 1 >= keys.len() { 0 } else { i + 1 };
        keys[i]
    };
    g.bench_function(M::NAME, |b| match op {
        "get hit" => b.iter(|| assert!(m.get(black_box(next(hits))).is_some())),
        "get miss" => b.iter(|| assert!(m.get(black_box(next(misses))).is_none())),
        "insert overwrite" => b.iter(|| assert!(m.insert(black_box(next(hits)), 1))),
        _ => b.iter(|| {
            let k = black_box(next(hits));
            assert!(m.remove(k));
            assert!(!m.insert(k, 2));
        }),
    });
}

fn all(c: &mut Criterion) {
    let hits: Vec<u64> = (0..N).map(|i| key((i * 7919) % N)).collect();
    let misses: Vec<u64> = (N..2 * N).map(key).collect();
    let mut std = prefilled::<Std>();
    let mut shard = prefilled::<Shard>();
    let mut atomic = prefilled::<Atomic>();
    let mut dash = prefilled::<Dash>();
    for name in OPS {
        let mut g = c.benchmark_group(name);
        op(&mut g, name, &mut std, &hits, &misses);
        op(&mut g, name, &mut shard, &hits, &misses);
        op(&mut g, name, &mut atomic, &hits, &misses);
        op(&mut g, name, &mut dash, &hits, &misses);
        g.finish();
    }
}

criterion_group! {
    name = single_thread;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = all
}
criterion_main!(single_thread);
