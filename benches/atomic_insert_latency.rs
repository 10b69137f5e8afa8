//! Slowest single insert of AtomicPtrMap as the map grows: fresh keys are
//! inserted into a map prefilled with N entries, and each insert is timed.
//! Reports p50, p99, p99.9 and max for N = 100k and 1M, with incremental
//! merges (default) and one-go merges, one writer thread.
//!
//! `cargo bench --bench atomic_insert_latency`

use std::time::Instant;

use epochmap::AtomicPtrMap;

fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn run(prefill: u64, incremental: bool, measured: u64) -> Vec<u64> {
    let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
        .incremental_merge(incremental)
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
    lat.sort_unstable();
    lat
}

fn pct(v: &[u64], p: f64) -> u64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

/// The same timing loop around nothing: the machine's noise floor
/// (preemption, interrupts) that every max below also contains.
fn noise(measured: u64) -> Vec<u64> {
    let mut lat = Vec::with_capacity(measured as usize);
    for i in 0..measured {
        let t = Instant::now();
        std::hint::black_box(i);
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat.sort_unstable();
    lat
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| prefill | merge | p50 ns | p99 ns | p99.9 ns | max ns |");
    println!("|---|---|---|---|---|---|");
    let lat = noise(1_000_000);
    println!(
        "| - | (empty timed section: noise floor) | {} | {} | {} | {} |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat[lat.len() - 1]
    );
    for prefill in [100_000u64, 1_000_000] {
        for incremental in [true, false] {
            // Measure as many inserts as the prefill, so each partition's
            // overlay seals and merges several times during the window.
            let lat = run(prefill, incremental, prefill);
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                prefill,
                if incremental { "incremental" } else { "one-go" },
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                pct(&lat, 0.999),
                lat[lat.len() - 1]
            );
        }
    }
}
