//! [`AtomicPtrMap`]: a concurrent hash map with lock-free reads over
//! epoch-reclaimed snapshots and delta overlays, safe to iterate while other
//! threads delete.
//!
//! The user documentation (design, consistency, garbage, when not to use
//! it) is on [`AtomicPtrMap`] itself. This module holds its companions: the
//! guards [`Ref`], [`Pinned`] and [`OwnedPinned`], the iterators, the [`Builder`] and
//! its [`BuildError`], and [`Stats`].

mod iter;
mod once;
// All of AtomicPtrMap's unsafe code (the crate root denies it elsewhere).
#[allow(unsafe_code)]
mod raw;

#[cfg(feature = "rayon")]
mod rayon;
#[cfg(feature = "serde")]
mod serde;

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use std::marker::PhantomData;

use once::InitLocks;
use raw::{Guarded, Inserted, NewValue, PinGuard, Policy, RawMap};

use crate::NotRemoved;

pub use iter::{IntoIter, Iter, Keys, Values};

/// Default smallest overlay capacity (entries) before a merge.
const DEFAULT_MERGE_THRESHOLD: usize = 16;
/// Default ratio: an overlay takes `snapshot / 4` entries before a merge.
const DEFAULT_MERGE_RATIO: usize = 4;
/// Largest accepted merge threshold: an overlay of this many entries is
/// allocated per partition up front.
const MAX_MERGE_THRESHOLD: usize = 1 << 24;
/// Largest accepted partition count.
const MAX_PARTITIONS: usize = raw::MAX_PARTITIONS;
/// Largest capacity the builder accepts, and the clamp of `with_capacity`.
const MAX_CAPACITY: usize = 1 << 30;

/// A concurrent hash map with lock-free reads over epoch-reclaimed snapshots
/// and delta overlays, safe to iterate while other threads delete.
///
/// # Design
///
/// The map is the design of Go's `sync.Map` (a read-only map behind an atomic
/// pointer plus a mutable overlay for new keys) without its cliffs:
///
/// - The map is split into `P` **partitions** by hash bits. Each has its own
///   layer set, published as one atomic pointer: an immutable **snapshot**
///   (an open-addressing table of entries), at most one **sealed overlay**
///   being merged, and the **active overlay** that takes new keys. A reader
///   loads the layer set once (Acquire) and probes the tables without a
///   lock; overlays are written slot by slot with Release (a CAS claims a
///   free slot), so a lookup that misses never takes a lock.
/// - An **entry** holds its key and an atomic pointer to an immutable value.
///   Overwriting a present key is a CAS on that pointer (lock-free, no
///   mutex); removal stores a tombstone (null). A *new* key is added
///   lock-free too while its partition runs no merge; otherwise it takes
///   the partition mutex, and only that partition's.
/// - When the active overlay is full (`max(merge_threshold, snapshot/ratio)`
///   entries), it is sealed and a **merge** builds the next snapshot from the
///   live entries of the snapshot and the sealed overlay (entries move by
///   pointer). The merge is incremental: each following insert of a new key
///   in the partition does a bounded slice of it (tens of slots), so no
///   insert pays an O(n) copy. Lookups help too: one that finds its key in
///   an overlay rather than the snapshot counts it (sampled), and after as
///   many such hits as the overlay has entries it *tries* the partition
///   mutex (never waits) to seal the overlay or do one slice of the running
///   merge, so a map filled once and then only read ends up entirely in its
///   snapshots, where lookups are cheapest. Tombstoned entries are *expunged* by the
///   merge (CAS null -> `EXPUNGED`, racing fairly with a writer reviving the
///   key; an expunged key gets a fresh entry in the active overlay).
/// - Removals help too, so that deleted keys give their memory back without
///   new inserts or [`shrink_to_fit`](AtomicPtrMap::shrink_to_fit): once at least half
///   of a partition's entries (and at least the merge threshold of them)
///   are tombstones, a removal *tries* the partition mutex (never waits) to
///   seal the overlay or do one bounded slice of the running merge, sized
///   so that a merge of `E` entries ends within `E / 8` such removals.
///   Deleting every key of a map leaves fewer than twice the merge
///   threshold of entries held per partition (one thread deleting; a
///   removal that finds the mutex taken skips its slice).
/// - Everything unlinked (values, expunged entries, old arrays) is freed by
///   `crossbeam-epoch` after every thread that could see it has unpinned.
///
/// Latency: no insert does more than a bounded slice of merge work. Retired
/// arrays of 64 KiB or more are freed by a background thread (one per
/// process, `epochmap-reclaim`, started on first use), so no insert or
/// lookup pays for returning their pages to the system. Allocating them is
/// still the inserting thread's, one array per insert at most: with glibc's
/// default settings each large array is a fresh `mmap`, faulted in page by
/// page. For latency-critical
/// maps of millions of keys, keep them on the allocator's heap: `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824`
/// (or the same two settings through `mallopt` at start-up). BENCHMARKS.md
/// ("Slowest insert against map size") has the figures.
///
/// Fork: a child process forked without exec has none of the parent's
/// threads; the first large array the child frees starts a reclaimer
/// thread for the child (which also frees the child's copies of arrays the
/// parent had queued), so the child never waits for the parent's thread,
/// and leaks at most the arrays the parent's reclaimer was freeing at the
/// moment of the fork. (A child is told from its parent by its process id
/// or by a fork generation that a `pthread_atfork` child handler moves on,
/// so a child that has its parent's process id, as pid 1 of a new pid
/// namespace can, is recognised too, unless it was forked by a call that
/// runs no fork handlers, such as a raw `fork` system call: such a child
/// would leak its large arrays.) Fork while no other thread is inside a call on an
/// `AtomicPtrMap` or holds a guard of one (as a pre-fork server does, or any
/// program that forks before starting its threads): a thread pinned or
/// holding a partition mutex at the moment of the fork stays so in the
/// child's copy, so the child would never free retired memory, or its
/// writes to that partition could wait forever.
///
/// # Consistency
///
/// The rules for both maps are in the crate's
/// [Consistency](crate#consistency) section; for `AtomicPtrMap` in
/// particular:
///
/// - A `get` that returns a value *happens-after* the insert (or update) that
///   stored it: everything that thread wrote before the insert is visible to
///   the reader. If an insert happens-before a `get` (for example through a
///   channel or a join), the `get` sees that value or a later one.
/// - A value returned under a guard (`&'g V`) stays valid and unchanged for
///   as long as the guard lives, even if it is overwritten or removed
///   meanwhile: values are immutable, and replaced ones are freed only after
///   the guard is gone.
/// - Iteration is **weakly consistent**: every key that is present for the
///   whole traversal (its insert happens-before the traversal starts, as for
///   `get`, and it is not removed before the traversal ends) is yielded
///   exactly once; no key is ever yielded twice;
///   keys inserted or removed during the traversal may or may not appear;
///   each yielded value was the key's value at some moment during the
///   traversal. The map is not frozen: the traversal visits partitions one
///   after the other, each through the layer set it loads when it gets
///   there (newest table first), so it is not a snapshot of one instant; for
///   that, copy the map under your own lock. [`AtomicPtrMap::for_each`]
///   (and `retain`, `clear`, `clone`, `par_for_each`) give the same
///   guarantee while visiting a partition a chunk of keys (a range of hash
///   values) at a time, each chunk under a pin of its own and through the
///   layer set current then. No traversal ever touches freed
///   memory, however many threads delete meanwhile.
/// - `len` sums per-partition counters without a lock: exact when no writer
///   runs; otherwise see [`len`](crate#consistency) (the sum need not be a
///   size the map ever had).
/// - Compound operations (`update`, `compute`, `load_or_store`,
///   `get_or_insert_with`, `compare_and_swap`, `compare_and_delete`,
///   `remove_if`) are atomic per key; `clear` and `retain` are not atomic
///   across keys.
///
/// # Memory and garbage
///
/// Memory that a reader may still see is freed only when every guard that
/// was alive when it was unlinked has been dropped. A guard held for a long
/// time (a long iteration, a forgotten [`Pinned`]) therefore holds back the
/// garbage of *every* map of the process that uses the global epoch, for as
/// long as it lives: memory grows with the write rate times the guard's
/// lifetime. [`AtomicPtrMap::stats`] reports the objects and bytes retired
/// by this map and not yet freed (`garbage_objects`, `garbage_bytes`), so
/// this shows up in monitoring instead of growing unnoticed. Keep guards
/// short, or call [`Pinned::repin`] between batches. For a long traversal
/// use [`AtomicPtrMap::for_each`], which pins once per chunk of about a
/// thousand entries (so do `retain`, `clear` and `par_for_each`), and stays
/// weakly consistent across chunks; `pin().iter()` holds one guard for
/// the whole traversal, and so does serialisation (with the `serde`
/// feature): serialising a large map to a slow writer holds back garbage for
/// as long.
///
/// Because the global collector may drop retired values on any thread, at
/// any later time (even after the map is dropped), the map's operations
/// require `K` and `V` to be `Send + 'static`. For the same reason `Drop` of
/// `K` and `V` must not panic: it may run inside another thread's `pin`.
/// (A panic in `Drop` while the map itself is dropped leaks the entries not
/// yet freed.)
///
/// # Locking behaviour
///
/// Reads (`get`, `contains_key`, iteration, `len`, `stats`) never wait for
/// a lock. (A lookup that keeps finding keys in an overlay occasionally
/// *tries* the partition mutex to help the merge along, see the design
/// above; if the mutex is taken it simply goes on.)
/// Overwrites, removals and updates of a key that has an entry are a CAS on
/// that entry, without waiting for a lock. (A removal in a partition whose
/// entries are mostly tombstones then *tries* the mutex to help the merge
/// that drops them, as lookups do.) The insert of a *new* key (one with no
/// entry, or whose entry a merge expunged) claims a slot of the active
/// overlay without waiting for a lock while the partition runs no merge;
/// otherwise (a merge runs, or the overlay is full, or another insert of a
/// key of the same hash is in flight) it takes the writer mutex of its
/// partition, for the search, the slot write and a bounded slice of merge
/// work, and the insert that fills the overlay takes it to seal it.
/// [`shrink_to_fit`](AtomicPtrMap::shrink_to_fit) and
/// [`clear`](AtomicPtrMap::clear) take each partition's mutex in turn. No
/// lock is ever held while user code other than `Eq` runs (not even the
/// `Drop` of the key and value being inserted when that `Eq` panics: they
/// are dropped after the mutex is released), and no guard holds a lock, so
/// holding a [`Pinned`] while calling the map again, or calling it from a
/// `Drop` of a key or value, cannot deadlock.
///
/// # Async and long-lived users
///
/// Guards ([`Pinned`], [`OwnedPinned`]) are `!Send`: they cannot be held
/// across an `.await` in a `Send` future (the compiler refuses). Async code
/// uses the per-call methods ([`AtomicPtrMap::get_cloned`],
/// [`AtomicPtrMap::insert`], ...), which pin and unpin inside the call. A
/// long-lived reader on one thread (a thread-local cache, a worker loop) can
/// hold an [`OwnedPinned`] from [`AtomicPtrMap::pin_owned`], which owns an
/// `Arc` of the map and is `'static`; it should call [`OwnedPinned::repin`]
/// now and then so garbage can be freed.
///
/// # When not to use it
///
/// - **Write-heavy workloads with few reads**, and above all streams of new
///   keys: every new key allocates an entry and a value, and takes a
///   partition mutex while a merge runs, and overwrites allocate and retire a value each. `ShardMap`
///   (sharded `RwLock<HashTable>`, values stored inline) is faster and leaner
///   there.
/// - Values that are large or expensive to allocate and change often: every
///   overwrite allocates a new `Box<V>`.
/// - When memory must be returned promptly: see the garbage trade-off above.
///
/// # Example
///
/// ```
/// use epochmap::AtomicPtrMap;
///
/// let map: AtomicPtrMap<u64, String> = AtomicPtrMap::new();
/// map.insert(1, "one".to_string());
/// assert_eq!(map.get_cloned(&1).as_deref(), Some("one"));
///
/// // Many operations under one guard; references live as long as it.
/// let m = map.pin();
/// m.insert(2, "two".to_string());
/// let two: &String = m.get(&2).unwrap();
/// m.remove(&2); // `two` stays valid while `m` lives
/// assert_eq!(two, "two");
/// assert_eq!(m.len(), 1);
/// ```
pub struct AtomicPtrMap<K, V, S = ahash::RandomState> {
    raw: RawMap<K, V>,
    hash_builder: S,
    /// Taken only by [`get_or_insert_with`](Self::get_or_insert_with).
    init: InitLocks,
}

