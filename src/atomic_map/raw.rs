//! The engine of [`AtomicPtrMap`](super::AtomicPtrMap): all its unsafe code
//! (reclamation aside, which is in [`reclaim`](super::reclaim)).
//!
//! # Atomics
//!
//! | atomic | ordering | pairs with | why |
//! |---|---|---|---|
//! | `Partition::layers` load | Acquire | the Release store of a new layer set (seal, merge publish) | the reader sees the tables of the set, and a snapshot's slots, fully written |
//! | `Partition::layers` store | Release | the Acquire loads of readers and writers | publishes a layer set, including a snapshot written with plain (Relaxed) slot stores before it |
//! | `Table` slot entry load | Acquire | the Release store of `Table::publish_slot` | an overlay slot is written while readers probe; the entry it points to (key, hash, first value) is initialised |
//! | `Table` slot entry store | Release | the Acquire slot loads | as above; in an unpublished snapshot the layer set's Release store would be enough |
//! | `Table` tag load | Acquire | the Release store of the tag in `Table::publish_slot`, made after the slot's entry | a probe reads a slot only after a matching tag; the slot is then written and its entry initialised |
//! | `Table` tag store | Release | the Acquire tag loads | as above |
//! | `Entry::value` load | Acquire | the successful AcqRel CAS that stored the pointer, or the Release store in `Table::publish_slot` that published the entry with its first value | the reader sees the value `V` fully initialised; a `get` happens-after the insert whose value it returns |
//! | `Entry::value` CAS (insert, overwrite, remove, update) | AcqRel / Acquire | itself on other threads, and readers' Acquire loads | Release publishes the new value; Acquire makes the old value's initialisation visible before it is handed back and retired |
//! | `Entry::value` CAS null -> `EXPUNGED` (merge) | AcqRel / Acquire | writers' CAS null -> value on the same entry | modification order decides fairly between a merge expunging a tombstone and a writer reviving it: exactly one wins |
//! | `Entry::value` load before that CAS (merge) | Relaxed | nothing | only decides whether to try the CAS: a non-null value means the entry is kept (it moves by pointer, nothing of the value is read) |
//! | `Partition::len`, `merges`, `Table::len`, garbage counters | Relaxed | nothing | statistics; `Table::len` is written only under the partition mutex (or before publication) |
//!
//! # Invariants
//!
//! 1. A published [`Layers`] and its tables are freed only through
//!    [`reclaim::retire`] after a newer layer set replaced it, so every
//!    pointer loaded from `Partition::layers` under a guard stays valid for
//!    the guard's lifetime; the same holds for entries (retired after a merge
//!    expunged them and published a snapshot without them) and values
//!    (a boxed value is retired when a CAS replaces it; an entry's inline
//!    first value, see [`EntryWithValue`], lives in the entry's allocation
//!    and is freed with the entry, which outlives every guard that could
//!    have loaded a pointer to it).
//! 2. Within one layer set, every entry appears in exactly one table, and for
//!    each key at most one entry of the set is not expunged. A new entry is
//!    created only under the partition mutex, after a search of the current
//!    layer set found no non-expunged entry for its key; only merges (also
//!    under the mutex) expunge, and only entries of the snapshot and sealed
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

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::{Arc, PoisonError};

use crossbeam_utils::CachePadded;

use super::delta::{Layers, MergeState, Policy, ZERO_PER_UNIT};
use super::reclaim::{self, Garbage, Guard};
use super::snapshot::{partition_index, tag_of, Slot, Table, FREE, MIN_SLOTS};
use super::sync::{AtomicIsize, AtomicPtr, AtomicU8, AtomicUsize, Mutex, MutexGuard, Ordering};

/// A key, its hash and its current value.
///
/// Allocation: if [`inline_first::<V>()`], an entry is allocated as an
/// [`EntryWithValue`] that holds its first value too, and `value` points into
/// the same allocation until the first overwrite; otherwise as a plain
/// `Box<Entry>`. Which one is a property of the type `V`, so every entry of a
/// map is allocated (and freed) the same way.
pub(crate) struct Entry<K, V> {
    /// The hash of `key`. Immutable. Kept here rather than in the table
    /// slots (8-byte slots keep the array every lookup reads small); a lookup
    /// compares it before calling the user's `Eq`, and a merge places the
    /// entry in the next snapshot by it without hashing the key again.
    pub(crate) hash: u64,
    /// Immutable.
    pub(crate) key: K,
    /// Null: a tombstone (the key is absent). [`expunged`]: the entry is being
    /// dropped by a merge (the key is absent, and a new entry must be made
    /// for it). Otherwise a value, immutable, replaced only by CAS: either
    /// the entry's inline first value (see [`EntryWithValue`]) or a `Box<V>`
    /// owned by the entry.
    value: AtomicPtr<V>,
}

/// An entry allocated together with its first value, so that a lookup of a
/// key that was never overwritten reads one allocation instead of two.
///
/// Used only when `V` has no drop glue ([`inline_first`]): once the inline
/// value is replaced it is never dropped, only its memory stays until the
/// entry is freed; so no deferred destructor of a value ever runs on memory
/// owned by an entry (whose reclamation is ordered independently).
/// Invariant: `first` is initialised; it is immutable, and `entry.value`
/// points to it (derived from the allocation's pointer) until a CAS
/// replaces that pointer, never again afterwards.
#[repr(C)]
struct EntryWithValue<K, V> {
    /// First field of a `repr(C)` struct: a pointer to the allocation is a
    /// pointer to the entry.
    entry: Entry<K, V>,
    first: MaybeUninit<V>,
}

/// Whether entries of values `V` hold their first value inline (no drop
/// glue, so a replaced inline value needs no destructor; and small, so the
/// space a replaced one keeps is bounded).
#[inline]
const fn inline_first<V>() -> bool {
    !std::mem::needs_drop::<V>() && std::mem::size_of::<V>() <= 64
}

/// Whether `v` is the inline first value of entry `e` (an address
/// comparison only; meaningful only when [`inline_first::<V>()`]).
#[inline]
fn is_inline<K, V>(e: *const Entry<K, V>, v: *const V) -> bool {
    inline_first::<V>()
        && v as usize == e as usize + std::mem::offset_of!(EntryWithValue<K, V>, first)
}

/// Bytes of one entry allocation (for the garbage statistics).
fn entry_bytes<K, V>() -> usize {
    if inline_first::<V>() {
        std::mem::size_of::<EntryWithValue<K, V>>()
    } else {
        std::mem::size_of::<Entry<K, V>>()
    }
}

