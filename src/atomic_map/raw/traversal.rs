//! Traversal: the iterator over a map's entries under one guard, and the
//! chunked traversal that visits a partition a range of hashes at a time,
//! each chunk under a pin of its own.

use std::marker::PhantomData;

use crossbeam_utils::CachePadded;

use super::entry::{Entry, Loaded};
use super::partition::{tables, Layers, Partition};
use super::reclaim::{self, Guard};
use super::sync::Ordering;
use super::table::{prefetch, Table, FREE, MIN_SLOTS, PREFETCH_SLOTS};
use super::write::EntryRef;

/// Entries per chunk of a chunked traversal (about): the traversal's guard
/// is re-pinned between chunks, so it holds back garbage for the time of one
/// chunk, not of a partition. 1024 entries take about 10-30 µs.
const CHUNK_ENTRIES: usize = if cfg!(epochmap_loom) { 1 } else { 1024 };

/// The chunks of a partition's traversal: a key belongs to chunk
/// `(hash & (resolution - 1)) / (resolution / chunks)`. Fixed when a
/// partition's traversal starts, whatever its tables become meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPlan {
    /// A power of two: the largest slot count of the partition's tables
    /// when the plan was made.
    resolution: usize,
    /// A power of two, at most `resolution`.
    pub(crate) chunks: usize,
}

/// Calls `f` on every entry of `table` with a live value whose hash is in
/// chunk `c` of `plan`, each once.
///
/// Linear probing puts an entry at or after its home slot `hash & (n - 1)`,
/// in the same run of occupied slots. The homes of a chunk's keys form
/// runs of slots (one run if the table is smaller than the plan's
/// resolution, `n / resolution` runs if it is larger); the scan covers each
/// run and the occupied slots that follow it up to a free one, never a slot
/// twice (a watermark, and the wrap-around stops where the scan began), and
/// keeps only entries whose own hash is in the chunk. An entry published
/// before the visit began is found: the slots before it, from its home on,
/// were occupied before it was placed (a slot never becomes free again), and
/// their tags (Acquire) were stored before its own.
#[inline]
pub(super) fn visit_chunk_of_table<'g, K, V, F>(
    table: &'g Table<K, V>,
    plan: ChunkPlan,
    c: usize,
    mut f: F,
) where
    F: FnMut(&'g Entry<K, V>, Loaded<'g, V>),
{
    let n = table.slot_count();
    let width = plan.resolution / plan.chunks;
    let lo = c * width;
    let mut visit = |i: usize| {
        if let Some((e, v)) = live_at(table, i) {
            if (e.hash as usize & (plan.resolution - 1)).wrapping_sub(lo) < width {
                f(e, v);
            }
        }
    };
    if width >= n {
        // The chunk's homes cover the whole table.
        for i in 0..n {
            if table.tag(i) != FREE {
                if i + PREFETCH_SLOTS < n {
                    prefetch(table.load(i + PREFETCH_SLOTS));
                }
                visit(i);
            }
        }
        return;
    }
    // The chunk's homes: runs of `width` slots, `resolution` apart, from `lo`
    // on (positions taken modulo n). A table smaller than the resolution has
    // one run: width < n divides both n and `lo`, so the run does not wrap.
    let (first, step, runs) = (lo, plan.resolution, (n / plan.resolution).max(1));
    let mask = n - 1;
    // Unwrapped slot positions: every one below `pos` has been scanned, and
    // the scan never reaches `first + n` (that is `first` again).
    let mut pos = first;
    let limit = first + n;
    for r in 0..runs {
        let start = first + r * step;
        let end = start + width;
        let mut i = pos.max(start);
        while i < limit {
            let free = table.tag(i & mask) == FREE;
            if free && i >= end {
                break;
            }
            if !free {
                // Entries are scattered in memory: ask for one a few slots
                // ahead, so its cache miss overlaps the work on this one.
                if i + PREFETCH_SLOTS < end {
                    prefetch(table.load((i + PREFETCH_SLOTS) & mask));
                }
                visit(i & mask);
            }
            i += 1;
        }
        pos = i;
    }
}