/// Why [`Builder::build`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `partitions(0)`.
    ZeroPartitions,
    /// More partitions than [`AtomicPtrMap::MAX_PARTITIONS`].
    TooManyPartitions {
        /// The count asked for.
        requested: usize,
    },
    /// `merge_threshold(0)` or `merge_ratio(0)`.
    ZeroMergeParameter,
    /// A merge threshold above [`AtomicPtrMap::MAX_MERGE_THRESHOLD`].
    MergeThresholdTooLarge {
        /// The threshold asked for.
        requested: usize,
    },
    /// `partitions x merge_threshold` above
    /// [`AtomicPtrMap::MAX_MERGE_THRESHOLD`]: every partition allocates an
    /// overlay of `merge_threshold` entries up front, so the product is the
    /// memory the map takes before its first insert.
    UpFrontTooLarge {
        /// The partition count (rounded up to a power of two).
        partitions: usize,
        /// The merge threshold asked for.
        merge_threshold: usize,
    },
    /// A capacity above [`AtomicPtrMap::MAX_CAPACITY`], or one whose overlays
    /// the allocator refused (they are allocated up front, see
    /// [`Builder::capacity`]).
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroPartitions => {
                f.write_str("an AtomicPtrMap needs at least one partition")
            }
            BuildError::TooManyPartitions { requested } => write!(
                f,
                "{requested} partitions requested; at most {MAX_PARTITIONS} are supported"
            ),
            BuildError::ZeroMergeParameter => {
                f.write_str("merge threshold and merge ratio must be at least 1")
            }
            BuildError::MergeThresholdTooLarge { requested } => write!(
                f,
                "merge threshold {requested} is above the maximum {MAX_MERGE_THRESHOLD}"
            ),
            BuildError::UpFrontTooLarge {
                partitions,
                merge_threshold,
            } => write!(
                f,
                "{partitions} partitions x merge threshold {merge_threshold} entries \
                 allocated up front is above the maximum {MAX_MERGE_THRESHOLD}"
            ),
            BuildError::CapacityTooLarge { requested } => write!(
                f,
                "capacity {requested} is above the maximum {MAX_CAPACITY}, \
                 or its overlays could not be allocated"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Configures an [`AtomicPtrMap`]. Created by [`AtomicPtrMap::builder`].
///
/// ```
/// use epochmap::AtomicPtrMap;
///
/// let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder()
///     .partitions(8)
///     .merge_threshold(64)
///     .build()
///     .unwrap();
/// assert_eq!(map.stats().partitions, 8);
/// assert!(AtomicPtrMap::<u64, u64>::builder().partitions(0).build().is_err());
/// ```
pub struct Builder<K, V, S = ahash::RandomState> {
    partitions: Option<usize>,
    capacity: usize,
    merge_threshold: usize,
    merge_ratio: usize,
    incremental: bool,
    hasher: S,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, S: Clone> Clone for Builder<K, V, S> {
    fn clone(&self) -> Self {
        Builder {
            hasher: self.hasher.clone(),
            _types: PhantomData,
            ..*self
        }
    }
}

impl<K, V, S: fmt::Debug> fmt::Debug for Builder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("partitions", &self.partitions)
            .field("capacity", &self.capacity)
            .field("merge_threshold", &self.merge_threshold)
            .field("merge_ratio", &self.merge_ratio)
            .field("incremental", &self.incremental)
            .field("hasher", &self.hasher)
            .finish()
    }
}

