//! [`ShardMap`], a concurrent hash map of lock-protected shards, and its
//! companion types (builder, errors, guards, entries, iterators).
//!
//! The user documentation (design, locking behaviour, consistency,
//! migrating from `Arc<Mutex<HashMap>>`) is on [`ShardMap`] itself.

mod entry;
mod guard;
mod iter;
// All of ShardMap's unsafe code (the crate root denies it elsewhere).
#[allow(unsafe_code)]
mod lock;
#[cfg(feature = "rayon")]
mod rayon;
#[cfg(feature = "serde")]
mod serde;
mod shard;

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::ops::ControlFlow;

use ahash::RandomState;
use hashbrown::hash_table;

#[cfg(feature = "rayon")]
pub use self::rayon::IntoParIter;
pub use entry::{Entry, OccupiedEntry, VacantEntry};
pub use guard::{KeyRef, MultiRef, MultiRefMut, Ref, RefMut};
pub use iter::{IntoIter, Iter, IterMut, Keys, Values};
/// The shard lock, public for the loom models only (`--cfg epochmap_loom`).
#[cfg(epochmap_loom)]
#[doc(hidden)]
pub use lock::loom_api as lock_for_loom;

use shard::{shard_index, Shard, Table};

use crate::NotRemoved;

/// A concurrent hash map of lock-protected shards, a drop-in replacement for
/// `Arc<Mutex<HashMap<K, V>>>`.
///
/// Keys are spread by hash over a power-of-two number of shards; each shard
/// is a cache-padded readers-writer lock over a [`hashbrown::HashTable`]. One
/// hash (by default [`ahash::RandomState`], randomly seeded, so hash flooding
/// is not an attack) picks both the shard and the slot in its table.
///
/// ```
/// use epochmap::ShardMap;
/// use std::sync::Arc;
///
/// let scores: Arc<ShardMap<String, u32>> = Arc::new(ShardMap::new());
/// std::thread::scope(|s| {
///     for t in 0..4 {
///         let scores = &scores;
///         s.spawn(move || {
///             for i in 0..100 {
///                 // One locked step: insert 1 or add 1.
///                 scores.upsert(format!("player{}", i % 10), || 1, |v| *v += 1);
///             }
///             let _ = t;
///         });
///     }
/// });
/// assert_eq!(scores.len(), 10);
/// assert_eq!(scores.view("player3", |v| *v), Some(40));
/// ```
///
/// # The lock
///
/// Each shard's lock is reader-sharded: a reader increments a counter in its
/// own cache line (one of a few per shard, picked per thread) and checks that
/// no writer is present, so readers on different cores write no shared cache
/// line and reads scale with cores (a classic RwLock, as in dashmap, makes
/// every read write the shard's lock word). A writer raises the shard's
/// writer flag, which turns arriving readers away, and waits for the readers
/// inside to leave, so readers cannot starve writers; if a reader is slow to
/// leave (preempted, say), the writer steps back a few times first so that
/// the shard's other readers are not stalled behind it. Waiting spins
/// briefly, yields, then sleeps in the parking lot (`parking_lot_core`), so
/// an oversubscribed machine does not burn cores on waiting threads. The lock
/// does not poison: a panic while it is held releases it, and every operation
/// leaves the shard's table consistent.
///
/// Memory: per shard, one 128-byte block for the lock and the table header
/// plus one 128-byte block per reader slot, besides the table itself (not
/// allocated before the shard's first insert). By default a map has 4 x
/// the available parallelism shards, rounded up to a power of two, at least
/// 64 and at most 256; and one reader slot per core, rounded up to a power
/// of two, at most 16, and fewer where the map's slots would pass 256 KiB.
/// An empty map on 2 cores: 64 shards x (128 + 2 x 128) bytes = 24 KiB.
///
/// # Locking behaviour
///
/// Every method's documentation has a **Locking behaviour** line. In short:
/// - `len`, `is_empty` take no lock.
/// - Single-key methods lock one shard for the duration of the call: read
///   lock for `get_cloned`, `get_key_value_cloned`, `contains_key`, `view`;
///   write lock for `insert`, `upsert`, `compute`, `entry`. Closures you
///   pass run while that lock is held, except the one of
///   `get_or_insert_with_optimistic`. `try_get` never waits: it fails
///   instead.
/// - Methods that change nothing when they find nothing to change look
///   before they lock: `remove`, `remove_entry`, `remove_if`,
///   `compare_and_swap`, `compare_and_delete`, `update` and `get_mut` of an
///   absent key, `compare_and_swap` and `compare_and_delete` of a key
///   holding another value, and `get_or_insert_with`,
///   `get_or_insert_with_optimistic` and `load_or_store` of a present one,
///   take only the read lock.
///   Otherwise `remove`, `remove_entry`, `remove_if`, `compare_and_swap`,
///   `compare_and_delete`, `update` and `get_mut` turn the read lock of
///   the look into the write lock (an upgrade: no writer gets in between, so the key is not looked up
///   twice); if another writer is already waiting for the shard, they
///   release the read lock, write-lock and look again, as the other methods
///   always do. So readers of a busy key do not queue behind writers that
///   would change nothing.
/// - `get`, `get_mut`, `entry` return guards ([`Ref`], [`RefMut`],
///   [`Entry`]) that keep the shard locked until they are dropped.
/// - Whole-map methods and the iterators lock one shard at a time:
///   `capacity`, `reserve`, `try_reserve` and `shrink_to_fit` for one short
///   step per shard; the
///   traversals (`iter`, `keys`, `values`, `iter_mut`, `retain`, `clear`,
///   `clone`, `Debug`, equality, `par_iter_cloned`, `Serialize`) for at most about
///   a thousand entries per hold (`iter_mut`, `retain`, `clear` write-lock,
///   the others read-lock), then they release the lock so that writers get
///   in, and later resume. The read-locked ones also release it within a
///   few entries when a writer is waiting for them. The `retain` closure,
///   and the cloning, formatting or serializing of entries, run under the
///   lock of their chunk. Iterator
///   items keep their shard locked while they live: an iterator whose items
///   are all held (`collect`) keeps each shard locked until they drop.
///
/// **The one rule:** do not call the map from a thread that holds a guard (or
/// from inside a closure you passed to it) on a key of the same shard: the
/// call would wait for a lock the thread itself holds, forever. Guards are
/// `!Send`, so they cannot be held across an `.await` in a `Send` future, and
/// such a call panics with a message naming the method and the caller's
/// line, instead of hanging (in every build: the check costs a
/// thread-local load and compare per lock, measured in `BENCHMARKS.md`). Prefer the closure methods ([`ShardMap::view`],
/// [`ShardMap::update`], [`ShardMap::upsert`], [`ShardMap::compute`]) or
/// clone the value out ([`ShardMap::get_cloned`]); they hold no lock after
/// they return. Holding guards on two keys at once from one thread is fine
/// only if they are in different shards and every thread takes them in the
/// same order; better not to.
///
/// # Consistency
///
/// The rules for both maps are in the crate's
/// [Consistency](crate#consistency) section; for `ShardMap` in particular:
///
/// - **Per key, linearizable.** Every operation on a key runs under its
///   shard's lock, so the operations on any one key take effect in one total
///   order consistent with real time; a `get` sees the value of the last
///   write that completed before it started (or a write that overlaps it).
///   Multi-step updates are atomic only inside one call (`update`, `upsert`,
///   `compute`, an `Entry`), not across calls. A method that looks before
///   it locks (see "Locking behaviour") takes effect at its read-locked look
///   when that finds nothing to change, otherwise under the write lock.
/// - **`len` and `is_empty`** sum per-shard counters without locking: exact
///   with no concurrent writes; otherwise see [`len`](crate#consistency)
///   (the sum need not be a size the map ever had).
/// - **Iteration** (every traversal listed above) visits the shards one
///   after the other, and each shard's table in bucket order, a chunk of
///   about a thousand entries per hold of its lock. Between chunks writers
///   may insert, remove and even grow or rebuild the table; the traversal's
///   position is kept exact across that (a rebuild maps it onto the new
///   layout), and it skips the buckets that new keys went into meanwhile. So
///   an entry that exists during the whole iteration is seen exactly once;
///   one inserted or removed concurrently may or may not be seen. No key is
///   ever seen twice, not even one removed after it was seen and inserted
///   again, and no entry is seen torn. A traversal is not a
///   snapshot, not even of one shard. For a point-in-time copy, clone the
///   map under an outer lock, or use `AtomicPtrMap`'s snapshots.
///
/// # Panics in user code
///
/// If a closure you pass, or `K`'s `Hash` or `Eq`, panics, the panic
/// propagates to the caller, the lock is released, and the map stays
/// consistent and usable: `len` matches the entries. Changes are
/// all-or-nothing per call, with one exception from hashbrown: a `Hash` that
/// panics while a shard's table grows in place may drop some entries of that
/// shard (each is dropped exactly once, none leaks).
///
/// # Migrating from `Arc<Mutex<HashMap>>`
///
/// Before:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// let sessions: Arc<Mutex<HashMap<u64, String>>> = Arc::new(Mutex::new(HashMap::new()));
/// sessions.lock().unwrap().insert(1, "alice".to_string());
/// if let Some(name) = sessions.lock().unwrap().get_mut(&1) {
///     name.push_str(" (admin)");
/// }
/// let name = sessions.lock().unwrap().get(&1).cloned();
/// assert_eq!(name.as_deref(), Some("alice (admin)"));
/// *sessions.lock().unwrap().entry(2).or_default() += "bob";
/// sessions.lock().unwrap().remove(&1);
/// assert_eq!(sessions.lock().unwrap().len(), 1);
/// ```
///
/// After: drop the `Mutex` and the `lock().unwrap()`; methods take `&self`.
///
/// ```
/// use epochmap::ShardMap;
/// use std::sync::Arc;
///
/// let sessions: Arc<ShardMap<u64, String>> = Arc::new(ShardMap::new());
/// sessions.insert(1, "alice".to_string());
/// sessions.update(&1, |name| name.push_str(" (admin)"));
/// let name = sessions.get_cloned(&1);
/// assert_eq!(name.as_deref(), Some("alice (admin)"));
/// *sessions.entry(2).or_default() += "bob";
/// sessions.remove(&1);
/// assert_eq!(sessions.len(), 1);
/// ```
///
/// What changes: there is no lock over the whole map, so a sequence of calls
/// is no longer atomic as a whole (use `update`/`upsert`/`compute`/`entry`
/// for read-modify-write of one key); guards from `get`/`get_mut`/`entry`
/// must be dropped before the same thread calls the map again (see the rule
/// above); there is no poisoning to `unwrap`.
///
pub struct ShardMap<K, V, S = RandomState> {
    /// Invariant: the length is a power of two, `1 << bits`.
    shards: Box<[Shard<K, V>]>,
    bits: u32,
    hasher: S,
}