/// A value on its way into the map, boxed only once it must be: a CAS on an
/// existing entry stores a `Box<V>`'s pointer, but a new entry of a type
/// whose first value is stored inline ([`EntryWithValue`]) needs no box, so
/// inserting a new key allocates once, not twice.
pub(crate) enum NewValue<V> {
    Plain(V),
    Boxed(Box<V>),
}

impl<V> NewValue<V> {
    #[inline]
    fn boxed(self) -> Box<V> {
        match self {
            NewValue::Plain(v) => Box::new(v),
            NewValue::Boxed(b) => b,
        }
    }

    #[inline]
    fn into_inner(self) -> V {
        match self {
            NewValue::Plain(v) => v,
            NewValue::Boxed(b) => *b,
        }
    }
}

/// Allocates an entry for `key` holding `value`; returns it and the pointer
/// to its value (not yet published: the caller publishes the entry with
/// Release).
fn new_entry<K, V>(key: K, hash: u64, value: NewValue<V>) -> (*mut Entry<K, V>, *mut V) {
    if inline_first::<V>() {
        let p = Box::into_raw(Box::new(EntryWithValue {
            entry: Entry {
                hash,
                key,
                value: AtomicPtr::new(ptr::null_mut()),
            },
            first: MaybeUninit::new(value.into_inner()),
        }));
        // SAFETY: `p` is a fresh, live allocation that nobody else sees yet;
        // `addr_of_mut!` makes the value pointer from `p` without an
        // intermediate reference, so it carries the allocation's provenance.
        let v = unsafe { ptr::addr_of_mut!((*p).first) }.cast::<V>();
        // SAFETY: as above: `p` is live and unshared.
        unsafe { (*p).entry.value.store(v, Ordering::Relaxed) };
        debug_assert!(is_inline(p.cast::<Entry<K, V>>(), v));
        (p.cast::<Entry<K, V>>(), v)
    } else {
        let v = Box::into_raw(value.boxed());
        let e = Box::into_raw(Box::new(Entry {
            hash,
            key,
            value: AtomicPtr::new(v),
        }));
        (e, v)
    }
}

/// The address behind the `EXPUNGED` sentinel: a static, so no allocation
/// (and no dangling pointer of a zero-sized `Box`) can ever be equal to it.
static EXPUNGED_SENTINEL: u8 = 0;

/// The `EXPUNGED` sentinel pointer. Never dereferenced, only compared.
#[inline]
fn expunged<V>() -> *mut V {
    ptr::addr_of!(EXPUNGED_SENTINEL) as *mut V
}

/// A value pointer (neither null nor `EXPUNGED`): a `Box<V>` owned by its
/// entry, or the entry's inline first value.
#[inline]
fn is_value<V>(p: *mut V) -> bool {
    !p.is_null() && p != expunged()
}

/// Frees an entry and the value it owns, if any; returns its key and its
/// current value (if present).
///
/// # Safety
/// `e` came from [`new_entry`], no other thread can reach it, and it is freed
/// only here.
unsafe fn take_entry<K, V>(e: *mut Entry<K, V>) -> (K, Option<V>) {
    if inline_first::<V>() {
        // SAFETY: with `inline_first::<V>()`, `new_entry` allocated `e` as a
        // boxed `EntryWithValue` (a pointer to it is a pointer to its first
        // field); the caller gives us the only pointer to it.
        let b = unsafe { Box::from_raw(e.cast::<EntryWithValue<K, V>>()) };
        let v = b.entry.value.load(Ordering::Relaxed);
        let inline = is_inline(e, v);
        let EntryWithValue { entry, first } = *b;
        let value = if inline {
            // SAFETY: `first` is always initialised (invariant); it is the
            // current value, handed out once, here.
            Some(unsafe { first.assume_init() })
        } else if is_value(v) {
            // SAFETY: a value pointer that is not the inline value owns a
            // `Box<V>` (field invariant), which no one else frees since the
            // entry is unreachable. (`first`, replaced, has no drop glue.)
            Some(*unsafe { Box::from_raw(v) })
        } else {
            None
        };
        (entry.key, value)
    } else {
        // SAFETY: otherwise `new_entry` allocated a plain boxed entry; the
        // caller gives us the only pointer to it.
        let entry = unsafe { Box::from_raw(e) };
        let v = entry.value.load(Ordering::Relaxed);
        let value = if is_value(v) {
            // SAFETY: a value pointer owns a `Box<V>` (field invariant), which
            // no one else frees since the entry is unreachable.
            Some(*unsafe { Box::from_raw(v) })
        } else {
            None
        };
        (entry.key, value)
    }
}

/// Retires a boxed `T`: it is dropped once every thread pinned now unpins.
///
/// # Safety
/// As [`reclaim::retire`]: `p` came from `Box::into_raw`, is unlinked and is
/// retired only once; `T: Send` in the sense that dropping it on another
/// thread is sound.
unsafe fn retire_box<T: 'static>(guard: &Guard, garbage: &Arc<Garbage>, p: *mut T, bytes: usize) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        drop(unsafe { Box::from_raw(p) })
    };
    // SAFETY: forwarded from the caller.
    unsafe { reclaim::retire(guard, garbage, bytes, destroy) }
}

/// Retires a boxed value, counted as garbage at `size_of::<V>()` bytes.
///
/// # Safety
/// As [`retire_box`].
#[inline]
unsafe fn retire_value<V: 'static>(guard: &Guard, garbage: &Arc<Garbage>, p: *mut V) {
    let destroy = move || {
        // SAFETY: `p` is a unique, unlinked box (caller's contract), and the
        // epoch has passed, so no reader holds it.
        drop(unsafe { Box::from_raw(p) })
    };
    // SAFETY: forwarded from the caller.
    unsafe { reclaim::retire_value(guard, garbage, destroy) }
}

/// `n` free slots (null entry), from zeroed memory: `alloc_zeroed` hands
/// large arrays straight from fresh (lazily zeroed) pages, so sealing an
/// overlay and starting a merge does not pay an `O(n)` memset on the write
/// path. Aborts (`handle_alloc_error`) if the allocator refuses.
pub(crate) fn null_slots<K, V>(n: usize) -> Box<[Slot<K, V>]> {
    try_null_slots(n).unwrap_or_else(|layout| std::alloc::handle_alloc_error(layout))
}

/// `n` free tags (zero), like [`null_slots`].
pub(crate) fn free_tags(n: usize) -> Box<[AtomicU8]> {
    try_free_tags(n).unwrap_or_else(|layout| std::alloc::handle_alloc_error(layout))
}

