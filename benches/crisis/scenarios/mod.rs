//! The scenarios of `docs/crisis.md`, their parameters, and the driver
//! that measures one (scenario, map, thread count).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use crate::adapter::{CrisisMap, MapKind};
use crate::latency::histogram;
use crate::runner::{self, Gate, RunOut, Stop, WorkerOut};
use crate::workload::{Dist, Keys};

pub mod go;
mod memory;
mod ops;
mod sample;
mod traversal;

pub use sample::{Acc, Rep, Sample};

/// Every figure of one measurement, by name (see [`fig`]).
pub type Figures = BTreeMap<&'static str, f64>;

/// Figure names, shared by the tables, the JSON and the HTML report.
pub mod fig {
    pub const OPS: &str = "ops_per_s";
    pub const OPS_MIN: &str = "ops_per_s_min_rep";
    pub const OPS_MAX: &str = "ops_per_s_max_rep";
    pub const REPS: &str = "reps";
    pub const SAMPLES: &str = "latency_samples";
    pub const P50: &str = "p50_ns";
    pub const P99: &str = "p99_ns";
    pub const P999: &str = "p999_ns";
    pub const MAX: &str = "max_ns";
    pub const STALL: &str = "stall_ns";
    pub const HIT_RATE: &str = "hit_rate";
    pub const TRAV_P50: &str = "traversal_p50_ns";
    pub const TRAV_P99: &str = "traversal_p99_ns";
    pub const TRAV_MAX: &str = "traversal_max_ns";
    pub const TRAV_PER_S: &str = "traversals_per_s";
    pub const TRAVERSALS: &str = "traversals";
    pub const SEEN: &str = "seen_per_traversal";
    pub const CHURN_SEEN_MAX: &str = "churn_keys_seen_max";
    pub const CHURN_SET: &str = "churn_set";
    pub const WRITERS_ALONE: &str = "writer_ops_per_s_alone";
    pub const WRITERS_WITH: &str = "writer_ops_per_s_with_traversal";
    pub const IMPACT: &str = "writer_impact_pct";
    pub const BYTES: &str = "bytes_per_entry";
    pub const PEAK_BYTES: &str = "peak_bytes_per_entry";
    pub const RATIO_STD: &str = "ratio_to_std_hashmap";
    pub const NS_OP: &str = "ns_per_op";
    pub const NS_OP_MIN: &str = "ns_per_op_min_rep";
    pub const NS_OP_MAX: &str = "ns_per_op_max_rep";
    pub const WRITERS_WITH_MIN: &str = "writer_ops_per_s_with_traversal_min_rep";
    pub const WRITERS_WITH_MAX: &str = "writer_ops_per_s_with_traversal_max_rep";
}

/// What a scenario does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WriteStorm,
    ReadMostly,
    Misses,
    Exchange,
    RapidGrow,
    IterDelete,
    Snapshot,
    Memory,
    AdversarialDelete,
    Session,
    /// One of Go's `sync` map benchmarks.
    Go(go::Shape),
}

/// One row group of the report.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `C1`..`C10` (what `--scenario` matches).
    pub id: &'static str,
    /// Unique name (`C1-zipf`).
    pub key: &'static str,
    pub title: &'static str,
    /// What runs, in one line.
    pub what: &'static str,
    pub kind: Kind,
    pub zipf: bool,
    /// The figure that "vs best peer" compares, and whether higher is better.
    pub headline: &'static str,
    pub higher_better: bool,
    /// Whether it runs at one thread only, once, without warm-up.
    pub single_thread: bool,
}

impl Scenario {
    /// The family of workloads the verdict groups it in.
    pub fn family(&self) -> &'static str {
        match self.kind {
            Kind::ReadMostly => "read-mostly",
            Kind::Misses => "misses",
            Kind::WriteStorm | Kind::RapidGrow | Kind::Session => "write-heavy",
            Kind::Exchange | Kind::AdversarialDelete => "churn",
            Kind::IterDelete => "traversal",
            Kind::Snapshot => "snapshot",
            Kind::Memory => "memory",
            Kind::Go(_) => "Go shapes",
        }
    }
}

/// The families, in verdict order.
pub const FAMILIES: [&str; 8] = [
    "read-mostly",
    "misses",
    "write-heavy",
    "churn",
    "traversal",
    "snapshot",
    "memory",
    "Go shapes",
];

