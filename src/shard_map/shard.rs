//! A shard (a lock over a hash table, plus a length counter) and the index
//! math that picks a shard from a hash.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;

use super::lock::{RwLock, WriteGuard};

/// The table of one shard.
pub(crate) type Table<K, V> = HashTable<(K, V)>;

/// Shard count used when none is given: 4 x the available parallelism,
/// rounded up to a power of two, at least [`DEFAULT_MIN_SHARDS`], at most
/// this.
pub(crate) const DEFAULT_MAX_SHARDS: usize = 256;
/// Fewest shards by default. Two threads writing uniformly random keys meet
/// in one shard (a lock handoff and a table cache line moving between
/// cores) once in `shards` operations; at 8 shards (4 per core on 2 cores)
/// that cost ShardMap 20-40% of its throughput in the crisis suite's
/// write-heavy scenarios at 2 threads (BENCHMARKS.md). An empty shard costs
/// 128 bytes plus its reader slots (no table is allocated before the first
/// insert).
pub(crate) const DEFAULT_MIN_SHARDS: usize = 64;
/// Largest shard count a builder accepts.
pub(crate) const MAX_SHARDS: usize = 1 << 16;
/// Default reader slots per shard: the available parallelism, rounded up to
/// a power of two, at most this, and fewer where the map's slots would pass
/// [`DEFAULT_READER_SLOT_BUDGET`].
pub(crate) const DEFAULT_MAX_READER_SLOTS: usize = 16;
/// Bytes of reader slots a map gets by default, over all its shards (a slot
/// is one 128-byte block): 256 KiB. A machine of 16 cores or fewer stays
/// within it with one slot per core; on more cores the default shard count
/// grows to 256 and the slots per shard stop at 8.
pub(crate) const DEFAULT_READER_SLOT_BUDGET: usize = 256 << 10;
/// Bytes of one reader slot (128 on x86-64 and aarch64).
pub(crate) const READER_SLOT_BYTES: usize = std::mem::size_of::<CachePadded<AtomicUsize>>();

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The default shard count (see [`DEFAULT_MAX_SHARDS`]).
pub(crate) fn default_shards() -> usize {
    (parallelism().saturating_mul(4))
        .clamp(DEFAULT_MIN_SHARDS, DEFAULT_MAX_SHARDS)
        .next_power_of_two()
}

/// The default number of reader slots per shard of a map of `shards`
/// shards: one per core, rounded up to a power of two, at most
/// [`DEFAULT_MAX_READER_SLOTS`], and within [`DEFAULT_READER_SLOT_BUDGET`]
/// over the map (at least one).
pub(crate) fn default_reader_slots(shards: usize) -> usize {
    let per_core = parallelism()
        .min(DEFAULT_MAX_READER_SLOTS)
        .next_power_of_two();
    let budget = DEFAULT_READER_SLOT_BUDGET / (READER_SLOT_BYTES * shards.max(1));
    // The largest power of two within the budget (at least 1).
    let budget = if budget == 0 { 1 } else { 1 << budget.ilog2() };
    per_core.min(budget)
}

/// Picks the shard of `hash` among `1 << bits` shards.
///
/// The top bits of `hash` times an odd constant (Fibonacci hashing), so that
/// every bit of the hash moves the shard: a weak hasher whose hashes of
/// small keys have zero top bits (an identity hasher of integers, say) still
/// spreads keys over every shard, where taking raw top bits put them all in
/// shard 0. The product is not correlated with the bits hashbrown uses inside
/// a shard (the low bits for the bucket, the top 7 for the tag), so the keys
/// of one shard do not share tag bits either.
#[inline]
pub(crate) fn shard_index(hash: u64, bits: u32) -> usize {
    debug_assert!(bits <= 57);
    // Two shifts so that `bits == 0` (one shard) needs no shift by 64.
    ((hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1) >> (63 - bits)) as usize
}

