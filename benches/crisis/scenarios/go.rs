//! The Go shapes: the loops of Go's own `sync` map benchmarks
//! (`src/sync/map_bench_test.go`), each run on every map with Go's
//! semantics. Thread `t` counts `i` from `t << 40` (Go: `t * b.N`), so
//! `i % 1024` is Go's and each thread's unique keys are its own. ns/op is
//! Go's: the run's wall time over the loop iterations of all threads.

use super::{fig, Figures, Params, Rep, Sample};
use crate::adapter::GoMap;
use crate::runner::{self, Gate, RunOut, Stop, WorkerOut};

/// One of Go's benchmarks (`BenchmarkMap<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    LoadMostlyHits,
    LoadMostlyMisses,
    LoadOrStoreBalanced,
    LoadOrStoreUnique,
    LoadOrStoreCollision,
    LoadAndDeleteBalanced,
    LoadAndDeleteUnique,
    LoadAndDeleteCollision,
    Range,
    AdversarialAlloc,
    AdversarialDelete,
    DeleteCollision,
    SwapCollision,
    SwapMostlyHits,
    SwapMostlyMisses,
    CompareAndSwapCollision,
    CompareAndSwapNoExistingKey,
    CompareAndSwapValueNotEqual,
    CompareAndSwapMostlyHits,
    CompareAndSwapMostlyMisses,
    CompareAndDeleteCollision,
    CompareAndDeleteMostlyHits,
    CompareAndDeleteMostlyMisses,
    Clear,
}

/// Every shape: (shape, scenario key, Go's name, what the loop does).
pub const SHAPES: [(Shape, &str, &str, &str); 24] = {
    use Shape::*;
    [
        (LoadMostlyHits, "G-LoadMostlyHits", "LoadMostlyHits", "1023 keys stored; Load(i % 1024): 1023 hits, 1 miss"),
        (LoadMostlyMisses, "G-LoadMostlyMisses", "LoadMostlyMisses", "1 key stored; Load(i % 1024): 1 hit, 1023 misses"),
        (LoadOrStoreBalanced, "G-LoadOrStoreBalanced", "LoadOrStoreBalanced", "128 keys stored; j = i % 256: LoadOrStore(j) loads when j < 128, else LoadOrStore(i) stores a new key"),
        (LoadOrStoreUnique, "G-LoadOrStoreUnique", "LoadOrStoreUnique", "LoadOrStore(i, i): every call stores a new key; the map grows"),
        (LoadOrStoreCollision, "G-LoadOrStoreCollision", "LoadOrStoreCollision", "LoadOrStore(0, 0) on a present key, all threads"),
        (LoadAndDeleteBalanced, "G-LoadAndDeleteBalanced", "LoadAndDeleteBalanced", "128 keys stored; j = i % 256: LoadAndDelete(j) when j < 128, else LoadAndDelete(i) of an absent key"),
        (LoadAndDeleteUnique, "G-LoadAndDeleteUnique", "LoadAndDeleteUnique", "LoadAndDelete(i) of absent keys"),
        (LoadAndDeleteCollision, "G-LoadAndDeleteCollision", "LoadAndDeleteCollision", "LoadAndDelete(0), and Store(0, 0) when it loaded, all threads"),
        (Range, "G-Range", "Range", "Range over 1024 entries"),
        (AdversarialAlloc, "G-AdversarialAlloc", "AdversarialAlloc", "Load(i), then LoadOrStore(i) after ever longer runs of loads"),
        (AdversarialDelete, "G-AdversarialDelete", "AdversarialDelete", "1024 keys; Load(i); every 1024th iteration deletes the first key a Range yields and stores i"),
        (DeleteCollision, "G-DeleteCollision", "DeleteCollision", "Delete(0), all threads"),
        (SwapCollision, "G-SwapCollision", "SwapCollision", "Swap(0, 0), all threads"),
        (SwapMostlyHits, "G-SwapMostlyHits", "SwapMostlyHits", "1023 keys stored; Swap(v, v) of a present key, 1 in 1024 Swap(i, i) then Delete(i)"),
        (SwapMostlyMisses, "G-SwapMostlyMisses", "SwapMostlyMisses", "1 key stored; 1 in 1024 Swap(v, v) of the present key, else Swap(i, i) then Delete(i)"),
        (CompareAndSwapCollision, "G-CompareAndSwapCollision", "CompareAndSwapCollision", "CompareAndSwap(0, 0, 42), and back (42 -> 0) when it swapped, all threads"),
        (CompareAndSwapNoExistingKey, "G-CompareAndSwapNoExistingKey", "CompareAndSwapNoExistingKey", "CompareAndSwap(i, 0, 0) of absent keys"),
        (CompareAndSwapValueNotEqual, "G-CompareAndSwapValueNotEqual", "CompareAndSwapValueNotEqual", "CompareAndSwap(0, 1, 2) while key 0 holds 0"),
        (CompareAndSwapMostlyHits, "G-CompareAndSwapMostlyHits", "CompareAndSwapMostlyHits", "1023 keys stored; CompareAndSwap(v, v, v): 1023 hits, 1 miss"),
        (CompareAndSwapMostlyMisses, "G-CompareAndSwapMostlyMisses", "CompareAndSwapMostlyMisses", "1 key stored; CompareAndSwap(v, v, v): 1 hit, 1023 misses"),
        (CompareAndDeleteCollision, "G-CompareAndDeleteCollision", "CompareAndDeleteCollision", "CompareAndDelete(0, 0), and Store(0, 0) when it deleted, all threads"),
        (CompareAndDeleteMostlyHits, "G-CompareAndDeleteMostlyHits", "CompareAndDeleteMostlyHits", "1023 keys stored; CompareAndDelete(v, v) then Store(v, v) when it deleted: 1023 hits, 1 miss"),
        (CompareAndDeleteMostlyMisses, "G-CompareAndDeleteMostlyMisses", "CompareAndDeleteMostlyMisses", "1 key stored; as MostlyHits with 1 hit, 1023 misses"),
        (Clear, "G-Clear", "Clear", "Clear(), then Store(i % 256, i % 256)"),
    ]
};

