//! Single-thread costs of `ShardMap` against `std::collections::HashMap`
//! (same hasher: `ahash::RandomState`) and dashmap (same hasher).
//!
//! `cargo bench --bench single_thread -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;

use ahash::RandomState;
use criterion::{criterion_group, criterion_main, Criterion};
use dashmap::DashMap;
use epochmap::ShardMap;

/// Sizes: a map that fits the L2 cache and one that does not.
const SIZES: [usize; 2] = [1_000, 1_000_000];

/// Keys in a scrambled order, so lookups do not walk memory in order.
fn keys(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v: Vec<u64> = (0..n as u64).collect();
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn bench_get(c: &mut Criterion) {
    for n in SIZES {
        let ks = keys(n);
        let mask_len = ks.len();
        let mut g = c.benchmark_group(format!("get/{n}"));
        let std_map: HashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        let shard: ShardMap<u64, u64> = ks.iter().map(|&k| (k, k)).collect();
        let dash: DashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        g.bench_function("std", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == mask_len { 0 } else { i + 1 };
                black_box(std_map.get(&ks[i]).copied())
            })
        });
        g.bench_function("ShardMap::get", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == mask_len { 0 } else { i + 1 };
                black_box(shard.get(&ks[i]).map(|r| *r))
            })
        });
        g.bench_function("ShardMap::view", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == mask_len { 0 } else { i + 1 };
                black_box(shard.view(&ks[i], |v| *v))
            })
        });
        g.bench_function("dashmap", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == mask_len { 0 } else { i + 1 };
                black_box(dash.get(&ks[i]).map(|r| *r))
            })
        });
        g.finish();
    }
}

fn bench_insert(c: &mut Criterion) {
    for n in SIZES {
        let ks = keys(n);
        let len = ks.len();
        let mut g = c.benchmark_group(format!("insert_overwrite/{n}"));
        let mut std_map: HashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        let shard: ShardMap<u64, u64> = ks.iter().map(|&k| (k, k)).collect();
        let dash: DashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        g.bench_function("std", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                black_box(std_map.insert(ks[i], i as u64))
            })
        });
        g.bench_function("ShardMap", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                black_box(shard.insert(ks[i], i as u64))
            })
        });
        g.bench_function("dashmap", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                black_box(dash.insert(ks[i], i as u64))
            })
        });
        g.finish();
    }
}

/// Remove a present key and insert it back: two operations per iteration.
fn bench_remove(c: &mut Criterion) {
    for n in SIZES {
        let ks = keys(n);
        let len = ks.len();
        let mut g = c.benchmark_group(format!("remove_then_insert/{n}"));
        let mut std_map: HashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        let shard: ShardMap<u64, u64> = ks.iter().map(|&k| (k, k)).collect();
        let dash: DashMap<u64, u64, RandomState> = ks.iter().map(|&k| (k, k)).collect();
        g.bench_function("std", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                let v = std_map.remove(&ks[i]).unwrap();
                std_map.insert(ks[i], v);
            })
        });
        g.bench_function("ShardMap", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                let v = shard.remove(&ks[i]).unwrap();
                shard.insert(ks[i], v);
            })
        });
        g.bench_function("dashmap", |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == len { 0 } else { i + 1 };
                let (_, v) = dash.remove(&ks[i]).unwrap();
                dash.insert(ks[i], v);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_get, bench_insert, bench_remove);
criterion_main!(benches);
