//! The maps under test behind one small trait, so that each target is
//! written once: [`FuzzMap`], the fuzz targets' extension of the test kit's
//! [`ConcurrentMap`]. Keys are `u64`, values are [`Val`]s; every adapter
//! checks every value it reads ([`Val::check`]) before it reports the
//! value's id.

pub use epochmap_testkit::map::ConcurrentMap;

use crate::val::Val;

mod atomic;
mod reference;
mod shard;

pub use atomic::Atomic;
pub use reference::Reference;
pub use shard::Shard;

/// What the targets need beyond [`ConcurrentMap`] (the adapter shared with
/// the tests and the crisis suite, in the test kit: `tests/kit/src/map.rs`,
/// which holds the operations with one contract for every map and their
/// impls for our two maps; [`map`](FuzzMap::map) reaches them): operations
/// that report the ids of the values they meet, checking each value they
/// read ([`Val::check`]), and the variants of each operation through the
/// map's other APIs. Closures are `&mut dyn FnMut`: the targets' closures
/// record what they made.
pub trait FuzzMap: Send + Sync {
    /// The map itself, as the shared [`ConcurrentMap`].
    type Map: ConcurrentMap<u64, Val>;
    /// A handle under which values read stay valid (AtomicPtrMap's pinned
    /// handle); `()` for maps without one.
    type Pinned<'a>
    where
        Self: 'a;

    /// The map, for the operations of [`ConcurrentMap`].
    fn map(&self) -> &Self::Map;
    /// Name and configuration, for messages.
    fn describe(&self) -> String;
    /// Inserts or overwrites; the id of the value replaced.
    fn insert_id(&self, k: u64, v: Val) -> Option<u64>;
    /// Removes; the id of the value removed.
    fn remove_id(&self, k: u64) -> Option<u64>;
    /// The id of the value stored under `k`.
    fn get_id(&self, k: u64) -> Option<u64>;
    /// Folds pending changes into the read structure (AtomicPtrMap's merge);
    /// nothing for maps without one.
    fn compact(&self);
    /// A live iterator; each item is checked and reported as (key, id).
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_>;
    /// The value of `k`, inserting `f()` first when absent; its id.
    fn get_or_insert_id(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64;
    /// Inserts, replaces or removes in one step: `f(current)` returns the new
    /// value or `None` to remove. Returns the id now stored.
    fn compute(&self, k: u64, f: &mut dyn FnMut(Option<&Val>) -> Option<Val>) -> Option<u64>;
    /// [`ConcurrentMap::update`] with a closure that records what it does:
    /// the map calls it once per attempt, one call after another, never
    /// re-entrantly, so the `RefCell` never sees two borrows.
    fn update_mut(&self, k: u64, f: &mut dyn FnMut(&Val) -> Val) -> bool {
        let f = std::cell::RefCell::new(f);
        self.map().update(&k, |v| (f.borrow_mut())(v))
    }
    /// `get` through one of the map's read APIs, picked by `how`.
    fn get_via(&self, k: u64, how: u8) -> Option<u64> {
        let _ = how;
        self.get_id(k)
    }
    /// `insert` through one of the map's write APIs, picked by `how`; the
    /// id of the value replaced.
    fn insert_via(&self, k: u64, v: Val, how: u8) -> Option<u64> {
        let _ = how;
        self.insert_id(k, v)
    }
    /// `remove` through one of the map's APIs, picked by `how`.
    fn remove_via(&self, k: u64, how: u8) -> Option<u64> {
        let _ = how;
        self.remove_id(k)
    }
    /// A whole traversal through one of the map's iteration APIs, picked by
    /// `how` (no concurrent writer).
    fn iter_via(&self, how: u8) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        let _ = how;
        self.iter()
    }
    /// Map-specific upkeep picked by `how` (`shrink_to_fit`, `compact`,
    /// statistics), checking what it can.
    fn upkeep(&self, how: u8) {
        let _ = how;
        self.compact()
    }
    /// Opens a pinned handle.
    fn pin(&self) -> Self::Pinned<'_>;
    /// A reference to the value of `k` that must stay valid (and unchanged)
    /// for as long as the pinned handle lives, whatever else happens to the
    /// map. `None` when absent, or when the map has no such reads.
    fn pinned_get<'g>(&self, p: &'g Self::Pinned<'_>, k: u64) -> Option<&'g Val>;
}

/// Which map, in which configuration, from the first bytes of an input.
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub struct MapChoice {
    /// Picks the map.
    pub which: u8,
    /// Picks its configuration.
    pub config: u8,
}

/// Builds the map `choice` names and evaluates `$body` with `$map` bound to
/// a reference to it and `$policy` to its [`WritePolicy`](crate::iter_delete::WritePolicy).
/// The map is dropped at the end of the block.
#[macro_export]
macro_rules! with_map {
    ($choice:expr, |$map:ident, $policy:ident| $body:expr) => {{
        let choice: $crate::maps::MapChoice = $choice;
        if choice.which % 2 == 0 {
            let owned = $crate::maps::Shard::new(choice.config);
            let $map = &owned;
            let $policy = $crate::iter_delete::WritePolicy::DetectorChecked;
            $body
        } else {
            let owned = $crate::maps::Atomic::new(choice.config);
            let $map = &owned;
            let $policy = $crate::iter_delete::WritePolicy::Always;
            $body
        }
    }};
}