/// Why a [`Builder`] could not build a map.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A shard count of zero was requested.
    ZeroShards,
    /// More shards than [`Builder::MAX_SHARDS`] were requested.
    TooManyShards {
        /// The requested count.
        requested: usize,
    },
    /// Zero or more than [`Builder::MAX_READER_SLOTS`] reader slots
    /// were requested.
    BadReaderSlots {
        /// The requested count.
        requested: usize,
    },
    /// The requested capacity overflows the size a table can describe.
    CapacityOverflow {
        /// The requested capacity (entries, whole map).
        requested: usize,
    },
    /// The allocator could not provide memory for the requested capacity.
    AllocationFailed {
        /// The requested capacity (entries, whole map).
        requested: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroShards => write!(f, "a ShardMap needs at least one shard"),
            BuildError::TooManyShards { requested } => write!(
                f,
                "{requested} shards requested, at most {} allowed",
                Builder::<(), ()>::MAX_SHARDS
            ),
            BuildError::BadReaderSlots { requested } => write!(
                f,
                "{requested} reader slots requested, between 1 and {} allowed",
                Builder::<(), ()>::MAX_READER_SLOTS
            ),
            BuildError::CapacityOverflow { requested } => {
                write!(f, "capacity {requested} overflows the table size")
            }
            BuildError::AllocationFailed { requested } => {
                write!(f, "could not allocate memory for capacity {requested}")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// [`ShardMap::try_get`] would have had to wait: a writer holds or is taking
/// the key's shard, or this thread holds a guard on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the shard is locked; the call would block")
    }
}

impl std::error::Error for WouldBlock {}

/// Why [`ShardMap::try_reserve`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryReserveError {
    /// The capacity overflows the size a table can describe.
    CapacityOverflow,
    /// The allocator could not provide the memory.
    AllocError,
}

impl fmt::Display for TryReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryReserveError::CapacityOverflow => "capacity overflow",
            TryReserveError::AllocError => "memory allocation failed",
        })
    }
}

impl std::error::Error for TryReserveError {}

