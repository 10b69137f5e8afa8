//! The open-addressing table shared by snapshots and overlays, and the index
//! math. Safe code only: the table stores entry pointers but never
//! dereferences them (that is [`raw`](super::raw)'s job).
//!
//! A table is an array of slots (`AtomicPtr<Entry>`, 8 bytes: the entry
//! holds its key's hash) beside a dense array of tag bytes, with a
//! power-of-two length,
//! probed linearly from `hash & mask`. Slots go from null to an entry exactly
//! once and are never cleared, and a table is never filled beyond half its
//! slots, so every probe sequence meets a null slot and stops. A *snapshot*
//! is a table that is completely written before it is published and never
//! written again; an *overlay* is a table whose slots are written one at a
//! time, under the partition's mutex, while readers probe it without a lock.

use crossbeam_utils::CachePadded;

use super::raw::Entry;
use super::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Smallest table: 8 slots (4 entries).
pub(crate) const MIN_SLOTS: usize = 8;

/// Largest number of slots a table may have (2^48, far beyond any memory);
/// it bounds the slot math.
pub(crate) const MAX_SLOTS: usize = 1 << 48;

/// Number of slots for a table that must hold `entries` entries at a load
/// factor of at most one half.
pub(crate) fn slots_for(entries: usize) -> usize {
    entries
        .saturating_mul(2)
        .max(MIN_SLOTS)
        .checked_next_power_of_two()
        .unwrap_or(MAX_SLOTS)
        .min(MAX_SLOTS)
}

/// One slot: an entry pointer, nothing else. The key's hash lives in the
/// entry and 7 bits of it in the slot's tag: a probe skips the slots of other
/// hashes by their tags (a false match is 1 in 128 per slot passed), so a
/// hash in the slot would save almost no entry reads while doubling the slot
/// array, the array every lookup reads.
///
/// Invariant: `entry` goes from null to an entry once, with Release, and
/// never changes afterwards.
#[repr(transparent)]
pub(crate) struct Slot<K, V> {
    entry: AtomicPtr<Entry<K, V>>,
}