impl<K, V, S> Builder<K, V, S> {
    /// Number of partitions (each with its own snapshot, overlay and writer
    /// mutex). Rounded up to a power of two. Default: 4 x the available
    /// parallelism, rounded up to a power of two, at most 64.
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n);
        self
    }

    /// Presizes the map for `keys` keys (default 0: not presized), like
    /// [`AtomicPtrMap::with_capacity`] (which explains what that means
    /// here). [`build`](Self::build) refuses a capacity above
    /// [`AtomicPtrMap::MAX_CAPACITY`], or one whose overlays the allocator
    /// refuses, with [`BuildError::CapacityTooLarge`].
    ///
    /// ```
    /// use epochmap::AtomicPtrMap;
    ///
    /// let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder().capacity(10_000).build().unwrap();
    /// for k in 0..10_000 {
    ///     map.insert(k, k);
    /// }
    /// let stats = map.stats();
    /// assert_eq!((stats.merges, stats.merges_in_progress), (0, 0));
    /// assert!(AtomicPtrMap::<u64, u64>::builder().capacity(usize::MAX).build().is_err());
    /// ```
    pub fn capacity(mut self, keys: usize) -> Self {
        self.capacity = keys;
        self
    }

    /// Smallest number of new keys an overlay takes before it is merged
    /// (default 16). `1` merges almost constantly (useful in tests).
    pub fn merge_threshold(mut self, entries: usize) -> Self {
        self.merge_threshold = entries;
        self
    }

    /// An overlay takes `snapshot_len / ratio` new keys (at least the merge
    /// threshold) before it is merged (default 4). Smaller ratios mean fewer,
    /// larger merges.
    pub fn merge_ratio(mut self, ratio: usize) -> Self {
        self.merge_ratio = ratio;
        self
    }

    /// Whether merges are spread over the following inserts (default, true)
    /// or done entirely by the insert that fills the overlay (false: simpler,
    /// but that insert pays `O(partition size)`).
    pub fn incremental_merge(mut self, yes: bool) -> Self {
        self.incremental = yes;
        self
    }

    /// The hasher builder.
    pub fn hasher<S2>(self, hasher: S2) -> Builder<K, V, S2> {
        Builder {
            partitions: self.partitions,
            capacity: self.capacity,
            merge_threshold: self.merge_threshold,
            merge_ratio: self.merge_ratio,
            incremental: self.incremental,
            hasher,
            _types: PhantomData,
        }
    }
}

impl<K, V, S> Builder<K, V, S>
where
    K: Send + 'static,
    V: Send + 'static,
{
    /// Builds the map, or says why the configuration is refused.
    pub fn build(self) -> Result<AtomicPtrMap<K, V, S>, BuildError> {
        Ok(AtomicPtrMap {
            raw: self.build_raw()?,
            hash_builder: self.hasher,
            init: InitLocks::new(),
        })
    }

    /// The engine of [`build`](Self::build), leaving the hasher here.
    fn build_raw(&self) -> Result<RawMap<K, V>, BuildError> {
        let partitions = match self.partitions {
            Some(0) => return Err(BuildError::ZeroPartitions),
            Some(n) if n > MAX_PARTITIONS => {
                return Err(BuildError::TooManyPartitions { requested: n })
            }
            Some(n) => n.next_power_of_two(),
            None => default_partitions(),
        };
        if self.merge_threshold == 0 || self.merge_ratio == 0 {
            return Err(BuildError::ZeroMergeParameter);
        }
        if self.merge_threshold > MAX_MERGE_THRESHOLD {
            return Err(BuildError::MergeThresholdTooLarge {
                requested: self.merge_threshold,
            });
        }
        if partitions.saturating_mul(self.merge_threshold) > MAX_MERGE_THRESHOLD {
            return Err(BuildError::UpFrontTooLarge {
                partitions,
                merge_threshold: self.merge_threshold,
            });
        }
        if self.capacity > MAX_CAPACITY {
            return Err(BuildError::CapacityTooLarge {
                requested: self.capacity,
            });
        }
        let policy = Policy {
            min_overlay: self.merge_threshold,
            ratio: self.merge_ratio,
            incremental: self.incremental,
        };
        RawMap::try_new(partitions, policy, self.capacity).ok_or(BuildError::CapacityTooLarge {
            requested: self.capacity,
        })
    }
}

fn default_partitions() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
    cores.saturating_mul(4).next_power_of_two().min(64)
}

/// Statistics of an [`AtomicPtrMap`], read without locks (each figure is
/// exact for its partition at the moment it was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Number of partitions.
    pub partitions: usize,
    /// Live keys (as [`AtomicPtrMap::len`]).
    pub len: usize,
    /// Entries in the snapshots (live or tombstoned).
    pub snapshot_entries: usize,
    /// Entries in the overlays, sealed and active (live or tombstoned).
    pub overlay_entries: usize,
    /// Merges completed.
    pub merges: usize,
    /// Partitions with a merge in progress.
    pub merges_in_progress: usize,
    /// Objects retired by this map and not yet freed (values, entries,
    /// arrays): they wait for guards to be dropped. The first value of an
    /// entry is stored inside the entry when `V` is small and has no drop
    /// glue; overwriting it retires nothing (its memory goes with the entry),
    /// so only later overwrites count here.
    pub garbage_objects: usize,
    /// Bytes of those objects (shallow: `size_of::<V>()` per value).
    pub garbage_bytes: usize,
    /// Bytes held by the tables readers can reach and by their entries: the
    /// slot and tag arrays of every snapshot and overlay, and each entry's
    /// allocation (key, hash, value pointer, and the first value when it is
    /// stored inline). Shallow (not what keys and values own on the heap),
    /// without values boxed on their own, without a running merge's next
    /// snapshot and the overlay prepared for the next seal, and without
    /// garbage (`garbage_bytes`). Tombstoned entries count until a merge
    /// drops them.
    pub table_bytes: usize,
}

