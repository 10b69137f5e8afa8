//! One repetition's measurement ([`Sample`]) and the aggregation of several
//! ([`Acc`]): medians of the per-repetition figures, histograms merged.

use hdrhistogram::Histogram;

use super::{fig, Figures};
use crate::latency::{histogram, Summary};
use crate::runner::median;

/// Which run this is: a warm-up (checked, then discarded) or repetition `r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rep {
    Warmup,
    Measured(u64),
}

impl Rep {
    /// Seeds the workers' generators (distinct per repetition).
    pub fn seed(self) -> u64 {
        match self {
            Rep::Warmup => u64::MAX,
            Rep::Measured(r) => r,
        }
    }
}

/// What one repetition measured.
pub struct Sample {
    /// Scalar figures of this repetition (aggregated by median).
    pub figures: Figures,
    /// Per-operation latency and the longest 16-op span.
    pub latency: Option<(Histogram<u64>, u64)>,
    /// Traversal times (C6, C7).
    pub traversal: Option<Histogram<u64>>,
}

impl Sample {
    pub fn new(figures: Figures) -> Self {
        Self {
            figures,
            latency: None,
            traversal: None,
        }
    }
}

/// The repetitions of one (scenario, map, thread count).
#[derive(Default)]
pub struct Acc {
    reps: Vec<Figures>,
    latency: Option<(Histogram<u64>, u64)>,
    traversal: Option<Histogram<u64>>,
}

fn merge(into: &mut Option<Histogram<u64>>, h: &Histogram<u64>) {
    into.get_or_insert_with(histogram)
        .add(h)
        .expect("same histogram bounds");
}

impl Acc {
    pub fn add(&mut self, s: Sample) {
        if let Some((h, stall)) = &s.latency {
            let (mut merged, before) = match self.latency.take() {
                Some((h, st)) => (Some(h), st),
                None => (None, 0),
            };
            merge(&mut merged, h);
            self.latency = merged.map(|h| (h, before.max(*stall)));
        }
        if let Some(h) = &s.traversal {
            merge(&mut self.traversal, h);
        }
        self.reps.push(s.figures);
    }

    /// Each repetition's scalar figures.
    pub fn reps(&self) -> &[Figures] {
        &self.reps
    }

    /// Medians of the repetitions' figures, plus the merged percentiles.
    pub fn finish(&self) -> Figures {
        let mut f = Figures::new();
        let names: std::collections::BTreeSet<&'static str> =
            self.reps.iter().flat_map(|r| r.keys().copied()).collect();
        for name in names {
            let xs: Vec<f64> = self
                .reps
                .iter()
                .filter_map(|r| r.get(name).copied())
                .collect();
            let v = match name {
                n if n == fig::TRAVERSALS => xs.iter().sum(),
                n if n == fig::CHURN_SEEN_MAX => xs.iter().copied().fold(0.0, f64::max),
                _ => median(&xs),
            };
            f.insert(name, v);
        }
        let ops: Vec<f64> = self
            .reps
            .iter()
            .filter_map(|r| r.get(fig::OPS).copied())
            .collect();
        if !ops.is_empty() {
            f.insert(
                fig::OPS_MIN,
                ops.iter().copied().fold(f64::INFINITY, f64::min),
            );
            f.insert(fig::OPS_MAX, ops.iter().copied().fold(0.0, f64::max));
        }
        // The spread of the repetitions, for the figures a verdict cites.
        for (name, min, max) in [
            (fig::NS_OP, fig::NS_OP_MIN, fig::NS_OP_MAX),
            (
                fig::WRITERS_WITH,
                fig::WRITERS_WITH_MIN,
                fig::WRITERS_WITH_MAX,
            ),
        ] {
            let xs: Vec<f64> = self
                .reps
                .iter()
                .filter_map(|r| r.get(name).copied())
                .collect();
            if !xs.is_empty() {
                f.insert(min, xs.iter().copied().fold(f64::INFINITY, f64::min));
                f.insert(max, xs.iter().copied().fold(0.0, f64::max));
            }
        }
        f.insert(fig::REPS, self.reps.len() as f64);
        if let (Some(a), Some(w)) = (f.get(fig::WRITERS_ALONE), f.get(fig::WRITERS_WITH)) {
            let impact = (a - w) / a * 100.0;
            f.insert(fig::IMPACT, impact);
        }
        if let Some((h, stall)) = &self.latency {
            let s = Summary::of(h, *stall);
            f.insert(fig::SAMPLES, s.samples as f64);
            f.insert(fig::P50, s.p50 as f64);
            f.insert(fig::P99, s.p99 as f64);
            f.insert(fig::P999, s.p999 as f64);
            f.insert(fig::MAX, s.max as f64);
            f.insert(fig::STALL, s.stall as f64);
        }
        if let Some(h) = &self.traversal {
            let s = Summary::of(h, 0);
            f.insert(fig::TRAV_P50, s.p50 as f64);
            f.insert(fig::TRAV_P99, s.p99 as f64);
            f.insert(fig::TRAV_MAX, s.max as f64);
        }
        f
    }
}
