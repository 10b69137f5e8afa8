//! The test kit of epochmap, shared by `tests/`, `benches/` and the fuzz
//! crate's replay test, so that each helper is written once:
//!
//! - [`Rng`]: a small deterministic generator (wyrand), so failures replay;
//! - [`mix64`] and [`key`]: splitmix64's finaliser, a bijection of `u64`
//!   (distinct indices give distinct, well-spread keys);
//! - [`scaled`]: test sizes, shrunk under Miri and multiplied by
//!   `EPOCHMAP_STRESS=<factor>` for soak runs;
//! - [`alloc::KitAlloc`]: a global allocator that counts live bytes (and
//!   their peak) while counting is on, refuses single allocations above a
//!   bound, and refuses "large" allocations beyond a budget on demand;
//! - [`map::ConcurrentMap`] (feature `maps`): the one adapter trait over
//!   concurrent maps, with its impls for epochmap's `ShardMap` and
//!   `AtomicPtrMap`.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod alloc;
#[cfg(feature = "maps")]
pub mod map;

/// splitmix64's finaliser: a bijection of `u64` with good avalanche.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The key of index `i`: distinct indices give distinct keys, spread over
/// all 64 bits (splitmix64's output for state `i`).
#[inline]
pub fn key(i: u64) -> u64 {
    mix64(i.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// wyrand: a small, fast, deterministic generator. Every test and bench
/// seeds its own, so a failure replays from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self(mix64(seed ^ 0x5151_5151_5151_5151))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) ^ t) as u64
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (no division).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}

/// A test size: `full` normally, multiplied by `EPOCHMAP_STRESS=<factor>`
/// when set (soak runs, e.g. `EPOCHMAP_STRESS=50 cargo test --release --test
/// stress`), and `under_miri` under Miri, where every operation costs
/// thousands of times more.
pub fn scaled(full: u64, under_miri: u64) -> u64 {
    if cfg!(miri) {
        return under_miri;
    }
    full * stress_factor()
}

/// `EPOCHMAP_STRESS` (1 when unset or not a number).
pub fn stress_factor() -> u64 {
    std::env::var("EPOCHMAP_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_rng_replays() {
        let keys: std::collections::HashSet<u64> = (0..10_000).map(key).collect();
        assert_eq!(keys.len(), 10_000);
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
        assert!((0..1000).all(|_| a.below(10) < 10));
    }

    #[test]
    fn scaled_follows_the_stress_factor() {
        assert_eq!(
            scaled(100, 3),
            if cfg!(miri) { 3 } else { 100 * stress_factor() }
        );
    }
}