const MAP_SIZE: u64 = 1 << 10;

/// Go's setup of the "hits/misses" shapes: `hits` keys stored with
/// LoadOrStore, then each loaded twice.
fn stored<M: GoMap>(hits: u64) -> M {
    let m = M::with_capacity(0);
    for i in 0..hits {
        m.load_or_store(i, i);
    }
    for i in 0..hits * 2 {
        m.get_cloned(&(i % hits));
    }
    m
}

/// Runs one repetition of `shape` on `M` with `threads` threads.
pub fn run<M: GoMap>(shape: Shape, p: &Params, threads: usize, rep: Rep) -> Result<Sample, String> {
    use Shape::*;
    let stop = Stop::Duration(match rep {
        Rep::Warmup => p.go_warmup,
        Rep::Measured(_) => p.go_duration,
    });
    let m: M = match shape {
        LoadMostlyHits | SwapMostlyHits | CompareAndSwapMostlyHits | CompareAndDeleteMostlyHits => {
            stored(MAP_SIZE - 1)
        }
        LoadMostlyMisses
        | SwapMostlyMisses
        | CompareAndSwapMostlyMisses
        | CompareAndDeleteMostlyMisses => stored(1),
        LoadOrStoreBalanced | LoadAndDeleteBalanced => stored(128),
        LoadOrStoreCollision
        | LoadAndDeleteCollision
        | DeleteCollision
        | SwapCollision
        | CompareAndSwapCollision
        | CompareAndDeleteCollision => stored(1),
        Range | AdversarialDelete => {
            let m = M::with_capacity(0);
            for i in 0..MAP_SIZE {
                m.insert(i, i);
            }
            m
        }
        CompareAndSwapValueNotEqual => {
            let m = M::with_capacity(0);
            m.insert(0, 0);
            m
        }
        LoadOrStoreUnique
        | LoadAndDeleteUnique
        | AdversarialAlloc
        | CompareAndSwapNoExistingKey
        | Clear => M::with_capacity(0),
    };
    let worker = |t: usize, g: &Gate| {
        let mut o = WorkerOut::new(p.sample_every);
        let mut i = (t as u64) << 40;
        let mut n = 0u64;
        let (mut stores, mut loads_since_store) = (0u64, 0u64);
        while g.go(n) {
            body(shape, &m, &mut o, i, &mut stores, &mut loads_since_store);
            i += 1;
            n += 1;
        }
        o.ops = n;
        o.counts[0] = stores;
        o
    };
    let out: RunOut<()> = runner::run(threads, stop, worker, None::<fn(&Gate)>);
    out.errors()?;
    check(shape, &m, &out)?;
    drop(m);
    let ns_per_op = out.wall.as_nanos() as f64 / out.ops().max(1) as f64;
    let mut f = Figures::new();
    f.insert(fig::OPS, out.ops_per_s());
    f.insert(fig::NS_OP, ns_per_op);
    Ok(Sample::new(f))
}