impl<K, V> AtomicPtrMap<K, V, ahash::RandomState>
where
    K: Send + 'static,
    V: Send + 'static,
{
    /// An empty map with the default configuration.
    pub fn new() -> Self {
        AtomicPtrMap::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// An empty map presized for `keys` keys: inserting up to `keys` new
    /// keys starts no merge.
    ///
    /// What presized means here: new keys go into each partition's active
    /// overlay, and a full overlay is sealed and merged into the
    /// partition's snapshot, a copy of the partition (see
    /// [Design](AtomicPtrMap#design)). Without a capacity the first overlay
    /// takes 16 keys and each next one a quarter of the snapshot, so a
    /// prefill of `n` keys runs a few dozen merges per partition. With it,
    /// each partition's first overlay is allocated for its share of `keys`
    /// plus a quarter (keys do not spread exactly evenly), about 25 to 45
    /// bytes of slot and tag arrays per key, allocated zeroed up front
    /// (pages are touched as they fill); entries are still allocated per
    /// insert. Lookups find the keys in that overlay (one more table probed
    /// than a snapshot hit: the empty snapshot's); reads do not seal it, so
    /// call [`shrink_to_fit`](AtomicPtrMap::shrink_to_fit) after a prefill to fold it
    /// into the snapshots. It is merged when it fills, on `shrink_to_fit`, or when
    /// removals leave its partition mostly tombstones; after that, overlays
    /// follow the merge policy again.
    ///
    /// `keys` above [`MAX_CAPACITY`](AtomicPtrMap::MAX_CAPACITY) is clamped
    /// to it, and if the allocator refuses the overlays, the map is built
    /// without a capacity (use [`Builder::capacity`] to get an error
    /// instead).
    ///
    /// ```
    /// use epochmap::AtomicPtrMap;
    ///
    /// let mut map: AtomicPtrMap<u64, u64> = AtomicPtrMap::with_capacity(1000);
    /// map.extend((0..1000).map(|k| (k, k)));
    /// assert_eq!(map.stats().merges, 0);
    /// ```
    pub fn with_capacity(keys: usize) -> Self {
        Self::with_capacity_and_hasher(keys, ahash::RandomState::new())
    }

    /// A builder to configure partitions, capacity, merge policy and
    /// hasher; as [`ShardMap::builder`](crate::ShardMap::builder), the key and
    /// value types are the map's.
    ///
    /// ```
    /// use epochmap::AtomicPtrMap;
    ///
    /// let map = AtomicPtrMap::<String, u16>::builder().partitions(4).build().unwrap();
    /// map.insert("port".to_string(), 8080);
    /// let inferred: AtomicPtrMap<u8, u8> = AtomicPtrMap::builder().build().unwrap();
    /// assert!(inferred.is_empty());
    /// ```
    pub fn builder() -> Builder<K, V, ahash::RandomState> {
        Builder {
            partitions: None,
            capacity: 0,
            merge_threshold: DEFAULT_MERGE_THRESHOLD,
            merge_ratio: DEFAULT_MERGE_RATIO,
            incremental: true,
            hasher: ahash::RandomState::new(),
            _types: PhantomData,
        }
    }
}

impl<K, V, S> AtomicPtrMap<K, V, S> {
    /// Largest partition count [`Builder::partitions`] accepts (65536: the
    /// partition index uses the top 16 bits of the hash).
    pub const MAX_PARTITIONS: usize = MAX_PARTITIONS;
    /// Largest merge threshold [`Builder::merge_threshold`] accepts (an
    /// overlay of that many entries is allocated per partition up front).
    pub const MAX_MERGE_THRESHOLD: usize = MAX_MERGE_THRESHOLD;
    /// Largest capacity [`Builder::capacity`] accepts (2^30 keys), and the
    /// clamp of [`with_capacity`](AtomicPtrMap::with_capacity).
    pub const MAX_CAPACITY: usize = MAX_CAPACITY;
}

impl<K, V, S> AtomicPtrMap<K, V, S>
where
    K: Send + 'static,
    V: Send + 'static,
{
    /// An empty map with the default configuration and the given hasher.
    pub fn with_hasher(hasher: S) -> Self {
        AtomicPtrMap::<K, V>::builder()
            .hasher(hasher)
            .build()
            .expect("the default configuration is valid")
    }

    /// An empty map presized for `keys` keys (see
    /// [`with_capacity`](AtomicPtrMap::with_capacity)), with the given
    /// hasher.
    pub fn with_capacity_and_hasher(keys: usize, hasher: S) -> Self {
        let builder = AtomicPtrMap::<K, V>::builder().capacity(keys.min(MAX_CAPACITY));
        let raw = builder
            .build_raw()
            .or_else(|_| builder.capacity(0).build_raw())
            .expect("the default configuration is valid");
        AtomicPtrMap {
            raw,
            hash_builder: hasher,
            init: InitLocks::new(),
        }
    }

    /// The hasher builder.
    pub fn hasher(&self) -> &S {
        &self.hash_builder
    }

    /// Number of live keys, summed over partitions without a lock (see
    /// [Consistency](crate#consistency)).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pins the current thread and returns a handle for many operations
    /// under one guard; references it returns live as long as it.
    pub fn pin(&self) -> Pinned<'_, K, V, S> {
        Pinned {
            map: self,
            guard: PinGuard::new(),
        }
    }

    /// Like [`pin`](Self::pin), but the handle owns an `Arc` of the map and
    /// is `'static` (still `!Send`). See [Async and long-lived
    /// users](AtomicPtrMap#async-and-long-lived-users).
    pub fn pin_owned(self: &Arc<Self>) -> OwnedPinned<K, V, S> {
        OwnedPinned {
            guard: PinGuard::new(),
            map: Arc::clone(self),
        }
    }

    /// Finishes pending merges and merges every overlay into its snapshot,
    /// dropping tombstones. `O(n)`, each partition under its writer mutex in
    /// turn (readers and overwrites continue). A partition that is compact
    /// already (no overlay entries, no tombstones, a snapshot sized for its
    /// keys) is left as it is.
    pub fn shrink_to_fit(&self) {
        let guard = raw::pin();
        self.raw.compact(&guard);
    }

    /// Statistics: sizes, merges and garbage awaiting reclamation.
    pub fn stats(&self) -> Stats {
        let guard = raw::pin();
        let mut s = Stats {
            partitions: self.raw.partition_count(),
            len: self.len(),
            ..Stats::default()
        };
        for p in self.raw.part_stats(&guard) {
            s.snapshot_entries += p.snapshot;
            s.overlay_entries += p.overlay;
            s.merges += p.merges;
            s.merges_in_progress += usize::from(p.merging);
            s.garbage_objects += p.garbage_objects;
            s.garbage_bytes += p.garbage_bytes;
            s.table_bytes += p.table_bytes;
        }
        let values = self.raw.garbage_values();
        s.garbage_objects += values;
        s.garbage_bytes = s
            .garbage_bytes
            .saturating_add(values.saturating_mul(std::mem::size_of::<V>()));
        s
    }
}

