//! Read costs of AtomicPtrMap against the ceiling (an immutable hashbrown
//! map) and the lock-free peers (papaya, scc's HashIndex), all with ahash,
//! 100k u64 keys, lookups in a fixed random order (hits).
//!
//! `cargo bench --bench atomic_get -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use epochmap::AtomicPtrMap;

const KEYS: u64 = 100_000;
const BATCH: usize = 1024;

fn keys() -> Vec<u64> {
    let mut rng = epochmap_testkit::Rng::new(0x9E37_79B9_7F4A_7C15);
    (0..BATCH)
        .map(|_| rng.below(KEYS).wrapping_mul(0x2545_F491_4F6C_DD1D))
        .collect()
}

fn key(i: u64) -> u64 {
    i.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Runs `f(iters)` on `threads` threads at once and returns the wall time of
/// the slowest, so the figure is the time per batch per thread.
fn threaded(threads: usize, iters: u64, f: &(impl Fn(u64) + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    f(iters);
                    t.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    })
}

fn bench(c: &mut Criterion) {
    let ks = keys();
    let hasher = ahash::RandomState::new();

    let mut hb: hashbrown::HashMap<u64, u64, ahash::RandomState> =
        hashbrown::HashMap::with_hasher(hasher.clone());
    let ours: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
        .hasher(hasher.clone())
        .build()
        .unwrap();
    let papaya: papaya::HashMap<u64, u64, ahash::RandomState> =
        papaya::HashMap::with_hasher(hasher.clone());
    let scc: scc::HashIndex<u64, u64, ahash::RandomState> =
        scc::HashIndex::with_hasher(hasher.clone());
    for i in 0..KEYS {
        hb.insert(key(i), i);
        ours.insert(key(i), i);
        papaya.pin().insert(key(i), i);
        let _ = scc.insert_sync(key(i), i);
    }
    ours.shrink_to_fit(); // read-mostly steady state: everything in snapshots

    let mut g = c.benchmark_group("get-1t");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("hashbrown (immutable, ceiling)", |b| {
        b.iter(|| {
            for k in &ks {
                black_box(hb.get(k));
            }
        })
    });
    g.bench_function("AtomicPtrMap pinned", |b| {
        b.iter_batched_ref(
            || ours.pin(),
            |m| {
                for k in &ks {
                    black_box(m.get(k));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("AtomicPtrMap per-call", |b| {
        b.iter(|| {
            for k in &ks {
                black_box(ours.view(k, |v| *v));
            }
        })
    });
    g.bench_function("crossbeam-epoch pin+unpin only", |b| {
        b.iter(|| {
            for _ in &ks {
                black_box(crossbeam_epoch::pin());
            }
        })
    });
    g.bench_function("papaya per-call", |b| {
        b.iter(|| {
            for k in &ks {
                black_box(papaya.pin().get(k).copied());
            }
        })
    });
    g.bench_function("papaya pinned", |b| {
        let m = papaya.pin();
        b.iter(|| {
            for k in &ks {
                black_box(m.get(k));
            }
        })
    });
    g.bench_function("scc HashIndex per-call", |b| {
        b.iter(|| {
            for k in &ks {
                black_box(scc.peek_with(k, |_, v| *v));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get-2t");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("AtomicPtrMap per-call", |b| {
        b.iter_custom(|iters| {
            threaded(2, iters, &|n| {
                for _ in 0..n {
                    for k in &ks {
                        black_box(ours.view(k, |v| *v));
                    }
                }
            })
        })
    });
    g.bench_function("papaya per-call", |b| {
        b.iter_custom(|iters| {
            threaded(2, iters, &|n| {
                for _ in 0..n {
                    for k in &ks {
                        black_box(papaya.pin().get(k).copied());
                    }
                }
            })
        })
    });
    g.bench_function("scc HashIndex per-call", |b| {
        b.iter_custom(|iters| {
            threaded(2, iters, &|n| {
                for _ in 0..n {
                    for k in &ks {
                        black_box(scc.peek_with(k, |_, v| *v));
                    }
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
