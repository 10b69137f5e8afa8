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

/// This thread's time on a CPU so far, in ns (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // that POSIX systems define.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Operations per second with `threads` threads; `write_per_mille` of the
/// operations are writes (half inserts, half removes). Returns (wall-clock
/// rate, sum over threads of ops per second *on a CPU*). The second figure
/// discounts time a thread spent preempted, which matters on a shared
/// machine; it equals the first when every thread has a core to itself.
fn run(map: &dyn Map, threads: usize, write_per_mille: u64, secs: f64) -> (f64, f64) {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let per_thread: Vec<(u64, Option<f64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || {
                    let mut rng = epochmap_testkit::Rng::new(t as u64 + 1);
                    let mut ops = 0u64;
                    let cpu0 = thread_cpu_ns();
                    // Each worker also stops by itself at the deadline, so the
                    // run ends even if the main thread cannot get a CPU (for
                    // example under `chrt -f`, where same-priority workers
                    // never yield to it).
                    let deadline = Instant::now() + Duration::from_secs_f64(secs);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        for _ in 0..256 {
                            let x = rng.next_u64();
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
                    let cpu = match (cpu0, thread_cpu_ns()) {
                        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
                        _ => None,
                    };
                    (ops, cpu)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let total: u64 = per_thread.iter().map(|p| p.0).sum();
    let on_cpu = per_thread
        .iter()
        .map(|&(ops, cpu)| ops as f64 / cpu.unwrap_or(wall))
        .sum();
    (total as f64 / wall, on_cpu)
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
        println!(
            "\n{mix}: median Mops/s, wall clock | on-CPU (sum of per-thread ops per CPU-second)"
        );
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>6} | {:>8} {:>8} {:>8} {:>6}",
            "map", "1t", "2t", "4t", "2t/1t", "1t", "2t", "4t", "2t/1t"
        );
        let only = std::env::var("READ_SCALING_ONLY").unwrap_or_default();
        let mut results = Vec::new();
        for (name, map) in maps {
            let mut wall = [f64::NAN; 3];
            let mut cpu = [f64::NAN; 3];
            if only.is_empty() || name.contains(only.as_str()) {
                for (i, t) in [1, 2, 4].into_iter().enumerate() {
                    if !threads.is_empty() && !threads.contains(&t) {
                        continue;
                    }
                    let runs: Vec<(f64, f64)> =
                        (0..reps).map(|_| run(map, t, writes, secs)).collect();
                    wall[i] = median(runs.iter().map(|r| r.0).collect()) / 1e6;
                    cpu[i] = median(runs.iter().map(|r| r.1).collect()) / 1e6;
                }
            }
            println!(
                "{:<16} {:>8.2} {:>8.2} {:>8.2} {:>6.2} | {:>8.2} {:>8.2} {:>8.2} {:>6.2}",
                name,
                wall[0],
                wall[1],
                wall[2],
                wall[1] / wall[0],
                cpu[0],
                cpu[1],
                cpu[2],
                cpu[1] / cpu[0]
            );
            results.push((wall, cpu));
        }
        let (s, d) = (&results[0], &results[1]);
        println!(
            "ShardMap / dashmap, wall: 1t {:.2}x, 2t {:.2}x, 4t {:.2}x; on-CPU: 1t {:.2}x, 2t {:.2}x, 4t {:.2}x",
            s.0[0] / d.0[0],
            s.0[1] / d.0[1],
            s.0[2] / d.0[2],
            s.1[0] / d.1[0],
            s.1[1] / d.1[1],
            s.1[2] / d.1[2]
        );
    }
}