/// Configures and builds a [`ShardMap`]; from [`ShardMap::builder`].
///
/// **Locking behaviour:** none (a builder owns no shared state).
///
/// ```
/// use epochmap::shard_map::BuildError;
/// use epochmap::ShardMap;
///
/// let map: ShardMap<u64, u64> = ShardMap::builder().shards(16).capacity(1000).build()?;
/// assert_eq!(map.shard_count(), 16);
/// assert!(map.capacity() >= 1000);
///
/// let err = ShardMap::<u64, u64>::builder().shards(0).build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroShards);
/// let err = ShardMap::<u64, u64>::builder().capacity(usize::MAX).build().unwrap_err();
/// assert!(matches!(err, BuildError::CapacityOverflow { .. }));
/// # Ok::<(), BuildError>(())
/// ```
pub struct Builder<K, V, S = RandomState> {
    shards: Option<usize>,
    capacity: usize,
    reader_slots: Option<usize>,
    hasher: S,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, S> Builder<K, V, S> {
    /// Largest accepted shard count (65,536).
    pub const MAX_SHARDS: usize = shard::MAX_SHARDS;
    /// Largest accepted number of reader slots per shard (64).
    pub const MAX_READER_SLOTS: usize = lock::MAX_READER_SLOTS;

    /// The number of shards. Rounded up to a power of two; zero or more than
    /// [`Self::MAX_SHARDS`] makes [`build`](Self::build) fail. Default: 4 x
    /// the available parallelism, rounded up to a power of two, at least 64
    /// and at most 256.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Entries to reserve room for (in total, spread evenly over the
    /// shards). Default 0. A capacity that overflows or cannot be allocated
    /// makes [`build`](Self::build) fail.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Reader slots per shard: how many cache lines readers of one shard
    /// spread over (see the module docs). Rounded up to a power of two;
    /// zero or more than [`Self::MAX_READER_SLOTS`] makes
    /// [`build`](Self::build) fail. Default: the available parallelism,
    /// rounded up to a power of two, at most 16, and fewer where the map's
    /// slots would pass 256 KiB in all (at least one).
    pub fn reader_slots(mut self, slots: usize) -> Self {
        self.reader_slots = Some(slots);
        self
    }

    /// The hasher builder to use.
    pub fn hasher<S2>(self, hasher: S2) -> Builder<K, V, S2> {
        Builder {
            shards: self.shards,
            capacity: self.capacity,
            reader_slots: self.reader_slots,
            hasher,
            _types: PhantomData,
        }
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Builder<K, V, S> {
    /// Builds the map, or explains why not. Never aborts on absurd values.
    pub fn build(self) -> Result<ShardMap<K, V, S>, BuildError> {
        let shards = match self.shards {
            None => shard::default_shards(),
            Some(0) => return Err(BuildError::ZeroShards),
            Some(n) if n > shard::MAX_SHARDS => {
                return Err(BuildError::TooManyShards { requested: n })
            }
            Some(n) => n.next_power_of_two(),
        };
        let slots = match self.reader_slots {
            None => shard::default_reader_slots(shards),
            Some(n) if n == 0 || n > lock::MAX_READER_SLOTS => {
                return Err(BuildError::BadReaderSlots { requested: n })
            }
            Some(n) => n,
        };
        ShardMap::try_from_parts(shards, self.capacity, slots, self.hasher)
    }
}

impl<K, V, S: fmt::Debug> fmt::Debug for Builder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("shards", &self.shards)
            .field("capacity", &self.capacity)
            .field("reader_slots", &self.reader_slots)
            .field("hasher", &self.hasher)
            .finish()
    }
}

impl<K: Hash + Eq, V> ShardMap<K, V, RandomState> {
    /// An empty map with the default shard count and a randomly seeded
    /// hasher.
    ///
    /// **Locking behaviour:** none (allocates the shards).
    pub fn new() -> Self {
        Self::with_capacity_and_hasher(0, RandomState::new())
    }

    /// An empty map with room for about `capacity` entries.
    ///
    /// A capacity that cannot be reserved (it overflows, or the allocation
    /// fails) is treated as a hint and dropped: the map starts without
    /// reserved room instead of aborting. Use
    /// [`builder`](Self::builder)`.capacity(..).build()` to get an error.
    ///
    /// **Locking behaviour:** none.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, RandomState::new())
    }

    /// A builder to set the shard count, capacity, reader slots and hasher.
    ///
    /// **Locking behaviour:** none.
    pub fn builder() -> Builder<K, V, RandomState> {
        Builder {
            shards: None,
            capacity: 0,
            reader_slots: None,
            hasher: RandomState::new(),
            _types: PhantomData,
        }
    }
}

impl<K: Hash + Eq, V> Default for ShardMap<K, V, RandomState> {
    /// Same as [`ShardMap::new`]. **Locking behaviour:** none.
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> ShardMap<K, V, S> {
    fn try_from_parts(
        shards: usize,
        capacity: usize,
        reader_slots: usize,
        hasher: S,
    ) -> Result<Self, BuildError> {
        let built = Self::try_shards(shards, capacity, reader_slots, &hasher)?;
        Ok(Self::from_shards(built, hasher))
    }

    /// `shards` shards with room for `capacity` entries in all. On failure
    /// every table allocated so far is freed.
    fn try_shards(
        shards: usize,
        capacity: usize,
        reader_slots: usize,
        hasher: &S,
    ) -> Result<Vec<Shard<K, V>>, BuildError> {
        debug_assert!(shards.is_power_of_two() && shards <= shard::MAX_SHARDS);
        let per_shard = capacity.div_ceil(shards);
        let mut built = Vec::new();
        built
            .try_reserve_exact(shards)
            .map_err(|_| BuildError::AllocationFailed {
                requested: capacity,
            })?;
        for _ in 0..shards {
            let mut table = Table::new();
            if per_shard > 0 {
                table
                    .try_reserve(per_shard, |(k, _)| hasher.hash_one(k))
                    .map_err(|e| match e {
                        hashbrown::TryReserveError::CapacityOverflow => {
                            BuildError::CapacityOverflow {
                                requested: capacity,
                            }
                        }
                        hashbrown::TryReserveError::AllocError { .. } => {
                            BuildError::AllocationFailed {
                                requested: capacity,
                            }
                        }
                    })?;
            }
            built.push(Shard::new(table, reader_slots));
        }
        Ok(built)
    }

    fn from_shards(shards: Vec<Shard<K, V>>, hasher: S) -> Self {
        debug_assert!(shards.len().is_power_of_two());
        ShardMap {
            bits: shards.len().trailing_zeros(),
            shards: shards.into_boxed_slice(),
            hasher,
        }
    }

    /// An empty map using `hasher`.
    ///
    /// **Locking behaviour:** none.
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_capacity_and_hasher(0, hasher)
    }

    /// An empty map with room for about `capacity` entries, using `hasher`.
    /// An impossible capacity is dropped, as in
    /// [`with_capacity`](ShardMap::with_capacity).
    ///
    /// **Locking behaviour:** none.
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        let shards = shard::default_shards();
        let slots = shard::default_reader_slots(shards);
        let built = Self::try_shards(shards, capacity, slots, &hasher).unwrap_or_else(|_| {
            // The capacity was only a hint: drop it (the tables of the
            // shards built before the failure are freed by now).
            (0..shards)
                .map(|_| Shard::new(Table::new(), slots))
                .collect()
        });
        Self::from_shards(built, hasher)
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, V> {
        let i = shard_index(hash, self.bits);
        debug_assert!(i < self.shards.len());
        &self.shards[i]
    }

