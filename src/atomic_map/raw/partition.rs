//! Layers and partition: a partition's layer set, published as one
//! pointer, its writers' mutex and state, and the protocol that changes the
//! layer set under that mutex: sealing an overlay, publishing the merged
//! snapshot, and the merge work that lookups and removals contribute.
//!
//! A partition publishes one pointer to a [`Layers`]: the snapshot, at most
//! one sealed overlay that a merge is folding into the next snapshot, and the
//! active overlay that takes new keys. Publishing the three as one pointer is
//! what lets a reader see a consistent set with one Acquire load: if the new
//! snapshot and the end of the sealed overlay were published separately, a
//! reader could load the old snapshot, then find the sealed overlay gone, and
//! miss a key that was present all along.

use std::borrow::Borrow;
use std::ptr;
use std::sync::{Arc, PoisonError};

use crossbeam_utils::CachePadded;

use super::entry::{entry_bytes, take_entry, Entry};
use super::garbage::ValueCounts;
use super::merge::{MergeState, Policy};
use super::reclaim::{self, retire_array, retire_box, Garbage, Guard};
use super::sync::{AtomicIsize, AtomicPtr, AtomicUsize, Mutex, MutexGuard, Ordering};
use super::table::{prefetch, probe_table, slots_for, tag_of, Table};

/// The tables of one partition, published together as one pointer.
pub(super) struct Layers<K, V> {
    /// Invariant: never null. Immutable once published.
    pub(super) snapshot: *mut Table<K, V>,
    /// Null when no merge is running. Immutable once sealed (no writer
    /// inserts into it again).
    pub(super) sealed: *mut Table<K, V>,
    /// Never null. New keys are inserted here, lock-free or under the
    /// partition mutex (see [`Partition::insert`]).
    pub(super) active: *mut Table<K, V>,
    /// Whether `active` is the first overlay of a presized partition (see
    /// [`RawMap::try_new`](super::RawMap::try_new)): sized for the
    /// partition's share of the map's capacity, it may hold every key of the
    /// partition, and it is not sealed for being read (see
    /// [`Partition::overlay_hit`]): a prefill fills it without a merge, and
    /// it is sealed when full, by `compact`, or by removals
    /// ([`Partition::after_removal`]). Immutable; true only until the first
    /// seal (the seal publishes a set without it).
    pub(super) presized: bool,
    /// Loom only: a cell that loom tracks, standing for this plain memory
    /// (loom sees atomics and its own cells, not the pointers above). Made
    /// with the set, read by every load of the published pointer, written
    /// when the set is freed: loom then reports a load that does not
    /// happen-after the publication (a missing Release/Acquire) or a free
    /// that does not happen-after a reader's load (premature reclamation).
    #[cfg(epochmap_loom)]
    pub(super) witness: super::sync::UnsafeCell<()>,
}

#[cfg(epochmap_loom)]
impl<K, V> Drop for Layers<K, V> {
    fn drop(&mut self) {
        self.witness.with_mut(|_| ());
    }
}

/// State of the writers of a partition, under its mutex.
pub(super) struct Writer<K, V> {
    pub(super) merge: Option<MergeState<K, V>>,
    /// An empty, zeroed overlay prepared by the last merge for the next
    /// seal. Holds no entries.
    pub(super) spare: Option<Box<Table<K, V>>>,
    /// Set when a merge published a snapshot and retired the old arrays:
    /// the thread flushes its garbage *after* releasing the mutex. Flushing
    /// runs deferred destructors (any user `Drop` of the process, which may
    /// call back into this map), so it must never run under the mutex.
    pub(super) flush_pending: bool,
}

