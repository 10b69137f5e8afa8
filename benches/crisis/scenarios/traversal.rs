//! C6 (iterate while deleting) and C7 (consistent snapshot).
//!
//! The map holds N stable keys (value class 0) that nobody touches and a
//! churn set of N/100 keys (class 1) that writers remove and re-insert at
//! full speed. One extra thread traverses again and again (C6: the live map;
//! C7: the map's own copy of itself). Every traversal is counted: it must
//! yield each stable key exactly once (a traversal that skips or repeats
//! work fails the suite, so it cannot look fast) and only values that belong
//! to their key; the most churn keys one traversal saw is reported. Writers run the same duration
//! alone and beside the traversal; the difference is the impact.

use std::time::Instant;

use super::{expect_count, fig, Figures, Params};
use crate::adapter::CrisisMap;
use crate::latency::{histogram, Summary};
use crate::runner::{self, median, Gate, Stop, WorkerOut};
use crate::workload::{Keys, Rng};

/// What the traversal thread saw.
struct Seen {
    hist: hdrhistogram::Histogram<u64>,
    traversals: u64,
    entries: u64,
    /// Most churn keys one traversal yielded. A weakly consistent live
    /// traversal may yield a key that is removed and re-inserted behind it
    /// twice, so this may exceed the churn set; it is reported, not checked.
    churn_max: u64,
    error: Option<String>,
}

pub fn run<M: CrisisMap<u64>>(
    p: &Params,
    threads: usize,
    snapshot: bool,
) -> Result<Figures, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let churn = (n / 100).max(8);
    let setup = || {
        let m = M::with_capacity((n + churn) as usize);
        for i in 0..n + churn {
            let k = keys.key(i);
            m.insert(k, keys.value(k, (i >= n) as u32));
        }
        m
    };
    let writer = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = Rng::new(seed, t, rep);
        let mut i = 0u64;
        while g.go(i) {
            i += 2;
            let k = keys.key(n + rng.below(churn));
            m.remove(k);
            m.insert(k, keys.value(k, 1));
        }
        o.ops = i;
        o
    };
    let none: Option<fn(&Gate)> = None;
    if !p.warmup.is_zero() {
        let m = setup();
        let out = runner::run(
            threads,
            Stop::Duration(p.warmup),
            |t, g| writer(&m, t, u64::MAX, g),
            Some(|g: &Gate| traverse(&m, &keys, n, churn, snapshot, g)),
        );
        if let Some(e) = out.traversal.and_then(|s| s.error) {
            return Err(format!("warm-up: {e}"));
        }
    }
    let (mut alone, mut with) = (Vec::new(), Vec::new());
    let mut hist = histogram();
    let (mut traversals, mut entries, mut wall, mut churn_max) = (0u64, 0u64, 0.0, 0u64);
    for rep in 0..p.reps as u64 {
        let m = setup();
        // Alternate which run goes first, so that neither always gets the
        // freshly built map.
        let run_alone = || {
            runner::run(
                threads,
                Stop::Duration(p.duration),
                |t, g| writer(&m, t, rep, g),
                none,
            )
        };
        let run_with = || {
            runner::run(
                threads,
                Stop::Duration(p.duration),
                |t, g| writer(&m, t, rep + 1000, g),
                Some(|g: &Gate| traverse(&m, &keys, n, churn, snapshot, g)),
            )
        };
        let (a, w) = if rep % 2 == 0 {
            let a = run_alone();
            (a, run_with())
        } else {
            let w = run_with();
            (run_alone(), w)
        };
        alone.push(a.ops_per_s());
        with.push(w.ops_per_s());
        let seen = w.traversal.expect("traversal thread ran");
        if let Some(e) = seen.error {
            return Err(e);
        }
        hist.add(&seen.hist).expect("same histogram bounds");
        traversals += seen.traversals;
        churn_max = churn_max.max(seen.churn_max);
        entries += seen.entries;
        wall += w.wall.as_secs_f64();
        expect_count(&m, &keys, n + churn)?;
    }
    let t = Summary::of(&hist, 0);
    let (alone, with) = (median(&alone), median(&with));
    let mut f = Figures::new();
    f.insert(fig::REPS, p.reps as f64);
    f.insert(fig::TRAV_P50, t.p50 as f64);
    f.insert(fig::TRAV_P99, t.p99 as f64);
    f.insert(fig::TRAV_MAX, t.max as f64);
    f.insert(fig::TRAVERSALS, traversals as f64);
    f.insert(fig::TRAV_PER_S, traversals as f64 / wall.max(1e-9));
    f.insert(fig::SEEN, entries as f64 / traversals.max(1) as f64);
    f.insert(fig::CHURN_SEEN_MAX, churn_max as f64);
    f.insert(fig::CHURN_SET, churn as f64);
    f.insert(fig::WRITERS_ALONE, alone);
    f.insert(fig::WRITERS_WITH, with);
    f.insert(fig::IMPACT, (alone - with) / alone * 100.0);
    Ok(f)
}

/// The traversal thread: traverses until the writers stop, at least once.
fn traverse<M: CrisisMap<u64>>(
    m: &M,
    keys: &Keys,
    n: u64,
    churn: u64,
    snapshot: bool,
    g: &Gate,
) -> Seen {
    let mut s = Seen {
        hist: histogram(),
        traversals: 0,
        entries: 0,
        churn_max: 0,
        error: None,
    };
    loop {
        let (mut stable, mut moving, mut bad) = (0u64, 0u64, None);
        let t0 = Instant::now();
        let mut visit = |k: u64, v: &u64| {
            if !keys.check(k, *v) {
                bad.get_or_insert((k, *v));
            }
            if *v & 0xFFFF_FFFF == 0 {
                stable += 1;
            } else {
                moving += 1;
            }
        };
        if snapshot {
            m.snapshot_for_each(&mut visit);
        } else {
            m.for_each(&mut visit);
        }
        s.hist
            .saturating_record(t0.elapsed().as_nanos().max(1) as u64);
        s.traversals += 1;
        s.entries += stable + moving;
        s.churn_max = s.churn_max.max(moving);
        if s.error.is_none() {
            if let Some((k, v)) = bad {
                s.error = Some(format!(
                    "traversal {} saw key {k:#x} with another key's value {v:#x}",
                    s.traversals
                ));
            } else if stable != n {
                s.error = Some(format!(
                    "traversal {} saw {stable} of the {n} untouched keys (each must appear exactly once)",
                    s.traversals
                ));
            }
        }
        if !g.workers_running() {
            return s;
        }
    }
}