    /// Inserts `value` for `key`, returning the value it replaces (the key
    /// in the map is kept, like `std`).
    ///
    /// **Locking behaviour:** write-locks the key's shard for the call.
    #[track_caller]
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let hash = self.hash(&key);
        let hasher = &self.hasher;
        let mut table = self
            .shard(hash)
            .write_insert("insert", |(k, _)| hasher.hash_one(k));
        match table.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hash_table::Entry::Occupied(mut e) => {
                Some(std::mem::replace(&mut e.get_mut().1, value))
            }
            hash_table::Entry::Vacant(e) => {
                let index = e.insert((key, value)).bucket_index();
                table.inserted(index);
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    ///
    /// **Locking behaviour:** read-locks the key's shard to look the key up;
    /// only if it is present, then upgrades that lock to the write lock to
    /// remove it (see the module's "Locking behaviour"; an absent key takes
    /// no write lock). The value is returned (and dropped by you) after the
    /// lock is released.
    #[track_caller]
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning the stored key and value.
    ///
    /// **Locking behaviour:** as [`remove`](Self::remove): read lock to look,
    /// write lock only if the key is present.
    #[track_caller]
    pub fn remove_entry<Q>(&self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_present_if("remove", key, |_| true)
    }

    /// Removes `key` if it is present with a value `matches` accepts, and
    /// returns the entry (dropped by the caller, after the lock is
    /// released). Locks as [`write_present_if`](Self::write_present_if).
    #[inline]
    #[track_caller]
    fn remove_present_if<Q>(
        &self,
        op: &'static str,
        key: &Q,
        matches: impl FnMut(&V) -> bool,
    ) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (mut table, index) = self.write_present_if(op, key, matches)?;
        let Ok(e) = table.get_bucket_entry(index) else {
            unreachable!("the key's bucket is full")
        };
        Some(e.remove().0)
    }

    /// The key's shard, write-locked, and the key's bucket, if `key` is
    /// present with a value `matches` accepts; `None`, having taken only the
    /// read lock, otherwise ("look before locking", see
    /// `Shard::write_present`). `matches` runs under the read lock of the
    /// look, and again under the write lock if another writer came first.
    #[inline]
    #[track_caller]
    fn write_present_if<Q>(
        &self,
        op: &'static str,
        key: &Q,
        mut matches: impl FnMut(&V) -> bool,
    ) -> Option<(shard::ShardWriteGuard<'_, K, V>, usize)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let shard = self.shard(hash);
        let (table, index) =
            shard.write_present(op, hash, |(k, v)| k.borrow() == key && matches(v))?;
        Some((shard.wrap(table), index))
    }