/// One partition: its layer set, the mutex of its new-key writers, counters.
pub(crate) struct Partition<K, V> {
    /// Never null; see invariants 1 and 2. Alone in its cache line: every
    /// lookup reads it, and the writes to the mutex and counters below must
    /// not invalidate it in readers' caches.
    pub(super) layers: CachePadded<AtomicPtr<Layers<K, V>>>,
    writer: Mutex<Writer<K, V>>,
    /// Live keys (may be briefly off while writers race). Relaxed.
    pub(super) len: AtomicIsize,
    /// Completed merges. Relaxed.
    pub(super) merges: AtomicUsize,
    /// Sampled lookups that found their key in an overlay since the last
    /// seal ([`Partition::overlay_hit`]). Relaxed: a heuristic. In its own
    /// cache line, so that the readers that write it do not invalidate the
    /// line of `layers` or of the mutex.
    pub(super) overlay_hits: CachePadded<AtomicUsize>,
    pub(super) garbage: Arc<Garbage>,
    /// The map's count of retired values (shared by its partitions).
    pub(super) values: &'static ValueCounts,
    /// The map's merge policy (a copy: every partition merges alike).
    policy: Policy,
}

impl<K, V> Partition<K, V> {
    /// An empty partition with merge policy `policy`, whose first active overlay is `active` (sized
    /// from the policy, or `presized` for the map's capacity).
    pub(super) fn new(
        policy: Policy,
        active: Box<Table<K, V>>,
        presized: bool,
        values: &'static ValueCounts,
    ) -> Self {
        let layers = Layers {
            snapshot: Box::into_raw(Box::new(Table::with_capacity(0))),
            sealed: ptr::null_mut(),
            active: Box::into_raw(active),
            presized,
            #[cfg(epochmap_loom)]
            witness: super::sync::UnsafeCell::new(()),
        };
        Partition {
            layers: CachePadded::new(AtomicPtr::new(Box::into_raw(Box::new(layers)))),
            writer: Mutex::new(Writer {
                merge: None,
                spare: None,
                flush_pending: false,
            }),
            len: AtomicIsize::new(0),
            merges: AtomicUsize::new(0),
            overlay_hits: CachePadded::new(AtomicUsize::new(0)),
            garbage: Arc::new(Garbage::default()),
            values,
            policy,
        }
    }

    #[inline]
    pub(super) fn add_len(&self, d: isize) {
        self.len.fetch_add(d, Ordering::Relaxed);
    }

    /// The mutex of new-key writers. Poisoning is ignored: no user code runs
    /// while the partition's structures are half updated (user `Eq` runs only
    /// in searches, before any write), so a panic under the lock leaves them
    /// consistent. The only user code that runs under it is `K: Eq` (the
    /// search of [`Partition::insert_under_lock`]); no `Drop` of a key or value,
    /// not even when that `Eq` panics (the key and value being inserted are
    /// held outside the guard and dropped after it, see [`Partition::insert`]),
    /// and no deferred destructor (garbage is flushed after unlocking,
    /// [`Partition::unlock_and_flush`]).
    pub(super) fn lock(&self) -> MutexGuard<'_, Writer<K, V>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Partition::lock`] if the mutex is free now, without waiting.
    pub(super) fn try_lock(&self) -> Option<MutexGuard<'_, Writer<K, V>>> {
        match self.writer.try_lock() {
            Ok(w) => Some(w),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Releases the mutex, then flushes this thread's garbage if a merge
    /// retired a snapshot meanwhile: flushing runs deferred destructors, which
    /// may be any user `Drop` (even one that calls back into this map), so it
    /// must not run under the mutex.
    pub(super) fn unlock_and_flush(&self, guard: &Guard, mut w: MutexGuard<'_, Writer<K, V>>) {
        let flush = std::mem::take(&mut w.flush_pending);
        drop(w);
        if flush {
            reclaim::flush(guard);
        }
    }

    /// The current layer set. Acquire: pairs with the Release store that
    /// published it.
    #[inline]
    pub(super) fn layers<'g>(&'g self, _guard: &'g Guard) -> &'g Layers<K, V> {
        let p = self.layers.load(Ordering::Acquire);
        debug_assert!(!p.is_null());
        // SAFETY: never null; a layer set is retired only after it is
        // replaced, and we are pinned by `_guard` since before this load
        // (invariant 1).
        let layers = unsafe { &*p };
        // Loom checks that this read happens-after the set was made and
        // before it is freed (see `Layers::witness`).
        #[cfg(epochmap_loom)]
        layers.witness.with(|_| ());
        layers
    }
}

/// The tables of a layer set, in search order (snapshot, sealed, active).
#[inline]
pub(super) fn tables<K, V>(layers: &Layers<K, V>) -> impl Iterator<Item = &Table<K, V>> {
    [layers.snapshot, layers.sealed, layers.active]
        .into_iter()
        .filter(|t| !t.is_null())
        // SAFETY: the tables of a published layer set live as long as the
        // layer set (retired together or later), which lives for 'g.
        .map(|t| unsafe { &*t })
}

/// Searches a layer set for a non-expunged entry of `key`.
#[inline]
pub(super) fn find_in<'g, K, V, Q>(
    layers: &'g Layers<K, V>,
    hash: u64,
    key: &Q,
) -> Option<(&'g Entry<K, V>, *mut V)>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    find_in_layer(layers, hash, key).map(|(e, v, _)| (e, v))
}