/// The entry in slot `i` of a table of a layer set loaded under the guard
/// of `'g`, and its value as loaded, if the slot holds an entry whose value
/// is live (not a tombstone, not expunged).
#[inline(always)]
pub(super) fn live_at<'g, K, V>(
    table: &'g Table<K, V>,
    i: usize,
) -> Option<(&'g Entry<K, V>, Loaded<'g, V>)> {
    let p = table.load(i);
    if p.is_null() {
        return None;
    }
    // SAFETY: an entry of a live table (invariant 1); Acquire slot load.
    let e = unsafe { &*p };
    let v = Loaded::<'g, V> {
        // Acquire: see the table (value load).
        ptr: e.value.load(Ordering::Acquire),
        _guard: PhantomData,
    };
    v.value().is_some().then_some((e, v))
}

impl<K: Send + 'static, V: Send + 'static> Partition<K, V> {
    /// Calls `f` on every live entry of this partition, a chunk of about
    /// [`CHUNK_ENTRIES`] entries at a time, the guard re-pinned between
    /// chunks (see [`Partition::visit_chunk`] for why the traversal stays
    /// weakly consistent across chunks).
    pub(super) fn visit_in_chunks<F>(&self, mut f: F)
    where
        F: for<'g> FnMut(&'g Guard, EntryRef<'g, K, V>, Loaded<'g, V>),
    {
        let mut guard = reclaim::pin();
        let plan = self.chunk_plan(&guard);
        for c in 0..plan.chunks {
            if c > 0 {
                // Nothing of the last chunk is held any more (the borrow
                // checker sees to it): advance this thread's epoch, so that
                // what writers retired meanwhile can be freed. Cheaper than
                // unpinning and pinning again (no fence), and it collects
                // nothing itself: the writers free their own garbage.
                guard.repin();
            }
            self.visit_chunk(&guard, plan, c, |e, v| f(&guard, e, v));
        }
    }

    /// How to split this partition into chunks for [`Partition::visit_chunk`],
    /// from its current tables: about [`CHUNK_ENTRIES`] entries each.
    pub(super) fn chunk_plan(&self, guard: &Guard) -> ChunkPlan {
        let layers = self.layers(guard);
        let (mut slots, mut entries) = (MIN_SLOTS, 0usize);
        for t in tables(layers) {
            slots = slots.max(t.slot_count());
            entries = entries.saturating_add(t.len());
        }
        // Both powers of two, chunks <= slots.
        let chunks = (entries / CHUNK_ENTRIES)
            .max(1)
            .next_power_of_two()
            .min(slots);
        ChunkPlan {
            resolution: slots,
            chunks,
        }
    }

    /// Calls `f` on every live entry of this partition whose hash falls in
    /// chunk `c` of `plan` (see [`ChunkPlan`]), visiting the current layer
    /// set's tables newest first (invariant 5).
    ///
    /// A traversal that visits chunk after chunk, each under a guard of its
    /// own, yields every key present for the whole traversal exactly once,
    /// and no key twice, even if merges publish other layer sets between the
    /// chunks: a chunk is one visit of one layer set (the argument of
    /// invariant 5 holds within it), restricted to the keys whose hash is in
    /// the chunk's range; a key present throughout keeps its entry (only a
    /// tombstone is expunged), which is in exactly one table of whatever
    /// set the chunk sees (invariant 2); and the ranges are disjoint. Nothing
    /// is carried from one chunk to the next but the plan's numbers.
    pub(super) fn visit_chunk<'g, F>(
        &'g self,
        guard: &'g Guard,
        plan: ChunkPlan,
        c: usize,
        mut f: F,
    ) where
        F: FnMut(EntryRef<'g, K, V>, Loaded<'g, V>),
    {
        debug_assert!(c < plan.chunks);
        let layers = self.layers(guard);
        for t in [layers.active, layers.sealed, layers.snapshot] {
            if t.is_null() {
                continue;
            }
            // SAFETY: a table of a layer set loaded under the guard
            // (invariant 1).
            let table = unsafe { &*t };
            visit_chunk_of_table(table, plan, c, |e, v| {
                f(
                    EntryRef {
                        entry: e,
                        part: self,
                    },
                    v,
                )
            });
        }
    }
}

