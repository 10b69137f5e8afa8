//! The delta overlay and the merge: the layer set of a partition, the
//! overlay sizing policy and the bookkeeping of an incremental merge. Safe
//! code only; the steps that dereference entries are in
//! [`raw`](super::raw).
//!
//! # The layer set
//!
//! A partition publishes one pointer to a [`Layers`]: the snapshot, at most
//! one sealed overlay that a merge is folding into the next snapshot, and the
//! active overlay that takes new keys. Publishing the three as one pointer is
//! what lets a reader see a consistent set with one Acquire load: if the new
//! snapshot and the end of the sealed overlay were published separately, a
//! reader could load the old snapshot, then find the sealed overlay gone, and
//! miss a key that was present all along.
//!
//! # The merge, incrementally
//!
//! When the active overlay is full it is *sealed*: a new layer set
//! `{snapshot, sealed: active, active: fresh}` is published, and a
//! [`MergeState`] starts to build the next snapshot from the live entries of
//! the old snapshot and the sealed overlay (entry pointers move; the key and
//! value stay where they are). The work is spread over the next inserts of
//! new keys into that partition, over lookups that find their key in an
//! overlay (they try the mutex, never wait for it; sampled, see
//! `RawMap::overlay_hit`, which also seals an overlay that reads alone keep
//! hitting), and over removals once most of the partition's entries are
//! tombstones (they try the mutex too, see `RawMap::after_removal`). Each
//! does a bounded step while it holds the partition mutex (zeroing the next
//! snapshot's array, moving entries, zeroing the overlay for the next
//! seal): [`MergeState::budget`] units for an insert or a lookup, chosen so
//! the merge ends before the fresh overlay is half full, and
//! [`MergeState::removal_budget`] for a removal. If the overlay fills anyway
//! (for example after `compact` sealed a small one), the writer that finds it
//! full finishes the merge. When the last slot is processed the layer set
//! `{next snapshot, None, active}` is published and the old arrays retired.
//! So no single insert pays for copying the partition, let alone the map:
//! the slowest insert does a bounded amount of merge work, plus allocations
//! that are `O(1)` because nothing is zeroed up front. (The allocator's own
//! work when retired arrays are freed, such as returning pages to the
//! system, happens in whichever thread collects that garbage.)

use super::raw::{Entry, Zeroing};
use super::snapshot::{slots_for, Table};

/// The tables of one partition, published together as one pointer.
pub(crate) struct Layers<K, V> {
    /// Invariant: never null. Immutable once published.
    pub(crate) snapshot: *mut Table<K, V>,
    /// Null when no merge is running. Immutable once sealed (no writer
    /// inserts into it again).
    pub(crate) sealed: *mut Table<K, V>,
    /// Never null. New keys are inserted here, under the partition mutex.
    pub(crate) active: *mut Table<K, V>,
    /// Loom only: a cell that loom tracks, standing for this plain memory
    /// (loom sees atomics and its own cells, not the pointers above). Made
    /// with the set, read by every load of the published pointer, written
    /// when the set is freed: loom then reports a load that does not
    /// happen-after the publication (a missing Release/Acquire) or a free
    /// that does not happen-after a reader's load (premature reclamation).
    #[cfg(loom)]
    pub(crate) witness: super::sync::UnsafeCell<()>,
}

#[cfg(loom)]
impl<K, V> Drop for Layers<K, V> {
    fn drop(&mut self) {
        self.witness.with_mut(|_| ());
    }
}

/// Merge policy of a map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Smallest overlay capacity (entries), >= 1.
    pub(crate) min_overlay: usize,
    /// An overlay takes `snapshot_len / ratio` entries (at least
    /// `min_overlay`) before it is sealed. >= 1.
    pub(crate) ratio: usize,
    /// Whether merges are spread over inserts (true) or done in one go by
    /// the insert that seals the overlay (false).
    pub(crate) incremental: bool,
}

impl Policy {
    /// Entries the next active overlay takes, for a next snapshot of about
    /// `snapshot_len` entries.
    pub(crate) fn overlay_capacity(&self, snapshot_len: usize) -> usize {
        (snapshot_len / self.ratio).max(self.min_overlay)
    }
}

/// Slots zeroed per unit of merge work: zeroing 64 slots (512 bytes) costs
/// about as much as moving one entry (two cache misses).
pub(crate) const ZERO_PER_UNIT: usize = 64;

