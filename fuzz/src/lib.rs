//! Fuzzing support for epochmap: the engines behind the cargo-fuzz targets in
//! `fuzz_targets/`, kept in a library so that they are unit-tested (against a
//! reference map, with faults injected) on stable Rust too: `cargo test` in
//! this directory.
//!
//! - [`val`]: values that know their key, live partly on the heap (so
//!   AddressSanitizer sees a read of a freed value) and count their drops.
//! - [`maps`]: the adapter trait over the maps under test, and their configurations.
//! - [`iter_check`]: the iteration guarantee as a checker.
//! - [`iter_delete`], [`model`], [`closures`]: one engine per target.
//! - [`trap`]: a hasher that panics on demand.

pub mod closures;
pub mod detector;
pub mod iter_check;
pub mod iter_delete;
pub mod maps;
pub mod model;
pub mod targets;
pub mod trap;
pub mod val;

/// Re-exported for `tests/replay.rs`, which also builds inside the CI
/// safety net's harness crate, where `arbitrary` is no direct dependency.
pub use arbitrary;
