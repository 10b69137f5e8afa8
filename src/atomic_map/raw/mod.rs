//! The engine of [`AtomicPtrMap`](crate::AtomicPtrMap): all its unsafe code.
//!
//! One concept per module, each using only those listed before it:
//!
//! | module | concept |
//! |---|---|
//! | [`sync`] | the atomics and mutexes: `std`'s, or loom's under `--cfg epochmap_loom` |
//! | [`alloc`] | zeroed and uninitialised arrays, fallibly |
//! | [`pool`] | recycled value boxes: a per-thread free list per value size |
//! | [`garbage`] | the count of a map's retired values not yet freed: striped, in never-freed blocks |
//! | [`reclaim`] | retiring what the map unlinks: the one place that talks to crossbeam-epoch; the reclaimer thread that frees large arrays |
//! | [`entry`] | an entry (key, hash, value pointer), its allocation and its value states |
//! | [`table`] | the open-addressing table of entry pointers and tags, its probe, lock-free slot claims and sealing, the index math |
//! | [`merge`] | the merge policy and the incremental merge into the next snapshot |
//! | [`partition`] | a partition's layer set and mutex; sealing, publishing, merge assists |
//! | [`write`](mod@write) | CAS on a found entry, and inserts of new keys, lock-free or under the mutex |
//! | [`traversal`] | iteration, and the chunked traversal |
//! | this module | [`RawMap`]: the partitions, and the engine calls of the façade |
//! | [`guarded`] | an engine call too: a found key and value carried with the guard that keeps them alive |
//!
//! # Atomics
//!
//! | atomic | ordering | pairs with | why |
//! |---|---|---|---|
//! | `Partition::layers` load | Acquire | the Release store of a new layer set (seal, merge publish) | the reader sees the tables of the set, and a snapshot's slots, fully written |
//! | `Partition::layers` store | Release | the Acquire loads of readers and writers | publishes a layer set, including a snapshot written with plain (Relaxed) slot stores before it |
//! | `Table` slot entry load | Acquire | the Release store of `Table::claim` (or `Table::publish_slot`) | an overlay slot is written while readers probe; the entry it points to (key, hash, first value) is initialised |
//! | `Table` slot entry store | Release | the Acquire slot loads | as above; in an unpublished snapshot the layer set's Release store would be enough |
//! | `Table` tag CAS `FREE` -> tag (`Table::claim`) | Relaxed | nothing | claims the slot for one insert; orders nothing: a reader or insert that sees the tag and a null slot treats the insert as not yet done (readers skip the slot, inserts of the same tag stop there) |
//! | `Table` tag load | Acquire | the Release tag store of `Table::publish_slot` (tables no other thread writes yet) | a probe reads a slot only after a matching tag; the slot's own Acquire load orders the entry |
//! | `Table` tag store (`publish_slot`) | Release | the Acquire tag loads | as above (redundant with the layer set's Release store) |
//! | `Table` reserved count and `SEALED` bit (reserve, unreserve, seal) | Relaxed | nothing | a count in one atomic: coherence alone makes the sealer's loads, after its own `fetch_or`, count every reservation taken before it; the entries themselves are ordered by the length below |
//! | `Table` length increment (`claim`) | Release | the Acquire length loads of `Table::seal_and_wait` | made after the slot's Release store: a thread that reads a count sees the slots counted (increments are read-modify-writes, so one Acquire load that reads the last synchronises with all) |
//! | `Entry::value` load | Acquire | the successful AcqRel CAS that stored the pointer, or the Release store in `Table::publish_slot` that published the entry with its first value | the reader sees the value `V` fully initialised; a `get` happens-after the insert whose value it returns |
//! | `Entry::value` CAS (insert, overwrite, remove, update) | AcqRel / Acquire | itself on other threads, and readers' Acquire loads | Release publishes the new value; Acquire makes the old value's initialisation visible before it is handed back and retired |
//! | `Entry::value` CAS null -> `EXPUNGED` (merge) | AcqRel / Acquire | writers' CAS null -> value on the same entry | modification order decides fairly between a merge expunging a tombstone and a writer reviving it: exactly one wins |
//! | `Entry::value` load before that CAS (merge) | Relaxed | nothing | only decides whether to try the CAS: a non-null value means the entry is kept (it moves by pointer, nothing of the value is read) |
//! | reclaimer queue head push CAS (`reclaim`) | Release / Relaxed | the Acquire swap of the reclaimer thread | a queued node and its `next` are written before the thread takes it (pushes are read-modify-writes, so one swap synchronises with every push below it) |
//! | reclaimer queue head swap (`reclaim`) | Acquire | the push CASes | as above |
//! | `RECLAIMER` CAS / load (`reclaim`) | AcqRel / Acquire | each other | a reclaimer (owner, queue, thread handle) is initialised before another thread uses it |
//! | fork generation, `fork::CLAIMED` (`reclaim`) | Relaxed | nothing | the generation is written only by the `pthread_atfork` child handler, in a forked child before `fork` returns there, while it has one thread (later reads in that process happen after it); the flag elects the one thread that registers the handler |
//! | `garbage::CLAIMED` CAS that claims a stripe | Acquire / Relaxed | the Release `fetch_and` of the stripe's previous owner, at its thread's exit | the previous owner's plain load-and-store updates of that stripe (in every block) happen before the new owner's, so none is lost |
//! | `garbage::CLAIMED` `fetch_and` that releases a stripe | Release | the next owner's Acquire claim | as above |
//! | `Partition::len`, `merges`, `Table::len` (`len()`), garbage counters (the partitions' and the map's value stripes) | Relaxed | nothing | statistics; the registry's decision to hand a block out again rests on coherence alone (see `garbage`) |
//!
//! # Invariants
//!
//! 1. A published [`Layers`](partition::Layers) and its tables are freed only through
//!    [`reclaim::retire`] after a newer layer set replaced it, so every
//!    pointer loaded from `Partition::layers` under a guard stays valid for
//!    the guard's lifetime; the same holds for entries (retired after a merge
//!    expunged them and published a snapshot without them) and values
//!    (a boxed value is retired when a CAS replaces it; an entry's inline
//!    first value, see [`EntryWithValue`](entry::EntryWithValue), lives in the entry's allocation
//!    and is freed with the entry, which outlives every guard that could
//!    have loaded a pointer to it). "Freed" includes recycled: a value box's
//!    memory goes to a [`pool`] free list only from its deferred destructor,
//!    so it is reused only where it could have been freed.
//! 2. Within one layer set, every entry appears in exactly one table, and for
//!    each key at most one entry of the set is not expunged. A new entry is
//!    stored only in the active overlay, after a search of a layer set with
//!    that overlay active found no non-expunged entry for its key, either
//!    under the partition mutex or lock-free while no merge runs
//!    (`Partition::insert_lock_free`): a lock-free insert holds a
//!    reservation of the overlay, so the overlay stays active until its
//!    entry is stored (a seal waits, `Table::seal_and_wait`), and an entry
//!    made for the key since the search can only be in that overlay, where
//!    `Table::claim` meets it; two inserts of a key into one overlay cannot
//!    both store their entries there (`Table::claim`). Only merges (under
//!    the mutex) expunge, and only entries of the snapshot and sealed
//!    overlay; entries leave a layer set only expunged.
//! 3. `EXPUNGED` is final: no CAS ever replaces it.
//! 4. Values are immutable once published (the map hands out `&V` only).
//! 5. Iteration visits a layer set's tables newest first: active, sealed,
//!    snapshot. The entries of the snapshot and sealed overlay all existed
//!    when the set was published, and an entry is created only after every
//!    older entry of its key was expunged (for good, invariant 3); so among
//!    them at most one per key is ever seen non-expunged, and an entry that
//!    the active overlay gains later (a key deleted, expunged and inserted
//!    again during the traversal) has expunged every older one before the
//!    traversal could yield it. Visiting the snapshot first instead would
//!    yield such a key twice: once from the snapshot before its deletion,
//!    once from the overlay after its re-insertion.

