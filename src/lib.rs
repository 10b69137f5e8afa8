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
//! The one statement of what a reader may observe, for both maps; each map's
//! own docs add only what is particular to it (and link here).
//!
//! - **Single-key operations are linearizable.** They take effect at one
//!   instant between their call and their return, in one order per key
//!   consistent with real time. A `get` (or any read) that returns a value
//!   *happens-after* the write that stored it: everything the writing
//!   thread did before that write is visible to the reader. (`ShardMap`:
//!   the shard lock's release and acquire; `AtomicPtrMap`: the Acquire load
//!   of the entry's value pointer, paired with the Release of the CAS or
//!   publication that stored it.) If a write happens-before a `get` (say,
//!   through a channel or a join), the `get` sees that write or a later one.
//! - **Read-modify-write is atomic within one call**: `update`, `upsert`,
//!   `compute`, `load_or_store`, `get_or_insert_with`, `compare_and_swap`,
//!   `compare_and_delete`, `remove_if` and the entry API. [`ShardMap`] holds
//!   the shard lock for the whole step; [`AtomicPtrMap`]'s are
//!   compare-and-swap loops that retry (so `update`, `compute` and
//!   `remove_if` may call their closure more than once) when another writer
//!   got there first. A sequence of calls is not atomic as a whole.
//! - **`len` and `is_empty`** take no lock: they sum per-shard or
//!   per-partition counters, reading them one after another. With no write
//!   overlapping the call, the result is exact. With writes overlapping it,
//!   each counter is read at a different moment, so the sum need not be a
//!   size the map ever had: it can be below the smallest or above the
//!   largest. For example, with `n` entries, a writer inserts a key into
//!   one shard (`n + 1`) and then removes one from another (`n`); a `len`
//!   that reads the second shard after the removal and the first before the
//!   insert returns `n - 1`, though the map held only `n`, `n + 1` and `n`.
//!   What holds: the result is off from the size at the call's start by at
//!   most the number of writes that overlapped the call. Use it for
//!   monitoring and heuristics, not to decide correctness (`if map.len() <
//!   MAX { map.insert(..) }` is not a bound).
//! - **Iteration is weakly consistent**: every key present for the whole
//!   traversal is yielded exactly once, no key is yielded twice, a key
//!   inserted or removed during the traversal may or may not be yielded.
//!   [`ShardMap`] iterates shard by shard, read-locking a shard for at most
//!   about a thousand entries at a time and resuming exactly where it
//!   stopped, also when writers grow or rebuild the shard's table meanwhile
//!   or remove a key it yielded and insert that key again (writers to that
//!   shard wait for a few entries, as the traversal ends its hold early when
//!   a writer waits, or while the traversal's items are held; see its
//!   locking behaviour).
//!   [`AtomicPtrMap`] iterates without any lock, and a value it yields stays
//!   valid as long as the traversal's guard lives, however many threads
//!   delete meanwhile.
//! - **Neither map offers a point-in-time copy of all keys.** For one,
//!   clone the map behind an outer lock that writers also take. Equality
//!   (`==`) is a traversal too: meaningful when neither map is written
//!   meanwhile.
//!
//! Each map's module ([`shard_map`], [`atomic_map`]) details its own rules.
//!
//! # Same name, same meaning
//!
//! Where both maps offer an operation, it has the same name, arguments and
//! return meaning. Per-call methods return owned values; on
//! [`AtomicPtrMap`], whose values other threads may still be reading, an
//! owned previous value is a clone (`*_cloned`, `V: Clone`), and the pinned
//! handle ([`atomic_map::Pinned`], from `pin()`) returns it by reference,
//! valid while the handle lives. "—" means the map does not offer it, for
//! the reason given.
//!
//! | operation | [`ShardMap`] returns | [`AtomicPtrMap`] returns (per call; `Pinned`) | std `HashMap` | dashmap | papaya | Go `sync.Map` | Java `ConcurrentHashMap` | locking / progress |
//! |---|---|---|---|---|---|---|---|---|
//! | `get` | `Option<shard_map::Ref>` | `Option<atomic_map::Ref>`; `Option<&V>` | `get` | `get` | `pin().get` | `Load` | `get` | S: read lock while the `Ref` lives. A: no lock, the `Ref` pins |
//! | `get_cloned` | `Option<V>` | `Option<V>` | `get().cloned()` | `get().map(..)` | — | `Load` | `get` | S: read lock during the clone. A: lock-free |
//! | `view(k, f)` | `Option<R>` | `Option<R>` | — | `view` | — | — | — | S: `f` under the read lock. A: `f` under a pin, no lock |
//! | `get_key_value_cloned` | `Option<(K, V)>` | `Option<(K, V)>`; `Pinned::get_key_value`: `Option<(&K, &V)>` | `get_key_value` | — | `get_key_value` | — | — | as `get_cloned` |
//! | `contains_key` | `bool` | `bool` | `contains_key` | `contains_key` | `contains_key` | `Load` | `containsKey` | as `get_cloned` |
//! | `try_get` | `Result<Option<Ref>, WouldBlock>` | — (`get` never waits) | — | `try_get` | — | — | — | S: one attempt at the read lock |
//! | `insert` | `Option<V>`: the replaced value | `bool`: `true` if newly inserted (`HashSet::insert`); `Option<&V>` | `insert` | `insert` | `insert` | `Store` | `put` | S: write lock. A: CAS on the key's entry; a new key takes its partition's mutex |
//! | `insert_cloned` | — (`insert` returns the value itself) | `Option<V>` (clone of the replaced value) | `insert` | `insert` | `insert` | `Swap` | `put` | as `insert` |
//! | `remove` | `Option<V>` | `bool`: `true` if it was present; `Option<&V>` | `remove` | `remove` | `remove` | `Delete` | `remove(k)` | S: read-locked look, write lock if present. A: CAS |
//! | `remove_cloned` | — (`remove` returns the value itself) | `Option<V>` | `remove` | `remove` | `remove` | `LoadAndDelete` | `remove(k)` | as `remove` |
//! | `remove_entry` | `Option<(K, V)>` | — (keys stay shared with readers until a merge drops them) | `remove_entry` | `remove` | — | — | — | as `remove` |
//! | `remove_if(k, f)` | `Result<(K, V), NotRemoved>` | `Result<(), NotRemoved>`; `Result<&V, NotRemoved>` | — | `remove_if` | `remove_if` | — | `computeIfPresent` | S: `f` once, under the write lock. A: `f` without a lock, again if the value changed before the CAS |
//! | `compare_and_swap(k, &cur, new)` | `Result<(), V>` (`new` back) | `Result<(), V>` | — | — | `compute` | `CompareAndSwap` | `replace(k, old, new)` | S: `==` under the read lock, write lock only when equal. A: CAS, lock-free |
//! | `compare_and_delete(k, &cur)` | `bool` | `bool` | — | `remove_if` | `remove_if` | `CompareAndDelete` | `remove(k, v)` | as `compare_and_swap` |
//! | `load_or_store(k, v)` | `(V, bool)`: value, loaded | `(V, bool)`; `(&V, bool)` | `entry().or_insert` | `entry().or_insert` | `try_insert` | `LoadOrStore` | `putIfAbsent` | S: read lock; write lock if absent. A: lock-free if present; partition mutex to add |
//! | `get_or_insert_with(k, f)` | `V`; `f` at most once | `V`; `&V`; `f` at most once | `entry().or_insert_with` | `entry().or_insert_with` | — | — | `computeIfAbsent` | S: `f` under the shard's write lock (a call on that shard from `f` panics). A: `f` under one of 64 per-map locks only these calls take (a `get_or_insert_with` on the same map from `f` panics) |
//! | `get_or_insert_with_optimistic(k, f)` | `V` | `V`; `&V` | — | — | `get_or_insert_with` | `LoadOrStore(k, f())` | — | `f` runs with no lock; racing calls may each run it, one value is kept |
//! | `update(k, f)` | `Option<R>`: `f(&mut V) -> R` in place | `bool`: `f(&V) -> V`, a new value; `Option<&V>` | `get_mut` | `alter`, `get_mut` | `update` | — | `computeIfPresent` | S: `f` once, under the write lock. A: read-copy-update, `f` re-run on conflict (values are immutable: no `&mut V`) |
//! | `compute(k, f)` | `Option<V>`: the previous value | `Option<V>` (clone); `Option<&V>`: the previous value | — | — | `compute` | — | `compute` (returns the new value) | S: `f` once, under the write lock. A: `f` without a lock, re-run on conflict |
//! | `upsert(k, ins, upd)` | `bool`: inserted | — (its closures would need to re-run: use `compute`) | `entry()..` | `entry()..` | `update_or_insert` | — | `merge` | S: write lock |
//! | `entry`, `get_mut`, `iter_mut` | `Entry`, `RefMut`, `IterMut` | — (no lock to hold; values are immutable) | same | same | — | — | — | S: write lock while the guard lives |
//! | `len`, `is_empty` | `usize`, `bool` | `usize`, `bool` | `len` | `len` | `len` | — | `size` | counters, no lock; see [Consistency](#consistency) |
//! | `iter`, `keys`, `values` | guards (`MultiRef`) | `Pinned::iter`: `(&K, &V)`; `for_each(f)` | `iter` | `iter` | `pin().iter()` | `Range` | `forEach` | S: read lock per shard. A: no lock |
//! | `retain(f)`, `clear` | `()` | `()` | `retain`, `clear` | `retain`, `clear` | `retain`, `clear` | `Range` + `Delete`, `Clear` | `removeIf`, `clear` | S: write lock per shard. A: CAS per key |
//! | `reserve`, `try_reserve` | `()`, `Result<(), TryReserveError>` | — (room is set when built: `with_capacity`, `Builder::capacity`; overlays are tables readers probe without locks, so they cannot grow in place) | same | — | `reserve` | — | — | S: write lock per shard |
//! | `shrink_to_fit` | `()` | `()` (merges overlays, drops tombstones) | `shrink_to_fit` | `shrink_to_fit` | — | — | — | S: write lock per shard. A: each partition's mutex in turn; readers go on |
//! | `capacity` | `usize` | — (`stats()`) | `capacity` | `capacity` | `capacity` | — | — | S: read lock per shard |
//! | `new`, `with_capacity`, `builder()`, `default` | the map; `Builder` | the map; `Builder` | same | same | same | — | constructors | none |
//! | `==`, `clone`, `Extend<(K, V)>`, `Extend<(&K, &V)>`, `FromIterator` | yes | yes | yes | `clone` | `==`, `clone`, `Extend` | — | `equals` | traversals (see their docs) |
//! | `par_iter_cloned` (rayon) | `(K, V)` items | `(K, V)` items; also `par_for_each` | — | `par_iter` | — | — | `forEach(parallelism)` | as `iter` |
//! | `pin`, `pin_owned`, `stats` | — (no epochs) | handles; `Stats` | — | — | `pin`, `pin_owned` | — | — | a pin holds back memory reclamation while it lives |
//! | `shard_count` | `usize` | — (`stats().partitions`) | — | — | — | — | — | none |
//!
//! ```
//! use epochmap::{AtomicPtrMap, NotRemoved, ShardMap};
//!
//! // The same lines, the same results, on both maps.
//! let s: ShardMap<&str, u32> = ShardMap::new();
//! let a: AtomicPtrMap<&str, u32> = AtomicPtrMap::new();
//! assert_eq!(s.load_or_store("k", 1), (1, false));
//! assert_eq!(a.load_or_store("k", 1), (1, false));
//! assert_eq!(s.compute("k", |v| v.map(|v| v + 1)), Some(1)); // the previous value
//! assert_eq!(a.compute("k", |v| v.map(|v| v + 1)), Some(1));
//! assert_eq!(s.compare_and_swap("k", &2, 3), Ok(()));
//! assert_eq!(a.compare_and_swap("k", &2, 3), Ok(()));
//! assert_eq!(*s.get("k").unwrap(), 3);
//! assert_eq!(*a.get("k").unwrap(), 3);
//! assert_eq!(s.remove_if("x", |_, _| true).err(), Some(NotRemoved::Absent));
//! assert_eq!(a.remove_if("x", |_, _| true).err(), Some(NotRemoved::Absent));
//! ```
//!
//! A value compared by `compare_and_swap` must be `PartialEq`:
//!
//! ```compile_fail
//! struct NoEq(u8);
//! let map = epochmap::AtomicPtrMap::new();
//! map.insert(1, NoEq(0));
//! let _ = map.compare_and_swap(&1, &NoEq(0), NoEq(1));
//! ```
//!
//! ## Migrating between the two maps
//!
//! Most lines carry over unchanged. What changes:
//!
//! - `insert` and `remove` return the value itself on `ShardMap`
//!   (`Option<V>`) and a `bool` on `AtomicPtrMap` (`insert`: newly
//!   inserted, i.e. `ShardMap::insert(..).is_none()`; `remove`: was
//!   present); for the value on `AtomicPtrMap` use `insert_cloned` /
//!   `remove_cloned`, or `pin().insert` / `pin().remove`. Code that mixes
//!   them up does not compile.
//! - `update` mutates in place on `ShardMap` (`FnOnce(&mut V) -> R`) and
//!   builds a new value on `AtomicPtrMap` (`FnMut(&V) -> V`, may re-run).
//! - Closures of `AtomicPtrMap`'s `update`, `compute` and `remove_if` may
//!   run more than once; `ShardMap` runs each once, under the shard's lock.
//! - `ShardMap`'s guards hold a lock (drop them before calling the map
//!   again); `AtomicPtrMap`'s hold a pin (drop them soon, for memory).
//! - `entry`, `get_mut`, `iter_mut`, `upsert`, `reserve`, `try_get` are
//!   `ShardMap` only; `pin`, `pin_owned`, `for_each`, `stats` are
//!   `AtomicPtrMap` only (see the table for why).
//!
//! Renamed so that both maps say the same thing (there has been no release,
//! so the old names are gone, not deprecated):
//!
//! | before | now |
//! |---|---|
//! | `AtomicPtrMap::with(k, f)`, `f: FnOnce(Option<&V>) -> R` | [`AtomicPtrMap::view`]`(k, f)`, `f: FnOnce(&V) -> R`, returns `Option<R>` (as `ShardMap::view`) |
//! | `AtomicPtrMap::compact` | [`AtomicPtrMap::shrink_to_fit`] |
//! | `ShardMap::par_iter` | `ShardMap::par_iter_cloned` (as `AtomicPtrMap::par_iter_cloned`; it yields clones) |
//! | `shard_map::ShardMapBuilder` | [`shard_map::Builder`] (as [`atomic_map::Builder`]) |
//! | `AtomicPtrMap::builder()` on `AtomicPtrMap<(), ()>`, `build::<K, V>()` | `AtomicPtrMap::<K, V>::builder()`, `build()` (as `ShardMap`) |
//! | `AtomicPtrMap::get_or_insert_with` (closure without a lock, may run in several racing calls) | `get_or_insert_with_optimistic`; `get_or_insert_with` now runs its closure at most once, on both maps |
//!
//! And changed meaning: `AtomicPtrMap::compute` returns the **previous**
//! value (it returned the new one), as `ShardMap::compute`;
//! `AtomicPtrMap::insert`'s `bool` is `true` for a **new** key (it was `true`
//! for a present one); `ShardMap::remove_if` returns `Result<(K, V),
//! NotRemoved>` (it returned `Option<(K, V)>`).
//!
//! # Async code
//!
//! Guards ([`shard_map::Ref`], [`shard_map::RefMut`], [`shard_map::Entry`],
//! [`atomic_map::Ref`], [`atomic_map::Pinned`] and the iterators) are
//! `!Send`: a `Send` future cannot hold one across an `.await`, which rules
//! out the deadlock that dashmap users meet most (a guard held across
//! `.await` while another task on the same thread asks for the same shard).
//! Async code uses the per-call methods (`get_cloned`, `view`, `update`,
//! `compute`, ...), which take and release any lock or pin inside the call.
//!
//! The compiler's error names the guard ("has type `Option<Ref<'_, u64,
//! String>>` which is not `Send`") and the fix: "the trait `Send` is not
//! implemented for `dyn GuardHeldAcrossAwait_UseGetClonedOrViewInstead`",
//! once per guard.
//!
//! (`spawn` below stands for `tokio::spawn`, which demands the same bound.)
//!
//! ```compile_fail
//! # fn spawn<F: std::future::Future + Send + 'static>(_: F) {}
//! use std::sync::Arc;
//! let map: Arc<epochmap::ShardMap<u64, String>> = Arc::new(epochmap::ShardMap::new());
//! spawn(async move {
//!     let name = map.get(&1); // a guard...
//!     std::future::ready(()).await; // ...held across an `.await`
//!     drop(name);
//! });
//! ```
//!
//! ```
//! # fn spawn<F: std::future::Future + Send + 'static>(_: F) {}
//! use std::sync::Arc;
//! let map: Arc<epochmap::ShardMap<u64, String>> = Arc::new(epochmap::ShardMap::new());
//! spawn(async move {
//!     let name = map.get_cloned(&1); // an owned value: fine
//!     std::future::ready(()).await;
//!     drop(name);
//! });
//! ```
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
mod not_send;
pub mod shard_map;
mod vocab;

pub use atomic_map::AtomicPtrMap;
#[doc(hidden)]
pub use not_send::GuardHeldAcrossAwait_UseGetClonedOrViewInstead;
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