/// Iterator over the live entries of a map under a guard.
pub(crate) struct RawIter<'g, K, V> {
    pub(super) partitions: &'g [CachePadded<Partition<K, V>>],
    pub(super) guard: &'g Guard,
    pub(super) part: usize,
    pub(super) layers: Option<&'g Layers<K, V>>,
    pub(super) table: usize,
    pub(super) slot: usize,
}

impl<'g, K: Send + 'static, V: Send + 'static> Iterator for RawIter<'g, K, V> {
    /// A live entry and its value as loaded (present).
    type Item = (EntryRef<'g, K, V>, Loaded<'g, V>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let layers = match self.layers {
                Some(l) => l,
                None => {
                    if self.part >= self.partitions.len() {
                        return None;
                    }
                    let part = &self.partitions[self.part];
                    let l = part.layers(self.guard);
                    self.layers = Some(l);
                    self.table = 0;
                    self.slot = 0;
                    l
                }
            };
            // Newest table first: see invariant 5.
            let t = match self.table {
                0 => layers.active,
                1 => layers.sealed,
                2 => layers.snapshot,
                _ => {
                    self.layers = None;
                    self.part += 1;
                    continue;
                }
            };
            if t.is_null() {
                self.table += 1;
                continue;
            }
            // SAFETY: a table of a layer set loaded under the guard.
            let table = unsafe { &*t };
            let n = table.slot_count();
            while self.slot < n {
                let i = self.slot;
                self.slot += 1;
                // The dense tag array skips free slots without reading them.
                if table.tag(i) == FREE {
                    continue;
                }
                // Entries are scattered in memory: ask for one a few slots
                // ahead, so its cache miss overlaps the work on this one.
                if i + PREFETCH_SLOTS < n {
                    prefetch(table.load(i + PREFETCH_SLOTS));
                }
                if let Some((e, v)) = live_at(table, i) {
                    let part = &self.partitions[self.part];
                    return Some((EntryRef { entry: e, part }, v));
                }
            }
            self.table += 1;
            self.slot = 0;
        }
    }
}

#[cfg(all(test, not(epochmap_loom)))]
mod tests {
    use super::*;
    use crate::atomic_map::raw::entry::{new_entry, take_entry, NewValue};

    /// Every entry of a table is visited by exactly one chunk of a plan,
    /// whatever the plan: tables smaller and larger than its resolution
    /// (merges change the tables between chunks), clusters of occupied
    /// slots that cross the end of a chunk's runs, and clusters that wrap
    /// around the end of the table.
    #[test]
    fn each_entry_is_visited_by_exactly_one_chunk() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (sizes, trials): (&[usize], _) = if cfg!(miri) {
            (&[1, 5, 20], 2)
        } else {
            (&[1, 3, 7, 20, 100, 1000], 8)
        };
        for &len in sizes {
            for trial in 0..trials {
                let table: Table<u64, u64> = Table::with_capacity(len);
                let n = table.slot_count();
                // Low bits from a narrow range on odd trials, so that
                // entries pile up in long clusters; the high bits are random.
                let spread = if trial % 2 == 0 { n } else { (n / 8).max(1) };
                let offset = rnd() as usize % n;
                let entries: Vec<_> = (0..len as u64)
                    .map(|k| {
                        let low = (offset + rnd() as usize % spread) % n;
                        let hash = (rnd() & !(n as u64 - 1)) | low as u64;
                        let (e, _) = new_entry(k, hash, NewValue::Plain(k));
                        table.publish_slot(hash, e);
                        e
                    })
                    .collect();
                let mut resolution = MIN_SLOTS;
                while resolution <= 8 * n {
                    let mut chunks = 1;
                    while chunks <= resolution {
                        let plan = ChunkPlan { resolution, chunks };
                        let mut seen = vec![0u32; len];
                        for c in 0..chunks {
                            visit_chunk_of_table(&table, plan, c, |e, _| seen[e.key as usize] += 1);
                        }
                        assert!(
                            seen.iter().all(|&s| s == 1),
                            "{len} entries, {n} slots, {plan:?}: visits {seen:?}"
                        );
                        chunks *= 2;
                    }
                    resolution *= 2;
                }
                for e in entries {
                    // SAFETY: made by `new_entry` above, never shared.
                    let _ = unsafe { take_entry(e) };
                }
            }
        }
    }
}