impl<K, V, S> AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hash_builder.hash_one(key)
    }

    /// The value of `key`, as a guard that derefs to it (the std and
    /// `ShardMap` shape: `*map.get(&k).unwrap()`); `None` if absent.
    ///
    /// The [`Ref`] pins this thread, as a [`Pinned`] does: the value stays
    /// valid and unchanged while it lives, even if the key is overwritten or
    /// removed meanwhile, and it holds back the freeing of retired memory,
    /// so drop it soon. It takes no lock. For many reads under one pin use
    /// [`pin`](Self::pin) (papaya's `pin().get`); to keep the value, use
    /// [`get_cloned`](Self::get_cloned) or [`view`](Self::view).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("a", vec![1, 2]);
    /// let a = map.get("a").unwrap();
    /// map.remove("a"); // `a` stays valid
    /// assert_eq!(*a, vec![1, 2]);
    /// assert!(map.get("a").is_none());
    /// ```
    ///
    /// Like every guard of this crate, it cannot cross threads or an
    /// `.await` of a `Send` future:
    ///
    /// ```compile_fail
    /// fn assert_send<T: Send>(_: T) {}
    /// let map = epochmap::AtomicPtrMap::<u32, u32>::new();
    /// assert_send(map.get(&1));
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Guarded::find(&self.raw, self.hash(key), key).map(|inner| Ref { inner })
    }

    /// A clone of the value of `key`.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert(1, "one".to_string());
    /// assert_eq!(map.get_cloned(&1).as_deref(), Some("one"));
    /// ```
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let guard = raw::pin();
        self.raw.get(&guard, self.hash(key), key).cloned()
    }

    /// Clones of the stored key and the value of `key` (std's
    /// `get_key_value`, cloned; [`Pinned::get_key_value`] borrows them).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("k".to_string(), 1);
    /// assert_eq!(map.get_key_value_cloned("k"), Some(("k".to_string(), 1)));
    /// ```
    pub fn get_key_value_cloned<Q>(&self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let m = self.pin();
        m.get_key_value(key).map(|(k, v)| (k.clone(), v.clone()))
    }

    /// Runs `f` on the value of `key` and returns its result, or `None` if
    /// the key is absent: a read without cloning the value. `f` runs under a
    /// short-lived pin, no lock.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert(1, vec![1, 2, 3]);
    /// assert_eq!(map.view(&1, |v| v.len()), Some(3));
    /// assert_eq!(map.view(&2, |v| v.len()), None);
    /// ```
    pub fn view<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = raw::pin();
        self.raw.get(&guard, self.hash(key), key).map(f)
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = raw::pin();
        self.raw.get(&guard, self.hash(key), key).is_some()
    }

    /// Inserts or overwrites; returns `true` if the key was absent (newly
    /// inserted), `false` if a value was replaced: `HashSet::insert`'s
    /// meaning.
    ///
    /// Not std's `Option<V>`: the old value may still be read by other
    /// threads, so it cannot be moved out. For it, use
    /// [`insert_cloned`](Self::insert_cloned) (a clone) or
    /// [`Pinned::insert`] (a reference valid under the guard).
    /// (`ShardMap::insert(k, v).is_none()` is this method's result.)
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// assert!(map.insert("a", 1)); // new
    /// assert!(!map.insert("a", 2)); // replaced
    /// ```
    pub fn insert(&self, key: K, value: V) -> bool {
        self.pin().insert(key, value).is_none()
    }

    /// Inserts or overwrites; returns a clone of the value it replaced (Go's
    /// `Swap`, std's `insert`).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// assert_eq!(map.insert_cloned("a", 1), None);
    /// assert_eq!(map.insert_cloned("a", 2), Some(1));
    /// ```
    pub fn insert_cloned(&self, key: K, value: V) -> Option<V>
    where
        V: Clone,
    {
        self.pin().insert(key, value).cloned()
    }

    /// Removes `key`; returns whether it was present (`HashSet::remove`'s
    /// meaning). For the removed value use
    /// [`remove_cloned`](Self::remove_cloned) or [`Pinned::remove`].
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("a", 1);
    /// assert!(map.remove("a"));
    /// assert!(!map.remove("a"));
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pin().remove(key).is_some()
    }

    /// Removes `key`; returns a clone of the removed value (Go's
    /// `LoadAndDelete`, std's `remove`).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(map.remove_cloned("a"), Some(1));
    /// assert_eq!(map.remove_cloned("a"), None);
    /// ```
    pub fn remove_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.pin().remove(key).cloned()
    }

    /// Removes `key` if `f(key, value)` returns true; tells an absent key
    /// from a refusal. `f` runs without a lock on the value as loaded; if
    /// another writer changes the value before the removal's CAS, `f` runs
    /// again on the newer value (so it is `FnMut`): the key is removed only
    /// while holding the value `f` accepted.
    ///
    /// ```
    /// use epochmap::{AtomicPtrMap, NotRemoved};
    ///
    /// let map = AtomicPtrMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(map.remove_if("a", |_, v| *v > 5), Err(NotRemoved::Refused));
    /// assert_eq!(map.remove_if("b", |_, _| true), Err(NotRemoved::Absent));
    /// assert_eq!(map.remove_if("a", |_, v| *v == 1), Ok(()));
    /// ```
    pub fn remove_if<Q>(&self, key: &Q, f: impl FnMut(&K, &V) -> bool) -> Result<(), NotRemoved>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pin().remove_if(key, f).map(|_| ())
    }

    /// Compare-and-swap by value: replaces the value of `key` with `new`
    /// only if it equals `current`; otherwise gives `new` back (the key is
    /// absent or holds another value). Go's `CompareAndSwap`, Java's
    /// `replace(key, old, new)`. Lock-free: a CAS on the key's entry.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("v", 1);
    /// assert_eq!(map.compare_and_swap("v", &1, 2), Ok(()));
    /// assert_eq!(map.compare_and_swap("v", &1, 3), Err(3));
    /// assert_eq!(map.get_cloned("v"), Some(2));
    /// ```
    pub fn compare_and_swap<Q>(&self, key: &Q, current: &V, new: V) -> Result<(), V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        self.pin().compare_and_swap(key, current, new)
    }

    /// Compare-and-delete by value: removes `key` only if its value equals
    /// `current`; returns whether it did. Go's `CompareAndDelete`, Java's
    /// `remove(key, value)`. Lock-free.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("v", 1);
    /// assert!(!map.compare_and_delete("v", &2));
    /// assert!(map.compare_and_delete("v", &1));
    /// assert!(!map.contains_key("v"));
    /// ```
    pub fn compare_and_delete<Q>(&self, key: &Q, current: &V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        self.pin().compare_and_delete(key, current)
    }

    /// Load-or-store (Go's `LoadOrStore`): if `key` is present, returns a
    /// clone of its value and `true` (loaded; `value` is dropped); otherwise
    /// stores `value` and returns a clone of it and `false`. Exactly one of
    /// several racing calls for an absent key stores; the others load its
    /// value.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// assert_eq!(map.load_or_store("a", 1), (1, false)); // stored
    /// assert_eq!(map.load_or_store("a", 2), (1, true)); // loaded
    /// ```
    pub fn load_or_store(&self, key: K, value: V) -> (V, bool)
    where
        V: Clone,
    {
        let m = self.pin();
        let (v, loaded) = m.load_or_store(key, value);
        (v.clone(), loaded)
    }

    /// The value of `key`, inserting `f()` first if it is absent; returns a
    /// clone. **At most once:** among `get_or_insert_with` calls, `f` runs
    /// only in the call that stores, never when the key is present, never
    /// twice for one absent key (Java's `computeIfAbsent`, for memoising an
    /// expensive value).
    ///
    /// It runs `f` holding one of the map's 64 `get_or_insert_with` locks
    /// (chosen by the key's hash): concurrent `get_or_insert_with` calls for
    /// keys of that lock wait for `f`; readers and every other operation
    /// never take these locks and do not wait. If another operation
    /// (`insert`, `compute`, ...) stores the key while `f` runs, that value
    /// wins and `f`'s is dropped. If `f` calls `get_or_insert_with` on the
    /// same map, that call panics, naming its line (it could deadlock); `f`
    /// may call any other method. A panic in `f` stores nothing.
    ///
    /// [`get_or_insert_with_optimistic`](Self::get_or_insert_with_optimistic)
    /// runs `f` with no lock at all, possibly in several racing calls.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let map = epochmap::AtomicPtrMap::new();
    /// let runs = AtomicUsize::new(0);
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| map.get_or_insert_with("k", || { runs.fetch_add(1, Ordering::Relaxed); 7 }));
    ///     }
    /// });
    /// assert_eq!(runs.load(Ordering::Relaxed), 1);
    /// assert_eq!(map.get_cloned("k"), Some(7));
    /// ```
    #[track_caller]
    pub fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        self.pin().get_or_insert_with(key, f).clone()
    }

    /// The value of `key`, inserting `f()` first if it is absent; returns a
    /// clone. **Optimistic:** `f` runs with no lock held (papaya's
    /// `get_or_insert_with`), so racing calls for one absent key may each
    /// run it; one value is stored and the others are dropped. Use it when
    /// `f` is cheap; [`get_or_insert_with`](Self::get_or_insert_with) runs it
    /// at most once.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// assert_eq!(map.get_or_insert_with_optimistic("a", || 1), 1);
    /// assert_eq!(map.get_or_insert_with_optimistic("a", || 2), 1);
    /// ```
    pub fn get_or_insert_with_optimistic(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        self.pin().get_or_insert_with_optimistic(key, f).clone()
    }

    /// Replaces the value of a present key with `f(&old)`; returns whether
    /// the key was present. Read-copy-update: `f` runs without a lock on a
    /// value that may be replaced meanwhile, in which case `f` runs again on
    /// the newer value (so it must be `FnMut` and should have no side
    /// effects beyond its result). (`ShardMap::update` instead mutates in
    /// place under the shard lock and returns the closure's result: values
    /// here are immutable.)
    pub fn update<Q>(&self, key: &Q, f: impl FnMut(&V) -> V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pin().update(key, f).is_some()
    }

    /// Sets the value of `key` to `f(current)` (`None`: absent) atomically
    /// per key; `f` returning `None` removes the key (or leaves it absent).
    /// Returns a clone of the **previous** value, `None` if the key was
    /// absent: the same meaning as [`ShardMap::compute`](crate::ShardMap::compute).
    /// `f` runs without a lock and is retried like [`update`](Self::update)
    /// when another writer changes the key first.
    ///
    /// ```
    /// let stock = epochmap::AtomicPtrMap::new();
    /// stock.insert("apples", 2u32);
    /// let take = |n: Option<&u32>| n.and_then(|&n| n.checked_sub(1)).filter(|&n| n > 0);
    /// assert_eq!(stock.compute("apples", take), Some(2)); // 2 -> 1
    /// assert_eq!(stock.compute("apples", take), Some(1)); // 1 -> removed
    /// assert!(!stock.contains_key("apples"));
    /// assert_eq!(stock.compute("pears", |_| Some(5)), None); // inserted
    /// assert_eq!(stock.get_cloned("pears"), Some(5));
    /// ```
    pub fn compute(&self, key: K, f: impl FnMut(Option<&V>) -> Option<V>) -> Option<V>
    where
        V: Clone,
    {
        self.pin().compute(key, f).cloned()
    }

    /// Removes every key. Not atomic: keys inserted concurrently may
    /// survive. Tombstones are then compacted away (as [`shrink_to_fit`](Self::shrink_to_fit)).
    pub fn clear(&self) {
        self.retain(|_, _| false);
        self.shrink_to_fit();
    }

    /// Keeps only the entries for which `f` returns true. Not atomic across
    /// keys; each entry is removed only if its value is still the one `f`
    /// saw (otherwise `f` sees the new value).
    ///
    /// Like [`for_each`](Self::for_each), it pins once per chunk of about a
    /// thousand entries, so a long `retain` does not hold back garbage for
    /// its whole duration.
    pub fn retain(&self, f: impl FnMut(&K, &V) -> bool) {
        self.raw.retain(f);
    }

    /// Calls `f` on every entry (weakly consistent, with the same guarantee
    /// as [`iter`](Pinned::iter): every key present for the whole traversal
    /// is visited exactly once, none twice).
    ///
    /// Prefer it to `pin().iter()` for long traversals: it pins once per
    /// chunk of about a thousand entries (tens of microseconds), instead of
    /// once for the whole traversal, so memory that writers retire meanwhile
    /// is reclaimed as the traversal goes, instead of waiting for its end
    /// (see [Memory and garbage](AtomicPtrMap#memory-and-garbage)); writers
    /// beside a continuous traversal pay for garbage that waits (see
    /// BENCHMARKS.md, C6). The references `f` receives are valid only during
    /// the call.
    ///
    /// ```
    /// let map: epochmap::AtomicPtrMap<u64, u64> = (0..100).map(|i| (i, i)).collect();
    /// let mut sum = 0;
    /// map.for_each(|_, v| sum += v);
    /// assert_eq!(sum, 4950);
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        self.raw.visit_chunks(|_, e, v| {
            if let Some(v) = v.value() {
                f(e.key(), v);
            }
        });
    }
}

