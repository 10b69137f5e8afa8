//! Seeded keys and values, a fast per-thread generator, a Zipf-like sampler,
//! and the C10 session struct.
//!
//! Keys are `key(i)` for an index `i`: a bijection of `u64`, so distinct
//! indices give distinct keys, spread over the whole `u64` range. Each
//! scenario gives its key sets disjoint index ranges (stable, churn, and one
//! fresh range per thread), which lets the checks know exactly what the map
//! must hold. Values carry a tag derived from their key in the high 32 bits,
//! so every read can check that it got its own key's value.

use crate::adapter::Value;

pub use epochmap_testkit::{mix64 as mix, Rng};

/// Key and value scheme of one run, derived from the suite's seed.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    seed: u64,
}

impl Keys {
    pub fn new(seed: u64) -> Self {
        Self { seed: mix(seed) }
    }
    /// The key of index `i` (distinct indices, distinct keys).
    #[inline]
    pub fn key(&self, i: u64) -> u64 {
        mix(i ^ self.seed)
    }
    /// A value for `key` whose low 32 bits are `low`.
    #[inline]
    pub fn value(&self, key: u64, low: u32) -> u64 {
        Self::tag(key) | low as u64
    }
    /// Whether `value` was made for `key`.
    #[inline]
    pub fn check(&self, key: u64, value: u64) -> bool {
        value & 0xFFFF_FFFF_0000_0000 == Self::tag(key)
    }
    #[inline]
    fn tag(key: u64) -> u64 {
        mix(key ^ 0xC6A4_A793_5BD1_E995) & 0xFFFF_FFFF_0000_0000
    }
}

/// First index of thread `t`'s fresh keys (never used by any other set).
pub fn fresh_base(thread: usize) -> u64 {
    (thread as u64 + 1) << 40
}

/// The generator of `thread` in repetition `rep` of a run seeded `seed`
/// (each thread seeds its own).
pub fn rng(seed: u64, thread: usize, rep: u64) -> Rng {
    Rng::new(seed ^ mix(thread as u64 + 1) ^ mix(rep.wrapping_add(0x5151)))
}

/// How a scenario picks among its `n` stable keys.
#[derive(Clone, Debug)]
pub enum Dist {
    Uniform(u64),
    /// Zipf-like with exponent 0.99 (YCSB's default): a table of ranks laid
    /// out by the inverse CDF; a uniform pick in the table is a Zipf draw.
    Zipf(std::sync::Arc<Vec<u32>>),
}

impl Dist {
    /// Zipf(0.99) over `n` ranks, as a table of `slots` entries.
    pub fn zipf(n: u64, slots: usize) -> Self {
        let theta = 0.99_f64;
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / (r as f64).powf(theta);
            cdf.push(sum);
        }
        let mut table = Vec::with_capacity(slots);
        let mut rank = 0usize;
        for s in 0..slots {
            let u = (s as f64 + 0.5) / slots as f64 * sum;
            while cdf[rank] < u {
                rank += 1;
            }
            table.push(rank as u32);
        }
        Dist::Zipf(std::sync::Arc::new(table))
    }
    /// An index in `0..n`.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match self {
            Dist::Uniform(n) => rng.below(*n),
            Dist::Zipf(t) => t[rng.below(t.len() as u64) as usize] as u64,
        }
    }
    /// Share of draws that hit the hottest index (for the report).
    pub fn hottest_share(&self) -> f64 {
        match self {
            Dist::Uniform(n) => 1.0 / *n as f64,
            Dist::Zipf(t) => t.iter().filter(|&&r| r == 0).count() as f64 / t.len() as f64,
        }
    }
}

/// C10's value: a small session record, replaced whole on every update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: u64,
    pub user: u64,
    pub hits: u64,
    pub bytes: u64,
    pub last_seen: u64,
    pub flags: u32,
    pub region: u32,
}

impl Value for Session {}

impl Session {
    pub fn new(id: u64) -> Self {
        Self {
            id,
            user: mix(id),
            hits: 0,
            bytes: 0,
            last_seen: 0,
            flags: 0,
            region: (id % 7) as u32,
        }
    }
    /// The copy-on-write update of one request.
    #[inline]
    pub fn touched(&self, now: u64, bytes: u64) -> Self {
        Self {
            hits: self.hits + 1,
            bytes: self.bytes + bytes,
            last_seen: now,
            ..*self
        }
    }
}
