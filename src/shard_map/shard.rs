//! A shard (a lock over a hash table, plus a length counter) and the index
//! math that picks a shard from a hash.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

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
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(table: Table<K, V>, reader_slots: usize) -> Self {
        Shard {
            inner: CachePadded::new(ShardInner {
                len: AtomicUsize::new(table.len()),
                lock: RwLock::new(table, reader_slots),
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
        // Relaxed: a statistic; see "Consistency" in the map docs.
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Takes the write lock; the returned guard updates the length counter
    /// when it unlocks, also when unwinding from a panic.
    #[inline]
    pub(crate) fn write(&self, op: &'static str) -> ShardWriteGuard<'_, K, V> {
        ShardWriteGuard {
            guard: Some(self.inner.lock.write(op)),
            len: &self.inner.len,
        }
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
    len: &'a AtomicUsize,
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
            // Relaxed: a statistic, written only under this shard's write lock.
            self.len.store(g.len(), Ordering::Relaxed);
        }
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

    #[test]
    fn len_counter_follows_writes() {
        let shard: Shard<u32, u32> = Shard::new(Table::new(), 1);
        {
            let mut g = shard.write("t");
            g.insert_unique(1, (1, 1), |_| 1);
            g.insert_unique(2, (2, 2), |_| 2);
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