    /// Removes `key` if `f(key, value)` returns true, returning the entry;
    /// otherwise says whether the key was absent or `f` refused.
    ///
    /// **Locking behaviour:** read-locks the key's shard to look the key up;
    /// an absent key takes no write lock and `f` does not run. A present key
    /// write-locks the shard, and `f` runs under that write lock (do not call
    /// the map from it) on the entry as it is then, so a refusing `f` still
    /// costs a write lock: `f` runs once, and only under the lock that can
    /// act on its answer.
    ///
    /// ```
    /// use epochmap::{NotRemoved, ShardMap};
    ///
    /// let map = ShardMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(map.remove_if("a", |_, v| *v > 5), Err(NotRemoved::Refused));
    /// assert_eq!(map.remove_if("b", |_, _| true), Err(NotRemoved::Absent));
    /// assert_eq!(map.remove_if("a", |_, v| *v == 1), Ok(("a", 1)));
    /// ```
    #[track_caller]
    pub fn remove_if<Q>(
        &self,
        key: &Q,
        f: impl FnOnce(&K, &V) -> bool,
    ) -> Result<(K, V), NotRemoved>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (mut table, index) = self
            .write_present_if("remove_if", key, |_| true)
            .ok_or(NotRemoved::Absent)?;
        let Ok(e) = table.get_bucket_entry(index) else {
            unreachable!("the key's bucket is full")
        };
        let (k, v) = e.get();
        if f(k, v) {
            Ok(e.remove().0)
        } else {
            Err(NotRemoved::Refused)
        }
    }

    /// Compare-and-swap by value: replaces the value of `key` with `new`
    /// only if it equals `current`; otherwise gives `new` back (the key is
    /// absent or holds another value). Go's `CompareAndSwap`, Java's
    /// `replace(key, old, new)`.
    ///
    /// **Locking behaviour:** read-locks the key's shard to look the key up
    /// and compare its value (`V`'s `PartialEq` runs under the read lock):
    /// an absent key or another value takes no write lock. Only an equal
    /// value turns the read lock into the write lock (see
    /// [`remove`](Self::remove)); if another writer came first, the key is
    /// looked up and compared again under the write lock.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert("v", 1);
    /// assert_eq!(map.compare_and_swap("v", &1, 2), Ok(()));
    /// assert_eq!(map.compare_and_swap("v", &1, 3), Err(3));
    /// assert_eq!(map.get_cloned("v"), Some(2));
    /// ```
    #[track_caller]
    pub fn compare_and_swap<Q>(&self, key: &Q, current: &V, new: V) -> Result<(), V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        // The value is compared in the look itself: a failing CAS changes
        // nothing, so it must not queue readers behind a write lock.
        let Some((mut table, index)) =
            self.write_present_if("compare_and_swap", key, |v| *v == *current)
        else {
            return Err(new);
        };
        let (_, v) = table
            .get_bucket_mut(index)
            .expect("the key's bucket is full");
        // Found under the write lock, or under the read lock that turned
        // into it in place: the value is still the one compared.
        // The old value is dropped after the lock is released.
        let old = std::mem::replace(v, new);
        drop(table);
        drop(old);
        Ok(())
    }

    /// Compare-and-delete by value: removes `key` only if its value equals
    /// `current`; returns whether it did. Go's `CompareAndDelete`, Java's
    /// `remove(key, value)`.
    ///
    /// **Locking behaviour:** as [`compare_and_swap`](Self::compare_and_swap):
    /// the value is compared under the read lock of the look, and only an
    /// equal value takes the write lock.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert("v", 1);
    /// assert!(!map.compare_and_delete("v", &2));
    /// assert!(map.compare_and_delete("v", &1));
    /// assert!(!map.contains_key("v"));
    /// ```
    #[track_caller]
    pub fn compare_and_delete<Q>(&self, key: &Q, current: &V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        // The entry is dropped after the lock is released.
        self.remove_present_if("compare_and_delete", key, |v| v == current)
            .is_some()
    }

    /// True if `key` is present.
    ///
    /// **Locking behaviour:** read-locks the key's shard for the call.
    #[track_caller]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_with(key, "contains_key", |_| ()).is_some()
    }

    #[inline]
    #[track_caller]
    fn read_with<Q, R>(&self, key: &Q, op: &'static str, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let table = self.shard(hash).lock().read(op);
        table
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| f(v))
    }

    /// A guard giving shared access to the value of `key`.
    ///
    /// **Locking behaviour:** read-locks the key's shard until the [`Ref`]
    /// is dropped (when the key is absent, the lock is released before
    /// returning). Drop the guard before calling the map again from this
    /// thread; prefer [`view`](Self::view) or [`get_cloned`](Self::get_cloned).
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(*map.get("a").unwrap(), 1);
    /// assert!(map.get("b").is_none());
    /// ```
    #[track_caller]
    pub fn get<Q>(&self, key: &Q) -> Option<Ref<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shard(hash)
            .lock()
            .read("get")
            .try_map(|t| t.find(hash, |(k, _)| k.borrow() == key))
            .map(|inner| Ref { inner })
    }

    /// A guard giving unique access to the value of `key`.
    ///
    /// **Locking behaviour:** read-locks the key's shard to look the key up
    /// (an absent key takes no write lock); a present key then write-locks
    /// the shard until the [`RefMut`] is dropped. Drop the guard before
    /// calling the map again from this thread; prefer
    /// [`update`](Self::update).
    #[track_caller]
    pub fn get_mut<Q>(&self, key: &Q) -> Option<RefMut<'_, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let (table, index) = self
            .shard(hash)
            .write_present("get_mut", hash, |(k, _)| k.borrow() == key)?;
        table
            .try_map(|t| t.get_bucket_mut(index))
            .map(|inner| RefMut { inner })
    }

    /// A clone of the value of `key`.
    ///
    /// **Locking behaviour:** read-locks the key's shard while cloning.
    #[track_caller]
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.read_with(key, "get_cloned", V::clone)
    }

    /// A guard on the value of `key` if that needs no waiting: `Err(WouldBlock)`
    /// when a writer holds or is about to take the key's shard, or when this
    /// thread holds a guard on that shard (where [`get`](Self::get) would
    /// wait, or panic); otherwise as [`get`](Self::get).
    ///
    /// **Locking behaviour:** tries once to read-lock the key's shard, never
    /// waits; on success, as [`get`](Self::get) (the [`Ref`] keeps the shard
    /// read-locked).
    ///
    /// ```
    /// use epochmap::shard_map::WouldBlock;
    ///
    /// let map = epochmap::ShardMap::new();
    /// map.insert("a", 1);
    /// assert_eq!(map.try_get("a").map(|r| r.map(|r| *r)), Ok(Some(1)));
    /// let held = map.get_mut("a").unwrap(); // write-locks the shard
    /// assert!(matches!(map.try_get("a"), Err(WouldBlock)));
    /// drop(held);
    /// ```
    pub fn try_get<Q>(&self, key: &Q) -> Result<Option<Ref<'_, K, V>>, WouldBlock>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let table = self.shard(hash).lock().try_read().ok_or(WouldBlock)?;
        Ok(table
            .try_map(|t| t.find(hash, |(k, _)| k.borrow() == key))
            .map(|inner| Ref { inner }))
    }

    /// Clones of the stored key and the value of `key` (std's
    /// `get_key_value`, cloned; [`get`](Self::get)'s [`Ref::pair`] borrows
    /// them).
    ///
    /// **Locking behaviour:** read-locks the key's shard while cloning.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert("k".to_string(), 1);
    /// assert_eq!(map.get_key_value_cloned("k"), Some(("k".to_string(), 1)));
    /// ```
    #[track_caller]
    pub fn get_key_value_cloned<Q>(&self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let hash = self.hash(key);
        let table = self.shard(hash).lock().read("get_key_value_cloned");
        table
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(k, v)| (k.clone(), v.clone()))
    }

    /// Runs `f` on the value of `key` and returns its result, or `None` if
    /// the key is absent.
    ///
    /// **Locking behaviour:** read-locks the key's shard while `f` runs (do
    /// not call the map from `f`).
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert(1, vec![1, 2, 3]);
    /// assert_eq!(map.view(&1, |v| v.len()), Some(3));
    /// assert_eq!(map.view(&2, |v| v.len()), None);
    /// ```
    #[track_caller]
    pub fn view<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_with(key, "view", f)
    }

    /// Runs `f` on the value of `key` in place and returns its result, or
    /// `None` if the key is absent.
    ///
    /// **Locking behaviour:** read-locks the key's shard to look the key up
    /// (an absent key takes no write lock and `f` does not run); a present
    /// key then write-locks the shard while `f` runs (do not call the map
    /// from `f`).
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// map.insert("hits", 1);
    /// assert_eq!(map.update("hits", |v| { *v += 1; *v }), Some(2));
    /// assert_eq!(map.update("misses", |v| *v += 1), None);
    /// ```
    #[track_caller]
    pub fn update<Q, R>(&self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let (mut table, index) = self
            .shard(hash)
            .write_present("update", hash, |(k, _)| k.borrow() == key)?;
        table.get_bucket_mut(index).map(|(_, v)| f(v))
    }

    /// Inserts `insert()` if `key` is absent, or runs `update` on its value
    /// if present, in one locked step. Returns true if it inserted.
    ///
    /// **Locking behaviour:** write-locks the key's shard while the closures
    /// run (do not call the map from them); it always writes, so it does not
    /// look first.
    ///
    /// ```
    /// let words = epochmap::ShardMap::new();
    /// for w in ["a", "b", "a"] {
    ///     words.upsert(w, || 1, |n| *n += 1);
    /// }
    /// assert_eq!(words.get_cloned("a"), Some(2));
    /// ```
    #[track_caller]
    pub fn upsert(&self, key: K, insert: impl FnOnce() -> V, update: impl FnOnce(&mut V)) -> bool {
        let hash = self.hash(&key);
        let hasher = &self.hasher;
        let mut table = self
            .shard(hash)
            .write_insert("upsert", |(k, _)| hasher.hash_one(k));
        match table.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hash_table::Entry::Occupied(mut e) => {
                update(&mut e.get_mut().1);
                false
            }
            hash_table::Entry::Vacant(e) => {
                let index = e.insert((key, insert())).bucket_index();
                table.inserted(index);
                true
            }
        }
    }

    /// Computes the new state of `key` from its current value in one locked
    /// step: `f(Some(&value))` or `f(None)` returns `Some(new)` to insert or
    /// replace, `None` to remove (or leave absent).
    ///
    /// Returns the previous value when it was replaced or removed, `None`
    /// when the key was absent (whether or not `f` inserted).
    ///
    /// **Locking behaviour:** write-locks the key's shard while `f` runs (do
    /// not call the map from `f`), also when the key is absent and `f(None)`
    /// returns `None`: `f` runs once, on the state it acts on, and whether it
    /// changes anything is known only after it ran, so there is no read-lock
    /// shortcut. To read, use [`view`](Self::view); to change only a present
    /// key, [`update`](Self::update) or [`remove_if`](Self::remove_if), which
    /// take no write lock for an absent key.
    ///
    /// ```
    /// let stock = epochmap::ShardMap::new();
    /// stock.insert("apples", 2u32);
    /// // Take one apple; remove the key when none are left.
    /// let take = |n: Option<&u32>| n.and_then(|&n| n.checked_sub(1)).filter(|&n| n > 0);
    /// assert_eq!(stock.compute("apples", take), Some(2)); // 2 -> 1
    /// assert_eq!(stock.compute("apples", take), Some(1)); // 1 -> removed
    /// assert!(!stock.contains_key("apples"));
    /// assert_eq!(stock.compute("pears", |_| Some(5)), None); // inserted
    /// assert_eq!(stock.get_cloned("pears"), Some(5));
    /// ```
    #[track_caller]
    pub fn compute(&self, key: K, f: impl FnOnce(Option<&V>) -> Option<V>) -> Option<V> {
        let hash = self.hash(&key);
        let hasher = &self.hasher;
        let mut table = self
            .shard(hash)
            .write_insert("compute", |(k, _)| hasher.hash_one(k));
        match table.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hash_table::Entry::Occupied(e) => match f(Some(&e.get().1)) {
                Some(new) => Some(std::mem::replace(&mut e.into_mut().1, new)),
                None => Some(e.remove().0 .1),
            },
            hash_table::Entry::Vacant(e) => {
                if let Some(new) = f(None) {
                    let index = e.insert((key, new)).bucket_index();
                    table.inserted(index);
                }
                None
            }
        }
    }

    /// The value of `key`, inserting `f()` first if it is absent; returns a
    /// clone. **At most once:** `f` runs only in the call that stores, never
    /// when the key is present, never twice for one absent key (Java's
    /// `computeIfAbsent`, for memoising an expensive value).
    ///
    /// **Locking behaviour:** read-locks the key's shard and clones a
    /// present value under it (a present key takes no write lock). An absent
    /// key then write-locks the shard, looks again, and runs `f` under the
    /// write lock only if the key is still absent: other threads' calls on
    /// that shard wait for `f`. If `f` calls the map on a key of the same
    /// shard, that call panics naming its line (it would deadlock); prefer
    /// [`get_or_insert_with_optimistic`](Self::get_or_insert_with_optimistic),
    /// whose `f` runs with no lock, when `f` needs the map.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// assert_eq!(map.get_or_insert_with("a", || 1), 1); // inserted
    /// assert_eq!(map.get_or_insert_with("a", || 2), 1); // loaded; `f` did not run
    /// ```
    #[track_caller]
    pub fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        self.get_or_insert_with_in("get_or_insert_with", key, f)
    }

    #[track_caller]
    fn get_or_insert_with_in(&self, op: &'static str, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        let hash = self.hash(&key);
        let shard = self.shard(hash);
        if let Some(v) = Self::cloned_if_present(shard, hash, &key, op) {
            return v;
        }
        self.insert_if_absent(shard, hash, op, key, f)
    }

    /// A clone of `key`'s value, read-locking its shard, if present.
    #[inline]
    #[track_caller]
    fn cloned_if_present(shard: &Shard<K, V>, hash: u64, key: &K, op: &'static str) -> Option<V>
    where
        V: Clone,
    {
        shard
            .lock()
            .read(op)
            .find(hash, |(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Write-locks `key`'s shard and returns a clone of its value, inserting
    /// `make()` first (under the lock) if the key is absent.
    #[track_caller]
    fn insert_if_absent(
        &self,
        shard: &Shard<K, V>,
        hash: u64,
        op: &'static str,
        key: K,
        make: impl FnOnce() -> V,
    ) -> V
    where
        V: Clone,
    {
        let hasher = &self.hasher;
        let mut table = shard.write_insert(op, |(k, _)| hasher.hash_one(k));
        match table.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hash_table::Entry::Occupied(e) => e.get().1.clone(),
            hash_table::Entry::Vacant(e) => {
                let index = e.insert((key, make())).bucket_index();
                // Noted before `clone`, which may panic: a suspended
                // traversal skips this bucket (it holds a new key).
                table.inserted(index);
                table.get_bucket(index).expect("just inserted").1.clone()
            }
        }
    }

    /// Load-or-store (Go's `LoadOrStore`): if `key` is present, returns a
    /// clone of its value and `true` (loaded; `value` is dropped); otherwise
    /// stores `value` and returns a clone of it and `false`. Exactly one of
    /// several racing calls for an absent key stores; the others load its
    /// value.
    ///
    /// **Locking behaviour:** read-locks the key's shard and clones a
    /// present value under it; an absent key then write-locks the shard and
    /// looks again. An unused `value` is dropped after the lock is released.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// assert_eq!(map.load_or_store("a", 1), (1, false)); // stored
    /// assert_eq!(map.load_or_store("a", 2), (1, true)); // loaded
    /// ```
    #[track_caller]
    pub fn load_or_store(&self, key: K, value: V) -> (V, bool)
    where
        V: Clone,
    {
        let mut value = Some(value);
        let mut stored = false;
        let v = self.get_or_insert_with_in("load_or_store", key, || {
            stored = true;
            value.take().expect("runs at most once")
        });
        (v, !stored)
    }

    /// The value of `key`, inserting `f()` first if it is absent; returns a
    /// clone. **Optimistic:** `f` runs with no lock held, so racing calls
    /// for one absent key may each run it; one value is stored and the
    /// others are dropped (after the lock is released). Use it when `f` is
    /// slow and may run twice, or calls this map;
    /// [`get_or_insert_with`](Self::get_or_insert_with) runs it at most
    /// once, under the shard's write lock.
    ///
    /// **Locking behaviour:** read-locks the key's shard and clones a
    /// present value under it; an absent key releases it, runs `f` without
    /// a lock, then write-locks the shard and inserts unless the key
    /// appeared meanwhile.
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// assert_eq!(map.get_or_insert_with_optimistic("a", || 1), 1);
    /// // `f` may call the map: no lock is held while it runs.
    /// assert_eq!(map.get_or_insert_with_optimistic("b", || map.get_cloned("a").unwrap() + 1), 2);
    /// ```
    #[track_caller]
    pub fn get_or_insert_with_optimistic(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        const OP: &str = "get_or_insert_with_optimistic";
        let hash = self.hash(&key);
        let shard = self.shard(hash);
        if let Some(v) = Self::cloned_if_present(shard, hash, &key, OP) {
            return v;
        }
        let mut new = Some(f());
        let v = self.insert_if_absent(shard, hash, OP, key, || {
            new.take().expect("runs at most once")
        });
        // A value that lost the race is dropped here, after the lock.
        drop(new);
        v
    }

    /// The entry of `key`, for in-place inspection, insertion or removal.
    ///
    /// **Locking behaviour:** write-locks the key's shard until the
    /// [`Entry`] (or the [`RefMut`] it turns into) is dropped, also when the
    /// key is present. To load a present key without a write lock, use
    /// [`get_or_insert_with`](Self::get_or_insert_with).
    ///
    /// ```
    /// let map = epochmap::ShardMap::new();
    /// *map.entry("a").or_insert(0) += 10;
    /// map.entry("a").and_modify(|v| *v += 1).or_insert(0);
    /// assert_eq!(map.get_cloned("a"), Some(11));
    /// ```
    #[track_caller]
    pub fn entry(&self, key: K) -> Entry<'_, K, V, S> {
        let hash = self.hash(&key);
        let hasher = &self.hasher;
        let guard = self
            .shard(hash)
            .write_insert("entry", |(k, _)| hasher.hash_one(k));
        match guard.find_bucket_index(hash, |(k, _)| *k == key) {
            Some(index) => Entry::Occupied(OccupiedEntry { guard, index }),
            None => Entry::Vacant(VacantEntry {
                guard,
                hash,
                key,
                hasher: &self.hasher,
            }),
        }
    }

    /// Reserves room for at least `additional` more entries, spread evenly
    /// over the shards (std's `reserve`; keys spread unevenly, so one shard
    /// may still grow earlier). A shard in which a traversal is suspended,
    /// between two chunks, is left as it is.
    ///
    /// **Locking behaviour:** write-locks one shard at a time.
    ///
    /// # Panics
    ///
    /// If the capacity overflows or the allocation fails; see
    /// [`try_reserve`](Self::try_reserve).
    ///
    /// ```
    /// let map: epochmap::ShardMap<u32, u32> = epochmap::ShardMap::new();
    /// map.reserve(10_000);
    /// assert!(map.capacity() >= 10_000);
    /// ```
    #[track_caller]
    pub fn reserve(&self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            panic!("ShardMap::reserve({additional}): {e}");
        }
    }

    /// As [`reserve`](Self::reserve), but returns an error instead of
    /// panicking when the capacity overflows or the allocator fails (the
    /// shards reserved before the failure keep their room).
    ///
    /// **Locking behaviour:** write-locks one shard at a time.
    ///
    /// ```
    /// let map: epochmap::ShardMap<u32, u32> = epochmap::ShardMap::new();
    /// assert!(map.try_reserve(100).is_ok());
    /// assert!(map.try_reserve(usize::MAX).is_err());
    /// ```
    #[track_caller]
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        let per_shard = additional.div_ceil(self.shards.len());
        if per_shard == 0 {
            return Ok(());
        }
        let hasher = &self.hasher;
        for shard in self.shards.iter() {
            shard
                .write("try_reserve")
                .try_reserve(per_shard, |(k, _)| hasher.hash_one(k))
                .map_err(|e| match e {
                    hashbrown::TryReserveError::CapacityOverflow => {
                        TryReserveError::CapacityOverflow
                    }
                    hashbrown::TryReserveError::AllocError { .. } => TryReserveError::AllocError,
                })?;
        }
        Ok(())
    }

    /// Shrinks every shard's table to fit its entries (a shard in which a
    /// traversal is suspended, between two chunks, is left as it is).
    ///
    /// **Locking behaviour:** write-locks one shard at a time.
    #[track_caller]
    pub fn shrink_to_fit(&self) {
        for shard in self.shards.iter() {
            let hasher = &self.hasher;
            shard
                .write("shrink_to_fit")
                .shrink_to_fit(|(k, _)| hasher.hash_one(k));
        }
    }

    /// The hasher builder.
    ///
    /// **Locking behaviour:** none.
    pub fn hasher(&self) -> &S {
        &self.hasher
    }
}