/// A copy built entry by entry, a chunk at a time as
/// [`for_each`](AtomicPtrMap::for_each) visits them: weakly consistent, not a
/// point-in-time snapshot (every key present for the whole copy is in it,
/// with one of the values it had meanwhile). Same partitions, merge policy
/// and hasher (cloned); presized for the length of the original.
///
/// ```
/// let map: epochmap::AtomicPtrMap<u64, String> =
///     (0..100).map(|i| (i, i.to_string())).collect();
/// let copy = map.clone();
/// map.remove(&7);
/// assert_eq!(copy.len(), 100);
/// assert_eq!(copy.get_cloned(&7).as_deref(), Some("7"));
/// ```
impl<K, V, S> Clone for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
    S: BuildHasher + Clone,
{
    fn clone(&self) -> Self {
        let copy = AtomicPtrMap {
            raw: self.raw.empty_like(self.len()),
            hash_builder: self.hash_builder.clone(),
            init: InitLocks::new(),
        };
        self.raw.visit_chunks(|guard, e, v| {
            if let Some(v) = v.value() {
                let key = e.key().clone();
                // Hashed again by the copy's hasher: a clone of a
                // `BuildHasher` need not hash alike.
                let hash = copy.hash(&key);
                let _ = copy
                    .raw
                    .insert(guard, hash, key, NewValue::Plain(v.clone()), false);
            }
        });
        copy
    }
}

