//! The registry of maps under test: one file per map in `maps/`, one line
//! each in [`all`].

use crate::adapter::MapKind;
use crate::scenarios::{self, Params, Rep, Sample, Scenario};

mod atomic;
pub mod broken;
mod dashmap;
mod papaya;
mod scc;
mod shard;
mod std_lock;

/// The hasher every map is built with, so that a faster hash function is
/// never mistaken for a faster map: ahash with fixed seeds (runs comparable).
pub type Hasher = ahash::RandomState;

/// A hasher with the suite's fixed seeds.
pub fn hasher() -> Hasher {
    ahash::RandomState::with_seeds(
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    )
}

/// Runs one repetition of a scenario at one thread count on one map.
pub type RunFn = fn(&Scenario, &Params, usize, Rep) -> Result<Sample, String>;

/// One map of the suite.
pub struct MapEntry {
    pub id: &'static str,
    pub name: &'static str,
    pub ours: bool,
    pub traversal: &'static str,
    pub snapshot: &'static str,
    pub point_in_time: bool,
    /// Which operation of the map each Go operation uses (the Go shapes).
    pub go_ops: &'static str,
    /// `None` while the map is not built yet: its rows say so.
    pub run: Option<RunFn>,
}

fn entry<K: MapKind>() -> MapEntry {
    MapEntry {
        id: K::ID,
        name: K::NAME,
        ours: K::OURS,
        traversal: K::TRAVERSAL,
        snapshot: K::SNAPSHOT,
        point_in_time: K::POINT_IN_TIME,
        go_ops: <K::Go as crate::adapter::GoMap>::OPS,
        run: Some(scenarios::run::<K>),
    }
}

/// A map that is registered but not built yet (e.g. while it is being
/// written): its rows say "not built yet" instead of vanishing.
#[allow(dead_code)]
fn not_built(id: &'static str, name: &'static str) -> MapEntry {
    MapEntry {
        id,
        name,
        ours: true,
        traversal: "",
        snapshot: "",
        point_in_time: false,
        go_ops: "",
        run: None,
    }
}

/// Every map, ours first.
pub fn all() -> Vec<MapEntry> {
    vec![
        entry::<shard::Shard>(),
        entry::<atomic::Atomic>(),
        entry::<std_lock::MutexStd>(),
        entry::<std_lock::RwLockStd>(),
        entry::<dashmap::Dash>(),
        entry::<papaya::Papaya>(),
        entry::<scc::Scc>(),
    ]
}
