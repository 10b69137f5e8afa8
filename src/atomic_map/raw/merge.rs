//! The merge: the overlay sizing policy, and the incremental merge of a
//! partition's snapshot and sealed overlay into its next snapshot, a bounded
//! step at a time. It builds the next snapshot; publishing it (and sealing
//! overlays) is the partition's part (`partition.rs`).
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
//! `Partition::overlay_hit`, which also seals an overlay that reads alone keep
//! hitting), and over removals once most of the partition's entries are
//! tombstones (they try the mutex too, see `Partition::after_removal`). Each
//! does a bounded step while it holds the partition mutex (zeroing the next
//! snapshot's array, moving entries, zeroing the overlay for the next
//! seal): [`MergeState::budget`] units for an insert or a lookup, chosen so
//! the merge ends before the fresh overlay is half full, and
//! [`MergeState::removal_budget`] for a removal. If the overlay fills anyway
//! (for example after `compact` sealed a small one), the writer that finds it
//! full finishes the merge. When the last slot is processed the layer set
//! `{next snapshot, None, active}` is published and the old arrays retired.
//! So no single insert pays for copying the partition, let alone the map:
//! the slowest insert does a bounded amount of merge work, or one
//! allocation of an array (nothing is zeroed up front, and the merge's
//! four arrays are allocated in steps of their own, see [`ALLOC_STEPS`]). (The allocator's own
//! work when retired arrays are freed, such as returning pages to the
//! system, happens in whichever thread collects that garbage.)

use std::ptr;

use super::entry::{expunged, Entry};
use super::sync::Ordering;
use super::table::{prefetch, slots_for, Table, Zeroing, PREFETCH_SLOTS};

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
    pub(super) fn overlay_capacity(&self, snapshot_len: usize) -> usize {
        (snapshot_len / self.ratio).max(self.min_overlay)
    }
}

/// Slots zeroed per unit of merge work: zeroing 64 slots (512 bytes) costs
/// about as much as moving one entry (two cache misses).
pub(super) const ZERO_PER_UNIT: usize = 64;

/// Steps of an incremental merge that only allocate: the next snapshot's
/// slot and tag arrays, then the next overlay's (see [`Zeroing`]). Each
/// ends its step, so that no insert allocates more than one large array.
/// One-go merges (and loom models, whose merges keep the step counts
/// the models were written for) allocate within their steps.
pub(super) const ALLOC_STEPS: usize = 4;

/// Largest step of a merge that a removal does: a step stays bounded even
/// for tables much larger than their entries (a presized overlay), where a
/// merge then takes more removals to finish.
pub(super) const MAX_REMOVAL_BUDGET: usize = 4096;

/// An incremental merge in progress. Lives under the partition mutex.
///
/// Three phases, each a bounded slice per insert: zero the next snapshot's
/// array; move the live entries of the snapshot and sealed overlay into it;
/// zero the overlay the next seal will use. So no insert pays for an
/// allocation's memset either.
pub(super) struct MergeState<K, V> {
    /// Phase 1: the next snapshot's array, being zeroed. `None` once zeroed.
    pub(super) zeroing: Option<Zeroing<K, V>>,
    /// Phase 2: the next snapshot, not yet published: only the merging
    /// writer (who holds the mutex) touches it. Invariant: holds only
    /// entries of the current snapshot or sealed overlay whose value was not
    /// expunged when copied.
    pub(super) target: Option<Box<Table<K, V>>>,
    /// Phase 3: the overlay for the next seal, being zeroed.
    pub(super) spare: Zeroing<K, V>,
    /// Next slot to move: slots `0..snapshot.slot_count()` of the snapshot,
    /// then those of the sealed overlay.
    pub(super) cursor: usize,
    /// Slots of snapshot plus sealed overlay.
    pub(super) total: usize,
    /// Units of work per insert (a unit: one slot moved, or
    /// [`ZERO_PER_UNIT`] slots zeroed).
    pub(super) budget: usize,
    /// Units of work per removal that assists the merge
    /// (`Partition::after_removal`): enough to finish within `entries / 8`
    /// removals, at most [`MAX_REMOVAL_BUDGET`] (unless `budget` is more).
    pub(super) removal_budget: usize,
    /// Entries this merge expunged. They stay reachable from the published
    /// layers until the next snapshot is published, then they are retired.
    /// Not owned here: the layers still own them (so a map dropped mid-merge
    /// frees them once, through the layers).
    pub(super) expunged: Vec<*mut Entry<K, V>>,
}

