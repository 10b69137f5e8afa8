//! epochmap: concurrent hash maps.
//!
//! (Crate documentation is being written: a guide to choosing a map, the
//! consistency section and the migration guide land with the maps.)
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod shard_map;
#[cfg(feature = "rayon")]
pub use shard_map::IntoParIter;
pub use shard_map::{
    BuildError, Entry, IntoIter, Iter, IterMut, KeyRef, Keys, MultiRef, MultiRefMut, OccupiedEntry,
    Ref, RefMut, ShardMap, ShardMapBuilder, VacantEntry, Values,
};