impl<K, V> Slot<K, V> {
    /// A free slot: null entry.
    pub(crate) fn free() -> Self {
        Slot {
            entry: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

/// The tag of a free slot.
pub(crate) const FREE: u8 = 0;

/// The tag of a slot holding an entry of hash `hash`: the high bit set, and
/// 7 bits of the hash that neither the slot index (low bits) nor the
/// partition index (top 16 bits) uses.
#[inline]
pub(crate) fn tag_of(hash: u64) -> u8 {
    0x80 | ((hash >> 40) & 0x7f) as u8
}

/// An open-addressing table of entry pointers.
pub(crate) struct Table<K, V> {
    /// One byte per slot, [`FREE`] or the [`tag_of`] the slot's hash: a
    /// probe scans this dense array (1 byte per slot, so it mostly stays in
    /// cache) and reads a slot only when its tag matches, so a lookup that
    /// misses usually touches no slot and no entry at all. Invariant: a tag
    /// goes from `FREE` to `tag_of(hash)` once, stored with Release after the
    /// slot's entry pointer; a non-free tag loaded with Acquire
    /// guarantees a non-null, initialised slot.
    tags: Box<[AtomicU8]>,
    /// Invariants: `slots.len()` is a power of two >= [`MIN_SLOTS`]; a slot's
    /// entry goes from null to non-null at most once; at most `capacity()`
    /// slots are non-null; within one
    /// table at most one entry per key.
    slots: Box<[Slot<K, V>]>,
    /// Entries stored. Written only by the thread that fills the table (under
    /// the partition mutex, or before publication); a counter: Relaxed. In
    /// its own cache line: an overlay insert writes it, readers never read
    /// it on the lookup path, and it must not invalidate the line holding
    /// `slots` (which every lookup reads).
    len: CachePadded<AtomicUsize>,
}

impl<K, V> Table<K, V> {
    /// An empty table with room for `entries` entries.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let n = slots_for(entries);
        Table {
            tags: super::raw::free_tags(n),
            slots: super::raw::null_slots(n),
            len: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// [`Table::with_capacity`], or `None` if the allocator refuses the
    /// arrays.
    pub(crate) fn try_with_capacity(entries: usize) -> Option<Self> {
        let n = slots_for(entries);
        Some(Table {
            tags: super::raw::try_free_tags(n).ok()?,
            slots: super::raw::try_null_slots(n).ok()?,
            len: CachePadded::new(AtomicUsize::new(0)),
        })
    }

    /// A table over free tags and slots of the same length, a power of two
    /// (>= [`MIN_SLOTS`]).
    pub(crate) fn from_parts(tags: Box<[AtomicU8]>, slots: Box<[Slot<K, V>]>) -> Self {
        assert!(tags.len() == slots.len(), "one tag per slot");
        debug_assert!(slots.len().is_power_of_two() && slots.len() >= MIN_SLOTS);
        debug_assert!(tags.iter().all(|t| t.load(Ordering::Relaxed) == FREE));
        Table {
            tags,
            slots,
            len: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Entries this table can take before it is full (half its slots).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    #[inline]
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// [`Table::len`] with Acquire: pairs with the Release store in
    /// [`Table::publish_slot`], so every slot counted is visible after it.
    #[inline]
    pub(crate) fn len_acquire(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Bytes of the slot array (for the garbage statistics).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.len() * (std::mem::size_of::<Slot<K, V>>() + 1)
    }

    /// The probe sequence for `hash`: every slot index once, starting at
    /// `hash & mask`.
    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> impl Iterator<Item = usize> {
        let mask = self.slots.len() - 1;
        let start = hash as usize & mask;
        (0..self.slots.len()).map(move |i| (start + i) & mask)
    }

    /// Loads the tag of slot `i`. Acquire: pairs with the Release store of
    /// the tag in [`Table::publish_slot`], so that after a non-free tag the
    /// slot's entry pointer and entry are visible.
    #[inline]
    pub(crate) fn tag(&self, i: usize) -> u8 {
        self.tags[i].load(Ordering::Acquire)
    }

    /// The address of slot `hash & mask`, the first of `hash`'s probe
    /// sequence (for a prefetch: it is not read through).
    #[inline]
    pub(crate) fn home_slot(&self, hash: u64) -> *const Slot<K, V> {
        &self.slots[hash as usize & (self.slots.len() - 1)]
    }

    /// Loads slot `i`: its entry pointer (null if free). Acquire: pairs with
    /// the Release store in [`Table::publish_slot`], so the entry behind a
    /// non-null pointer is fully initialised for the reader.
    #[inline]
    pub(crate) fn load(&self, i: usize) -> *mut Entry<K, V> {
        self.slots[i].entry.load(Ordering::Acquire)
    }

    /// Writes `entry` into the first free slot of `hash`'s probe sequence.
    /// Release: pairs with the Acquire load in [`Table::load`] of readers that
    /// probe the table without a lock. `hash` must be the entry's hash. Only
    /// the thread that owns the right to write the table (the
    /// partition mutex, or the builder of an unpublished snapshot) calls
    /// this.
    pub(crate) fn publish_slot(&self, hash: u64, entry: *mut Entry<K, V>) {
        debug_assert!(!entry.is_null());
        debug_assert!(!self.is_full(), "table filled beyond its capacity");
        for i in self.probe(hash) {
            let slot = &self.slots[i];
            if slot.entry.load(Ordering::Relaxed).is_null() {
                slot.entry.store(entry, Ordering::Release);
                // Release: pairs with the Acquire load in `Table::tag`.
                self.tags[i].store(tag_of(hash), Ordering::Release);
                // Release: pairs with the Acquire load in `len_acquire` (a
                // writer that sees this count also sees the slot).
                self.len.store(self.len() + 1, Ordering::Release);
                return;
            }
        }
        unreachable!("a table at most half full always has a free slot");
    }

    /// All non-null entry pointers (for drop). Scans the tags, and stops
    /// after the `len` entries: a presized table that holds few entries, or
    /// none, is not read through.
    pub(crate) fn entries(&self) -> impl Iterator<Item = *mut Entry<K, V>> + '_ {
        (0..self.slots.len())
            .filter(|&i| self.tag(i) != FREE)
            .map(|i| self.load(i))
            .filter(|p| !p.is_null())
            .take(self.len())
    }
}

/// The partition index is the top 16 bits of the mixed hash (see
/// [`partition_index`]).
pub(crate) const PARTITION_SHIFT: u32 = 48;

/// Largest partition count accepted by the builder.
pub(crate) const MAX_PARTITIONS: usize = 1 << 16;

/// Index of the partition for `hash`, given `mask = partitions - 1`.
///
/// The top bits of `hash` times an odd constant (Fibonacci hashing): every
/// bit of the hash moves them, so a weak hasher (an identity hash of small
/// integers, whose top bits are all zero) still spreads keys over every
/// partition instead of serialising all new keys on partition 0's mutex.
#[inline]
pub(crate) fn partition_index(hash: u64, mask: usize) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> PARTITION_SHIFT) as usize & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_math() {
        assert_eq!(slots_for(0), MIN_SLOTS);
        assert_eq!(slots_for(4), 8);
        assert_eq!(slots_for(5), 16);
        assert_eq!(slots_for(usize::MAX), MAX_SLOTS);
        let t: Table<u64, u64> = Table::with_capacity(5);
        assert_eq!(t.capacity(), 8);
        let p: Vec<usize> = t.probe(15).collect();
        assert_eq!(p[0], 15);
        assert_eq!(p[1], 0);
        assert_eq!(p.len(), 16);
        // Small integers (an identity hasher's hashes) reach every partition.
        let mut seen = [false; 8];
        for h in 0..64u64 {
            seen[partition_index(h, 7)] = true;
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }
}