impl<K, V> Default for AtomicPtrMap<K, V, ahash::RandomState>
where
    K: Send + 'static,
    V: Send + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, S> fmt::Debug for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    V: Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pin().iter()).finish()
    }
}

impl<K, V, S> Extend<(K, V)> for &AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let mut m = self.pin();
        for (i, (k, v)) in iter.into_iter().enumerate() {
            m.insert(k, v);
            if i % 1024 == 1023 {
                m.repin();
            }
        }
    }
}

impl<K, V, S> Extend<(K, V)> for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let mut this: &Self = self;
        this.extend(iter);
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Copy + Send + 'static,
    V: Copy + Send + 'static,
    S: BuildHasher,
{
    /// Inserts copies of the pairs (std's `Extend<(&K, &V)>`).
    ///
    /// ```
    /// let mut map = epochmap::AtomicPtrMap::new();
    /// let pairs = [(1, 10), (2, 20)];
    /// map.extend(pairs.iter().map(|(k, v)| (k, v)));
    /// assert_eq!(map.get_cloned(&2), Some(20));
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.extend(iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<K, V, S> PartialEq for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: PartialEq + Send + 'static,
    S: BuildHasher,
{
    /// Same keys with equal values. Meaningful only when neither map is
    /// written meanwhile (it traverses `self` and looks each key up in
    /// `other`, under one pin of each thread; no lock).
    ///
    /// ```
    /// let a: epochmap::AtomicPtrMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
    /// let b: epochmap::AtomicPtrMap<u32, u32> = (0..10).rev().map(|i| (i, i)).collect();
    /// assert_eq!(a, b);
    /// b.insert(3, 0);
    /// assert_ne!(a, b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        if std::ptr::eq(self, other) {
            return true;
        }
        if self.len() != other.len() {
            return false;
        }
        let (mine, theirs) = (self.pin(), other.pin());
        mine.iter().all(|(k, v)| theirs.get(k) == Some(v))
    }
}

impl<K, V, S> Eq for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Eq + Send + 'static,
    S: BuildHasher,
{
}

impl<K, V> FromIterator<(K, V)> for AtomicPtrMap<K, V, ahash::RandomState>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        map.extend(iter);
        map
    }
}

impl<K, V, S> IntoIterator for AtomicPtrMap<K, V, S>
where
    K: Send + 'static,
    V: Send + 'static,
{
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    /// Takes every entry out of the map (no guard needed).
    fn into_iter(mut self) -> IntoIter<K, V> {
        IntoIter {
            inner: self.raw.drain_all().into_iter(),
        }
    }
}

/// The value of a key, from [`AtomicPtrMap::get`]: derefs to it, and keeps
/// it valid while it lives (it pins this thread, like [`Pinned`]; it holds
/// no lock). `!Send`.
pub struct Ref<'m, K, V> {
    inner: Guarded<'m, K, V>,
}

/// ```
/// let map = epochmap::AtomicPtrMap::new();
/// map.insert("k", 1);
/// let r = map.get("k").unwrap();
/// assert_eq!((r.key(), r.value()), (&"k", &1));
/// assert_eq!(r.pair(), (&"k", &1));
/// ```
impl<K, V> Ref<'_, K, V> {
    /// The stored key.
    pub fn key(&self) -> &K {
        self.inner.key()
    }

    /// The value.
    pub fn value(&self) -> &V {
        self.inner.value()
    }

    /// The stored key and the value.
    pub fn pair(&self) -> (&K, &V) {
        (self.inner.key(), self.inner.value())
    }
}

impl<K, V> std::ops::Deref for Ref<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        self.inner.value()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Ref<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ref")
            .field("key", self.key())
            .field("value", self.value())
            .finish()
    }
}

/// A handle for many operations under one epoch guard. Created by
/// [`AtomicPtrMap::pin`].
///
/// References it returns live as long as the handle, even if the entry is
/// overwritten or removed meanwhile. `!Send`: it pins the current thread.
/// While it lives, memory retired by any map cannot be freed: keep it short,
/// or [`repin`](Self::repin).
///
/// It cannot be sent to another thread (or held across an `.await` in a
/// `Send` future):
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let map = epochmap::AtomicPtrMap::<u32, u32>::new();
/// assert_send(map.pin());
/// ```
pub struct Pinned<'m, K, V, S = ahash::RandomState> {
    map: &'m AtomicPtrMap<K, V, S>,
    guard: PinGuard,
}

impl<K, V, S> fmt::Debug for Pinned<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned").finish_non_exhaustive()
    }
}