/// One shard: a cache-padded lock over a table, and the table's length for
/// lock-free `len`.
pub(crate) struct Shard<K, V> {
    /// Lock and counter share one padded block: writers touch both, readers
    /// read the lock's header and table header there (the counter is only
    /// read by `len`).
    inner: CachePadded<ShardInner<K, V>>,
}

struct ShardInner<K, V> {
    lock: RwLock<Table<K, V>>,
    /// Invariant: equals the table's `len()` whenever no write lock is held
    /// (updated by [`ShardWriteGuard`] before it unlocks).
    len: AtomicUsize,
    /// The traversals that released this shard's lock in the middle of its
    /// table (see [`ShardCursor`]). Invariants, while the state of a live
    /// entry says where its traversal stands:
    /// 1. a rebuild of the table (a change of its bucket layout) happens
    ///    only in [`rebuild`], which remaps that state;
    /// 2. every insert of a new key marks the bucket it went into in that
    ///    state ([`ShardWriteGuard::inserted`]), so that the traversal skips
    ///    it: the key was not present for the whole traversal, and may be
    ///    one it yielded before, removed and inserted again since.
    ///
    /// Dead entries are pruned by the next registration, marking insert or
    /// rebuild.
    cursors: Mutex<Vec<Weak<Mutex<CursorState>>>>,
    /// `cursors.len()` (live and dead entries), stored under the `cursors`
    /// mutex, so that an insert finds out without that mutex whether it has
    /// a traversal to tell. Entries are added only with the shard's lock
    /// held (read or write) and removed only under the mutex; an inserting
    /// writer holds the write lock, so every registration it must see
    /// happened before its lock acquisition (the lock's Release unlock /
    /// Acquire lock order it), and no store races with its load: Relaxed
    /// suffices.
    suspended: AtomicUsize,
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(table: Table<K, V>, reader_slots: usize) -> Self {
        Shard {
            inner: CachePadded::new(ShardInner {
                len: AtomicUsize::new(table.len()),
                lock: RwLock::new(table, reader_slots),
                cursors: Mutex::new(Vec::new()),
                suspended: AtomicUsize::new(0),
            }),
        }
    }

    /// The shard's lock. Write through [`Shard::write`] when the length may
    /// change.
    #[inline]
    pub(crate) fn lock(&self) -> &RwLock<Table<K, V>> {
        &self.inner.lock
    }