/// All scenarios, in report order.
pub fn all() -> Vec<Scenario> {
    let s = |id, key, title, what, kind, zipf, headline, higher_better| Scenario {
        id,
        key,
        title,
        what,
        kind,
        zipf,
        headline,
        higher_better,
        single_thread: kind == Kind::Memory,
    };
    let mut v = vec![
        s("C1", "C1", "write-storm (uniform)",
          "fixed op count: 50% inserts of fresh keys, 50% overwrites of prefilled keys (uniform); the map grows",
          Kind::WriteStorm, false, fig::OPS, true),
        s("C1", "C1-zipf", "write-storm (Zipf 0.99)",
          "as C1, overwrites pick prefilled keys Zipf(0.99)-skewed",
          Kind::WriteStorm, true, fig::OPS, true),
        s("C2", "C2", "read-mostly (uniform)",
          "98% gets of prefilled keys (all must hit), 1% insert, 1% remove in a churn set of N/10 keys",
          Kind::ReadMostly, false, fig::OPS, true),
        s("C2", "C2-zipf", "read-mostly (Zipf 0.99)",
          "as C2, gets pick keys Zipf(0.99)-skewed",
          Kind::ReadMostly, true, fig::OPS, true),
        s("C3", "C3", "load-mostly-misses",
          "100% gets, uniform over 20N keys of which N are present (95% miss)",
          Kind::Misses, false, fig::OPS, true),
        s("C4", "C4", "exchange",
          "10% get, 40% insert, 40% remove, 10% update over N keys, half present at start",
          Kind::Exchange, false, fig::OPS, true),
        s("C5", "C5", "rapid-grow",
          "fixed op count from an empty map: 5% get, 80% insert (fresh), 5% remove, 10% update",
          Kind::RapidGrow, false, fig::OPS, true),
        s("C6", "C6", "iterate-while-deleting",
          "one thread traverses again and again; writers remove and re-insert keys of a churn set (1% of the map)",
          Kind::IterDelete, false, fig::WRITERS_WITH, true),
        s("C7", "C7", "consistent-snapshot",
          "as C6, but each traversal first takes the map's copy (clone/snapshot) and traverses that",
          Kind::Snapshot, false, fig::TRAV_P99, false),
        s("C8", "C8", "memory",
          "insert u64 -> u64 entries into an empty map, one thread; live bytes from a counting allocator",
          Kind::Memory, false, fig::BYTES, false),
        s("C9", "C9", "adversarial-delete",
          "get, remove, insert the same key in a loop, keys from a hot set of 1024 shared by all threads",
          Kind::AdversarialDelete, false, fig::OPS, true),
        s("C10", "C10", "session-update",
          "90% copy-on-write update of a 48-byte session struct, 10% get, over 1024 sessions",
          Kind::Session, false, fig::OPS, true),
    ];
    for (shape, key, name, what) in go::SHAPES {
        v.push(s(
            "G",
            key,
            name,
            what,
            Kind::Go(shape),
            false,
            fig::NS_OP,
            false,
        ));
    }
    v
}

/// Sizes and durations of a profile.
#[derive(Debug)]
pub struct Params {
    pub profile: &'static str,
    /// Prefilled (stable) entries in the steady-state scenarios.
    pub entries: u64,
    pub duration: Duration,
    pub warmup: Duration,
    /// Run and warm-up length of each Go shape (24 shapes: kept short).
    pub go_duration: Duration,
    pub go_warmup: Duration,
    pub reps: usize,
    /// One operation in this many is timed (a power of two).
    pub sample_every: u32,
    pub seed: u64,
    /// Loop iterations of C1 and C5 (fixed work), over all threads.
    pub c1_ops: u64,
    pub c5_ops: u64,
    pub c8_entries: u64,
    pub hot_keys: u64,
    pub sessions: u64,
    pub zipf_slots: usize,
    zipf: OnceLock<Dist>,
}

impl Params {
    pub fn profile(name: &'static str) -> Self {
        let (entries, dur_ms, warm_ms, reps, c1, c5, c8) = match name {
            "full" => (1_000_000, 1000, 250, 5, 2_000_000, 2_000_000, 1_000_000),
            "smoke" => (10_000, 20, 0, 1, 40_000, 40_000, 50_000),
            _ => (100_000, 120, 40, 3, 250_000, 250_000, 1_000_000),
        };
        // Go's reference runs use -benchtime 200ms.
        let (go_ms, go_warm_ms) = match name {
            "full" => (200, 50),
            "smoke" => (5, 0),
            _ => (50, 10),
        };
        Self {
            profile: name,
            entries,
            duration: Duration::from_millis(dur_ms),
            warmup: Duration::from_millis(warm_ms),
            go_duration: Duration::from_millis(go_ms),
            go_warmup: Duration::from_millis(go_warm_ms),
            reps,
            sample_every: 16,
            seed: 0xC0FF_EE15_2026,
            c1_ops: c1,
            c5_ops: c5,
            c8_entries: c8,
            hot_keys: 1024,
            sessions: 1024,
            zipf_slots: 1 << 18,
            zipf: OnceLock::new(),
        }
    }
    /// The Zipf table over the stable keys (built once).
    pub fn zipf(&self) -> &Dist {
        self.zipf
            .get_or_init(|| Dist::zipf(self.entries, self.zipf_slots))
    }
    pub fn dist(&self, zipf: bool) -> Dist {
        if zipf {
            self.zipf().clone()
        } else {
            Dist::Uniform(self.entries)
        }
    }
    pub fn keys(&self) -> Keys {
        Keys::new(self.seed)
    }
}