/// One iteration of Go's loop body, with the checks Go makes (and a few
/// more whose answer is known).
#[inline(always)]
fn body<M: GoMap>(
    shape: Shape,
    m: &M,
    o: &mut WorkerOut,
    i: u64,
    stores: &mut u64,
    loads_since_store: &mut u64,
) {
    use Shape::*;
    match shape {
        LoadMostlyHits | LoadMostlyMisses => {
            let hits = if shape == LoadMostlyHits {
                MAP_SIZE - 1
            } else {
                1
            };
            let k = i % MAP_SIZE;
            let v = m.get_cloned(&k);
            if v != (k < hits).then_some(k) {
                o.error(|| format!("Load({k}) returned {v:?}"));
            }
        }
        LoadOrStoreBalanced => {
            let j = i % 256;
            if j < 128 {
                if !m.load_or_store(j, i).1 {
                    o.error(|| format!("LoadOrStore({j}) of a stored key stored it"));
                }
            } else if m.load_or_store(i, i).1 {
                o.error(|| format!("LoadOrStore({i}) of a new key loaded"));
            }
        }
        LoadOrStoreUnique => {
            if m.load_or_store(i, i).1 {
                o.error(|| format!("LoadOrStore({i}) of a new key loaded"));
            }
        }
        LoadOrStoreCollision => {
            if m.load_or_store(0, 0) != (0, true) {
                o.error(|| "LoadOrStore(0, 0) of the stored key did not load 0".into());
            }
        }
        LoadAndDeleteBalanced => {
            let j = i % 256;
            if j < 128 {
                m.load_and_delete(j);
            } else if let Some(v) = m.load_and_delete(i) {
                o.error(|| format!("LoadAndDelete({i}) of an absent key returned {v}"));
            }
        }
        LoadAndDeleteUnique => {
            if let Some(v) = m.load_and_delete(i) {
                o.error(|| format!("LoadAndDelete({i}) of an absent key returned {v}"));
            }
        }
        LoadAndDeleteCollision => {
            if m.load_and_delete(0).is_some() {
                m.insert(0, 0);
            }
        }
        Range => {
            let mut seen = 0u64;
            m.for_each(|_, _| seen += 1);
            if seen != MAP_SIZE {
                o.error(|| format!("Range saw {seen} of {MAP_SIZE} entries"));
            }
        }
        AdversarialAlloc => {
            if let Some(v) = m.get_cloned(&i) {
                o.error(|| format!("Load({i}) of a key not stored yet returned {v}"));
            }
            *loads_since_store += 1;
            if *loads_since_store > *stores {
                if m.load_or_store(i, *stores).1 {
                    o.error(|| format!("LoadOrStore({i}) of a new key loaded"));
                }
                *loads_since_store = 0;
                *stores += 1;
            }
        }
        AdversarialDelete => {
            m.get_cloned(&i);
            if i.is_multiple_of(MAP_SIZE) {
                if let Some(k) = m.first_key() {
                    m.remove(&k);
                }
                m.insert(i, i);
            }
        }
        DeleteCollision => {
            m.remove(&0);
        }
        SwapCollision => {
            if let Some(v) = m.swap(0, 0) {
                if v != 0 {
                    o.error(|| format!("Swap(0, 0) returned {v}"));
                }
            }
        }
        SwapMostlyHits | SwapMostlyMisses => {
            let hits = if shape == SwapMostlyHits {
                MAP_SIZE - 1
            } else {
                1
            };
            let v = i % MAP_SIZE;
            if v < hits {
                let was = m.swap(v, v);
                if was != Some(v) {
                    o.error(|| format!("Swap({v}, {v}) of a stored key returned {was:?}"));
                }
            } else {
                let was = m.swap(i, i);
                let removed = m.remove(&i);
                if was.is_some() || !removed {
                    o.error(|| {
                        format!("Swap({i}) of a new key returned {was:?}, Delete: {removed}")
                    });
                }
            }
        }
        CompareAndSwapCollision => {
            if m.compare_and_swap(0, 0, 42) && !m.compare_and_swap(0, 42, 0) {
                o.error(|| "CompareAndSwap(0, 42, 0) after our 0 -> 42 failed".into());
            }
        }
        CompareAndSwapNoExistingKey => {
            if m.compare_and_swap(i, 0, 0) {
                o.error(|| format!("CompareAndSwap({i}, 0, 0) of an absent key swapped"));
                m.remove(&i);
            }
        }
        CompareAndSwapValueNotEqual => {
            if m.compare_and_swap(0, 1, 2) {
                o.error(|| "CompareAndSwap(0, 1, 2) swapped a 0".into());
            }
        }
        CompareAndSwapMostlyHits | CompareAndSwapMostlyMisses => {
            let hits = if shape == CompareAndSwapMostlyHits {
                MAP_SIZE - 1
            } else {
                1
            };
            let v = if i % MAP_SIZE < hits { i % MAP_SIZE } else { i };
            if m.compare_and_swap(v, v, v) != (v < hits) {
                o.error(|| format!("CompareAndSwap({v}, {v}, {v}) answered wrong"));
            }
        }
        CompareAndDeleteCollision => {
            if m.compare_and_delete(0, 0) {
                m.insert(0, 0);
            }
        }
        CompareAndDeleteMostlyHits | CompareAndDeleteMostlyMisses => {
            let hits = if shape == CompareAndDeleteMostlyHits {
                MAP_SIZE - 1
            } else {
                1
            };
            let v = if i % MAP_SIZE < hits { i % MAP_SIZE } else { i };
            if m.compare_and_delete(v, v) {
                if v >= hits {
                    o.error(|| format!("CompareAndDelete({v}) of an absent key deleted"));
                }
                m.insert(v, v);
            }
        }
        Clear => {
            let k = i % 256;
            m.clear();
            m.insert(k, k);
        }
    }
}

