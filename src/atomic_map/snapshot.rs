//! The open-addressing table shared by snapshots and overlays, and the index
//! math. Safe code only: the table stores entry pointers but never
//! dereferences them (that is [`raw`](super::raw)'s job).
//!
//! A table is an array of `AtomicPtr<Entry>` with a power-of-two length,
//! probed linearly from `hash & mask`. Slots go from null to an entry exactly
//! once and are never cleared, and a table is never filled beyond half its
//! slots, so every probe sequence meets a null slot and stops. A *snapshot*
//! is a table that is completely written before it is published and never
//! written again; an *overlay* is a table whose slots are written one at a
//! time, under the partition's mutex, while readers probe it without a lock.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::raw::Entry;

/// Smallest table: 8 slots (4 entries).
pub(crate) const MIN_SLOTS: usize = 8;

/// Largest number of slots a table may have (2^48): beyond it the slot index
/// would use the hash bits that choose the partition.
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

/// An open-addressing table of entry pointers.
pub(crate) struct Table<K, V> {
    /// Invariants: `slots.len()` is a power of two >= [`MIN_SLOTS`]; a slot
    /// goes from null to non-null at most once; at most `capacity()` slots are
    /// non-null; within one table at most one entry per key.
    slots: Box<[AtomicPtr<Entry<K, V>>]>,
    /// Entries stored. Written only by the thread that fills the table (under
    /// the partition mutex, or before publication); a counter: Relaxed.
    len: AtomicUsize,
}

impl<K, V> Table<K, V> {
    /// An empty table with room for `entries` entries.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let slots = super::raw::null_slots(slots_for(entries));
        Table {
            slots,
            len: AtomicUsize::new(0),
        }
    }

    /// A table over zeroed (null) slots; `slots.len()` a power of two.
    pub(crate) fn from_slots(slots: Box<[AtomicPtr<Entry<K, V>>]>) -> Self {
        debug_assert!(slots.len().is_power_of_two() && slots.len() >= MIN_SLOTS);
        Table {
            slots,
            len: AtomicUsize::new(0),
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

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Bytes of the slot array (for the garbage statistics).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.slots.len() * std::mem::size_of::<AtomicPtr<Entry<K, V>>>()
    }

    /// The probe sequence for `hash`: every slot index once, starting at
    /// `hash & mask`.
    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> impl Iterator<Item = usize> {
        let mask = self.slots.len() - 1;
        let start = hash as usize & mask;
        (0..self.slots.len()).map(move |i| (start + i) & mask)
    }

    /// Loads slot `i`. Acquire: pairs with the Release store in
    /// [`Table::publish_slot`], so the entry behind a non-null pointer is
    /// fully initialised for the reader.
    #[inline]
    pub(crate) fn load(&self, i: usize) -> *mut Entry<K, V> {
        self.slots[i].load(Ordering::Acquire)
    }

    /// Writes `entry` into the first free slot of `hash`'s probe sequence.
    /// Release: pairs with the Acquire load in [`Table::load`] of readers that
    /// probe the table without a lock. Only the thread that owns the right to
    /// write the table (the partition mutex, or the builder of an unpublished
    /// snapshot) calls this.
    pub(crate) fn publish_slot(&self, hash: u64, entry: *mut Entry<K, V>) {
        debug_assert!(!entry.is_null());
        debug_assert!(!self.is_full(), "table filled beyond its capacity");
        for i in self.probe(hash) {
            if self.slots[i].load(Ordering::Relaxed).is_null() {
                self.slots[i].store(entry, Ordering::Release);
                self.len.store(self.len() + 1, Ordering::Relaxed);
                return;
            }
        }
        unreachable!("a table at most half full always has a free slot");
    }

    /// All non-null entry pointers (for merges and drop).
    pub(crate) fn entries(&self) -> impl Iterator<Item = *mut Entry<K, V>> + '_ {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .filter(|p| !p.is_null())
    }
}

/// Number of partition bits in a hash used for the partition index: the top
/// 16 bits, so partitions and slot indices (low bits) do not overlap.
pub(crate) const PARTITION_SHIFT: u32 = 48;

/// Largest partition count accepted by the builder.
pub(crate) const MAX_PARTITIONS: usize = 1 << 16;

/// Index of the partition for `hash`, given `mask = partitions - 1`.
#[inline]
pub(crate) fn partition_index(hash: u64, mask: usize) -> usize {
    (hash >> PARTITION_SHIFT) as usize & mask
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
        assert_eq!(partition_index(0xFFFF_0000_0000_0000, 7), 7);
        assert_eq!(partition_index(0x0000_FFFF_FFFF_FFFF, 7), 0);
    }
}