/// Largest step of a merge that a removal does: a step stays bounded even
/// for tables much larger than their entries (a presized overlay), where a
/// merge then takes more removals to finish.
pub(crate) const MAX_REMOVAL_BUDGET: usize = 4096;

/// An incremental merge in progress. Lives under the partition mutex.
///
/// Three phases, each a bounded slice per insert: zero the next snapshot's
/// array; move the live entries of the snapshot and sealed overlay into it;
/// zero the overlay the next seal will use. So no insert pays for an
/// allocation's memset either.
pub(crate) struct MergeState<K, V> {
    /// Phase 1: the next snapshot's array, being zeroed. `None` once zeroed.
    pub(crate) zeroing: Option<Zeroing<K, V>>,
    /// Phase 2: the next snapshot, not yet published: only the merging
    /// writer (who holds the mutex) touches it. Invariant: holds only
    /// entries of the current snapshot or sealed overlay whose value was not
    /// expunged when copied.
    pub(crate) target: Option<Box<Table<K, V>>>,
    /// Phase 3: the overlay for the next seal, being zeroed.
    pub(crate) spare: Zeroing<K, V>,
    /// Next slot to move: slots `0..snapshot.slot_count()` of the snapshot,
    /// then those of the sealed overlay.
    pub(crate) cursor: usize,
    /// Slots of snapshot plus sealed overlay.
    pub(crate) total: usize,
    /// Units of work per insert (a unit: one slot moved, or
    /// [`ZERO_PER_UNIT`] slots zeroed).
    pub(crate) budget: usize,
    /// Units of work per removal that assists the merge
    /// (`RawMap::after_removal`): enough to finish within `entries / 8`
    /// removals, at most [`MAX_REMOVAL_BUDGET`] (unless `budget` is more).
    pub(crate) removal_budget: usize,
    /// Entries this merge expunged. They stay reachable from the published
    /// layers until the next snapshot is published, then they are retired.
    /// Not owned here: the layers still own them (so a map dropped mid-merge
    /// frees them once, through the layers).
    pub(crate) expunged: Vec<*mut Entry<K, V>>,
}

impl<K, V> MergeState<K, V> {
    /// A merge of `snapshot_slots + sealed_slots` slots into a table sized for
    /// `entries`, preparing an overlay of `spare_capacity` entries, that must
    /// finish within `fresh_capacity / 2` inserts (the fresh overlay is half
    /// full then), or in one go if not `incremental`.
    pub(crate) fn new(
        snapshot_slots: usize,
        sealed_slots: usize,
        entries: usize,
        spare_capacity: usize,
        fresh_capacity: usize,
        incremental: bool,
    ) -> Self {
        let total = snapshot_slots + sealed_slots;
        let (target_slots, spare_slots) = (slots_for(entries), slots_for(spare_capacity));
        let units = total + (target_slots + spare_slots).div_ceil(ZERO_PER_UNIT);
        let budget = if incremental {
            units.div_ceil((fresh_capacity / 2).max(1)).max(8)
        } else {
            usize::MAX
        };
        let removal_budget = units
            .div_ceil((entries / 8).max(1))
            .min(MAX_REMOVAL_BUDGET)
            .max(budget);
        MergeState {
            zeroing: Some(Zeroing::new(target_slots)),
            target: None,
            spare: Zeroing::new(spare_slots),
            cursor: 0,
            total,
            budget,
            removal_budget,
            expunged: Vec::new(),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.cursor >= self.total && self.target.is_some() && self.spare.remaining() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_finishes_before_overlay_half_full() {
        for (s, o, cap) in [(1 << 20, 1 << 18, 1 << 17), (16, 8, 16), (8, 8, 1)] {
            let m: MergeState<u64, u64> = MergeState::new(s, o, s / 2, cap, cap, true);
            assert!(m.budget * (cap / 2).max(1) >= m.total);
            assert!(m.budget <= 64, "budget {} too large", m.budget);
            // Removals finish a merge of `s / 2` entries within `s / 16`.
            assert!(m.removal_budget * (s / 16).max(1) >= m.total);
            assert!(m.removal_budget <= MAX_REMOVAL_BUDGET);
        }
        let p = Policy {
            min_overlay: 16,
            ratio: 4,
            incremental: true,
        };
        assert_eq!(p.overlay_capacity(0), 16);
        assert_eq!(p.overlay_capacity(1000), 250);
    }
}
