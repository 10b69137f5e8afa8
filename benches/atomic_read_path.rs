//! Read-path costs of AtomicPtrMap side by side with the ceiling (an
//! immutable hashbrown table) and the peers, in one run: 100k u64 keys,
//! lookups spread over the whole key set in a random order (so the figure is
//! a lookup in a map well past the L2 cache, not a hot batch), at 1 and 2
//! threads. Each figure is the median of 7 rounds of ns per lookup per
//! thread. Plain timing loop, no criterion: a full run takes ~15 s.
//!
//! `cargo bench --bench atomic_read_path` (optional argument: a filter on the
//! row names, e.g. `-- atomic`).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

type Hasher = ahash::RandomState;

fn hasher() -> Hasher {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

/// Distinct indices give distinct keys (the test kit's splitmix64 bijection).
use epochmap_testkit::key;

const N: u64 = 100_000;
/// Lookups per thread per round.
const OPS: usize = 1 << 20;
const ROUNDS: usize = 7;

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median ns per lookup per thread of `f(thread, keys)` on `threads` threads.
fn measure(threads: usize, keys: &[u64], f: &(impl Fn(&[u64]) -> u64 + Sync)) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let barrier = Barrier::new(threads);
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            // Each thread starts at its own offset.
                            let off = t * keys.len() / threads.max(1);
                            let mut ks: Vec<u64> = keys[off..].to_vec();
                            ks.extend_from_slice(&keys[..off]);
                            barrier.wait();
                            let start = Instant::now();
                            let cpu0 = cpu_ns();
                            let mut done = 0;
                            let mut sum = 0u64;
                            while done < OPS {
                                sum = sum.wrapping_add(f(&ks));
                                done += ks.len();
                            }
                            black_box(sum);
                            let ns = match (cpu0, cpu_ns()) {
                                (Some(a), Some(b)) => (b - a) as f64,
                                _ => start.elapsed().as_nanos() as f64,
                            };
                            ns / done as f64
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap())
                    .fold(0.0, f64::max)
            })
        })
        .collect();
    rounds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rounds[ROUNDS / 2]
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // Every key once, in a pseudo-random order.
    let hits: Vec<u64> = (0..N).map(|i| key((i * 7919) % N)).collect();
    let misses: Vec<u64> = (N..2 * N).map(key).collect();

    let hb = {
        let s = hasher();
        let mut t = hashbrown::HashTable::<(u64, u64)>::with_capacity(N as usize);
        for i in 0..N {
            let k = key(i);
            t.insert_unique(s.hash_one(k), (k, i), |(k, _)| s.hash_one(k));
        }
        (s, t)
    };
    let atomic = epochmap::AtomicPtrMap::<u64, u64, Hasher>::with_hasher(hasher());
    for i in 0..N {
        atomic.insert(key(i), i);
    }
    let compacted = epochmap::AtomicPtrMap::<u64, u64, Hasher>::with_hasher(hasher());
    for i in 0..N {
        compacted.insert(key(i), i);
    }
    compacted.shrink_to_fit();
    let papaya = papaya::HashMap::<u64, u64, Hasher>::with_hasher(hasher());
    for i in 0..N {
        papaya.pin().insert(key(i), i);
    }
    let scc = scc::HashIndex::<u64, u64, Hasher>::with_hasher(hasher());
    for i in 0..N {
        let _ = scc.insert_sync(key(i), i);
    }
    let dash = dashmap::DashMap::<u64, u64, Hasher>::with_hasher(hasher());
    for i in 0..N {
        dash.insert(key(i), i);
    }

    println!(
        "{} lookups/thread/round, median of {ROUNDS} rounds, ns per lookup per thread; {} cpus",
        OPS,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<44} {:>9} {:>9}", "row", "1 thread", "2 threads");
    let row = |name: &str, f: &(dyn Fn(&[u64]) -> u64 + Sync)| {
        if filter.as_ref().is_some_and(|p| !name.contains(p.as_str())) {
            return;
        }
        let a = measure(1, &hits, &f);
        let b = measure(2, &hits, &f);
        println!("{name:<44} {a:>9.1} {b:>9.1}");
    };
    let row_miss = |name: &str, f: &(dyn Fn(&[u64]) -> u64 + Sync)| {
        if filter.as_ref().is_some_and(|p| !name.contains(p.as_str())) {
            return;
        }
        let a = measure(1, &misses, &f);
        let b = measure(2, &misses, &f);
        println!("{name:<44} {a:>9.1} {b:>9.1}");
    };

    row("hit  hashbrown HashTable (immutable ceiling)", &|ks| {
        let (s, t) = &hb;
        ks.iter()
            .map(|&k| t.find(s.hash_one(k), |e| e.0 == k).unwrap().1)
            .fold(0, u64::wrapping_add)
    });
    row("hit  atomic pinned (pin per 1k lookups)", &|ks| {
        let mut sum = 0u64;
        for c in ks.chunks(1024) {
            let p = atomic.pin();
            for k in c {
                sum = sum.wrapping_add(*p.get(k).unwrap());
            }
        }
        sum
    });
    row("hit  atomic get_cloned (per call)", &|ks| {
        ks.iter()
            .map(|k| atomic.get_cloned(k).unwrap())
            .fold(0, u64::wrapping_add)
    });
    row("hit  atomic get_cloned, after compact()", &|ks| {
        ks.iter()
            .map(|k| compacted.get_cloned(k).unwrap())
            .fold(0, u64::wrapping_add)
    });
    row("hit  papaya pinned (pin per 1k lookups)", &|ks| {
        let mut sum = 0u64;
        for c in ks.chunks(1024) {
            let p = papaya.pin();
            for k in c {
                sum = sum.wrapping_add(*p.get(k).unwrap());
            }
        }
        sum
    });
    row("hit  papaya pin().get (per call)", &|ks| {
        ks.iter()
            .map(|k| *papaya.pin().get(k).unwrap())
            .fold(0, u64::wrapping_add)
    });
    row("hit  scc HashIndex peek (guard per 1k)", &|ks| {
        let mut sum = 0u64;
        for c in ks.chunks(1024) {
            let g = scc::Guard::new();
            for k in c {
                sum = sum.wrapping_add(*scc.peek(k, &g).unwrap());
            }
        }
        sum
    });
    row("hit  scc HashIndex peek_with (per call)", &|ks| {
        ks.iter()
            .map(|k| scc.peek_with(k, |_, v| *v).unwrap())
            .fold(0, u64::wrapping_add)
    });
    row("hit  dashmap get (per call)", &|ks| {
        ks.iter()
            .map(|k| *dash.get(k).unwrap())
            .fold(0, u64::wrapping_add)
    });
    row_miss("miss atomic get_cloned (per call)", &|ks| {
        ks.iter()
            .map(|k| atomic.get_cloned(k).unwrap_or(1))
            .fold(0, u64::wrapping_add)
    });
    row_miss("miss papaya pin().get (per call)", &|ks| {
        ks.iter()
            .map(|k| *papaya.pin().get(k).unwrap_or(&1))
            .fold(0, u64::wrapping_add)
    });
    row_miss("miss scc HashIndex peek_with (per call)", &|ks| {
        ks.iter()
            .map(|k| scc.peek_with(k, |_, v| *v).unwrap_or(1))
            .fold(0, u64::wrapping_add)
    });
    let st = atomic.stats();
    println!(
        "atomic stats: snapshot {} overlay {} merges {} partitions {}",
        st.snapshot_entries, st.overlay_entries, st.merges, st.partitions
    );
}