mod alloc;
mod entry;
mod garbage;
mod guarded;
mod merge;
mod partition;
mod pool;
mod reclaim;
mod sync;
mod table;
mod traversal;
mod write;

use std::borrow::Borrow;
use std::marker::PhantomData;

use crossbeam_utils::CachePadded;

use self::entry::entry_bytes;
use self::garbage::ValueCountsHandle;
use self::partition::{tables, Partition};
use self::reclaim::Garbage;
use self::sync::Ordering;
use self::table::{partition_index, Table};

pub(crate) use self::entry::{Loaded, NewValue};
pub(crate) use self::guarded::{Guarded, PinGuard};
pub(crate) use self::merge::Policy;
pub(crate) use self::reclaim::{pin, Guard};
pub(crate) use self::table::MAX_PARTITIONS;
pub(crate) use self::traversal::RawIter;
pub(crate) use self::write::{EntryRef, Inserted};

/// The map engine: partitions chosen by hash bits.
pub(crate) struct RawMap<K, V> {
    /// Length is a power of two.
    partitions: Box<[CachePadded<Partition<K, V>>]>,
    mask: usize,
    policy: Policy,
    /// The count of values this map retired and that are not freed yet:
    /// shared by the partitions, returned to its registry when the map is
    /// dropped (after the partitions are emptied: fields drop after
    /// `Drop::drop`).
    values: ValueCountsHandle,
    _owns: PhantomData<(Box<K>, Box<V>)>,
}