/// The layout of `[T; n]`.
fn array_layout<T>(n: usize) -> std::alloc::Layout {
    match std::alloc::Layout::array::<T>(n) {
        Ok(l) => l,
        // `n` is at most `MAX_SLOTS`; beyond the address space anyway.
        Err(_) => panic!("array of {n} slots overflows the address space"),
    }
}

/// [`null_slots`], or the layout the allocator refused.
#[cfg(not(loom))]
pub(crate) fn try_null_slots<K, V>(n: usize) -> Result<Box<[Slot<K, V>]>, std::alloc::Layout> {
    let layout = array_layout::<Slot<K, V>>(n);
    if layout.size() == 0 {
        return Ok(Box::new([]));
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut Slot<K, V>;
    if p.is_null() {
        return Err(layout);
    }
    // SAFETY: `p` was allocated by the global allocator with the layout of
    // `[Slot<K, V>; n]`, which is the layout `Box<[Slot<K, V>]>` frees with.
    // A `Slot` is an `AtomicPtr` (repr(transparent)): all-zero bytes are a
    // valid, null `AtomicPtr`. So the allocation holds `n` initialised free
    // slots.
    Ok(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, n)) })
}

/// [`free_tags`], or the layout the allocator refused.
#[cfg(not(loom))]
pub(crate) fn try_free_tags(n: usize) -> Result<Box<[AtomicU8]>, std::alloc::Layout> {
    let layout = array_layout::<AtomicU8>(n);
    if layout.size() == 0 {
        return Ok(Box::new([]));
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut AtomicU8;
    if p.is_null() {
        return Err(layout);
    }
    // SAFETY: allocated by the global allocator with the layout of
    // `[AtomicU8; n]`, which `Box<[AtomicU8]>` frees with; `AtomicU8` has the
    // size, alignment and bit validity of `u8` (documented), so the `n` zero
    // bytes are `n` valid `AtomicU8`s equal to 0 ([`FREE`]).
    Ok(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, n)) })
}

/// `n` free slots, one at a time: loom's atomics cannot be zeroed memory.
#[cfg(loom)]
pub(crate) fn try_null_slots<K, V>(n: usize) -> Result<Box<[Slot<K, V>]>, std::alloc::Layout> {
    let _ = array_layout::<Slot<K, V>>(n);
    Ok((0..n).map(|_| Slot::free()).collect())
}

/// `n` free tags, one at a time: loom's atomics cannot be zeroed memory.
#[cfg(loom)]
pub(crate) fn try_free_tags(n: usize) -> Result<Box<[AtomicU8]>, std::alloc::Layout> {
    let _ = array_layout::<AtomicU8>(n);
    Ok((0..n).map(|_| AtomicU8::new(FREE)).collect())
}

/// A slot of a [`Zeroing`] array: not yet initialised until zeroed.
type UninitSlot<K, V> = MaybeUninit<Slot<K, V>>;

/// A slot array (and its tag array) zeroed a chunk at a time, so that no
/// insert pays an `O(n)` memset for the next snapshot or overlay (the
/// allocator hands out dirty memory for arrays it recycles). Becomes a
/// [`Table`] once fully zeroed.
pub(crate) struct Zeroing<K, V> {
    /// Invariant: `slots[..done]` and `tags[..done]` are initialised (free);
    /// the rest are not. Both have the same length.
    slots: Box<[UninitSlot<K, V>]>,
    tags: Box<[MaybeUninit<AtomicU8>]>,
    done: usize,
}

/// `n` uninitialised `T`s (allocation only, no writes).
fn uninit_array<T>(n: usize) -> Box<[MaybeUninit<T>]> {
    let mut v: Vec<MaybeUninit<T>> = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialisation, and the capacity is at
    // least `n`.
    unsafe { v.set_len(n) };
    v.into_boxed_slice()
}

impl<K, V> Zeroing<K, V> {
    /// An uninitialised array of `n` slots (allocation only, no writes).
    pub(crate) fn new(n: usize) -> Self {
        Zeroing {
            slots: uninit_array(n),
            tags: uninit_array(n),
            done: 0,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.slots.len() - self.done
    }

    /// Zeroes up to `n` more slots (and their tags); returns how many.
    pub(crate) fn step(&mut self, n: usize) -> usize {
        let end = self.done.saturating_add(n).min(self.slots.len());
        for s in &mut self.slots[self.done..end] {
            s.write(Slot::free());
        }
        for t in &mut self.tags[self.done..end] {
            t.write(AtomicU8::new(FREE));
        }
        let did = end - self.done;
        self.done = end;
        did
    }

    /// The zeroed table (zeroing what is left first).
    pub(crate) fn finish(mut self) -> Table<K, V> {
        self.step(usize::MAX);
        debug_assert_eq!(self.done, self.slots.len());
        let slots = Box::into_raw(self.slots) as *mut [Slot<K, V>];
        let tags = Box::into_raw(self.tags) as *mut [AtomicU8];
        // SAFETY: every slot and tag was initialised by `step` (done == len),
        // and `MaybeUninit<T>` has the layout of `T`, so these are the same
        // allocations as a `Box<[Slot<_>]>` and a `Box<[AtomicU8]>` of the
        // same lengths.
        unsafe { Table::from_parts(Box::from_raw(tags), Box::from_raw(slots)) }
    }
}

/// What an entry's value was when loaded.
pub(crate) struct Loaded<'g, V> {
    ptr: *mut V,
    _guard: PhantomData<&'g V>,
}

impl<V> Clone for Loaded<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Loaded<'_, V> {}

impl<'g, V> Loaded<'g, V> {
    /// The value, if the key was present.
    #[inline]
    pub(crate) fn value(self) -> Option<&'g V> {
        if is_value(self.ptr) {
            // SAFETY: a value pointer points to a live `V` (its own box, or
            // the inline first value of a live entry), loaded with
            // Acquire under the guard of lifetime 'g; values are retired
            // only after a CAS unlinks them, so it lives for 'g (invariant 1).
            Some(unsafe { &*self.ptr })
        } else {
            None
        }
    }
    #[inline]
    pub(crate) fn is_expunged(self) -> bool {
        self.ptr == expunged()
    }
}

/// A live reference to an entry found under a guard.
pub(crate) struct EntryRef<'g, K, V> {
    entry: &'g Entry<K, V>,
    /// The entry's partition, and the map (whose merge policy a removal
    /// that assists a merge needs).
    part: &'g Partition<K, V>,
    map: &'g RawMap<K, V>,
}

impl<K, V> Clone for EntryRef<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for EntryRef<'_, K, V> {}