/// [`find_in`], also telling whether the hit should count towards a
/// read-assisted merge ([`Partition::overlay_hit`]): the entry was found in
/// an overlay (sealed, or active and not presized) rather than in the
/// snapshot.
#[inline]
pub(super) fn find_in_layer<'g, K, V, Q>(
    layers: &'g Layers<K, V>,
    hash: u64,
    key: &Q,
) -> Option<(&'g Entry<K, V>, *mut V, bool)>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    let tag = tag_of(hash);
    // SAFETY: the snapshot of a published layer set is never null, and its
    // tables live as long as the layer set (invariant 1).
    let snapshot = unsafe { &*layers.snapshot };
    // Most keys live in the snapshot, most of them in their home slot: fetch
    // that slot's line while the tag is read, so the two misses overlap.
    prefetch(snapshot.home_slot(hash));
    if layers.presized {
        // SAFETY: as the snapshot (the active overlay is never null either).
        let active = unsafe { &*layers.active };
        // A presized partition's first overlay holds all of its keys until
        // its first merge (the snapshot is empty): its tag and home slot are
        // fetched now too, so that a hit there waits for one miss before its
        // entry rather than three in a row. An ordinary overlay holds a
        // minority of the keys: fetching its lines for every lookup would
        // cost more than the hits there gain.
        prefetch(active.home_tag(hash));
        prefetch(active.home_slot(hash));
    }
    if let Some((e, v)) = probe_table(snapshot, hash, tag, key) {
        return Some((e, v, false));
    }
    if !layers.sealed.is_null() {
        // SAFETY: as the snapshot: a non-null table of a published layer set
        // lives as long as the set (invariant 1).
        if let Some((e, v)) = probe_table(unsafe { &*layers.sealed }, hash, tag, key) {
            return Some((e, v, true));
        }
    }
    // SAFETY: as the snapshot (the active overlay is never null either).
    let (e, v) = probe_table(unsafe { &*layers.active }, hash, tag, key)?;
    Some((e, v, !layers.presized))
}

/// One overlay hit in this many (per thread) is counted.
pub(super) const OVERLAY_HIT_SAMPLE: u32 = 8;