// SAFETY: the map owns its keys and values (sending it sends them: K, V:
// Send) and drops them, possibly on another thread through the collector
// (Send). No guard can be alive while it is moved (guards borrow it). The raw
// pointers inside are owned, not shared with anything outside the map.
unsafe impl<K: Send, V: Send> Send for RawMap<K, V> {}
// SAFETY: every shared mutation goes through atomics or the partition
// mutexes; readers get `&K`/`&V` on any thread (Sync), and values may be
// dropped on any thread (Send).
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for RawMap<K, V> {}

/// Statistics of one partition.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PartStats {
    pub(crate) snapshot: usize,
    pub(crate) overlay: usize,
    pub(crate) merges: usize,
    pub(crate) merging: bool,
    pub(crate) garbage_objects: usize,
    pub(crate) garbage_bytes: usize,
    /// Bytes of the published tables' arrays and of their entries.
    pub(crate) table_bytes: usize,
}

/// Entries of the first active overlay of each of `partitions` partitions
/// for a map presized for `capacity` keys: its share, plus a quarter
/// because keys do not spread evenly over partitions (a partition's share
/// varies by about its square root, so this margin is over 5 standard
/// deviations from 400 keys per partition on; below that, the overlay is
/// sized to a power of two anyway, and the margin is the policy's minimum).
pub(crate) fn presized_overlay(capacity: usize, partitions: usize, policy: &Policy) -> usize {
    let share = capacity.div_ceil(partitions.max(1));
    share.saturating_add(share / 4).max(policy.min_overlay)
}

impl<K: Send + 'static, V: Send + 'static> RawMap<K, V> {
    /// `partitions` must be a power of two.
    pub(crate) fn new(partitions: usize, policy: Policy) -> Self {
        Self::try_new(partitions, policy, 0).expect("the default overlays are small")
    }