impl<K, V> MergeState<K, V> {
    /// A merge of `snapshot_slots + sealed_slots` slots into a table sized for
    /// `entries`, preparing an overlay of `spare_capacity` entries, that must
    /// finish within `fresh_capacity / 2` inserts (the fresh overlay is half
    /// full then), or in one go if not `incremental`.
    pub(super) fn new(
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
            // The allocating steps do no other work: the rest must fit in
            // the inserts left. Under loom a step never only allocates (see
            // `step`), and the models' merges keep the steps they were
            // written for: with bigger steps, the two mutants of invariant
            // 5 survived (no model's merge was still running where it had
            // to be).
            let idle = if cfg!(epochmap_loom) { 0 } else { ALLOC_STEPS };
            let steps = (fresh_capacity / 2).saturating_sub(idle).max(1);
            units.div_ceil(steps).max(8)
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

    pub(super) fn is_done(&self) -> bool {
        self.cursor >= self.total && self.target.is_some() && self.spare.remaining() == 0
    }

    /// Up to `budget` units of the merge (see [`MergeState::budget`]) of
    /// `snap` and `sealed` into the next snapshot; returns whether the merge
    /// is done (then [`MergeState::finish`]).
    ///
    /// # Safety
    /// `snap` and `sealed` are the snapshot and sealed overlay of the
    /// partition's current layer set, loaded under a guard that outlives the
    /// call, and the caller holds the partition's mutex (only its holder
    /// merges).
    pub(super) unsafe fn step(
        &mut self,
        snap: &Table<K, V>,
        sealed: &Table<K, V>,
        budget: usize,
    ) -> bool {
        let m = self;
        debug_assert_eq!(m.total, snap.slot_count() + sealed.slot_count());
        let mut work = budget;
        // An allocation ends an incremental step (see `ALLOC_STEPS`).
        let alloc_ends_step = budget != usize::MAX && !cfg!(epochmap_loom);
        // Phase 1: zero the next snapshot's array, a chunk at a time.
        if let Some(z) = m.zeroing.as_mut() {
            if alloc_ends_step && z.allocate_next() {
                return false;
            }
            let did = z.step(work.saturating_mul(ZERO_PER_UNIT));
            work = work.saturating_sub(did.div_ceil(ZERO_PER_UNIT));
            if z.remaining() == 0 {
                let z = m.zeroing.take().expect("just used");
                m.target = Some(Box::new(z.finish()));
            }
        }
        let Some(target) = m.target.as_deref() else {
            return false;
        };
        // Phase 2: move the live entries.
        let end = m.cursor.saturating_add(work).min(m.total);
        work -= end - m.cursor;
        let slot = |i: usize| {
            if i < snap.slot_count() {
                snap.load(i)
            } else {
                sealed.load(i - snap.slot_count())
            }
        };
        // Each live entry's hash and value are read below: fetch entries
        // `PREFETCH_SLOTS` slots ahead so those misses overlap. Ahead of the
        // step's own end too: an incremental step moves only `budget` slots
        // (often 8), so a look-ahead bounded by the step would never fire;
        // the entries of the next steps are fetched now and read by them, a
        // few inserts later. The first step fetches its own window first.
        if m.cursor == 0 {
            for i in 0..PREFETCH_SLOTS.min(m.total) {
                prefetch(slot(i));
            }
        }
        for i in m.cursor..end {
            if i + PREFETCH_SLOTS < m.total {
                prefetch(slot(i + PREFETCH_SLOTS));
            }
            let p = slot(i);
            if p.is_null() {
                continue;
            }
            // SAFETY: an entry of the current layer set, live under the
            // caller's guard (invariant 1).
            let e = unsafe { &*p };
            // A live value needs no CAS: the entry moves whatever happens to
            // it next. Only a tombstone is expunged, by a CAS (AcqRel/Acquire)
            // that races writers' CAS null -> value fairly.
            let live = !e.value.load(Ordering::Relaxed).is_null()
                || e.value
                    .compare_exchange(
                        ptr::null_mut(),
                        expunged(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err();
            if live {
                debug_assert!(
                    e.value.load(Ordering::Relaxed) != expunged(),
                    "entry expunged twice"
                );
                target.publish_slot(e.hash, p);
            } else {
                m.expunged.push(p);
            }
        }
        m.cursor = end;
        // Phase 3: zero the overlay for the next seal.
        if m.cursor >= m.total {
            if alloc_ends_step && m.spare.allocate_next() {
                return false;
            }
            m.spare.step(work.saturating_mul(ZERO_PER_UNIT));
        }
        m.is_done()
    }

    /// The finished merge: the next snapshot, the overlay prepared for the
    /// next seal, and the entries it expunged.
    #[allow(clippy::type_complexity)]
    pub(super) fn finish(self) -> (Box<Table<K, V>>, Box<Table<K, V>>, Vec<*mut Entry<K, V>>) {
        debug_assert!(self.is_done());
        let target = self.target.expect("a finished merge has its target");
        (target, Box::new(self.spare.finish()), self.expunged)
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
            // With the allocating steps, which do no other work.
            let steps = (cap / 2).saturating_sub(ALLOC_STEPS).max(1);
            assert!(m.budget * steps >= m.total);
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