impl<K: Send + 'static, V: Send + 'static> Partition<K, V> {
    /// Read-assisted promotion. A lookup that found its key in an overlay
    /// rather than in the snapshot costs more (more tables probed, overlay
    /// entries scattered), and merges otherwise progress only when new keys
    /// are inserted (or most keys removed): a map filled once and then only
    /// read would keep up to
    /// a fifth of its keys in overlays for good. So lookups count overlay
    /// hits (one in [`OVERLAY_HIT_SAMPLE`] per thread, so that readers
    /// rarely write the shared counter), and once the count reaches
    /// the active overlay's size the lookup *tries* the partition mutex,
    /// never waits for it: with it, it seals the active overlay (starting a
    /// merge) or does one bounded step of the running merge, exactly the
    /// work an insert of a new key would do. Lookups stay lock-free; a
    /// lookup that assists pays at most one merge step.
    ///
    /// Hits in a presized partition's first active overlay
    /// ([`Layers::presized`]) are not counted: that overlay is sized to hold
    /// every key, so it is not sealed for being read, and counting would
    /// make one in [`OVERLAY_HIT_SAMPLE`] of a presized map's lookups
    /// write the shared counter and try the mutex for nothing.
    ///
    /// Called only when the entry found holds a live value, never for a
    /// tombstone: a merge step expunges tombstones (CAS null -> `EXPUNGED`),
    /// and the caller may be about to CAS on the tombstone it loaded (a
    /// `compute` or `insert` reviving the key); expunging it under the
    /// caller's feet made that CAS fail and the caller retry, calling a
    /// user closure twice in a single-threaded program (found by the `model`
    /// fuzz target). A live value is never changed by a merge: its entry
    /// only moves by pointer.
    #[inline]
    pub(super) fn overlay_hit(&self, guard: &Guard) {
        #[cfg(not(epochmap_loom))]
        thread_local! {
            static OVERLAY_HITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        // Loom runs its threads on one OS thread, and keeps `std` thread-locals
        // from one execution to the next (the model must be deterministic).
        #[cfg(epochmap_loom)]
        super::sync::thread_local! {
            static OVERLAY_HITS: std::cell::Cell<u32> = std::cell::Cell::new(0);
        }
        // Sampled per thread, not by key: a handful of hot keys left in an
        // overlay must get promoted too, whatever their hashes.
        let sampled = OVERLAY_HITS
            .try_with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n % OVERLAY_HIT_SAMPLE == 0
            })
            .unwrap_or(false);
        if !sampled {
            return;
        }
        let hits = self.overlay_hits.fetch_add(1, Ordering::Relaxed) + 1;
        self.assist_merge(guard, hits);
    }

    /// A merge in progress: one step of it. None: seal the active overlay
    /// once it has been read about as often as it has entries (as Go's
    /// `sync.Map` promotes its dirty map after as many misses as it has
    /// entries, but without copying anything on the read path).
    #[inline(never)]
    fn assist_merge(&self, guard: &Guard, hits: usize) {
        let mut w = match self.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if let Some(m) = &w.merge {
            let budget = m.budget;
            self.merge_step(guard, &mut w, budget);
        } else {
            // The current layer set, stable under the mutex (only holders
            // of the mutex publish).
            let layers = self.layers(guard);
            // SAFETY: a table of that set, which lives as long.
            let len = unsafe { &*layers.active }.len();
            if !layers.presized
                && len > 0
                && hits.saturating_mul(OVERLAY_HIT_SAMPLE as usize) >= len
            {
                self.seal(guard, &mut w);
                self.overlay_hits.store(0, Ordering::Relaxed);
            }
        }
        self.unlock_and_flush(guard, w);
    }

    /// Removal-assisted merges. Merges otherwise progress only on inserts of
    /// new keys and on lookups that find their key in an overlay, so a map
    /// whose keys are deleted would keep every tombstoned entry (key, entry
    /// allocation and slot) until `compact`. So a removal (a value replaced
    /// by a tombstone; `live` is the partition's live count after it) checks
    /// whether most of the partition's entries are tombstones: at least half
    /// of the entries of its layer set, and at least the merge threshold of
    /// them. If so it *tries* the partition mutex, never waits for it, and
    /// seals the active overlay (starting a merge, which expunges the
    /// tombstones) or does one bounded step of the running merge
    /// ([`MergeState::removal_budget`]).
    ///
    /// The budget lets a merge of `E` entries finish within `E / 8`
    /// assisting removals. Once a merge starts at half the entries dead,
    /// the live half is left to delete, so if the keys keep being deleted
    /// the merge ends; the next snapshot keeps only entries that were live
    /// when the merge passed them, and again no more than about half of them
    /// are dead when it is published. So deleting every key of a partition
    /// (with no other writer taking the mutex meanwhile) leaves fewer than
    /// twice the merge threshold of its entries held. A removal that finds
    /// the mutex taken skips its share (the holder is doing merge work
    /// itself).
    ///
    /// Called after the removal's CAS, never between a caller's load and
    /// CAS (see [`Partition::overlay_hit`] for why that matters): expunging the
    /// tombstone this removal made cannot fail an operation in progress.
    #[inline]
    pub(super) fn after_removal(&self, guard: &Guard, live: isize) {
        if self.mostly_dead(self.layers(guard), live) {
            self.assist_removals(guard);
        }
    }

    /// Whether at least half of the entries of `layers`, and at least the
    /// merge threshold, are tombstones, `live` entries being live.
    #[inline]
    fn mostly_dead(&self, layers: &Layers<K, V>, live: isize) -> bool {
        let entries: usize = tables(layers).map(Table::len).sum();
        let dead = entries.saturating_sub(live.max(0) as usize);
        dead >= self.policy.min_overlay && dead.saturating_mul(2) >= entries
    }

    /// The merge work of a removal (see [`Partition::after_removal`]): seals
    /// the active overlay if no merge runs (and the partition is still
    /// mostly tombstones under the mutex), then one step of the merge.
    #[inline(never)]
    fn assist_removals(&self, guard: &Guard) {
        let mut w = match self.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if w.merge.is_none()
            && self.mostly_dead(self.layers(guard), self.len.load(Ordering::Relaxed))
        {
            self.seal(guard, &mut w);
        }
        if let Some(m) = &w.merge {
            let budget = m.removal_budget;
            self.merge_step(guard, &mut w, budget);
        }
        self.unlock_and_flush(guard, w);
    }

    /// Seals the active overlay and starts a merge (and runs its first step).
    /// Caller holds the partition mutex (`w`), and no merge is pending.
    pub(super) fn seal(&self, guard: &Guard, w: &mut Writer<K, V>) {
        debug_assert!(w.merge.is_none());
        let old = self.layers.load(Ordering::Acquire);
        // SAFETY: the current layer set; we hold the mutex, so it is not
        // replaced (only holders of the mutex publish).
        let layers = unsafe { &*old };
        debug_assert!(layers.sealed.is_null());
        // SAFETY: tables of the current layer set.
        let (snap, active) = unsafe { (&*layers.snapshot, &*layers.active) };
        // Lock-free inserts into the active overlay end before it is sealed
        // (see `Table::seal_and_wait`): the merge then reads every entry of
        // it, and a thread that loads the next layer set (Release below)
        // finds them in the sealed overlay.
        active.seal_and_wait();
        let next_len = snap.len() + active.len();
        // The overlays are sized from the live keys (tombstones are about to
        // be expunged), the next snapshot from every entry (a tombstone may
        // be revived before the merge reaches it). The live count may be
        // briefly off while writers race: it only sizes.
        let live = (self.len.load(Ordering::Relaxed).max(0) as usize).min(next_len);
        let cap = self.policy.overlay_capacity(live);
        // The overlay the last merge prepared, if large enough; else a new one
        // (small maps, or after `compact`). `cap` is a policy target, not a
        // bound: a spare within a quarter of it will do. The spare is sized
        // from a prediction of this seal's `cap` and rounded to a power of
        // two, so it often falls a few entries short; allocating instead put
        // a zeroed allocation of the overlay's size (a memset, once the
        // allocator serves such sizes from its heap) on this insert: 30-60 µs
        // for a partition of 125k entries, growing with the map.
        // A spare more than four times too large (the partition shrank) is
        // freed: the overlay would hold its memory for good. A spare not
        // taken was never published and holds no entries: it is freed at
        // once, by the reclaimer if large (not on this insert).
        let fresh = match w.spare.take() {
            Some(t) if t.capacity() >= cap - cap / 4 && t.capacity() / 4 <= cap => t,
            unused => {
                if let Some(t) = unused {
                    let bytes = t.bytes();
                    reclaim::free_large(t, bytes);
                }
                Box::new(Table::with_capacity(cap))
            }
        };
        let fresh_capacity = fresh.capacity();
        // The next seal needs an overlay for about this snapshot plus a full
        // fresh overlay. Sized from `cap`, what this seal needed, never from
        // `fresh_capacity`: the spare taken above may be larger than needed,
        // and sizing from it would compound (with `merge_ratio(1)` every
        // seal doubled the overlays, even for a map of one key). If the next
        // seal finds the spare too small, it allocates a fresh overlay.
        let spare_capacity = self.policy.overlay_capacity(live.saturating_add(cap));
        let fresh = Box::into_raw(fresh);
        let next = Box::into_raw(Box::new(Layers {
            snapshot: layers.snapshot,
            sealed: layers.active,
            active: fresh,
            presized: false,
            #[cfg(epochmap_loom)]
            witness: super::sync::UnsafeCell::new(()),
        }));
        w.merge = Some(MergeState::new(
            snap.slot_count(),
            active.slot_count(),
            next_len,
            spare_capacity,
            fresh_capacity,
            self.policy.incremental,
        ));
        // Release: pairs with readers' Acquire load of the layer set.
        self.layers.store(next, Ordering::Release);
        // SAFETY: `old` was just replaced; its tables live on in `next`, so
        // only the `Layers` box is retired, once.
        unsafe {
            retire_box(
                guard,
                &self.garbage,
                old,
                std::mem::size_of::<Layers<K, V>>(),
            )
        };
        let budget = w.merge.as_ref().map_or(0, |m| m.budget);
        self.merge_step(guard, w, budget);
    }

    /// Processes up to `budget` slots of the pending merge, and publishes the
    /// next snapshot when done. Caller holds the partition mutex.
    pub(super) fn merge_step(&self, guard: &Guard, w: &mut Writer<K, V>, budget: usize) {
        let Some(m) = w.merge.as_mut() else { return };
        let old = self.layers.load(Ordering::Acquire);
        // SAFETY: current layer set, stable under the mutex.
        let layers = unsafe { &*old };
        debug_assert!(!layers.sealed.is_null(), "a merge needs a sealed overlay");
        // SAFETY: tables of the current layer set.
        let (snap, sealed) = unsafe { (&*layers.snapshot, &*layers.sealed) };
        // SAFETY: the tables of the current layer set, under the caller's
        // guard; we hold the mutex (`w`).
        if !unsafe { m.step(snap, sealed, budget) } {
            return;
        }
        let (target, spare, expunged) = w.merge.take().expect("checked above").finish();
        w.spare = Some(spare);
        let next = Box::into_raw(Box::new(Layers {
            snapshot: Box::into_raw(target),
            sealed: ptr::null_mut(),
            active: layers.active,
            presized: layers.presized,
            #[cfg(epochmap_loom)]
            witness: super::sync::UnsafeCell::new(()),
        }));
        // Release: pairs with readers' Acquire load; publishes the snapshot
        // slots written above.
        self.layers.store(next, Ordering::Release);
        self.merges.fetch_add(1, Ordering::Relaxed);
        let (snap_ptr, sealed_ptr) = (layers.snapshot, layers.sealed);
        // SAFETY: (all three) `next` replaced `old`; the old snapshot and
        // sealed overlay arrays are reachable only from `old`, the expunged
        // entries only from those arrays. Each is retired once, here. K, V:
        // Send + 'static. Dropping a `Table` frees its two arrays and runs
        // no user code (entries are not owned by a table): the reclaimer
        // thread may free the large ones.
        unsafe {
            retire_box(
                guard,
                &self.garbage,
                old,
                std::mem::size_of::<Layers<K, V>>(),
            );
            retire_array(guard, &self.garbage, snap_ptr, snap.bytes());
            retire_array(guard, &self.garbage, sealed_ptr, sealed.bytes());
        }
        if !expunged.is_empty() {
            let dead = expunged;
            let bytes = dead.len() * entry_bytes::<K, V>();
            let destroy = move || {
                for e in dead {
                    // SAFETY: unlinked (see below), epoch passed, freed once.
                    drop(unsafe { take_entry(e) })
                }
            };
            // SAFETY: as above; each expunged entry is in exactly one of the
            // retired tables (invariant 2) and is freed once by `destroy`.
            unsafe { reclaim::retire(guard, &self.garbage, bytes, destroy) };
        }
        // Flushed by the caller once the mutex is released (see the field).
        w.flush_pending = true;
    }

    /// Finishes any pending merge, then seals the active overlay and merges
    /// it in one go; unless the partition is compact already (see
    /// [`Partition::is_compact`]): then a merge would build the same tables
    /// again, and `clear` on a map of one key paid it in every partition.
    pub(super) fn compact(&self, guard: &Guard) {
        let mut w = self.lock();
        if w.merge.is_none() && !self.layers(guard).presized && self.is_compact(guard) {
            self.unlock_and_flush(guard, w);
            return;
        }
        if w.merge.is_some() {
            self.merge_step(guard, &mut w, usize::MAX);
        }
        self.seal(guard, &mut w);
        self.merge_step(guard, &mut w, usize::MAX);
        debug_assert!(w.merge.is_none());
        self.unlock_and_flush(guard, w);
    }
}

