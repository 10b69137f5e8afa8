//! Single-thread costs of `ShardMap` against `std::collections::HashMap`
//! (same hasher: `ahash::RandomState`) and dashmap (same hasher).
//!
//! `cargo bench --bench single_thread -- --warm-up-time 1 --measurement-time 3`
//!
//! With `SINGLE_THREAD_CPU=1`, criterion measures the benchmark thread's
//! time *on a CPU* (`CLOCK_THREAD_CPUTIME_ID`) instead of wall
//! time, so that time spent preempted on a busy machine does not count.

use std::collections::HashMap;
use std::hint::black_box;

use ahash::RandomState;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
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

fn bench_get<M: Measurement>(c: &mut Criterion<M>) {
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

fn bench_insert<M: Measurement>(c: &mut Criterion<M>) {
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
fn bench_remove<M: Measurement>(c: &mut Criterion<M>) {
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

/// This thread's time on a CPU, in ns (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // that POSIX systems define.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Criterion measurement: thread CPU time in ns.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NsFormatter
    }
}

struct NsFormatter;

impl ValueFormatter for NsFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (cpu)"
    }
    fn scale_throughputs(&self, _t: f64, _th: &Throughput, _values: &mut [f64]) -> &'static str {
        "ns (cpu)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn run<M: Measurement>(mut c: Criterion<M>) {
    bench_get(&mut c);
    bench_insert(&mut c);
    bench_remove(&mut c);
    c.final_summary();
}

fn main() {
    if std::env::var_os("SINGLE_THREAD_CPU").is_some() {
        run(Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args());
    } else {
        run(Criterion::default()
            .with_measurement(WallTime)
            .configure_from_args());
    }
}