impl<'g, K: Send + 'static, V: Send + 'static> EntryRef<'g, K, V> {
    #[inline]
    pub(crate) fn key(&self) -> &'g K {
        &self.entry.key
    }

    /// Acquire: pairs with the CAS (AcqRel) or slot publication (Release)
    /// that stored the pointer; see the table above.
    #[inline]
    pub(crate) fn load(&self) -> Loaded<'g, V> {
        Loaded {
            ptr: self.entry.value.load(Ordering::Acquire),
            _guard: PhantomData,
        }
    }

    /// Replaces the value `expected` (as loaded) with `new` (`None`: a
    /// tombstone). On success returns the old value, retired but alive for
    /// the guard's lifetime, and the new one; on failure (the value changed,
    /// or the entry is expunged) gives `new` back.
    #[allow(clippy::type_complexity)]
    pub(crate) fn replace(
        &self,
        guard: &'g Guard,
        expected: Loaded<'g, V>,
        new: Option<Box<V>>,
    ) -> Result<(Option<&'g V>, Option<&'g V>), Option<Box<V>>> {
        if expected.is_expunged() {
            // Invariant 3: EXPUNGED is final.
            return Err(new);
        }
        let had_new = new.is_some();
        let new_ptr = new.map_or(ptr::null_mut(), Box::into_raw);
        // AcqRel/Acquire: see the table (value CAS).
        match self.entry.value.compare_exchange(
            expected.ptr,
            new_ptr,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                let old = expected.value();
                let mut removed = None;
                match (old.is_some(), had_new) {
                    (false, true) => self.part.add_len(1),
                    (true, false) => {
                        removed = Some(self.part.len.fetch_add(-1, Ordering::Relaxed) - 1);
                    }
                    _ => {}
                }
                if old.is_some() && !is_inline(self.entry, expected.ptr) {
                    // (An inline first value stays in the entry's allocation,
                    // freed with the entry; it has no drop glue.)
                    // SAFETY: the CAS unlinked the old value, a `Box<V>` of
                    // its own: only threads pinned now can still hold it. It
                    // is retired once, by the thread whose CAS removed it.
                    // `V: Send + 'static`.
                    unsafe { retire_value(guard, &self.part.garbage, expected.ptr) };
                }
                if let Some(live) = removed {
                    // The caller's operation is done: a merge may now expunge
                    // the tombstone just made.
                    self.map.after_removal(guard, self.part, live);
                }
                let new = Loaded::<'g, V> {
                    ptr: new_ptr,
                    _guard: PhantomData,
                };
                // The new value is published; it lives for 'g like any value
                // loaded under the guard.
                Ok((old, new.value()))
            }
            Err(_) => Err(if had_new {
                // SAFETY: the CAS failed, so `new_ptr` was never published and
                // we still own the box we made it from.
                Some(unsafe { Box::from_raw(new_ptr) })
            } else {
                None
            }),
        }
    }
}

/// What [`RawMap::insert`] did.
pub(crate) enum Inserted<'g, V> {
    /// The key was absent; the value (given) is stored.
    New(&'g V),
    /// The key was present; its old value (retired, alive for 'g) was
    /// replaced.
    Replaced(&'g V),
    /// `only_if_absent` and the key was present: the existing value, and the
    /// value that was not stored.
    Existing(
        &'g V,
        // Never read: carried out so that it is dropped after the mutex.
        #[allow(dead_code)] NewValue<V>,
    ),
}

/// State of the writers of a partition, under its mutex.
struct Writer<K, V> {
    merge: Option<MergeState<K, V>>,
    /// An empty, zeroed overlay prepared by the last merge for the next
    /// seal. Holds no entries.
    spare: Option<Box<Table<K, V>>>,
    /// Whether the active overlay is the one allocated for the map's
    /// capacity ([`RawMap::try_new`]) and not sealed yet. Reads do not seal
    /// it (see [`RawMap::assist_merge`]): a prefill fills it without a
    /// merge, and it is sealed when full, by `compact`, or by removals
    /// ([`Partition::after_removal`]).
    presized: bool,
    /// Set when a merge published a snapshot and retired the old arrays:
    /// the thread flushes its garbage *after* releasing the mutex. Flushing
    /// runs deferred destructors (any user `Drop` of the process, which may
    /// call back into this map), so it must never run under the mutex.
    flush_pending: bool,
}

/// One partition: its layer set, the mutex of its new-key writers, counters.
pub(crate) struct Partition<K, V> {
    /// Never null; see invariants 1 and 2. Alone in its cache line: every
    /// lookup reads it, and the writes to the mutex and counters below must
    /// not invalidate it in readers' caches.
    layers: CachePadded<AtomicPtr<Layers<K, V>>>,
    writer: Mutex<Writer<K, V>>,
    /// Live keys (may be briefly off while writers race). Relaxed.
    len: AtomicIsize,
    /// Completed merges. Relaxed.
    merges: AtomicUsize,
    /// Sampled lookups that found their key in an overlay since the last
    /// seal ([`RawMap::overlay_hit`]). Relaxed: a heuristic. In its own
    /// cache line, so that the readers that write it do not invalidate the
    /// line of `layers` or of the mutex.
    overlay_hits: CachePadded<AtomicUsize>,
    garbage: Arc<Garbage>,
}

impl<K, V> Partition<K, V> {
    /// An empty partition whose first active overlay is `active` (sized
    /// from the policy, or `presized` for the map's capacity).
    fn new(active: Box<Table<K, V>>, presized: bool) -> Self {
        let layers = Layers {
            snapshot: Box::into_raw(Box::new(Table::with_capacity(0))),
            sealed: ptr::null_mut(),
            active: Box::into_raw(active),
            #[cfg(loom)]
            witness: super::sync::UnsafeCell::new(()),
        };
        Partition {
            layers: CachePadded::new(AtomicPtr::new(Box::into_raw(Box::new(layers)))),
            writer: Mutex::new(Writer {
                merge: None,
                spare: None,
                presized,
                flush_pending: false,
            }),
            len: AtomicIsize::new(0),
            merges: AtomicUsize::new(0),
            overlay_hits: CachePadded::new(AtomicUsize::new(0)),
            garbage: Arc::new(Garbage::default()),
        }
    }

    #[inline]
    fn add_len(&self, d: isize) {
        self.len.fetch_add(d, Ordering::Relaxed);
    }

    /// The mutex of new-key writers. Poisoning is ignored: no user code runs
    /// while the partition's structures are half updated (user `Eq` runs only
    /// in searches, before any write), so a panic under the lock leaves them
    /// consistent. The only user code that runs under it is `K: Eq` (the
    /// search of [`RawMap::insert_under_lock`]); no `Drop` of a key or value,
    /// not even when that `Eq` panics (the key and value being inserted are
    /// held outside the guard and dropped after it, see [`RawMap::insert`]),
    /// and no deferred destructor (garbage is flushed after unlocking,
    /// [`Partition::unlock_and_flush`]).
    fn lock(&self) -> MutexGuard<'_, Writer<K, V>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases the mutex, then flushes this thread's garbage if a merge
    /// retired a snapshot meanwhile: flushing runs deferred destructors, which
    /// may be any user `Drop` (even one that calls back into this map), so it
    /// must not run under the mutex.
    fn unlock_and_flush(&self, guard: &Guard, mut w: MutexGuard<'_, Writer<K, V>>) {
        let flush = std::mem::take(&mut w.flush_pending);
        drop(w);
        if flush {
            reclaim::flush(guard);
        }
    }

    /// The current layer set. Acquire: pairs with the Release store that
    /// published it.
    #[inline]
    fn layers<'g>(&'g self, _guard: &'g Guard) -> &'g Layers<K, V> {
        let p = self.layers.load(Ordering::Acquire);
        debug_assert!(!p.is_null());
        // SAFETY: never null; a layer set is retired only after it is
        // replaced, and we are pinned by `_guard` since before this load
        // (invariant 1).
        let layers = unsafe { &*p };
        // Loom checks that this read happens-after the set was made and
        // before it is freed (see `Layers::witness`).
        #[cfg(loom)]
        layers.witness.with(|_| ());
        layers
    }
}

/// The tables of a layer set, in search order (snapshot, sealed, active).
#[inline]
fn tables<K, V>(layers: &Layers<K, V>) -> impl Iterator<Item = &Table<K, V>> {
    [layers.snapshot, layers.sealed, layers.active]
        .into_iter()
        .filter(|t| !t.is_null())
        // SAFETY: the tables of a published layer set live as long as the
        // layer set (retired together or later), which lives for 'g.
        .map(|t| unsafe { &*t })
}

/// Searches a layer set for a non-expunged entry of `key`.
#[inline]
fn find_in<'g, K, V, Q>(
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

/// [`find_in`], also telling whether the entry was found in an overlay
/// (sealed or active) rather than in the snapshot.
#[inline]
fn find_in_layer<'g, K, V, Q>(
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
    if let Some((e, v)) = probe_table(snapshot, hash, tag, key) {
        return Some((e, v, false));
    }
    for t in [layers.sealed, layers.active] {
        if t.is_null() {
            continue;
        }
        // SAFETY: as the snapshot above.
        if let Some((e, v)) = probe_table(unsafe { &*t }, hash, tag, key) {
            return Some((e, v, true));
        }
    }
    None
}

