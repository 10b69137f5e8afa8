//! Slowest single insert of AtomicPtrMap as the map grows: fresh keys are
//! inserted into a map prefilled with N entries, and each insert is timed.
//! Reports p50, p99, p99.9 and max for N = 100k and 1M, with incremental
//! merges (default) and one-go merges, one writer thread.
//!
//! On a shared machine the raw maximum is the longest preemption, not the
//! map's work (the "noise floor" row shows it for an empty timed section).
//! So the same deterministic insert sequence runs `REPS` times on fresh
//! maps, and each insert's latency is the minimum over the runs: a
//! preemption rarely hits the same insert in every run, while work that an
//! insert really does (a merge) shows up in every run.
//!
//! What grows with the map's size is the allocator's work on the large
//! arrays of snapshots and overlays (glibc maps them with `mmap` and unmaps
//! them when freed, so every new array is faulted in page by page and every
//! freed one is unmapped, in whichever insert hits it). To show that, the
//! incremental rows are measured a second time in a child process of the
//! same binary whose glibc allocator keeps such arrays on its heap and does
//! not trim it (`GLIBC_TUNABLES`, set for the child only): freed arrays are
//! reused as they are, as a caching allocator would.
//!
//! `cargo bench --bench atomic_insert_latency`

use std::time::Instant;

use epochmap::AtomicPtrMap;

const REPS: usize = 3;

fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Latency of each measured insert, in insert order.
fn run(prefill: u64, incremental: bool, measured: u64) -> Vec<u64> {
    let map: AtomicPtrMap<u64, u64, ahash::RandomState> = AtomicPtrMap::builder()
        .partitions(8)
        .incremental_merge(incremental)
        // Fixed seeds: every run seals and merges at the same inserts.
        .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
        .build()
        .unwrap();
    for i in 0..prefill {
        map.insert(key(i), i);
    }
    let mut lat = Vec::with_capacity(measured as usize);
    for i in prefill..prefill + measured {
        let t = Instant::now();
        map.insert(key(i), i);
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat
}

/// The same timing loop around nothing.
fn noise(measured: u64) -> Vec<u64> {
    let mut lat = Vec::with_capacity(measured as usize);
    for i in 0..measured {
        let t = Instant::now();
        std::hint::black_box(i);
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat
}

/// Per-index minimum over repetitions, sorted.
fn min_of(mut f: impl FnMut() -> Vec<u64>) -> (Vec<u64>, u64) {
    let mut best = f();
    let mut raw_max = *best.iter().max().unwrap();
    for _ in 1..REPS {
        let next = f();
        raw_max = raw_max.max(*next.iter().max().unwrap());
        for (b, n) in best.iter_mut().zip(next) {
            *b = (*b).min(n);
        }
    }
    best.sort_unstable();
    (best, raw_max)
}

fn pct(v: &[u64], p: f64) -> u64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn row(label: &str, v: &[u64], raw_max: u64) {
    println!(
        "| {label} | {} | {} | {} | {} | {} |",
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 0.999),
        v[v.len() - 1],
        raw_max
    );
}

/// The environment of the child run: glibc's allocator serves arrays of up
/// to 32 MiB from its heap (no `mmap`/`munmap`) and never trims the heap.
const TUNED: &str = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824";

/// Marks the child process (it measures the incremental rows only).
const CHILD_ARG: &str = "--allocator-tuned-child";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::args().any(|a| a == CHILD_ARG) {
        for prefill in [100_000u64, 1_000_000] {
            let (v, m) = min_of(|| run(prefill, true, prefill / 2));
            row(
                &format!("prefill {prefill}, incremental merge, allocator keeps arrays"),
                &v,
                m,
            );
        }
        return;
    }
    println!("| run (8 partitions) | p50 ns | p99 ns | p99.9 ns | max ns (min of {REPS} runs) | raw max ns |");
    println!("|---|---|---|---|---|---|");
    let (v, m) = min_of(|| noise(1_000_000));
    row("noise floor (empty timed section)", &v, m);
    for prefill in [100_000u64, 1_000_000] {
        for incremental in [true, false] {
            // Measure prefill/2 inserts: an overlay takes snapshot/4 new
            // keys, so each partition's overlay seals and merges about twice
            // during the window.
            let (v, m) = min_of(|| run(prefill, incremental, prefill / 2));
            let mode = if incremental { "incremental" } else { "one-go" };
            row(&format!("prefill {prefill}, {mode} merge"), &v, m);
        }
    }
    // The same binary with the allocator tuned (its rows print themselves).
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg(CHILD_ARG)
            .env("GLIBC_TUNABLES", TUNED)
            .status()
    });
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("the run with the tuned allocator failed: {status:?}");
    }
}
