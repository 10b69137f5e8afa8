//! Real threads released together by a barrier, stopped by a duration or
//! an operation quota, with an optional concurrent traversal thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::latency::Latency;

/// When the workers stop.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Run for this long (workers check a flag every 64 operations).
    Duration(Duration),
    /// Each worker runs this many operations (loop iterations).
    Quota(u64),
}

/// What a worker sees of the run's control.
pub struct Gate {
    stop: AtomicBool,
    quota: u64,
    running_workers: AtomicUsize,
}

impl Gate {
    /// Whether a worker that has done `done` iterations goes on.
    #[inline(always)]
    pub fn go(&self, done: u64) -> bool {
        if self.quota != 0 {
            done < self.quota
        } else {
            done & 63 != 0 || !self.stop.load(Ordering::Relaxed)
        }
    }
    /// For the traversal thread: whether the workers are still running.
    pub fn workers_running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.running_workers.load(Ordering::Acquire) > 0
    }
}

/// What one worker reports.
pub struct WorkerOut {
    /// Map operations done (a loop iteration may do several).
    pub ops: u64,
    pub start: Instant,
    pub end: Instant,
    pub lat: Latency,
    /// Wrong results seen (a value of another key, a miss that must hit, ...).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Scenario-defined counts the final check uses (keys added, removed...).
    pub counts: [u64; 4],
}

impl WorkerOut {
    pub fn new(every: u32) -> Self {
        let now = Instant::now();
        Self {
            ops: 0,
            start: now,
            end: now,
            lat: Latency::new(every),
            errors: 0,
            first_error: None,
            counts: [0; 4],
        }
    }
    /// Records a wrong result (the first one is kept for the report).
    #[cold]
    pub fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// One run's outcome.
pub struct RunOut<T> {
    pub workers: Vec<WorkerOut>,
    pub traversal: Option<T>,
    /// From the first worker's start to the last worker's end.
    pub wall: Duration,
}

impl<T> RunOut<T> {
    pub fn ops(&self) -> u64 {
        self.workers.iter().map(|w| w.ops).sum()
    }
    pub fn ops_per_s(&self) -> f64 {
        self.ops() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    /// The first wrong result any worker saw, as an error.
    pub fn errors(&self) -> Result<(), String> {
        let n: u64 = self.workers.iter().map(|w| w.errors).sum();
        match self.workers.iter().find_map(|w| w.first_error.clone()) {
            Some(first) => Err(format!("{n} wrong results; first: {first}")),
            None => Ok(()),
        }
    }
    pub fn count(&self, i: usize) -> u64 {
        self.workers.iter().map(|w| w.counts[i]).sum()
    }
}

/// Runs `threads` workers (`worker(thread_index, gate)`) released together,
/// and, when given, one traversal thread that runs until they are done.
pub fn run<W, T, R>(threads: usize, stop: Stop, worker: W, traverser: Option<T>) -> RunOut<R>
where
    W: Fn(usize, &Gate) -> WorkerOut + Sync,
    T: FnOnce(&Gate) -> R + Send,
    R: Send,
{
    let gate = Gate {
        stop: AtomicBool::new(false),
        quota: match stop {
            Stop::Quota(q) => q.max(1),
            Stop::Duration(_) => 0,
        },
        running_workers: AtomicUsize::new(threads),
    };
    let has_traverser = traverser.is_some();
    let barrier = Barrier::new(threads + 1 + has_traverser as usize);
    let (workers, traversal) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gate, barrier, worker) = (&gate, &barrier, &worker);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut out = worker(t, gate);
                    out.end = Instant::now();
                    out.start = start;
                    // Release: the traversal thread's Acquire load of the
                    // count sees this worker's work as finished.
                    gate.running_workers.fetch_sub(1, Ordering::Release);
                    out
                })
            })
            .collect();
        let trav = traverser.map(|f| {
            let (gate, barrier) = (&gate, &barrier);
            s.spawn(move || {
                barrier.wait();
                f(gate)
            })
        });
        barrier.wait();
        if let Stop::Duration(d) = stop {
            std::thread::sleep(d);
            gate.stop.store(true, Ordering::Relaxed);
        }
        let workers: Vec<WorkerOut> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        gate.stop.store(true, Ordering::Relaxed);
        let traversal = trav.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (workers, traversal)
    });
    let first = workers
        .iter()
        .map(|w| w.start)
        .min()
        .expect("at least one worker");
    let last = workers
        .iter()
        .map(|w| w.end)
        .max()
        .expect("at least one worker");
    RunOut {
        workers,
        traversal,
        wall: last.duration_since(first),
    }
}

/// The median of `xs` (mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