/// Searches one table of a live layer set for a non-expunged entry of `key`.
/// A plain loop (not the iterator chain of [`Table::probe`]): this is the
/// inner loop of every lookup.
#[inline(always)]
fn probe_table<'g, K, V, Q>(
    table: &'g Table<K, V>,
    hash: u64,
    tag: u8,
    key: &Q,
) -> Option<(&'g Entry<K, V>, *mut V)>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    let mask = table.slot_count() - 1;
    let mut i = hash as usize & mask;
    // Bounded by the slot count; a table is at most half full, so a free
    // tag ends the probe long before.
    for _ in 0..=mask {
        // The dense tag array first: free ends the probe, another tag skips
        // the slot without touching it.
        let t = table.tag(i);
        if t == FREE {
            return None;
        }
        if t == tag {
            let p = table.load(i);
            // A non-free tag (Acquire) implies a published slot.
            debug_assert!(!p.is_null());
            if !p.is_null() {
                // SAFETY: a non-null slot of a live table points to an entry
                // that is retired only after a layer set without it is
                // published, i.e. after this guard's pin (invariant 1);
                // Acquire slot load.
                let e = unsafe { &*p };
                // The full hash first (same cache line as the key): the
                // user's `Eq` runs only for a real candidate.
                if e.hash == hash && e.key.borrow() == key {
                    // Acquire: see the table (value load).
                    let v = e.value.load(Ordering::Acquire);
                    // At most one entry per key per table: an expunged one
                    // ends the search of this table.
                    return (v != expunged()).then_some((e, v));
                }
            }
        }
        i = (i + 1) & mask;
    }
    None
}

/// What a search without the partition mutex saw: the layer set it searched
/// and the length of that set's active overlay, loaded (Acquire) before the
/// search.
///
/// If, under the mutex, the layer set is the same and its active overlay has
/// the same length, no entry was created since the search (entries are
/// created only under the mutex, in the active overlay, and a merge or seal
/// that moves them publishes a new layer set; the layer set cannot be freed
/// and its address reused while we are pinned), so a key the search did not
/// find (or found expunged, which is final) still has no live entry, and the
/// insert skips searching again. The length pairs with the Release store of
/// `Table::publish_slot`: a search that loaded a length counting some slot
/// sees that slot; a slot published after the load changes the length seen
/// under the mutex (which orders us after its writer).
struct Searched<'g, K, V> {
    layers: &'g Layers<K, V>,
    active_len: usize,
}

/// One overlay hit in this many (per thread) is counted.
const OVERLAY_HIT_SAMPLE: u32 = 8;