impl<K, V> Partition<K, V> {
    /// Whether a seal and merge would leave the partition's tables as they
    /// are: no sealed overlay, an empty active overlay no larger than a
    /// seal would make it, a snapshot whose entries are all live (no
    /// tombstone to expunge: it holds as many entries as the partition has
    /// live keys) and sized for them. Caller holds the partition mutex and
    /// no merge is pending. Concurrent lock-free writers may change the
    /// answer right after; like `compact` itself, it is exact only while
    /// no one else writes.
    fn is_compact(&self, guard: &Guard) -> bool {
        let layers = self.layers(guard);
        if !layers.sealed.is_null() {
            return false;
        }
        // SAFETY: tables of the current layer set, loaded under `guard`
        // (invariant 1).
        let (snap, active) = unsafe { (&*layers.snapshot, &*layers.active) };
        let live = self.len.load(Ordering::Relaxed);
        let cap = self.policy.overlay_capacity(live.max(0) as usize);
        active.len() == 0
            && active.capacity() / 4 <= cap
            && live == snap.len() as isize
            && snap.slot_count() <= slots_for(snap.len())
    }

    /// Frees everything this partition owns and leaves it without a layer
    /// set (it must not be used again, except to be replaced or dropped);
    /// live entries go to `out` (or are dropped). Idempotent.
    ///
    /// # Safety
    /// No other thread can reach the partition, nor any guard hold pointers
    /// into it.
    pub(super) unsafe fn free_into(&mut self, mut out: Option<&mut Vec<(K, V)>>) {
        #[cfg(not(epochmap_loom))]
        let layers = std::mem::replace(self.layers.get_mut(), ptr::null_mut());
        #[cfg(epochmap_loom)]
        let layers = self
            .layers
            .with_mut(|p| std::mem::replace(p, ptr::null_mut()));
        if layers.is_null() {
            return;
        }
        // A pending merge's target holds pointers to entries freed below:
        // dropping the table frees only its array.
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        w.merge = None;
        w.spare = None;
        // SAFETY: we own the layer set and its tables exclusively.
        let layers = unsafe { Box::from_raw(layers) };
        for t in [layers.snapshot, layers.sealed, layers.active] {
            if t.is_null() {
                continue;
            }
            // SAFETY: owned table, freed once (the tables of a set differ).
            let table = unsafe { Box::from_raw(t) };
            for e in table.entries() {
                // SAFETY: each entry is in exactly one table of the set
                // (invariant 2), so it is freed once.
                let (key, value) = unsafe { take_entry(e) };
                if let (Some(v), Some(out)) = (value, out.as_deref_mut()) {
                    out.push((key, v));
                }
            }
        }
    }
}