    /// The table length as of the last write unlock.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the Release store in `ShardWriteGuard::sync`,
        // so a thread that sees a write's length (e.g. a traversal that skips
        // the shard when it reads 0) also sees everything that happened
        // before that write unlocked. `len()` itself is a statistic; see
        // "Consistency" in the map docs.
        self.inner.len.load(Ordering::Acquire)
    }

    /// Takes the write lock; the returned guard updates the length counter
    /// when it unlocks, also when unwinding from a panic.
    #[inline]
    #[track_caller]
    pub(crate) fn write(&self, op: &'static str) -> ShardWriteGuard<'_, K, V> {
        self.wrap(self.inner.lock.write(op))
    }

    /// Write-locks the shard if the key (found from `hash` with `eq`) is
    /// present, returning the guard and the key's bucket index; `None`
    /// (having taken only the read lock) if it is absent. The read hold of
    /// the look is upgraded in place ([`RwLock::try_upgrade`]), so the index
    /// found is still valid; if another writer was first, the read lock is
    /// released, the write lock taken and the key looked up again (it may
    /// be gone by then).
    ///
    /// Operations that change nothing when the key is absent lock through
    /// this ("look before locking"): readers of a busy key then do not
    /// queue behind writers that would change nothing. Such an operation on
    /// an absent key linearizes at the read-locked look; on a present key,
    /// under the write lock.
    #[inline]
    #[track_caller]
    pub(crate) fn write_present(
        &self,
        op: &'static str,
        hash: u64,
        mut eq: impl FnMut(&(K, V)) -> bool,
    ) -> Option<(WriteGuard<'_, Table<K, V>>, usize)> {
        let table = self.inner.lock.read(op);
        let index = table.find_bucket_index(hash, &mut eq)?;
        match RwLock::try_upgrade(table) {
            Ok(table) => Some((table, index)),
            Err(table) => {
                drop(table);
                let table = self.inner.lock.write(op);
                let index = table.find_bucket_index(hash, eq)?;
                Some((table, index))
            }
        }
    }

    /// A write guard of this shard's lock, made a [`ShardWriteGuard`] (for
    /// writes that may change the length).
    #[inline]
    pub(crate) fn wrap<'a>(
        &'a self,
        guard: WriteGuard<'a, Table<K, V>>,
    ) -> ShardWriteGuard<'a, K, V> {
        ShardWriteGuard {
            #[cfg(debug_assertions)]
            start_len: guard.len(),
            #[cfg(debug_assertions)]
            noted_inserts: 0,
            guard: Some(guard),
            shard: &self.inner,
        }
    }

    /// Takes the write lock for an operation that may insert one entry, and
    /// makes room for it first (see [`ShardWriteGuard::reserve_one`]), so
    /// that the insert cannot rebuild the table behind a suspended
    /// traversal.
    #[inline]
    #[track_caller]
    pub(crate) fn write_insert(
        &self,
        op: &'static str,
        hasher: impl Fn(&(K, V)) -> u64,
    ) -> ShardWriteGuard<'_, K, V> {
        let mut guard = self.write(op);
        guard.reserve_one(hasher);
        guard
    }

    /// Records a traversal that is about to release the lock in the middle
    /// of this shard. Call with the shard's lock held (read or write).
    fn register(&self, cursor: Weak<Mutex<CursorState>>) {
        let mut cursors = lock_unpoisoned(&self.inner.cursors);
        cursors.retain(|c| c.strong_count() > 0);
        cursors.push(cursor);
        // Relaxed: see `ShardInner::suspended`.
        self.inner.suspended.store(cursors.len(), Ordering::Relaxed);
    }

    /// Exclusive access through `&mut self`.
    pub(crate) fn table_mut(&mut self) -> &mut Table<K, V> {
        self.inner.lock.get_mut()
    }

    /// Brings the counter in line after changes made through `table_mut`.
    pub(crate) fn sync_len(&mut self) {
        let inner = &mut *self.inner;
        *inner.len.get_mut() = inner.lock.get_mut().len();
    }

    pub(crate) fn into_table(self) -> Table<K, V> {
        CachePadded::into_inner(self.inner).lock.into_inner()
    }
}

/// A write guard on a shard that stores the table's length into the shard's
/// counter before it unlocks.
pub(crate) struct ShardWriteGuard<'a, K, V> {
    /// `Some` until `into_inner`.
    guard: Option<WriteGuard<'a, Table<K, V>>>,
    shard: &'a ShardInner<K, V>,
    /// The table's length when the lock was taken, and the inserts noted
    /// since ([`ShardWriteGuard::inserted`]): the length can only have grown
    /// by noted inserts (checked when the guard unlocks).
    #[cfg(debug_assertions)]
    start_len: usize,
    #[cfg(debug_assertions)]
    noted_inserts: usize,
}

