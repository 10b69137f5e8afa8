//! epochmap: concurrent hash maps.
//!
//! (Crate documentation is being written: a guide to choosing a map, the
//! consistency section and the migration guide land with the maps.)
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod shard_map;

pub use shard_map::ShardMap;