/// Runs one repetition of `scn` on map family `K` with `threads` threads.
pub fn run<K: MapKind>(
    scn: &Scenario,
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    match scn.kind {
        Kind::WriteStorm => ops::write_storm::<K::Map<u64>>(scn, p, threads, rep),
        Kind::ReadMostly => ops::read_mostly::<K::Map<u64>>(scn, p, threads, rep),
        Kind::Misses => ops::misses::<K::Map<u64>>(p, threads, rep),
        Kind::Exchange => ops::exchange::<K::Map<u64>>(p, threads, rep),
        Kind::RapidGrow => ops::rapid_grow::<K::Map<u64>>(p, threads, rep),
        Kind::AdversarialDelete => ops::adversarial_delete::<K::Map<u64>>(p, threads, rep),
        Kind::Session => ops::session::<K::Map<crate::workload::Session>>(p, threads, rep),
        Kind::IterDelete => traversal::run::<K::Map<u64>>(p, threads, false, rep),
        Kind::Snapshot => traversal::run::<K::Map<u64>>(p, threads, true, rep),
        Kind::Memory => memory::run::<K::Map<u64>>(p),
        Kind::Go(shape) => go::run::<K::Go>(shape, p, threads, rep),
    }
}

/// The std `HashMap` bytes per entry of C8 (measured once, when C8 runs).
pub fn std_bytes_per_entry() -> Option<f64> {
    memory::STD_BYTES.get().copied()
}

/// Measures one repetition of a throughput scenario on a fresh map from
/// `setup`: the workers run, then `check` verifies the quiescent map. A
/// warm-up is the same with a quarter of the work (or the warm-up duration).
fn measure<M, S, W, C>(
    p: &Params,
    threads: usize,
    rep: Rep,
    stop: Stop,
    setup: S,
    worker: W,
    check: C,
) -> Result<Sample, String>
where
    M: Sync,
    S: Fn() -> M,
    W: Fn(&M, usize, u64, &Gate) -> WorkerOut + Sync,
    C: Fn(&M, &RunOut<()>) -> Result<(), String>,
{
    let no_traversal: Option<fn(&Gate)> = None;
    let stop = match (rep, stop) {
        (Rep::Warmup, Stop::Quota(q)) => Stop::Quota(q / 4),
        (Rep::Warmup, Stop::Duration(_)) => Stop::Duration(p.warmup),
        (_, stop) => stop,
    };
    let m = setup();
    let out = runner::run(
        threads,
        stop,
        |t, g| worker(&m, t, rep.seed(), g),
        no_traversal,
    );
    out.errors()?;
    check(&m, &out)?;
    drop(m);
    let mut hist = histogram();
    let mut stall = 0;
    for w in &out.workers {
        hist.add(&w.lat.hist).expect("same histogram bounds");
        stall = stall.max(w.lat.stall_ns);
    }
    let mut f = Figures::new();
    f.insert(fig::OPS, out.ops_per_s());
    Ok(Sample {
        figures: f,
        latency: Some((hist, stall)),
        traversal: None,
    })
}

/// Counts the entries a quiescent map yields and checks each value's tag.
/// Returns (entries, entries whose low value bits are `low_class`).
fn census<M: CrisisMap<u64>>(m: &M, keys: &Keys, low_class: u64) -> Result<(u64, u64), String> {
    let (mut n, mut class, mut bad) = (0u64, 0u64, 0u64);
    let mut first_bad = None;
    m.for_each(|&k, v| {
        n += 1;
        if !keys.check(k, *v) {
            bad += 1;
            first_bad.get_or_insert((k, *v));
        }
        if *v & 0xFFFF_FFFF == low_class {
            class += 1;
        }
    });
    if let Some((k, v)) = first_bad {
        return Err(format!(
            "after the run, {bad} entries hold another key's value (first: key {k:#x} -> {v:#x})"
        ));
    }
    Ok((n, class))
}

/// Checks a quiescent map holds exactly `expected` entries, by traversal
/// and by its own `len`.
fn expect_count<M: CrisisMap<u64>>(m: &M, keys: &Keys, expected: u64) -> Result<(), String> {
    let (n, _) = census(m, keys, u64::MAX)?;
    if n != expected {
        return Err(format!(
            "after the run, traversal yields {n} entries, expected {expected}"
        ));
    }
    let len = m.len() as u64;
    if M::EXACT_LEN && len != expected {
        return Err(format!(
            "after the run, len() is {len}, expected {expected}"
        ));
    }
    Ok(())
}