impl<'a, K, V> ShardWriteGuard<'a, K, V> {
    /// Syncs the counter and returns the plain lock guard (for guards that
    /// cannot change the length, like `RefMut`).
    pub(crate) fn into_inner(mut self) -> WriteGuard<'a, Table<K, V>> {
        self.sync();
        self.guard.take().expect("guard present until into_inner")
    }

    fn sync(&self) {
        if let Some(g) = &self.guard {
            #[cfg(debug_assertions)]
            debug_assert!(
                g.len() <= self.start_len + self.noted_inserts || std::thread::panicking(),
                "an insert under a shard write guard was not noted (`inserted`)"
            );
            // Release: pairs with the Acquire load in `Shard::len`. Written
            // only under this shard's write lock, before it unlocks.
            self.shard.len.store(g.len(), Ordering::Release);
        }
    }

    /// Makes sure one insert fits without hashbrown growing or rehashing
    /// the table (it does so only when `len == capacity`, i.e. when no
    /// growth is left). Every path that may insert calls this first, under
    /// the same guard, before at most one insert; that is what keeps the
    /// bucket layout fixed while traversals are suspended in this shard
    /// (the invariant on `ShardInner::cursors`).
    #[inline]
    pub(crate) fn reserve_one(&mut self, hasher: impl Fn(&(K, V)) -> u64) {
        if self.len() == self.capacity() {
            self.make_room(&hasher);
        }
    }

    #[cold]
    #[inline(never)]
    fn make_room(&mut self, hasher: &dyn Fn(&(K, V)) -> u64) {
        let cursors = live_cursors(self.shard);
        if cursors.is_empty() {
            self.reserve(1, hasher);
        } else {
            rebuild(&mut **self, hasher, &cursors);
        }
        debug_assert!(self.len() < self.capacity());
    }

    /// Records that a new key went into bucket `index` (an insert, not a
    /// replacement of a present key's value): every traversal suspended in
    /// this shard will skip that bucket. Every path that inserts through
    /// `&self` calls this under the same guard, right after the insert
    /// (invariant 2 on `ShardInner::cursors`; debug builds check the count
    /// when the guard unlocks).
    #[inline]
    pub(crate) fn inserted(&mut self, index: usize) {
        #[cfg(debug_assertions)]
        {
            self.noted_inserts += 1;
        }
        // Relaxed: see `ShardInner::suspended`.
        if self.shard.suspended.load(Ordering::Relaxed) != 0 {
            self.mark_inserted(index);
        }
    }

    #[cold]
    #[inline(never)]
    fn mark_inserted(&mut self, index: usize) {
        let buckets = self.num_buckets();
        debug_assert!(self.get_bucket(index).is_some(), "marked an empty bucket");
        for cursor in live_cursors(self.shard) {
            lock_unpoisoned(&cursor).skip(index, buckets);
        }
    }

    /// Makes room for `additional` more entries, unless a traversal is
    /// suspended in this shard (then it does nothing: reserving is only a
    /// hint, and the traversal's position must not move).
    pub(crate) fn try_reserve(
        &mut self,
        additional: usize,
        hasher: impl Fn(&(K, V)) -> u64,
    ) -> Result<(), hashbrown::TryReserveError> {
        if live_cursors(self.shard).is_empty() {
            (**self).try_reserve(additional, hasher)
        } else {
            Ok(())
        }
    }

    /// Shrinks the table to fit, unless a traversal is suspended in this
    /// shard (shrinking is only a hint; the traversal's position must not
    /// move).
    pub(crate) fn shrink_to_fit(&mut self, hasher: impl Fn(&(K, V)) -> u64) {
        if live_cursors(self.shard).is_empty() {
            (**self).shrink_to_fit(hasher);
        }
    }
}

/// Locks a mutex of this module, ignoring poisoning: nothing panics while
/// one is held, and their data is consistent after every statement.
fn lock_unpoisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The states of the traversals suspended in `shard`; prunes dead ones.
fn live_cursors<K, V>(shard: &ShardInner<K, V>) -> Vec<Arc<Mutex<CursorState>>> {
    let mut cursors = lock_unpoisoned(&shard.cursors);
    cursors.retain(|c| c.strong_count() > 0);
    // Relaxed: see `ShardInner::suspended`.
    shard.suspended.store(cursors.len(), Ordering::Relaxed);
    cursors.iter().filter_map(Weak::upgrade).collect()
}