    /// A map presized for `capacity` keys: each partition's first active
    /// overlay takes [`presized_overlay`] entries, so inserting up to
    /// `capacity` keys seals no overlay and starts no merge. `None` if the
    /// allocator refuses those overlays (nothing is leaked). `partitions`
    /// must be a power of two.
    pub(crate) fn try_new(partitions: usize, policy: Policy, capacity: usize) -> Option<Self> {
        debug_assert!(partitions.is_power_of_two());
        debug_assert!(policy.min_overlay >= 1 && policy.ratio >= 1);
        let first = presized_overlay(capacity, partitions, &policy);
        let presized = first > policy.min_overlay;
        // The arrays first: if one is refused, those made so far are plain
        // boxes (no entries) and are freed on the way out.
        let mut overlays = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            overlays.push(Box::new(Table::try_with_capacity(first)?));
        }
        let values = ValueCountsHandle::new();
        let counts = values.get();
        Some(RawMap {
            partitions: overlays
                .into_iter()
                .map(|t| CachePadded::new(Partition::new(policy, t, presized, counts)))
                .collect(),
            mask: partitions - 1,
            policy,
            values,
            _owns: PhantomData,
        })
    }

    pub(crate) fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// An empty map with the same partition count and merge policy,
    /// presized for `capacity` keys if the allocator agrees (else not).
    pub(crate) fn empty_like(&self, capacity: usize) -> Self {
        let (partitions, policy) = (self.partitions.len(), self.policy);
        RawMap::try_new(partitions, policy, capacity)
            .unwrap_or_else(|| RawMap::new(partitions, policy))
    }

    #[inline]
    fn partition(&self, hash: u64) -> &Partition<K, V> {
        &self.partitions[partition_index(hash, self.mask)]
    }

    /// The non-expunged entry of `key`, if any, and its value as loaded.
    #[inline]
    pub(crate) fn find<'g, Q>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
    ) -> Option<(EntryRef<'g, K, V>, Loaded<'g, V>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.partition(hash).find(guard, hash, key)
    }

    /// The value of `key`.
    #[inline]
    pub(crate) fn get<'g, Q>(&'g self, guard: &'g Guard, hash: u64, key: &Q) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.find(guard, hash, key)?.1.value()
    }

    /// Removes `key`; returns the removed value (alive for the guard).
    pub(crate) fn remove<'g, Q>(&'g self, guard: &'g Guard, hash: u64, key: &Q) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.partition(hash).remove(guard, hash, key)
    }

    /// Replaces the value of a present `key` with `f(&old)`, read-copy-update;
    /// returns the new value, or `None` if the key is absent.
    pub(crate) fn update<'g, Q>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
        f: impl FnMut(&V) -> V,
    ) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.partition(hash).update(guard, hash, key, f)
    }

    /// Sets `key` to `f(current)`, atomically per key (`None` out: removed);
    /// returns the previous value (`None`: the key was absent).
    pub(crate) fn compute<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        f: impl FnMut(Option<&V>) -> Option<V>,
    ) -> Option<&'g V>
    where
        K: Eq,
    {
        self.partition(hash).compute(guard, hash, key, f)
    }

    /// The value of `key`, inserting `f()` first if it is absent.
    pub(crate) fn get_or_insert_with<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        f: impl FnOnce() -> V,
    ) -> &'g V
    where
        K: Eq,
    {
        self.partition(hash).get_or_insert_with(guard, hash, key, f)
    }

    /// Stores `value` for `key` (or, `only_if_absent`, keeps a present
    /// value): see [`Partition::insert`].
    #[inline]
    pub(crate) fn insert<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        value: NewValue<V>,
        only_if_absent: bool,
    ) -> (Inserted<'g, V>, Option<K>)
    where
        K: Eq,
    {
        self.partition(hash)
            .insert(guard, hash, key, value, only_if_absent)
    }

    /// Finishes any pending merge, then seals the active overlay and merges
    /// it in one go, for every partition that is not compact already (see
    /// `Partition::compact`).
    pub(crate) fn compact(&self, guard: &Guard) {
        for part in self.partitions.iter() {
            part.compact(guard);
        }
    }

    /// Live keys, summed over partitions without a lock.
    pub(crate) fn len(&self) -> usize {
        let n: isize = self
            .partitions
            .iter()
            .map(|p| p.len.load(Ordering::Relaxed))
            .sum();
        n.max(0) as usize
    }

    /// Values this map retired that are not freed yet (a racy statistic;
    /// the partitions' statistics count every other kind of garbage).
    pub(crate) fn garbage_values(&self) -> usize {
        self.values.get().outstanding()
    }

    /// Statistics of every partition, read without locks.
    pub(crate) fn part_stats(&self, guard: &Guard) -> Vec<PartStats> {
        self.partitions
            .iter()
            .map(|p| {
                let layers = p.layers(guard);
                let mut s = PartStats::default();
                for (i, t) in tables(layers).enumerate() {
                    if i == 0 {
                        s.snapshot = t.len();
                    } else {
                        s.overlay += t.len();
                    }
                    s.table_bytes += t.bytes() + t.len() * entry_bytes::<K, V>();
                }
                s.merging = !layers.sealed.is_null();
                s.merges = p.merges.load(Ordering::Relaxed);
                s.garbage_objects = Garbage::objects(&p.garbage);
                s.garbage_bytes = Garbage::bytes(&p.garbage);
                s
            })
            .collect()
    }

    /// Iterates over the entries of every partition; each partition's layer
    /// set is loaded when the iteration reaches it.
    pub(crate) fn iter<'g>(&'g self, guard: &'g Guard) -> RawIter<'g, K, V> {
        RawIter {
            partitions: &self.partitions,
            guard,
            part: 0,
            layers: None,
            table: 0,
            slot: 0,
        }
    }

    /// Calls `f` on every live entry of every partition, a chunk at a
    /// time, each chunk under a pin of its own (see
    /// [`Partition::visit_in_chunks`]).
    pub(crate) fn visit_chunks<F>(&self, mut f: F)
    where
        F: for<'g> FnMut(&'g Guard, EntryRef<'g, K, V>, Loaded<'g, V>),
    {
        for part in self.partitions.iter() {
            part.visit_in_chunks(&mut f);
        }
    }

    /// [`RawMap::visit_chunks`] for partition `p` alone.
    #[cfg(feature = "rayon")]
    pub(crate) fn visit_partition_in_chunks<F>(&self, p: usize, f: F)
    where
        F: for<'g> FnMut(&'g Guard, EntryRef<'g, K, V>, Loaded<'g, V>),
    {
        self.partitions[p].visit_in_chunks(f);
    }

    /// Keeps only the entries for which `f` returns true, visiting them in
    /// chunks (as [`RawMap::visit_chunks`]); an entry is removed only if its
    /// value is still the one `f` saw (otherwise `f` sees the new value).
    pub(crate) fn retain(&self, mut f: impl FnMut(&K, &V) -> bool) {
        self.visit_chunks(|guard, e, mut cur| {
            while let Some(v) = cur.value() {
                if f(e.key(), v) {
                    break;
                }
                match e.replace(guard, cur, None) {
                    Ok(_) => break,
                    Err(_) => cur = e.load(),
                }
            }
        });
    }

    /// Takes every live entry out of the map, leaving it empty.
    pub(crate) fn drain_all(&mut self) -> Vec<(K, V)> {
        let mut out = Vec::with_capacity(self.len());
        let (policy, counts) = (self.policy, self.values.get());
        for part in self.partitions.iter_mut() {
            // SAFETY: `&mut self`: no guard of this map is alive and no other
            // thread can reach the partition.
            unsafe { part.free_into(Some(&mut out)) };
            **part = Partition::new(
                policy,
                Box::new(Table::with_capacity(policy.min_overlay)),
                false,
                counts,
            );
        }
        out
    }
}

