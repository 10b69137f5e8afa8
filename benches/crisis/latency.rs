//! Sampled per-operation latency.
//!
//! Reading the clock around every operation would cost about as much as a
//! fast map operation, so one operation in `every` (a power of two) is timed
//! into an HDR histogram. The same two clock reads also bound every other
//! operation: the time between consecutive sampled starts covers `every`
//! operations back to back, and its maximum (`stall`) is an upper bound on the
//! latency of any single operation, sampled or not. A pause that the
//! sampling happens to miss therefore still shows up in `stall`.

use std::time::Instant;

use hdrhistogram::Histogram;

/// Histograms record nanoseconds from 1 ns to 100 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// One thread's sampler.
pub struct Latency {
    mask: u64,
    n: u64,
    last: Option<Instant>,
    pub hist: Histogram<u64>,
    /// Longest time between consecutive sampled starts (ns): covers `every`
    /// consecutive operations.
    pub stall_ns: u64,
}

impl Latency {
    pub fn new(every: u32) -> Self {
        assert!(every.is_power_of_two());
        Self {
            mask: every as u64 - 1,
            n: 0,
            last: None,
            hist: histogram(),
            stall_ns: 0,
        }
    }

    /// Call before an operation; `Some(start)` when this one is sampled.
    #[inline(always)]
    pub fn start(&mut self) -> Option<Instant> {
        let n = self.n;
        self.n = n + 1;
        if n & self.mask != 0 {
            return None;
        }
        let now = Instant::now();
        if let Some(last) = self.last {
            let gap = now.duration_since(last).as_nanos() as u64;
            if gap > self.stall_ns {
                self.stall_ns = gap;
            }
        }
        self.last = Some(now);
        Some(now)
    }

    /// Call after the operation; `keep` false leaves it out of the histogram
    /// (e.g. a write in a scenario whose figure is read latency).
    #[inline(always)]
    pub fn finish(&mut self, start: Option<Instant>, keep: bool) {
        if let Some(t0) = start {
            if keep {
                let ns = t0.elapsed().as_nanos() as u64;
                self.hist.saturating_record(ns.max(1));
            }
        }
    }
}

/// Percentile summary of merged histograms, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub samples: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub stall: u64,
}

impl Summary {
    pub fn of(hist: &Histogram<u64>, stall: u64) -> Self {
        Self {
            samples: hist.len(),
            p50: hist.value_at_quantile(0.50),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
            stall,
        }
    }
}