/// Largest number of entries a table of `buckets` buckets holds (hashbrown's
/// load factor: one empty bucket below 8 buckets, 1/8 of them above).
fn full_capacity(buckets: usize) -> usize {
    if buckets < 8 {
        buckets.saturating_sub(1)
    } else {
        buckets / 8 * 7
    }
}

/// Moves the entries into a new table with room for one more, the way
/// hashbrown's `reserve(1)` would (same size when at most half full, which
/// recycles tombstones; larger otherwise), and remaps the position of every
/// suspended traversal in `cursors` to the new bucket layout: a bucket of
/// the new table is marked visited iff the entry it holds was visited in the
/// old one. Exact, with no hashing by the traversals.
///
/// Panic safety: every hash is computed before any entry moves, so a
/// panicking `Hash` leaves the table as it was; the move itself runs no user
/// code.
fn rebuild<K, V>(
    table: &mut Table<K, V>,
    hasher: &dyn Fn(&(K, V)) -> u64,
    cursors: &[Arc<Mutex<CursorState>>],
) {
    let items = table.len();
    let full = full_capacity(table.num_buckets());
    let capacity = if items < full / 2 {
        full
    } else {
        (items + 1).max(full + 1)
    };
    let hashes: Vec<(usize, u64)> = table
        .iter_buckets()
        .map(|i| (i, hasher(table.get_bucket(i).expect("listed bucket"))))
        .collect();
    let mut new = Table::with_capacity(capacity);
    debug_assert!(new.capacity() > items);
    // A live cursor whose traversal holds its state (it resumed, and its
    // lock guard is gone but the cursor not yet) has nothing to remap.
    let mut states: Vec<MutexGuard<'_, CursorState>> = cursors
        .iter()
        .map(|c| lock_unpoisoned(c))
        .filter(|s| s.suspended)
        .collect();
    let words = new.num_buckets().div_ceil(64);
    let mut maps: Vec<Box<[u64]>> = states
        .iter()
        .map(|_| vec![0u64; words].into_boxed_slice())
        .collect();
    for s in states.iter() {
        debug_assert_eq!(
            s.buckets,
            table.num_buckets(),
            "layout changed behind a traversal"
        );
    }
    for (old, hash) in hashes {
        let Ok(entry) = table.get_bucket_entry(old) else {
            unreachable!("hashed bucket is occupied")
        };
        let (kv, _) = entry.remove();
        // Never calls `hasher`: `new` has room for every entry.
        let index = new.insert_unique(hash, kv, hasher).bucket_index();
        for (s, map) in states.iter().zip(maps.iter_mut()) {
            if s.visited(old) {
                map[index / 64] |= 1 << (index % 64);
            }
        }
    }
    debug_assert!(table.is_empty());
    for (s, map) in states.iter_mut().zip(maps) {
        s.pos = 0;
        s.buckets = new.num_buckets();
        s.visited = Some(map);
    }
    *table = new;
}

/// Most entries a traversal visits per hold of a shard's lock (a
/// read-locked traversal also ends a hold early when a writer waits). Tests
/// shrink it (`set_traversal_chunk`) to exercise the resume.
pub(crate) const TRAVERSAL_CHUNK: usize = 1024;

/// A test override of [`TRAVERSAL_CHUNK`]; 0 means none.
static CHUNK_OVERRIDE: AtomicUsize = AtomicUsize::new(0);

/// Entries a traversal visits per lock hold (read once per shard visit).
#[inline]
pub(crate) fn traversal_chunk() -> usize {
    // Relaxed: a setting, read on its own.
    match CHUNK_OVERRIDE.load(Ordering::Relaxed) {
        0 => TRAVERSAL_CHUNK,
        n => n,
    }
}

/// Sets the traversal chunk size (0 restores the default), for tests.
pub(crate) fn set_traversal_chunk(n: usize) {
    // Relaxed: a setting, read on its own.
    CHUNK_OVERRIDE.store(n, Ordering::Relaxed);
}