impl<K, V> Drop for RawMap<K, V> {
    fn drop(&mut self) {
        for part in self.partitions.iter_mut() {
            // SAFETY: `&mut self` in drop: no other thread or guard can reach
            // the partition any more (guards borrow the map).
            unsafe { part.free_into(None) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A merge of a large partition hands the superseded snapshot and
    /// overlay arrays to the reclaimer thread instead of freeing them on the
    /// thread that collects them (often a writer).
    #[test]
    #[cfg_attr(miri, ignore = "no reclaimer thread under Miri")]
    fn merges_hand_large_arrays_to_the_reclaimer() {
        let policy = Policy {
            min_overlay: 16,
            ratio: 4,
            incremental: true,
        };
        let map: RawMap<u64, u64> = RawMap::new(1, policy);
        let offloaded = || reclaim::tests::OFFLOADED.load(Ordering::Relaxed);
        let before = offloaded();
        for k in 0..20_000u64 {
            let guard = pin();
            let hash = k.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
            let _ = map.insert(&guard, hash, k, NewValue::Plain(k), false);
        }
        map.compact(&pin());
        let mut rounds = 0;
        while offloaded() == before && rounds < 10_000 {
            pin().flush();
            rounds += 1;
        }
        assert!(offloaded() > before, "no array was handed to the reclaimer");
    }

    /// Hits in a presized partition's first overlay, where all of a presized
    /// map's keys live until its first merge, count no overlay hits: none of
    /// them writes the shared counter or tries the mutex. Hits in an
    /// ordinary active overlay still count (the control).
    #[test]
    fn presized_overlay_hits_do_not_count() {
        let policy = Policy {
            min_overlay: 64,
            ratio: 4,
            incremental: true,
        };
        let n = if cfg!(miri) { 80u64 } else { 4096 };
        let hash = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let presized = RawMap::<u64, u64>::try_new(1, policy, n as usize).unwrap();
        let plain = RawMap::<u64, u64>::new(
            1,
            Policy {
                min_overlay: 2 * n as usize,
                ..policy
            },
        );
        for map in [&presized, &plain] {
            let guard = pin();
            for k in 0..n {
                let _ = map.insert(&guard, hash(k), k, NewValue::Plain(k), false);
            }
            // Every key is in the first active overlay.
            let layers = map.partitions[0].layers(&guard);
            assert!(layers.sealed.is_null());
            // SAFETY: a table of the current layer set, under `guard`.
            assert_eq!(unsafe { &*layers.active }.len(), n as usize);
            for _ in 0..4 {
                for k in 0..n {
                    assert_eq!(map.get(&guard, hash(k), &k), Some(&k));
                }
            }
        }
        let hits = |m: &RawMap<u64, u64>| m.partitions[0].overlay_hits.load(Ordering::Relaxed);
        assert_eq!(hits(&presized), 0, "a presized overlay's hits were counted");
        assert!(hits(&plain) > 0, "the control counted no overlay hit");
    }

    /// While its partition runs no merge, a new key is inserted without the
    /// partition mutex: an insert completes while another thread holds it.
    /// (Without the lock-free path the insert waits for the mutex, and the
    /// watchdog below fails the test instead of letting it hang.)
    #[test]
    fn new_keys_do_not_wait_for_the_partition_mutex() {
        let policy = Policy {
            min_overlay: 64,
            ratio: 4,
            incremental: true,
        };
        let map = std::sync::Arc::new(RawMap::<u64, u64>::new(1, policy));
        let held = map.partitions[0].lock();
        let (tx, rx) = std::sync::mpsc::channel();
        let m = std::sync::Arc::clone(&map);
        let inserter = std::thread::spawn(move || {
            for k in 0..8u64 {
                let guard = pin();
                let hash = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let (done, _) = m.insert(&guard, hash, k, NewValue::Plain(k), false);
                assert!(matches!(done, Inserted::New(_)));
            }
            let _ = tx.send(());
        });
        let finished = rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok();
        drop(held);
        inserter.join().unwrap();
        assert!(finished, "a new key waited for the partition mutex");
        assert_eq!(map.len(), 8);
    }
}