impl<K, V, S> ShardMap<K, V, S> {
    /// The number of entries, from per-shard counters: exact when no other
    /// thread writes; otherwise see [Consistency](crate#consistency).
    ///
    /// **Locking behaviour:** none (lock-free).
    pub fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    /// True if the map has no entries (same caveat as [`len`](Self::len)).
    ///
    /// **Locking behaviour:** none (lock-free).
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.len() == 0)
    }

    /// The number of shards (a power of two).
    ///
    /// **Locking behaviour:** none.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Entries the map can hold without growing any shard's table (the sum
    /// over shards; one shard may still grow earlier, when keys are uneven).
    ///
    /// **Locking behaviour:** read-locks one shard at a time.
    #[track_caller]
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().read("capacity").capacity())
            .sum()
    }

    /// Removes every entry (dropping keys and values under each shard's
    /// lock).
    ///
    /// **Locking behaviour:** write-locks one non-empty shard at a time
    /// (empty ones are skipped without locking), for at most about a
    /// thousand entries per hold (a shard that small is cleared in one
    /// step); concurrent inserts may survive.
    #[track_caller]
    pub fn clear(&self) {
        iter::clear(&self.shards);
    }

    /// Keeps only the entries for which `f` returns true.
    ///
    /// `f` is called once for every entry present during the whole call
    /// (entries inserted meanwhile may or may not be visited).
    ///
    /// **Locking behaviour:** write-locks one shard at a time, for at most
    /// about a thousand entries per hold; `f` runs under that lock (do not
    /// call the map from `f`).
    #[track_caller]
    pub fn retain(&self, f: impl FnMut(&K, &mut V) -> bool) {
        iter::retain(&self.shards, "retain", f);
    }

    /// Iterates over the entries as [`MultiRef`] guards.
    ///
    /// **Locking behaviour:** read-locks one shard at a time and keeps it
    /// locked across `next` calls (also while your loop body runs) for at
    /// most about a thousand entries; then the iterator lets the lock go (it
    /// is released once no item of that chunk is alive) and takes it again
    /// at the next `next`. A writer waiting for the shard ends the hold
    /// early: `next` looks every 8 entries, so the writer waits for at most
    /// about 8 turns of your loop body, or for the items you still hold.
    /// Each item keeps its shard read-locked while it lives, so holding
    /// items (e.g. `collect`) keeps the shard locked. Writes to the map from
    /// this thread while an item is alive, or before a chunk ends, would
    /// wait for the iteration (such a call panics). Where long traversals must never block writers,
    /// [`AtomicPtrMap`](crate::AtomicPtrMap) traverses without locks.
    ///
    /// ```
    /// let map: epochmap::ShardMap<u32, u32> = (0..10).map(|i| (i, i * i)).collect();
    /// let sum: u32 = map.iter().map(|r| *r.value()).sum();
    /// assert_eq!(sum, 285);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter::new(&self.shards, "iter")
    }

    /// Iterates over the entries with unique access to the values.
    ///
    /// **Locking behaviour:** write-locks one shard at a time and keeps it
    /// locked across `next` calls (also while your loop body runs) for
    /// about a thousand entries, with no early release for waiting writers;
    /// then releases it as [`iter`](Self::iter) does. Each item keeps its
    /// shard write-locked while it lives.
    pub fn iter_mut(&self) -> IterMut<'_, K, V> {
        IterMut::new(&self.shards)
    }

    /// Iterates over the keys.
    ///
    /// **Locking behaviour:** as [`iter`](Self::iter).
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys {
            inner: Iter::new(&self.shards, "keys"),
        }
    }

    /// Iterates over the values.
    ///
    /// **Locking behaviour:** as [`iter`](Self::iter).
    pub fn values(&self) -> Values<'_, K, V> {
        Values {
            inner: Iter::new(&self.shards, "values"),
        }
    }
}