/// The map engine: partitions chosen by hash bits.
pub(crate) struct RawMap<K, V> {
    /// Length is a power of two.
    partitions: Box<[CachePadded<Partition<K, V>>]>,
    mask: usize,
    policy: Policy,
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
        Some(RawMap {
            partitions: overlays
                .into_iter()
                .map(|t| CachePadded::new(Partition::new(t, presized)))
                .collect(),
            mask: partitions - 1,
            policy,
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
        let part = self.partition(hash);
        let (entry, v, in_overlay) = find_in_layer(part.layers(guard), hash, key)?;
        // Only for a live value (see `overlay_hit`): the caller may CAS on
        // what it loaded.
        if in_overlay && !v.is_null() {
            self.overlay_hit(guard, part);
        }
        Some((
            EntryRef {
                entry,
                part,
                map: self,
            },
            Loaded {
                ptr: v,
                _guard: PhantomData,
            },
        ))
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

    /// Read-assisted promotion. A lookup that found its key in an overlay
    /// rather than in the snapshot costs more (more tables probed, overlay
    /// entries scattered), and merges otherwise progress only when new keys
    /// are inserted: a map filled once and then only read would keep up to
    /// a fifth of its keys in overlays for good. So lookups count overlay
    /// hits (one in [`OVERLAY_HIT_SAMPLE`] per thread, so that readers
    /// rarely write the shared counter), and once the count reaches
    /// the active overlay's size the lookup *tries* the partition mutex,
    /// never waits for it: with it, it seals the active overlay (starting a
    /// merge) or does one bounded step of the running merge, exactly the
    /// work an insert of a new key would do. Lookups stay lock-free; a
    /// lookup that assists pays at most one merge step.
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
    fn overlay_hit(&self, guard: &Guard, part: &Partition<K, V>) {
        #[cfg(not(loom))]
        thread_local! {
            static OVERLAY_HITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        // Loom runs its threads on one OS thread, and keeps `std` thread-locals
        // from one execution to the next (the model must be deterministic).
        #[cfg(loom)]
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
        let hits = part.overlay_hits.fetch_add(1, Ordering::Relaxed) + 1;
        self.assist_merge(guard, part, hits);
    }

    /// A merge in progress: one step of it. None: seal the active overlay
    /// once it has been read about as often as it has entries (as Go's
    /// `sync.Map` promotes its dirty map after as many misses as it has
    /// entries, but without copying anything on the read path).
    #[inline(never)]
    fn assist_merge(&self, guard: &Guard, part: &Partition<K, V>, hits: usize) {
        let mut w = match part.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if let Some(m) = &w.merge {
            let budget = m.budget;
            self.merge_step(guard, part, &mut w, budget);
        } else {
            // SAFETY: the current layer set, stable under the mutex (only
            // holders of the mutex publish); its tables live as long.
            let active = unsafe { &*part.layers(guard).active };
            let len = active.len();
            if !w.presized && len > 0 && hits.saturating_mul(OVERLAY_HIT_SAMPLE as usize) >= len {
                self.seal(guard, part, &mut w);
                part.overlay_hits.store(0, Ordering::Relaxed);
            }
        }
        part.unlock_and_flush(guard, w);
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
    /// CAS (see [`RawMap::overlay_hit`] for why that matters): expunging the
    /// tombstone this removal made cannot fail an operation in progress.
    #[inline]
    fn after_removal(&self, guard: &Guard, part: &Partition<K, V>, live: isize) {
        if self.mostly_dead(part.layers(guard), live) {
            self.assist_removals(guard, part);
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

    /// The merge work of a removal (see [`RawMap::after_removal`]): seals
    /// the active overlay if no merge runs (and the partition is still
    /// mostly tombstones under the mutex), then one step of the merge.
    #[inline(never)]
    fn assist_removals(&self, guard: &Guard, part: &Partition<K, V>) {
        let mut w = match part.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        if w.merge.is_none()
            && self.mostly_dead(part.layers(guard), part.len.load(Ordering::Relaxed))
        {
            self.seal(guard, part, &mut w);
        }
        if let Some(m) = &w.merge {
            let budget = m.removal_budget;
            self.merge_step(guard, part, &mut w, budget);
        }
        part.unlock_and_flush(guard, w);
    }

    /// Stores `value` for `key` (or, `only_if_absent`, keeps a present value).
    /// Lock-free when the key has an entry; otherwise takes the partition
    /// mutex to add one. Also returns the key if it was not stored: the
    /// caller drops it (and an unused value) after the mutex is released, so
    /// no user `Drop` runs under it.
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
        let mut value = value;
        let part = self.partition(hash);
        let layers = part.layers(guard);
        // What the search below saw, so that the insert under the mutex can
        // skip searching again when nothing changed (see `Searched`).
        let searched = Searched {
            layers,
            // SAFETY: tables of a live layer set (invariant 1).
            active_len: unsafe { &*layers.active }.len_acquire(),
        };
        if let Some((entry, v, in_overlay)) = find_in_layer(layers, hash, &key) {
            if in_overlay && !v.is_null() {
                self.overlay_hit(guard, part);
            }
            let e = EntryRef {
                entry,
                part,
                map: self,
            };
            let cur = Loaded {
                ptr: v,
                _guard: PhantomData,
            };
            match Self::store(guard, e, cur, value, only_if_absent) {
                Ok(done) => return (done, Some(key)),
                // Expunged: add a fresh entry.
                Err(v) => value = v,
            }
        }
        // The key and value wait in `pending` while the mutex is held, and
        // `pending` is declared before the guard: if the user's `Eq` panics
        // in the search under the mutex, unwinding drops the guard (releasing
        // the mutex) before it drops the key and value. So their `Drop`,
        // which may call the map again, never runs under the mutex.
        let mut pending = Some((key, value));
        let mut w = part.lock();
        let out = self.insert_under_lock(
            guard,
            part,
            &mut w,
            hash,
            &mut pending,
            only_if_absent,
            Some(searched),
        );
        debug_assert!(pending.is_none(), "the insert took the key and value");
        part.unlock_and_flush(guard, w);
        out
    }

    /// CAS loop on an entry. Err: the entry got expunged.
    fn store<'g>(
        guard: &'g Guard,
        e: EntryRef<'g, K, V>,
        mut cur: Loaded<'g, V>,
        value: NewValue<V>,
        only_if_absent: bool,
    ) -> Result<Inserted<'g, V>, NewValue<V>> {
        let mut value = value;
        loop {
            if cur.is_expunged() {
                return Err(value);
            }
            if only_if_absent {
                if let Some(existing) = cur.value() {
                    return Ok(Inserted::Existing(existing, value));
                }
            }
            match e.replace(guard, cur, Some(value.boxed())) {
                Ok((Some(old), Some(_))) => return Ok(Inserted::Replaced(old)),
                Ok((None, Some(new))) => return Ok(Inserted::New(new)),
                Ok((_, None)) => unreachable!("we stored a value"),
                Err(v) => {
                    value = NewValue::Boxed(v.expect("we passed a value"));
                    cur = e.load();
                }
            }
        }
    }

    /// The insert of a key that a search without the mutex did not find (or
    /// found expunged), with the partition mutex held. `searched`: what that
    /// search saw, if there was one.
    ///
    /// `pending` holds the key and value, and is `Some` on entry; they are
    /// taken out of it only where no user code runs until this returns (to
    /// be stored, or handed back in the result). The caller owns `pending`
    /// and declares it before the mutex guard, so that a panic of the user's
    /// `Eq` in the search here unwinds through the guard first and drops the
    /// key and value after the mutex is released.
    #[allow(clippy::too_many_arguments)]
    fn insert_under_lock<'g>(
        &'g self,
        guard: &'g Guard,
        part: &'g Partition<K, V>,
        w: &mut Writer<K, V>,
        hash: u64,
        pending: &mut Option<(K, NewValue<V>)>,
        only_if_absent: bool,
        searched: Option<Searched<'g, K, V>>,
    ) -> (Inserted<'g, V>, Option<K>)
    where
        K: Eq,
    {
        // Our share of the pending merge (bounded work).
        if let Some(m) = &w.merge {
            let budget = m.budget;
            self.merge_step(guard, part, w, budget);
        }
        let mut searched = searched;
        loop {
            let layers = part.layers(guard);
            let unchanged = searched.take().is_some_and(|s| {
                ptr::eq(s.layers, layers)
                    // SAFETY: tables of the current layer set (invariant 1).
                    && unsafe { &*layers.active }.len_acquire() == s.active_len
            });
            let found = if unchanged {
                None
            } else {
                let (key, _) = pending.as_ref().expect("the key is pending");
                // User code (`Eq`) under the mutex: the key and value stay
                // in `pending` (see above).
                find_in(layers, hash, key)
            };
            if let Some((entry, v)) = found {
                let e = EntryRef {
                    entry,
                    part,
                    map: self,
                };
                let cur = Loaded {
                    ptr: v,
                    _guard: PhantomData,
                };
                let (key, value) = pending.take().expect("the key is pending");
                // Under the mutex no merge runs, so `e` cannot be expunged
                // (only merges expunge): `store` cannot fail. It runs no user
                // code.
                match Self::store(guard, e, cur, value, only_if_absent) {
                    Ok(done) => return (done, Some(key)),
                    Err(value) => {
                        *pending = Some((key, value));
                        debug_assert!(false, "entry expunged while the partition is locked");
                        continue;
                    }
                }
            }
            // SAFETY: tables of the current layer set are live (invariant 1).
            let active = unsafe { &*layers.active };
            if active.is_full() {
                if w.merge.is_some() {
                    self.merge_step(guard, part, w, usize::MAX);
                } else {
                    self.seal(guard, part, w);
                }
                continue;
            }
            let (key, value) = pending.take().expect("the key is pending");
            let (entry, value) = new_entry(key, hash, value);
            // Invariant 2: no non-expunged entry for the key in the current
            // layer set (searched above under the mutex).
            active.publish_slot(hash, entry);
            part.add_len(1);
            if active.is_full() && w.merge.is_none() {
                self.seal(guard, part, w);
            }
            // The value is published and lives for 'g like any value loaded
            // under the guard.
            let new = Loaded::<'g, V> {
                ptr: value,
                _guard: PhantomData,
            };
            return (Inserted::New(new.value().expect("a stored value")), None);
        }
    }

    /// Seals the active overlay and starts a merge (and runs its first step).
    /// Caller holds the partition mutex (`w`), and no merge is pending.
    fn seal(&self, guard: &Guard, part: &Partition<K, V>, w: &mut Writer<K, V>) {
        debug_assert!(w.merge.is_none());
        w.presized = false;
        let old = part.layers.load(Ordering::Acquire);
        // SAFETY: the current layer set; we hold the mutex, so it is not
        // replaced (only holders of the mutex publish).
        let layers = unsafe { &*old };
        debug_assert!(layers.sealed.is_null());
        // SAFETY: tables of the current layer set.
        let (snap, active) = unsafe { (&*layers.snapshot, &*layers.active) };
        let next_len = snap.len() + active.len();
        // The overlays are sized from the live keys (tombstones are about to
        // be expunged), the next snapshot from every entry (a tombstone may
        // be revived before the merge reaches it). The live count may be
        // briefly off while writers race: it only sizes.
        let live = (part.len.load(Ordering::Relaxed).max(0) as usize).min(next_len);
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
        // freed: the overlay would hold its memory for good.
        let fresh = match w.spare.take() {
            Some(t) if t.capacity() >= cap - cap / 4 && t.capacity() / 4 <= cap => t,
            _ => Box::new(Table::with_capacity(cap)),
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
            #[cfg(loom)]
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
        part.layers.store(next, Ordering::Release);
        // SAFETY: `old` was just replaced; its tables live on in `next`, so
        // only the `Layers` box is retired, once.
        unsafe {
            retire_box(
                guard,
                &part.garbage,
                old,
                std::mem::size_of::<Layers<K, V>>(),
            )
        };
        let budget = w.merge.as_ref().map_or(0, |m| m.budget);
        self.merge_step(guard, part, w, budget);
    }

    /// Processes up to `budget` slots of the pending merge, and publishes the
    /// next snapshot when done. Caller holds the partition mutex.
    fn merge_step(
        &self,
        guard: &Guard,
        part: &Partition<K, V>,
        w: &mut Writer<K, V>,
        budget: usize,
    ) {
        let Some(m) = w.merge.as_mut() else { return };
        let old = part.layers.load(Ordering::Acquire);
        // SAFETY: current layer set, stable under the mutex.
        let layers = unsafe { &*old };
        debug_assert!(!layers.sealed.is_null(), "a merge needs a sealed overlay");
        // SAFETY: tables of the current layer set.
        let (snap, sealed) = unsafe { (&*layers.snapshot, &*layers.sealed) };
        debug_assert_eq!(m.total, snap.slot_count() + sealed.slot_count());
        let mut work = budget;
        // Phase 1: zero the next snapshot's array, a chunk at a time.
        if let Some(z) = m.zeroing.as_mut() {
            let did = z.step(work.saturating_mul(ZERO_PER_UNIT));
            work = work.saturating_sub(did.div_ceil(ZERO_PER_UNIT));
            if z.remaining() == 0 {
                let z = m.zeroing.take().expect("just used");
                m.target = Some(Box::new(z.finish()));
            }
        }
        let Some(target) = m.target.as_deref() else {
            return;
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
        for i in m.cursor..end {
            // Each live entry's value is read below: overlap those misses.
            if i + PREFETCH_SLOTS < end {
                prefetch(slot(i + PREFETCH_SLOTS));
            }
            let p = slot(i);
            if p.is_null() {
                continue;
            }
            // SAFETY: an entry of the current layer set (invariant 1).
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
            m.spare.step(work.saturating_mul(ZERO_PER_UNIT));
        }
        if !m.is_done() {
            return;
        }
        let m = w.merge.take().expect("checked above");
        w.spare = Some(Box::new(m.spare.finish()));
        let next = Box::into_raw(Box::new(Layers {
            snapshot: Box::into_raw(m.target.expect("a finished merge has its target")),
            sealed: ptr::null_mut(),
            active: layers.active,
            #[cfg(loom)]
            witness: super::sync::UnsafeCell::new(()),
        }));
        // Release: pairs with readers' Acquire load; publishes the snapshot
        // slots written above.
        part.layers.store(next, Ordering::Release);
        part.merges.fetch_add(1, Ordering::Relaxed);
        let (snap_ptr, sealed_ptr) = (layers.snapshot, layers.sealed);
        // SAFETY: (all three) `next` replaced `old`; the old snapshot and
        // sealed overlay arrays are reachable only from `old`, the expunged
        // entries only from those arrays. Each is retired once, here. K, V:
        // Send + 'static.
        unsafe {
            retire_box(
                guard,
                &part.garbage,
                old,
                std::mem::size_of::<Layers<K, V>>(),
            );
            retire_box(guard, &part.garbage, snap_ptr, snap.bytes());
            retire_box(guard, &part.garbage, sealed_ptr, sealed.bytes());
        }
        if !m.expunged.is_empty() {
            let dead = m.expunged;
            let bytes = dead.len() * entry_bytes::<K, V>();
            let destroy = move || {
                for e in dead {
                    // SAFETY: unlinked (see below), epoch passed, freed once.
                    drop(unsafe { take_entry(e) })
                }
            };
            // SAFETY: as above; each expunged entry is in exactly one of the
            // retired tables (invariant 2) and is freed once by `destroy`.
            unsafe { reclaim::retire(guard, &part.garbage, bytes, destroy) };
        }
        // Flushed by the caller once the mutex is released (see the field).
        w.flush_pending = true;
    }

    /// Finishes any pending merge, then seals the active overlay and merges
    /// it in one go, for every partition.
    pub(crate) fn compact(&self, guard: &Guard) {
        for part in self.partitions.iter() {
            let mut w = part.lock();
            if w.merge.is_some() {
                self.merge_step(guard, part, &mut w, usize::MAX);
            }
            self.seal(guard, part, &mut w);
            self.merge_step(guard, part, &mut w, usize::MAX);
            debug_assert!(w.merge.is_none());
            part.unlock_and_flush(guard, w);
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
                }
                s.merging = !layers.sealed.is_null();
                s.merges = p.merges.load(Ordering::Relaxed);
                s.garbage_objects = Garbage::objects(&p.garbage);
                s.garbage_bytes = Garbage::bytes(&p.garbage, std::mem::size_of::<V>());
                s
            })
            .collect()
    }

    /// Iterates over the entries of every partition; each partition's layer
    /// set is loaded when the iteration reaches it.
    pub(crate) fn iter<'g>(&'g self, guard: &'g Guard) -> RawIter<'g, K, V> {
        RawIter {
            map: self,
            guard,
            part: 0,
            layers: None,
            table: 0,
            slot: 0,
        }
    }

    /// How to split partition `p` into chunks for [`RawMap::visit_chunk`],
    /// from its current tables: about [`CHUNK_ENTRIES`] entries each.
    pub(crate) fn chunk_plan(&self, guard: &Guard, p: usize) -> ChunkPlan {
        let layers = self.partitions[p].layers(guard);
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

    /// Calls `f` on every live entry of partition `p` whose hash falls in
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
    pub(crate) fn visit_chunk<'g, F>(
        &'g self,
        guard: &'g Guard,
        p: usize,
        plan: ChunkPlan,
        c: usize,
        mut f: F,
    ) where
        F: FnMut(EntryRef<'g, K, V>, Loaded<'g, V>),
    {
        debug_assert!(c < plan.chunks);
        let part = &self.partitions[p];
        let layers = part.layers(guard);
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
                        part,
                        map: self,
                    },
                    v,
                )
            });
        }
    }

    /// Takes every live entry out of the map, leaving it empty.
    pub(crate) fn drain_all(&mut self) -> Vec<(K, V)> {
        let mut out = Vec::with_capacity(self.len());
        let policy = self.policy;
        for part in self.partitions.iter_mut() {
            // SAFETY: `&mut self`: no guard of this map is alive and no other
            // thread can reach the partition.
            unsafe { part.free_into(Some(&mut out)) };
            **part = Partition::new(Box::new(Table::with_capacity(policy.min_overlay)), false);
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

impl<K, V> Partition<K, V> {
    /// Frees everything this partition owns and leaves it without a layer
    /// set (it must not be used again, except to be replaced or dropped);
    /// live entries go to `out` (or are dropped). Idempotent.
    ///
    /// # Safety
    /// No other thread can reach the partition, nor any guard hold pointers
    /// into it.
    unsafe fn free_into(&mut self, mut out: Option<&mut Vec<(K, V)>>) {
        #[cfg(not(loom))]
        let layers = std::mem::replace(self.layers.get_mut(), ptr::null_mut());
        #[cfg(loom)]
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

/// Entries per chunk of a chunked traversal (about): the traversal's guard
/// is re-pinned between chunks, so it holds back garbage for the time of one
/// chunk, not of a partition. 1024 entries take about 10-30 µs.
const CHUNK_ENTRIES: usize = if cfg!(loom) { 1 } else { 1024 };

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
fn visit_chunk_of_table<'g, K, V, F>(table: &'g Table<K, V>, plan: ChunkPlan, c: usize, mut f: F)
where
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
fn live_at<'g, K, V>(table: &'g Table<K, V>, i: usize) -> Option<(&'g Entry<K, V>, Loaded<'g, V>)> {
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

/// How many slots ahead of itself an iteration prefetches entries.
const PREFETCH_SLOTS: usize = 64;

/// Hints the CPU to fetch the cache line at `p` (null or not, live or not: a
/// prefetch never faults and reads nothing the program sees).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it does
    // not dereference `p` in the language's sense (no fault, no read).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

/// Iterator over the live entries of a map under a guard.
pub(crate) struct RawIter<'g, K, V> {
    map: &'g RawMap<K, V>,
    guard: &'g Guard,
    part: usize,
    layers: Option<&'g Layers<K, V>>,
    table: usize,
    slot: usize,
}

impl<'g, K: Send + 'static, V: Send + 'static> Iterator for RawIter<'g, K, V> {
    /// A live entry and its value as loaded (present).
    type Item = (EntryRef<'g, K, V>, Loaded<'g, V>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let layers = match self.layers {
                Some(l) => l,
                None => {
                    if self.part >= self.map.partitions.len() {
                        return None;
                    }
                    let part = &self.map.partitions[self.part];
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
                    let part = &self.map.partitions[self.part];
                    let map = self.map;
                    return Some((
                        EntryRef {
                            entry: e,
                            part,
                            map,
                        },
                        v,
                    ));
                }
            }
            self.table += 1;
            self.slot = 0;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

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
