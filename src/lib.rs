//! Concurrent hash maps for services that have outgrown
//! `Arc<Mutex<HashMap>>`, and an answer to the cliffs of Go's `sync.Map`.
//!
//! - [`ShardMap`]: keys split by hash across shards, each a reader-scalable
//!   readers-writer lock over a hashbrown table. The drop-in replacement for
//!   `Arc<Mutex<HashMap<K, V>>>`: a std-like API, closure-first access, a
//!   same-thread call back into a locked shard that panics (naming your
//!   line) instead of deadlocking, guards that cannot be held across
//!   `.await`.
//! - [`AtomicPtrMap`]: immutable snapshots published through an atomic
//!   pointer, delta overlays for new keys merged incrementally into fresh
//!   snapshots, and crossbeam-epoch deferred freeing. Lookups never wait for
//!   a lock, and a lookup of a key in the snapshot writes no shared memory;
//!   iterating while other threads delete can never touch freed memory.
//!
//! # Choosing a map
//!
//! | your workload | use | why |
//! |---|---|---|
//! | mixed reads and writes, today behind `Arc<Mutex<HashMap>>` or `Arc<RwLock<HashMap>>` | [`ShardMap`] | same API shape; locks one shard, not the map; reads write no shared cache line, so they scale with cores |
//! | read-mostly (configuration, routing, caches, session lookups), iterated while others write | [`AtomicPtrMap`] | lookups never lock; values stay valid under a guard; safe traversal under concurrent deletes |
//! | write-heavy, mostly new keys, few reads | [`ShardMap`] | [`AtomicPtrMap`] allocates a value per write and takes a partition lock per new key |
//! | values mutated in place (counters, buffers) | [`ShardMap`] ([`ShardMap::update`]) | [`AtomicPtrMap`] values are immutable: each update copies the value |
//! | one thread, or one owner thread | std `HashMap` | no synchronisation is faster still |
//! | `async` code | either, through per-call methods (`get_cloned`, `update`, `compute`) | guards are `!Send` on purpose; see below |
//!
//! The benchmark suite (`cargo bench --bench crisis`) measures both maps
//! against `Mutex<HashMap>`, `RwLock<HashMap>`, dashmap, papaya and scc in
//! the scenarios of the `sync.Map` crisis; `BENCHMARKS.md` has the figures.
//!
//! # Quick start
//!
//! ```
//! use epochmap::{AtomicPtrMap, ShardMap};
//!
//! let counts: ShardMap<&str, u64> = ShardMap::new();
//! counts.upsert("GET /", || 1, |n| *n += 1); // insert or modify, one locked step
//! counts.upsert("GET /", || 1, |n| *n += 1);
//! assert_eq!(counts.get_cloned("GET /"), Some(2));
//!
//! let config: AtomicPtrMap<&str, String> = AtomicPtrMap::new();
//! config.insert("region", "eu-west".to_string());
//! let pinned = config.pin(); // many lock-free reads under one guard
//! assert_eq!(pinned.get("region").map(String::as_str), Some("eu-west"));
//! ```
//!
//! # Consistency
//!
//! What a reader may observe, for both maps:
//!
//! - **Single-key operations are linearizable.** They take effect at one
//!   instant between their call and their return, in one order per key
//!   consistent with real time. A `get` that returns a value
//!   *happens-after* the write that stored it: everything the writing thread
//!   did before that write is visible to the reader.
//! - **Read-modify-write is atomic within one call**: [`ShardMap::update`],
//!   [`ShardMap::upsert`], [`ShardMap::compute`] and the entry API hold the
//!   shard lock for the whole step; [`AtomicPtrMap::update`] and
//!   [`AtomicPtrMap::compute`] are compare-and-swap loops that retry (and so
//!   may call the closure more than once) when another writer got there
//!   first. A sequence of calls is not atomic as a whole.
//! - **`len` and `is_empty`** take no lock: they sum per-shard or
//!   per-partition counters. Exact when no one writes; while others write,
//!   a value the map's size passed through during the call, not a snapshot.
//! - **Iteration is weakly consistent**: every key present for the whole
//!   traversal is yielded exactly once, no key is yielded twice, a key
//!   inserted or removed during the traversal may or may not be yielded.
//!   [`ShardMap`] iterates shard by shard. Today it read-locks each shard
//!   for the whole shard (chunking is off; see the `shard_map` module
//!   docs). With chunking on, it read-locks a shard for at most
//!   about a thousand entries at a time and resuming exactly where it
//!   stopped, also when writers grow or rebuild the shard's table meanwhile
//!   (writers to that shard wait for a few entries, as the traversal ends
//!   its hold early when a writer waits, or while the traversal's items are
//!   held; see its locking behaviour).
//!   [`AtomicPtrMap`] iterates without any lock, and a value it yields stays
//!   valid as long as the traversal's guard lives, however many threads
//!   delete meanwhile.
//! - **Neither map offers a point-in-time copy of all keys.** For one,
//!   clone the map behind an outer lock that writers also take.
//!
//! Each map's module ([`shard_map`], [`atomic_map`]) details its own rules.
//!
//! # Async code
//!
//! Guards ([`shard_map::Ref`], [`shard_map::RefMut`], [`atomic_map::Pinned`]
//! and the iterators) are `!Send`: a `Send` future cannot hold one across an
//! `.await`, which rules out the deadlock that dashmap users meet most (a
//! guard held across `.await` while another task on the same thread asks for
//! the same shard). Async code uses the per-call methods, which take and
//! release any lock or pin inside the call.
//!
//! # Migrating from `Arc<Mutex<HashMap>>`
//!
//! Before:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//!
//! let hits: Arc<Mutex<HashMap<String, u64>>> = Arc::new(Mutex::new(HashMap::new()));
//! *hits.lock().unwrap().entry("/".to_string()).or_insert(0) += 1;
//! let n = hits.lock().unwrap().get("/").copied();
//! assert_eq!(n, Some(1));
//! hits.lock().unwrap().remove("/");
//! ```
//!
//! After: the `Mutex` and every `lock().unwrap()` go; methods take `&self`.
//!
//! ```
//! use epochmap::ShardMap;
//! use std::sync::Arc;
//!
//! let hits: Arc<ShardMap<String, u64>> = Arc::new(ShardMap::new());
//! *hits.entry("/".to_string()).or_insert(0) += 1; // the guard drops at the `;`
//! let n = hits.get_cloned("/");
//! assert_eq!(n, Some(1));
//! hits.remove("/");
//! ```
//!
//! What changes:
//!
//! - No lock covers the whole map, so code that relied on holding one
//!   `MutexGuard` across several keys must be rewritten (per key, use
//!   `update`, `upsert`, `compute` or `entry`).
//! - A guard from `get`, `get_mut` or `entry` locks its shard: drop it before
//!   the same thread calls the map again. Such a call panics, naming the
//!   method and your line, instead of deadlocking (in every build).
//! - No poisoning: a panic while a shard is locked releases it and leaves
//!   the map consistent, so there is no `unwrap` on the lock.
//!
//! `docs/migrating.md` in the repository walks a real HTTP service through
//! the move, with its load test.
// `unsafe` is allowed only in the two engine folders (`shard_map/lock/`,
// `atomic_map/raw/`), which say so where they are declared.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod atomic_map;
pub mod shard_map;
mod vocab;

pub use atomic_map::AtomicPtrMap;
pub use shard_map::ShardMap;
pub use vocab::NotRemoved;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The migration guide's examples (`docs/migrating.md`), compiled and run as
/// doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/migrating.md")]
pub struct MigratingGuideDoctests;