/// Where a traversal stands in one shard's table.
#[derive(Debug, Default)]
pub(crate) struct CursorState {
    /// The next bucket index to look at.
    pos: usize,
    /// The buckets at or after `pos` to skip (bit `i % 64` of word
    /// `i / 64`), allocated on first use: those whose entries this
    /// traversal visited before [`rebuild`] moved them there, and those
    /// that a new key went into while the traversal was suspended
    /// ([`CursorState::skip`]). A bucket holding a key present since the
    /// traversal began is never marked for the second reason: such a key
    /// stays in its bucket (hashbrown moves entries only when it rebuilds
    /// the table, and that is `rebuild`, which carries the marks with the
    /// entries), so its bucket was never free for an insert.
    visited: Option<Box<[u64]>>,
    /// `num_buckets()` of the table this state describes (checked in debug
    /// builds: the layout may change only through [`rebuild`]).
    buckets: usize,
    /// True while the state is published in [`ShardCursor::suspend`]'s
    /// shared copy; false there once the traversal took it back (writers
    /// then leave that copy alone).
    suspended: bool,
}

impl CursorState {
    /// True if the entry in bucket `i` was visited already.
    #[inline]
    fn visited(&self, i: usize) -> bool {
        i < self.pos
            || self
                .visited
                .as_ref()
                .is_some_and(|m| m[i / 64] & (1 << (i % 64)) != 0)
    }

    /// Marks bucket `i` (of a table of `buckets` buckets, the one this
    /// state describes) as one to skip.
    fn skip(&mut self, i: usize, buckets: usize) {
        if !self.suspended || i < self.pos {
            return;
        }
        debug_assert_eq!(self.buckets, buckets, "layout changed behind a traversal");
        let words = buckets.div_ceil(64);
        let map = self
            .visited
            .get_or_insert_with(|| vec![0u64; words].into_boxed_slice());
        map[i / 64] |= 1 << (i % 64);
    }
}

/// A traversal's position in one shard, kept exact across releases of the
/// shard's lock: while the traversal holds the lock, the state is here;
/// while it is suspended, the state is in `shared`, registered with the
/// shard, where a writer that rebuilds the table remaps it (under its write
/// lock). Dropping the cursor deregisters it.
#[derive(Debug, Default)]
pub(crate) struct ShardCursor {
    state: CursorState,
    shared: Option<Arc<Mutex<CursorState>>>,
}

impl ShardCursor {
    /// Takes the state back after the shard's lock was (re)acquired. Call
    /// with the lock held, before visiting.
    pub(crate) fn resume(&mut self, buckets: usize) {
        if let Some(shared) = &self.shared {
            self.state = std::mem::take(&mut *lock_unpoisoned(shared));
            debug_assert!(self.state.suspended, "resumed twice");
            debug_assert_eq!(
                self.state.buckets, buckets,
                "layout changed behind a traversal"
            );
        }
    }

    /// Publishes the state so that writers can remap it. Call with the
    /// shard's lock still held, before releasing it.
    pub(crate) fn suspend<K, V>(&mut self, shard: &Shard<K, V>, buckets: usize) {
        self.state.buckets = buckets;
        self.state.suspended = true;
        let state = std::mem::take(&mut self.state);
        match &self.shared {
            Some(shared) => *lock_unpoisoned(shared) = state,
            None => {
                let shared = Arc::new(Mutex::new(state));
                shard.register(Arc::downgrade(&shared));
                self.shared = Some(shared);
            }
        }
    }

    /// The next bucket index at or after the position that this traversal
    /// has not visited, among `buckets`; advances past it. The caller looks
    /// whether it is occupied.
    #[inline]
    pub(crate) fn next_candidate(&mut self, buckets: usize) -> Option<usize> {
        while self.state.pos < buckets {
            let i = self.state.pos;
            self.state.pos += 1;
            match &self.state.visited {
                Some(m) if m[i / 64] & (1 << (i % 64)) != 0 => continue,
                _ => return Some(i),
            }
        }
        None
    }
}