/// Sets how many entries a traversal visits per hold of a shard's lock (0
/// restores the default, about a thousand). For tests that need traversals
/// to release and re-acquire locks often; not part of the stable API.
#[doc(hidden)]
pub fn __set_traversal_chunk(entries: usize) {
    shard::set_traversal_chunk(entries);
}

impl<K, V, S> IntoIterator for ShardMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;
    /// Consumes the map. **Locking behaviour:** none.
    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter {
            shards: Vec::from(self.shards).into_iter(),
            current: None,
        }
    }
}

impl<'a, K, V, S> IntoIterator for &'a ShardMap<K, V, S> {
    type Item = MultiRef<'a, K, V>;
    type IntoIter = Iter<'a, K, V>;
    /// Same as [`ShardMap::iter`]. **Locking behaviour:** as `iter`.
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Extend<(K, V)> for ShardMap<K, V, S> {
    /// Inserts every pair (through `&mut self`: no locking).
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let hasher = &self.hasher;
        let bits = self.bits;
        for (k, v) in iter {
            let hash = hasher.hash_one(&k);
            let shard = SyncLenOnDrop(&mut self.shards[shard_index(hash, bits)]);
            let table = shard.0.table_mut();
            match table.entry(hash, |(q, _)| *q == k, |(q, _)| hasher.hash_one(q)) {
                hash_table::Entry::Occupied(mut e) => e.get_mut().1 = v,
                hash_table::Entry::Vacant(e) => {
                    e.insert((k, v));
                }
            }
        }
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for ShardMap<K, V, S>
where
    K: Hash + Eq + Copy,
    V: Copy,
    S: BuildHasher,
{
    /// Inserts copies of the pairs (std's `Extend<(&K, &V)>`; through
    /// `&mut self`: no locking).
    ///
    /// ```
    /// let mut map = epochmap::ShardMap::new();
    /// let pairs = [(1, 10), (2, 20)];
    /// map.extend(pairs.iter().map(|(k, v)| (k, v)));
    /// assert_eq!(map.get_cloned(&2), Some(20));
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.extend(iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

/// Exclusive access to a shard that brings its length counter in line with
/// its table when dropped, also when unwinding: a `Hash` that panics while
/// hashbrown rehashes a table in place makes it drop entries.
struct SyncLenOnDrop<'a, K, V>(&'a mut Shard<K, V>);

impl<K, V> Drop for SyncLenOnDrop<'_, K, V> {
    fn drop(&mut self) {
        self.0.sync_len();
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> FromIterator<(K, V)> for ShardMap<K, V, S> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::with_hasher(S::default());
        map.extend(iter);
        map
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for ShardMap<K, V, S> {
    /// Lists the entries. **Locking behaviour:** read-locks one shard at a
    /// time, for at most about a thousand entries (formatting them under
    /// the lock).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        let _ = iter::visit::<_, _, ()>(&self.shards, "fmt", |k, v| {
            m.entry(k, v);
            ControlFlow::Continue(())
        });
        m.finish()
    }
}

impl<K: Clone + Hash + Eq, V: Clone, S: Clone + BuildHasher> Clone for ShardMap<K, V, S> {
    /// Copies the map entry by entry (a traversal, see "Consistency": an
    /// entry present during the whole copy is copied once; one written
    /// meanwhile may or may not be).
    ///
    /// **Locking behaviour:** read-locks one shard at a time, for at most
    /// about a thousand entries (cloning them under the lock).
    #[track_caller]
    fn clone(&self) -> Self {
        let hasher = &self.hasher;
        let shards = self
            .shards
            .iter()
            .map(|s| {
                let mut table = Table::with_capacity(s.len());
                let _ = iter::visit_shard::<_, _, ()>(s, "clone", |k, v| {
                    let hash = hasher.hash_one(k);
                    table.insert_unique(hash, (k.clone(), v.clone()), |(k, _)| hasher.hash_one(k));
                    ControlFlow::Continue(())
                });
                Shard::new(table, s.lock().reader_slots())
            })
            .collect();
        ShardMap {
            shards,
            bits: self.bits,
            hasher: self.hasher.clone(),
        }
    }
}

impl<K: Hash + Eq, V: PartialEq, S: BuildHasher> PartialEq for ShardMap<K, V, S> {
    /// Same keys with equal values. Meaningful only when neither map is
    /// written meanwhile.
    ///
    /// **Locking behaviour:** traverses one map (one shard at a time, at
    /// most about a thousand entries per lock hold) while
    /// read-locking the other's shards for lookups. Which map is iterated
    /// depends only on their addresses, so `a == b` and `b == a` running at
    /// the same time take the locks in the same order and cannot deadlock.
    #[track_caller]
    fn eq(&self, other: &Self) -> bool {
        if std::ptr::eq(self, other) {
            return true;
        }
        if self.len() != other.len() {
            return false;
        }
        let (outer, inner) = if (self as *const Self) < (other as *const Self) {
            (self, other)
        } else {
            (other, self)
        };
        outer.len() == inner.len()
            && iter::visit(&outer.shards, "eq", |k, v| {
                match inner.read_with(k, "eq", |w| w == v) {
                    Some(true) => ControlFlow::Continue(()),
                    _ => ControlFlow::Break(()),
                }
            })
            .is_continue()
    }
}

impl<K: Hash + Eq, V: Eq, S: BuildHasher> Eq for ShardMap<K, V, S> {}
