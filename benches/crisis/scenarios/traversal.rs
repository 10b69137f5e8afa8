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

use super::{expect_count, fig, Figures, Params, Rep, Sample};
use crate::adapter::CrisisMap;
use crate::latency::histogram;
use crate::runner::{self, Gate, Stop, WorkerOut};
use crate::workload::{rng, Keys};

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
    rep: Rep,
) -> Result<Sample, String> {
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
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        while g.go(i) {
            i += 2;
            let k = keys.key(n + rng.below(churn));
            m.remove(&k);
            m.insert(k, keys.value(k, 1));
        }
        o.ops = i;
        o
    };
    let none: Option<fn(&Gate)> = None;
    let m = setup();
    let with_traversal = |d| {
        runner::run(
            threads,
            Stop::Duration(d),
            |t, g| writer(&m, t, rep.seed() ^ 0x77, g),
            Some(|g: &Gate| traverse(&m, &keys, n, snapshot, g)),
        )
    };
    let seen_of = |w: &runner::RunOut<Seen>| -> Result<(), String> {
        match w.traversal.as_ref().and_then(|s| s.error.clone()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    let Rep::Measured(r) = rep else {
        let w = with_traversal(p.warmup);
        seen_of(&w)?;
        expect_count(&m, &keys, n + churn)?;
        return Ok(Sample::new(Figures::new()));
    };
    // Alternate which run goes first, so that neither always gets the
    // freshly built map.
    let run_alone = || {
        runner::run(
            threads,
            Stop::Duration(p.duration),
            |t, g| writer(&m, t, rep.seed(), g),
            none,
        )
    };
    let (a, w) = if r % 2 == 0 {
        let a = run_alone();
        (a, with_traversal(p.duration))
    } else {
        let w = with_traversal(p.duration);
        (run_alone(), w)
    };
    seen_of(&w)?;
    expect_count(&m, &keys, n + churn)?;
    let seen = w.traversal.as_ref().expect("traversal thread ran");
    let mut f = Figures::new();
    f.insert(fig::TRAVERSALS, seen.traversals as f64);
    f.insert(
        fig::TRAV_PER_S,
        seen.traversals as f64 / w.wall.as_secs_f64().max(1e-9),
    );
    f.insert(
        fig::SEEN,
        seen.entries as f64 / seen.traversals.max(1) as f64,
    );
    f.insert(fig::CHURN_SEEN_MAX, seen.churn_max as f64);
    f.insert(fig::CHURN_SET, churn as f64);
    f.insert(fig::WRITERS_ALONE, a.ops_per_s());
    f.insert(fig::WRITERS_WITH, w.ops_per_s());
    Ok(Sample {
        figures: f,
        latency: None,
        traversal: Some(seen.hist.clone()),
    })
}

/// The traversal thread: traverses until the writers stop, at least once.
fn traverse<M: CrisisMap<u64>>(m: &M, keys: &Keys, n: u64, snapshot: bool, g: &Gate) -> Seen {
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
        let mut visit = |&k: &u64, v: &u64| {
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