impl<K, V> Deref for ShardWriteGuard<'_, K, V> {
    type Target = Table<K, V>;
    #[inline]
    fn deref(&self) -> &Table<K, V> {
        self.guard.as_ref().expect("guard present until into_inner")
    }
}

impl<K, V> DerefMut for ShardWriteGuard<'_, K, V> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Table<K, V> {
        self.guard.as_mut().expect("guard present until into_inner")
    }
}

impl<K, V> Drop for ShardWriteGuard<'_, K, V> {
    #[inline]
    fn drop(&mut self) {
        self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_reader_slots_stay_within_the_budget() {
        for shards in [1, 2, 8, 64, 256, 1024, 1 << 16] {
            let slots = default_reader_slots(shards);
            assert!(slots.is_power_of_two() && slots <= DEFAULT_MAX_READER_SLOTS);
            assert!(
                slots == 1 || slots * shards * READER_SLOT_BYTES <= DEFAULT_READER_SLOT_BUDGET,
                "{shards} shards get {slots} slots"
            );
        }
        let shards = default_shards();
        assert!((DEFAULT_MIN_SHARDS..=DEFAULT_MAX_SHARDS).contains(&shards));
        assert!(
            default_reader_slots(shards) * shards * READER_SLOT_BYTES <= DEFAULT_READER_SLOT_BUDGET
        );
    }

    #[test]
    fn shard_index_spreads_weak_hashes() {
        assert_eq!(shard_index(u64::MAX, 0), 0);
        for bits in 0..=16 {
            for h in [0u64, 1, 12345, u64::MAX, 0xDEAD_BEEF_0BAD_F00D] {
                assert!(shard_index(h, bits) < 1 << bits);
            }
        }
        // Identity hashes of small integers reach every shard, evenly.
        for bits in [1u32, 3, 6] {
            let shards = 1usize << bits;
            let mut counts = vec![0usize; shards];
            for k in 0..(shards as u64 * 64) {
                counts[shard_index(k, bits)] += 1;
            }
            assert!(
                counts.iter().all(|&c| (32..=96).contains(&c)),
                "bits {bits}: {counts:?}"
            );
        }
        // So do hashes that differ only in their top bits.
        let mut seen = std::collections::HashSet::new();
        for top in 0..64u64 {
            seen.insert(shard_index(top << 58, 3));
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn defaults_are_powers_of_two_within_caps() {
        let s = default_shards();
        assert!(s.is_power_of_two() && s <= DEFAULT_MAX_SHARDS);
        let r = default_reader_slots(s);
        assert!(r.is_power_of_two() && r <= DEFAULT_MAX_READER_SLOTS);
    }

    fn h(kv: &(u32, u32)) -> u64 {
        u64::from(kv.0).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Visits up to `n` entries from the cursor's position; returns keys.
    fn visit(shard: &Shard<u32, u32>, cursor: &mut ShardCursor, n: usize) -> Vec<u32> {
        let t = shard.lock().read("t");
        cursor.resume(t.num_buckets());
        let mut out = Vec::new();
        while out.len() < n {
            let Some(i) = cursor.next_candidate(t.num_buckets()) else {
                break;
            };
            if let Some(kv) = t.get_bucket(i) {
                out.push(kv.0);
            }
        }
        cursor.suspend(shard, t.num_buckets());
        out
    }

    #[test]
    fn rebuild_remaps_cursor_and_survives_panicking_hash() {
        let shard: Shard<u32, u32> = Shard::new(Table::with_capacity(14), 1);
        {
            let mut g = shard.write("t");
            let cap = g.capacity();
            for k in 0..cap as u32 {
                let i = g.insert_unique(h(&(k, 0)), (k, 0), h).bucket_index();
                g.inserted(i);
            }
            assert_eq!(g.len(), g.capacity());
        }
        let total = shard.len();
        let mut cursor = ShardCursor::default();
        let mut seen = visit(&shard, &mut cursor, 5);
        let buckets = shard.lock().read("t").num_buckets();
        // A panicking Hash during the rebuild leaves every entry in place.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shard
                .write("t")
                .reserve_one(|kv: &(u32, u32)| if kv.0 == 3 { panic!("hash") } else { h(kv) });
        }));
        assert!(r.is_err());
        assert_eq!(shard.len(), total);
        {
            let g = shard.lock().read("t");
            assert_eq!(g.num_buckets(), buckets);
            for k in 0..total as u32 {
                assert!(g.find(h(&(k, 0)), |kv| kv.0 == k).is_some(), "{k}");
            }
        }
        // A real rebuild (growth) under the suspended cursor.
        {
            let mut g = shard.write_insert("t", h);
            assert!(g.num_buckets() > buckets);
            let k = total as u32;
            let i = g.insert_unique(h(&(k, 0)), (k, 0), h).bucket_index();
            g.inserted(i);
        }
        loop {
            let more = visit(&shard, &mut cursor, 3);
            if more.is_empty() {
                break;
            }
            seen.extend(more);
        }
        seen.sort_unstable();
        let before: Vec<u32> = (0..total as u32).collect();
        seen.retain(|&k| k != total as u32); // inserted meanwhile: optional
        assert_eq!(seen, before, "each entry present throughout, once");
    }

    #[test]
    fn inserts_behind_a_suspended_cursor_are_skipped() {
        // One hash for every key: the keys sit in one probe run in insertion
        // order, so a visited key removed and inserted again after new keys
        // took its bucket lands past the cursor.
        let h = |_: &(u32, u32)| 7u64;
        let shard: Shard<u32, u32> = Shard::new(Table::with_capacity(64), 1);
        let insert = |k: u32| {
            let mut g = shard.write_insert("t", h);
            let i = g.insert_unique(h(&(k, 0)), (k, 0), h).bucket_index();
            g.inserted(i);
        };
        for k in 0..40 {
            insert(k);
        }
        let mut cursor = ShardCursor::default();
        let first = visit(&shard, &mut cursor, 10);
        // Visited keys leave, new keys take free buckets, the visited keys
        // come back (wherever hashbrown puts them).
        {
            let mut g = shard.write("t");
            for k in &first {
                let Ok(e) = g.find_entry(h(&(*k, 0)), |kv| kv.0 == *k) else {
                    unreachable!("present")
                };
                e.remove();
            }
        }
        for k in 100..110 {
            insert(k);
        }
        for &k in &first {
            insert(k);
        }
        let mut seen = first.clone();
        loop {
            let more = visit(&shard, &mut cursor, 7);
            if more.is_empty() {
                break;
            }
            seen.extend(more);
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            seen.len(),
            "a key was visited twice: {seen:?}"
        );
        for k in 0..40 {
            assert!(seen.contains(&k), "{k} skipped");
        }
        // A cursor whose state its traversal took back (lock released, the
        // cursor not dropped yet) is left alone by inserts and rebuilds.
        let mut cursor = ShardCursor::default();
        visit(&shard, &mut cursor, 3);
        cursor.resume(shard.lock().read("t").num_buckets());
        for k in 200..300 {
            insert(k);
        }
        drop(cursor);
    }

    #[test]
    fn len_counter_follows_writes() {
        let shard: Shard<u32, u32> = Shard::new(Table::new(), 1);
        {
            let mut g = shard.write("t");
            let i = g.insert_unique(1, (1, 1), |_| 1).bucket_index();
            g.inserted(i);
            let i = g.insert_unique(2, (2, 2), |_| 2).bucket_index();
            g.inserted(i);
        }
        assert_eq!(shard.len(), 2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut g = shard.write("t");
            g.clear();
            panic!("boom");
        }));
        assert!(r.is_err());
        assert_eq!(shard.len(), 0);
    }
}