impl<K, V, S> Pinned<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The value of `key`. No lock, no write to shared memory.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.raw.get(&self.guard, self.map.hash(key), key)
    }

    /// The stored key and value of `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (e, v) = self.map.raw.find(&self.guard, self.map.hash(key), key)?;
        Some((e.key(), v.value()?))
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or overwrites; returns the old value (which stays valid for
    /// this handle's lifetime).
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        let hash = self.map.hash(&key);
        match self
            .map
            .raw
            .insert(&self.guard, hash, key, NewValue::Plain(value), false)
        {
            (Inserted::New(_), _) => None,
            (Inserted::Replaced(old), _) => Some(old),
            (Inserted::Existing(..), _) => unreachable!("overwrite mode"),
        }
    }

    /// Removes `key`; returns the removed value (valid for this handle's
    /// lifetime).
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.raw.remove(&self.guard, self.map.hash(key), key)
    }

    /// Removes `key` if `f(key, value)` returns true; returns the removed
    /// value, or why nothing was removed. As
    /// [`AtomicPtrMap::remove_if`] (`f` re-runs if the value changes before
    /// the removal's CAS).
    ///
    /// ```
    /// use epochmap::NotRemoved;
    ///
    /// let map = epochmap::AtomicPtrMap::new();
    /// map.insert("a", 1);
    /// let m = map.pin();
    /// assert_eq!(m.remove_if("a", |_, v| *v > 1), Err(NotRemoved::Refused));
    /// assert_eq!(m.remove_if("a", |_, _| true), Ok(&1)); // valid while `m` lives
    /// assert_eq!(m.remove_if("a", |_, _| true), Err(NotRemoved::Absent));
    /// ```
    pub fn remove_if<Q>(&self, key: &Q, f: impl FnMut(&K, &V) -> bool) -> Result<&V, NotRemoved>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.cas_present(key, f, None).map_err(|(why, _)| why)
    }

    /// Compare-and-swap by value (see [`AtomicPtrMap::compare_and_swap`]).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// m.insert("v", 1);
    /// assert_eq!(m.compare_and_swap("v", &1, 2), Ok(()));
    /// assert_eq!(m.compare_and_swap("v", &1, 3), Err(3));
    /// ```
    pub fn compare_and_swap<Q>(&self, key: &Q, current: &V, new: V) -> Result<(), V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        match self.cas_present(key, |_, v| v == current, Some(Box::new(new))) {
            Ok(_) => Ok(()),
            Err((_, new)) => Err(*new.expect("a failed swap gives its value back")),
        }
    }

    /// Compare-and-delete by value (see
    /// [`AtomicPtrMap::compare_and_delete`]).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// m.insert("v", 1);
    /// assert!(!m.compare_and_delete("v", &2));
    /// assert!(m.compare_and_delete("v", &1));
    /// ```
    pub fn compare_and_delete<Q>(&self, key: &Q, current: &V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        self.cas_present(key, |_, v| v == current, None).is_ok()
    }

    /// The CAS loop of a conditional change of a present key: if
    /// `accept(key, value)`, replaces the value with `new` (`None`: a
    /// tombstone, removing the key). A CAS that fails because the value
    /// changed meanwhile gets `new` back, reloads the value and asks
    /// `accept` again. Returns the replaced value, or why nothing changed
    /// together with `new`.
    #[allow(clippy::type_complexity)]
    fn cas_present<Q>(
        &self,
        key: &Q,
        mut accept: impl FnMut(&K, &V) -> bool,
        new: Option<Box<V>>,
    ) -> Result<&V, (NotRemoved, Option<Box<V>>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash(key);
        let Some((e, mut cur)) = self.map.raw.find(&self.guard, hash, key) else {
            return Err((NotRemoved::Absent, new));
        };
        let mut new = new;
        loop {
            // A tombstone, or an entry a merge expunged (the key is absent).
            let Some(v) = cur.value() else {
                return Err((NotRemoved::Absent, new));
            };
            if !accept(e.key(), v) {
                return Err((NotRemoved::Refused, new));
            }
            match e.replace(&self.guard, cur, new) {
                Ok((old, _)) => return Ok(old.expect("the CAS replaced a present value")),
                Err(back) => {
                    new = back;
                    cur = e.load();
                }
            }
        }
    }

    /// Load-or-store (see [`AtomicPtrMap::load_or_store`]): the value of
    /// `key` and `true` if present, else `value` as stored and `false`.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.load_or_store("a", 1), (&1, false));
    /// assert_eq!(m.load_or_store("a", 2), (&1, true));
    /// ```
    pub fn load_or_store(&self, key: K, value: V) -> (&V, bool) {
        let hash = self.map.hash(&key);
        match self
            .map
            .raw
            .insert(&self.guard, hash, key, NewValue::Plain(value), true)
        {
            (Inserted::New(v), _) => (v, false),
            (Inserted::Existing(v, _), _) => (v, true),
            (Inserted::Replaced(..), _) => unreachable!("only-if-absent mode"),
        }
    }

    /// The value of `key`, inserting `f()` first if absent; `f` runs at
    /// most once (see [`AtomicPtrMap::get_or_insert_with`]).
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert_with("a", || 1), &1);
    /// assert_eq!(m.get_or_insert_with("a", || unreachable!()), &1);
    /// ```
    #[track_caller]
    pub fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> &V {
        let hash = self.map.hash(&key);
        if let Some(v) = self.map.raw.get(&self.guard, hash, &key) {
            return v;
        }
        let _stripe = self.map.init.lock(hash);
        // Look again under the stripe: a racing call may have stored it.
        if let Some(v) = self.map.raw.get(&self.guard, hash, &key) {
            return v;
        }
        let (v, _) = self.load_or_store(key, f());
        v
    }

    /// The value of `key`, inserting `f()` first if absent. `f` runs without
    /// a lock and may run even if another thread wins the insert (its value
    /// is then dropped); see [`AtomicPtrMap::get_or_insert_with_optimistic`].
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert_with_optimistic("a", || 1), &1);
    /// assert_eq!(m.get_or_insert_with_optimistic("a", || 2), &1);
    /// ```
    pub fn get_or_insert_with_optimistic(&self, key: K, f: impl FnOnce() -> V) -> &V {
        let hash = self.map.hash(&key);
        self.map.raw.get_or_insert_with(&self.guard, hash, key, f)
    }

    /// Replaces the value of a present key with `f(&old)` (read-copy-update,
    /// `f` re-run if the value changed meanwhile); returns the new value, or
    /// `None` if the key is absent.
    pub fn update<Q>(&self, key: &Q, f: impl FnMut(&V) -> V) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.raw.update(&self.guard, self.map.hash(key), key, f)
    }

    /// Sets `key` to `f(current)` atomically per key (`None` in: absent;
    /// `None` out: remove). Returns the previous value (valid for this
    /// handle's lifetime), `None` if the key was absent. `f` may run several
    /// times if other threads change the key meanwhile.
    ///
    /// ```
    /// let map = epochmap::AtomicPtrMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), None);
    /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), Some(&1));
    /// assert_eq!(m.get("n"), Some(&2));
    /// ```
    pub fn compute(&self, key: K, f: impl FnMut(Option<&V>) -> Option<V>) -> Option<&V> {
        let hash = self.map.hash(&key);
        self.map.raw.compute(&self.guard, hash, key, f)
    }

    /// Number of live keys (as [`AtomicPtrMap::len`]).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Iterates over the entries (weakly consistent; see
    /// [Consistency](AtomicPtrMap#consistency)).
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            raw: self.map.raw.iter(&self.guard),
        }
    }

    /// Iterates over the keys.
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { inner: self.iter() }
    }

    /// Iterates over the values.
    pub fn values(&self) -> Values<'_, K, V> {
        Values { inner: self.iter() }
    }
}

impl<K, V, S> Pinned<'_, K, V, S> {
    /// Unpins and pins again, letting memory retired meanwhile be freed.
    /// Needs `&mut self`, so no reference from this handle survives it.
    pub fn repin(&mut self) {
        self.guard.repin();
    }
}

impl<'g, K, V, S> IntoIterator for &'g Pinned<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    type Item = (&'g K, &'g V);
    type IntoIter = Iter<'g, K, V>;

    fn into_iter(self) -> Iter<'g, K, V> {
        self.iter()
    }
}

/// An owned, `'static` guard on an `Arc`-shared map, for long-lived readers
/// on one thread. `!Send`. Created by [`AtomicPtrMap::pin_owned`].
///
/// ```
/// use std::sync::Arc;
/// use epochmap::AtomicPtrMap;
///
/// let map = Arc::new(AtomicPtrMap::<u32, u32>::new());
/// map.insert(1, 10);
/// let mut reader = map.pin_owned(); // no borrow of `map`
/// assert_eq!(reader.get(&1), Some(&10));
/// reader.repin(); // let garbage go between batches
/// assert_eq!(reader.iter().count(), 1);
/// ```
///
/// Like [`Pinned`], it is `!Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let map = std::sync::Arc::new(epochmap::AtomicPtrMap::<u32, u32>::new());
/// assert_send(map.pin_owned());
/// ```
pub struct OwnedPinned<K, V, S = ahash::RandomState> {
    guard: PinGuard,
    map: Arc<AtomicPtrMap<K, V, S>>,
}

impl<K, V, S> fmt::Debug for OwnedPinned<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPinned").finish_non_exhaustive()
    }
}

impl<K, V, S> OwnedPinned<K, V, S> {
    /// Unpins and pins again, letting memory retired meanwhile be freed.
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// The map.
    pub fn map(&self) -> &Arc<AtomicPtrMap<K, V, S>> {
        &self.map
    }
}

impl<K, V, S> OwnedPinned<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The value of `key`, valid until the next [`repin`](Self::repin).
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.raw.get(&self.guard, self.map.hash(key), key)
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Iterates over the entries (weakly consistent).
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            raw: self.map.raw.iter(&self.guard),
        }
    }
}
