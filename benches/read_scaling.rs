//! Read-heavy throughput at 1, 2 and 4 threads: `ShardMap` against dashmap
//! (same hasher) and `RwLock<HashMap>`. A harness-free binary: each cell runs
//! `REPS` times for `SECS` seconds; the median is reported.
//!
//! `cargo bench --bench read_scaling` (env: `READ_SCALING_SECS`,
//! `READ_SCALING_REPS`, `READ_SCALING_ONLY=<map name part>`,
//! `READ_SCALING_THREADS=1,2`)

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ahash::RandomState;
use dashmap::DashMap;
use epochmap::ShardMap;

const KEYS: u64 = 10_000;

trait Map: Sync {
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
    fn remove(&self, k: u64);
}

impl Map for ShardMap<u64, u64> {
    fn get(&self, k: u64) -> Option<u64> {
        ShardMap::get(self, &k).map(|r| *r)
    }
    fn insert(&self, k: u64, v: u64) {
        ShardMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) {
        ShardMap::remove(self, &k);
    }
}

impl Map for DashMap<u64, u64, RandomState> {
    fn get(&self, k: u64) -> Option<u64> {
        DashMap::get(self, &k).map(|r| *r)
    }
    fn insert(&self, k: u64, v: u64) {
        DashMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) {
        DashMap::remove(self, &k);
    }
}

impl Map for RwLock<HashMap<u64, u64, RandomState>> {
    fn get(&self, k: u64) -> Option<u64> {
        self.read().unwrap().get(&k).copied()
    }
    fn insert(&self, k: u64, v: u64) {
        self.write().unwrap().insert(k, v);
    }
    fn remove(&self, k: u64) {
        self.write().unwrap().remove(&k);
    }
}

/// Operations per second with `threads` threads; `write_per_mille` of the
/// operations are writes (half inserts, half removes).
fn run(map: &dyn Map, threads: usize, write_per_mille: u64, secs: f64) -> f64 {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || {
                    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
                    let mut ops = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let k = x % KEYS;
                            let w = (x >> 40) % 1000;
                            if w < write_per_mille / 2 {
                                map.insert(k, x);
                            } else if w < write_per_mille {
                                map.remove(k);
                            } else {
                                black_box(map.get(k));
                            }
                        }
                        ops += 256;
                    }
                    ops
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let secs: f64 = std::env::var("READ_SCALING_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    let reps: usize = std::env::var("READ_SCALING_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let threads: Vec<usize> = std::env::var("READ_SCALING_THREADS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let shard: ShardMap<u64, u64> = (0..KEYS).map(|k| (k, k)).collect();
    let dash: DashMap<u64, u64, RandomState> = (0..KEYS).map(|k| (k, k)).collect();
    let rw: RwLock<HashMap<u64, u64, RandomState>> =
        RwLock::new((0..KEYS).map(|k| (k, k)).collect());
    let maps: [(&str, &dyn Map); 3] = [
        ("ShardMap", &shard),
        ("dashmap", &dash),
        ("RwLock<HashMap>", &rw),
    ];
    println!(
        "read_scaling: {KEYS} u64 keys, {reps} x {secs}s per cell, median Mops/s; cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (mix, writes) in [("100% get", 0u64), ("98% get, 1% insert, 1% remove", 20)] {
        println!("\n{mix}");
        println!(
            "{:<18} {:>10} {:>10} {:>10} {:>12}",
            "map", "1 thread", "2 threads", "4 threads", "2t/1t"
        );
        let mut results = Vec::new();
        let only = std::env::var("READ_SCALING_ONLY").unwrap_or_default();
        for (name, map) in maps {
            if !only.is_empty() && !name.contains(only.as_str()) {
                results.push(vec![f64::NAN; 3]);
                continue;
            }
            let cells: Vec<f64> = [1, 2, 4]
                .iter()
                .map(|&t| {
                    if !threads.is_empty() && !threads.contains(&t) {
                        return f64::NAN;
                    }
                    median((0..reps).map(|_| run(map, t, writes, secs)).collect()) / 1e6
                })
                .collect();
            println!(
                "{:<18} {:>10.2} {:>10.2} {:>10.2} {:>12.2}",
                name,
                cells[0],
                cells[1],
                cells[2],
                cells[1] / cells[0]
            );
            results.push(cells);
        }
        println!(
            "ShardMap / dashmap: 1t {:.2}x, 2t {:.2}x, 4t {:.2}x",
            results[0][0] / results[1][0],
            results[0][1] / results[1][1],
            results[0][2] / results[1][2]
        );
    }
}
