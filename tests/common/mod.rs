//! Shared test support: drop-counting values and the [`TestMap`] trait that
//! lets one behaviour suite and one model test run against every map of the
//! crate, in every configuration. The map operations themselves come from
//! the test kit's [`ConcurrentMap`] (`tests/kit/src/map.rs`).
#![allow(dead_code, clippy::type_complexity)]

use std::hash::Hash;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;

pub use epochmap_testkit::map::ConcurrentMap;

/// Counts live [`Tracked`] values. Every value created must be dropped exactly
/// once: `live()` returns to zero, and a second drop of the same value panics.
#[derive(Debug, Default, Clone)]
pub struct DropCounter {
    live: Arc<AtomicIsize>,
    created: Arc<AtomicU64>,
}

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }
    /// A new tracked value carrying `payload`.
    pub fn track(&self, payload: u64) -> Tracked {
        self.live.fetch_add(1, Ordering::Relaxed);
        self.created.fetch_add(1, Ordering::Relaxed);
        Tracked {
            payload,
            canary: CANARY_ALIVE,
            counter: self.clone(),
        }
    }
    /// Values created and not yet dropped.
    pub fn live(&self) -> isize {
        self.live.load(Ordering::SeqCst)
    }
    /// Values ever created (clones included).
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }
}

const CANARY_ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;
const CANARY_DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// A value that counts its drops. Equality and hashing use only the payload.
#[derive(Debug)]
pub struct Tracked {
    pub payload: u64,
    canary: u64,
    counter: DropCounter,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        assert_eq!(self.canary, CANARY_ALIVE, "clone of a dropped value");
        self.counter.track(self.payload)
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        assert_eq!(self.canary, CANARY_ALIVE, "use of a dropped value");
        self.payload == other.payload
    }
}
impl Eq for Tracked {}

impl Hash for Tracked {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.payload.hash(state)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert_eq!(self.canary, CANARY_ALIVE, "value dropped twice");
        self.canary = CANARY_DEAD;
        self.counter.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the tests need beyond [`ConcurrentMap`] (the adapter shared with the
/// crisis suite and the fuzz targets, in the test kit: `tests/kit/src/map.rs`,
/// which holds every operation and its contract): the configurations to run
/// each test in, iteration into a `Vec`, and reclamation. Each map
/// implements it in its own file under `tests/common/`.
pub trait TestMap<K, V>: ConcurrentMap<K, V> + Sized
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Configurations to run each test in: a name and a constructor.
    fn configs() -> Vec<(&'static str, fn() -> Self)>;
    /// Every entry, by iteration (the map's own iterator where it has one
    /// besides [`ConcurrentMap::for_each`]).
    fn entries(&self) -> Vec<(K, V)> {
        let mut all = Vec::new();
        self.for_each(|k, v| all.push((k.clone(), v.clone())));
        all
    }
    /// `c.live()` once the values this map type has retired are dropped.
    /// Maps that drop replaced values at once keep this default; maps with
    /// deferred (epoch) reclamation drive their collector until
    /// `c.live() == expected` or a bounded number of rounds passed.
    fn live_after_reclaim(c: &DropCounter, expected: isize) -> isize {
        let _ = expected;
        c.live()
    }
}
pub mod atomic;
pub mod shard;