/// What the quiescent map must hold after the run.
fn check<M: GoMap>(shape: Shape, m: &M, out: &RunOut<()>) -> Result<(), String> {
    use Shape::*;
    let mut entries = Vec::new();
    m.for_each(|k, v| entries.push((*k, *v)));
    let n = entries.len() as u64;
    if M::EXACT_LEN && m.len() as u64 != n {
        return Err(format!(
            "after the run, len() is {} but Range yields {n}",
            m.len()
        ));
    }
    let holds = |k: u64, v: u64| m.get_cloned(&k) == Some(v);
    let expect = |what: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!("after the run, {what} (Range yields {n} entries)"))
        }
    };
    let most = out.workers.iter().map(|w| w.ops).max().unwrap_or(0);
    match shape {
        LoadMostlyHits | SwapMostlyHits | CompareAndSwapMostlyHits | CompareAndDeleteMostlyHits => {
            expect(
                "the 1023 stored keys must hold their own value, and nothing else",
                n == MAP_SIZE - 1 && (0..MAP_SIZE - 1).all(|k| holds(k, k)),
            )
        }
        LoadMostlyMisses
        | SwapMostlyMisses
        | CompareAndSwapMostlyMisses
        | CompareAndDeleteMostlyMisses => {
            expect("only key 0 -> 0 must remain", n == 1 && holds(0, 0))
        }
        LoadOrStoreBalanced => expect(
            "the 128 stored keys must keep their first value (LoadOrStore never overwrites)",
            (0..128).all(|k| holds(k, k)),
        ),
        LoadOrStoreUnique => expect("every LoadOrStore stored a key", n == out.ops()),
        LoadOrStoreCollision
        | LoadAndDeleteCollision
        | SwapCollision
        | CompareAndSwapCollision
        | CompareAndDeleteCollision
        | CompareAndSwapValueNotEqual => {
            expect("only key 0 -> 0 must remain", n == 1 && holds(0, 0))
        }
        LoadAndDeleteBalanced => {
            expect("the 128 stored keys must be deleted", most < 128 || n == 0)
        }
        LoadAndDeleteUnique | DeleteCollision | CompareAndSwapNoExistingKey => {
            expect("the map must be empty", n == 0)
        }
        Range => expect("the 1024 keys must remain", n == MAP_SIZE),
        AdversarialAlloc => expect("every LoadOrStore stored a key", n == out.count(0)),
        AdversarialDelete => expect(
            "each key must hold its own value",
            entries.iter().all(|&(k, v)| k == v),
        ),
        Clear => expect(
            "at most the 256 keys of the last stores, each with its own value",
            (1..=256).contains(&n) && entries.iter().all(|&(k, v)| k == v && k < 256),
        ),
    }
}
