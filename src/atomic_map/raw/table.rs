//! The open-addressing table shared by snapshots and overlays, its probe,
//! the index math, and the arrays it is made of (zeroed up front, or a
//! chunk at a time while a merge runs).
//!
//! A table is an array of slots (`AtomicPtr<Entry>`, 8 bytes: the entry
//! holds its key's hash) beside a dense array of tag bytes, with a
//! power-of-two length,
//! probed linearly from `hash & mask`. Slots go from null to an entry exactly
//! once and are never cleared, and a table is never filled beyond 7/8 of its
//! slots ([`MAX_LOAD`]), so every probe sequence meets a free slot and stops. A *snapshot*
//! is a table that is completely written before it is published and never
//! written again; an *overlay* is a table whose slots are written one at a
//! time while readers probe it without a lock: each insert reserves a slot
//! ([`Table::try_reserve`]), claims a free one with a CAS of its tag
//! ([`Table::claim`]), and stores its entry; sealing the overlay refuses
//! further reservations and waits for those taken ([`Table::seal_and_wait`]).

use std::borrow::Borrow;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

#[cfg(epochmap_loom)]
use super::alloc::array_layout;
use super::alloc::uninit_array;
use super::entry::{expunged, Entry};
use super::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Smallest table: 8 slots (7 entries).
pub(super) const MIN_SLOTS: usize = 8;

/// Highest load factor of a table, as `(numerator, denominator)`: 7/8.
///
/// A hit reads the tag array, one slot and its entry; the fewer slots per
/// entry, the more of a partition's tags and slots stay in cache (a
/// snapshot of 12.5k entries takes 16k slots at 7/8, 32k at 1/2; C8's
/// memory per entry fell from 65 to 48.5 bytes). The price is longer
/// probes: linear probing at load `a` scans about `(1 + 1/(1-a)^2) / 2`
/// tags for a miss, 33 at 7/8. A table sized by [`slots_for`] is that full
/// only just before it grows (power-of-two sizes keep its load between 7/16
/// and 7/8), but misses do pay for a full table: presized overlays loaded
/// to 0.76 cost a miss-heavy benchmark a quarter of its throughput
/// (BENCHMARKS.md, session 9), which is why presizing keeps a wide margin.
pub(super) const MAX_LOAD: (usize, usize) = (7, 8);

/// Largest number of slots a table may have (2^48, far beyond any memory);
/// it bounds the slot math.
pub(super) const MAX_SLOTS: usize = 1 << 48;

/// Number of slots for a table that must hold `entries` entries at a load
/// factor of at most [`MAX_LOAD`]: the least power of two `n` with
/// `capacity(n) >= entries`.
pub(super) fn slots_for(entries: usize) -> usize {
    // At least entries * den/num: every multiple n of `den` (powers of two
    // from MIN_SLOTS on are) that large has n / den * num >= entries.
    let (num, den) = MAX_LOAD;
    entries
        .saturating_add(entries.div_ceil(num).saturating_mul(den - num))
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
pub(super) struct Slot<K, V> {
    entry: AtomicPtr<Entry<K, V>>,
}

impl<K, V> Slot<K, V> {
    /// A free slot: null entry.
    pub(super) fn free() -> Self {
        Slot {
            entry: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

/// The tag of a free slot.
pub(super) const FREE: u8 = 0;

/// The tag of a slot holding an entry of hash `hash`: the high bit set, and
/// 7 bits of the hash that neither the slot index (low bits) nor the
/// partition index (top 16 bits) uses.
#[inline]
pub(super) fn tag_of(hash: u64) -> u8 {
    0x80 | ((hash >> 40) & 0x7f) as u8
}

/// An open-addressing table of entry pointers.
pub(super) struct Table<K, V> {
    /// One byte per slot, [`FREE`] or the [`tag_of`] the slot's hash: a
    /// probe scans this dense array (1 byte per slot, so it mostly stays in
    /// cache) and reads a slot only when its tag matches, so a lookup that
    /// misses usually touches no slot and no entry at all. Invariant: a tag
    /// goes from `FREE` to `tag_of(hash)` once, where `hash` is the hash of
    /// the entry the slot then receives (once): claimed by a CAS before the
    /// entry pointer is stored ([`Table::claim`]), or stored after it in a
    /// table no other thread sees ([`Table::publish_slot`]). A non-free tag
    /// with a null slot is an insert in flight. A free tag means a null slot.
    tags: Box<[AtomicU8]>,
    /// Invariants: `slots.len()` is a power of two >= [`MIN_SLOTS`]; a slot's
    /// entry goes from null to non-null at most once; at most `capacity()`
    /// slots are non-null (reservations, see `len`); within one table at
    /// most one entry per key (see [`Table::claim`]).
    slots: Box<[Slot<K, V>]>,
    /// Entries stored (slots whose entry pointer is written), counted after
    /// the slot's Release store with a Release increment; see
    /// [`Table::len_acquire`]. In its own cache line with `reserved`: an
    /// overlay insert writes both, readers never read them on the lookup
    /// path, and they must not invalidate the line holding `slots` (which
    /// every lookup reads).
    len: CachePadded<LenAndReserved>,
}

/// The two counters of a table that inserts write.
pub(super) struct LenAndReserved {
    len: AtomicUsize,
    /// Slots reserved by inserts ([`Table::try_reserve`]): those stored
    /// (`len`) plus those of inserts in flight; at most
    /// [`Table::capacity`]. The [`SEALED`] bit, once set, refuses new
    /// reservations for good. Invariant: `len <= reserved & !SEALED`, equal
    /// when no insert is in flight.
    reserved: AtomicUsize,
}

/// The bit of [`LenAndReserved::reserved`] that seals an overlay.
pub(super) const SEALED: usize = 1 << (usize::BITS - 1);

impl LenAndReserved {
    fn new() -> Self {
        LenAndReserved {
            len: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
        }
    }
}

/// Why [`Table::claim`] stopped without storing its entry: the probe met
/// slot `at` (an offset in the probe sequence), whose tag equals the new
/// entry's and whose entry is not stored yet (`None`, an insert in flight)
/// or has the same full hash (`Some`): the same key, perhaps.
pub(super) struct Met<K, V> {
    pub(super) at: usize,
    pub(super) entry: Option<*mut Entry<K, V>>,
}

impl<K, V> Table<K, V> {
    /// An empty table with room for `entries` entries.
    pub(super) fn with_capacity(entries: usize) -> Self {
        let n = slots_for(entries);
        Table {
            tags: free_tags(n),
            slots: null_slots(n),
            len: CachePadded::new(LenAndReserved::new()),
        }
    }

    /// [`Table::with_capacity`], or `None` if the allocator refuses the
    /// arrays.
    pub(super) fn try_with_capacity(entries: usize) -> Option<Self> {
        let n = slots_for(entries);
        Some(Table {
            tags: try_free_tags(n).ok()?,
            slots: try_null_slots(n).ok()?,
            len: CachePadded::new(LenAndReserved::new()),
        })
    }

    /// A table over free tags and slots of the same length, a power of two
    /// (>= [`MIN_SLOTS`]).
    pub(super) fn from_parts(tags: Box<[AtomicU8]>, slots: Box<[Slot<K, V>]>) -> Self {
        assert!(tags.len() == slots.len(), "one tag per slot");
        debug_assert!(slots.len().is_power_of_two() && slots.len() >= MIN_SLOTS);
        debug_assert!(tags.iter().all(|t| t.load(Ordering::Relaxed) == FREE));
        Table {
            tags,
            slots,
            len: CachePadded::new(LenAndReserved::new()),
        }
    }

    /// Entries this table can take before it is full ([`MAX_LOAD`] of its
    /// slots).
    #[inline]
    pub(super) fn capacity(&self) -> usize {
        self.slots.len() / MAX_LOAD.1 * MAX_LOAD.0
    }

    #[inline]
    pub(super) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Entries stored (a statistic while inserts run: Relaxed).
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len.len.load(Ordering::Relaxed)
    }

    /// [`Table::len`] with Acquire: pairs with the Release increments of
    /// [`Table::claim`] and [`Table::publish_slot`], each made after its
    /// slot's Release store, so every slot counted is visible after it (see
    /// [`Table::seal_and_wait`]).
    #[inline]
    pub(super) fn len_acquire(&self) -> usize {
        self.len.len.load(Ordering::Acquire)
    }

    /// Whether every slot the table may fill is reserved (stored or in
    /// flight): an insert must seal it rather than reserve.
    #[inline]
    pub(super) fn is_full(&self) -> bool {
        self.len.reserved.load(Ordering::Relaxed) & !SEALED >= self.capacity()
    }

    /// Reserves a slot for one insert, unless the table is full or sealed.
    /// Every successful reservation ends in [`Table::claim`] storing its
    /// entry, or in [`Table::unreserve`]. Relaxed: a count; the reservations
    /// that [`Table::seal_and_wait`] waits for are those before its `SEALED`
    /// bit in this atomic's modification order, which it reads (coherence).
    #[inline]
    pub(super) fn try_reserve(&self) -> bool {
        let cap = self.capacity();
        let mut r = self.len.reserved.load(Ordering::Relaxed);
        loop {
            if r & SEALED != 0 || r >= cap {
                return false;
            }
            match self.len.reserved.compare_exchange_weak(
                r,
                r + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => r = now,
            }
        }
    }

    /// Gives back a reservation whose entry was not stored. Relaxed: a count.
    #[inline]
    pub(super) fn unreserve(&self) {
        self.len.reserved.fetch_sub(1, Ordering::Relaxed);
    }

    /// Refuses new reservations for good, then waits until every insert that
    /// reserved before has stored its entry (or given its reservation back).
    /// Afterwards no slot of the table is written again, and every stored
    /// slot is visible to this thread: the Acquire load of `len` that sees
    /// the count reach the reservations pairs with each insert's Release
    /// increment (made after its slot's Release store; a chain of
    /// read-modify-writes, so one load that reads the last of them
    /// synchronises with all). The caller publishes a layer set without the
    /// table as its active overlay after this (with Release), so a thread
    /// that loads that set sees every entry stored here. The wait is short:
    /// between its reservation and its count an insert runs no user code and
    /// takes no lock.
    pub(super) fn seal_and_wait(&self) {
        self.len.reserved.fetch_or(SEALED, Ordering::Relaxed);
        loop {
            // Reservations before SEALED: coherence orders this load after
            // our fetch_or, so it counts them all (minus those given back).
            let reserved = self.len.reserved.load(Ordering::Relaxed) & !SEALED;
            if self.len_acquire() == reserved {
                return;
            }
            super::sync::spin_wait();
        }
    }

    /// Bytes of the slot array (for the garbage statistics).
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.len() * (std::mem::size_of::<Slot<K, V>>() + 1)
    }

    /// The probe sequence for `hash`: every slot index once, starting at
    /// `hash & mask`.
    #[cfg(test)]
    pub(super) fn probe(&self, hash: u64) -> impl Iterator<Item = usize> {
        let mask = self.slots.len() - 1;
        let start = hash as usize & mask;
        (0..self.slots.len()).map(move |i| (start + i) & mask)
    }

    /// Loads the tag of slot `i`. Acquire: pairs with the Release store of
    /// the tag in [`Table::publish_slot`] (tables no other thread writes);
    /// a tag claimed by [`Table::claim`] orders nothing, the slot's entry
    /// pointer does (it may still be null: the slot is then skipped).
    #[inline]
    pub(super) fn tag(&self, i: usize) -> u8 {
        self.tags[i].load(Ordering::Acquire)
    }

    /// The address of slot `hash & mask`, the first of `hash`'s probe
    /// sequence (for a prefetch: it is not read through).
    #[inline]
    pub(super) fn home_slot(&self, hash: u64) -> *const Slot<K, V> {
        &self.slots[hash as usize & (self.slots.len() - 1)]
    }

    /// The address of the tag of slot `hash & mask` (for a prefetch: it is
    /// not read through).
    #[inline]
    pub(super) fn home_tag(&self, hash: u64) -> *const AtomicU8 {
        &self.tags[hash as usize & (self.tags.len() - 1)]
    }

    /// Loads slot `i`: its entry pointer (null if free). Acquire: pairs with
    /// the Release store in [`Table::publish_slot`], so the entry behind a
    /// non-null pointer is fully initialised for the reader.
    #[inline]
    pub(super) fn load(&self, i: usize) -> *mut Entry<K, V> {
        self.slots[i].entry.load(Ordering::Acquire)
    }

    /// Writes `entry` into the first free slot of `hash`'s probe sequence of
    /// a table that no other thread writes: the next snapshot a merge
    /// builds, before it is published (the layer set's Release store
    /// publishes it), or a table of a unit test. `hash` must be the entry's
    /// hash.
    #[inline]
    pub(super) fn publish_slot(&self, hash: u64, entry: *mut Entry<K, V>) {
        debug_assert!(!entry.is_null());
        // Single writer: plain loads and stores of the counters (Relaxed).
        let n = self.len.reserved.load(Ordering::Relaxed);
        assert!(n < self.capacity(), "table filled beyond its capacity");
        self.len.reserved.store(n + 1, Ordering::Relaxed);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        // At most 7/8 full: a free slot comes within the slot count.
        for _ in 0..=mask {
            if self.tags[i].load(Ordering::Relaxed) == FREE {
                self.slots[i].entry.store(entry, Ordering::Release);
                self.tags[i].store(tag_of(hash), Ordering::Release);
                self.len.len.store(n + 1, Ordering::Release);
                return;
            }
            i = (i + 1) & mask;
        }
        unreachable!("a table at most 7/8 full always has a free slot");
    }

    /// Stores `entry` (of hash `hash`, not yet reachable by anyone else) in
    /// the first free slot of `hash`'s probe sequence from offset `from` on,
    /// lock-free, racing other inserts into the table; the caller holds a
    /// reservation ([`Table::try_reserve`]), which this uses up on success.
    ///
    /// A slot is claimed by a CAS of its tag from [`FREE`] to `tag_of(hash)`,
    /// then its entry pointer is stored (Release: pairs with the Acquire
    /// load of [`Table::load`]; a reader that sees a claimed tag and a null
    /// slot skips it, the insert has not happened for it yet), then the
    /// entry is counted (Release, see [`Table::len_acquire`]). Before
    /// claiming, every occupied slot on the way whose tag equals `hash`'s
    /// is checked: if its entry is not stored yet, or has the same full
    /// hash, the walk stops there (`Err`, nothing claimed), since it may be
    /// the same key. So two inserts of one key cannot both store an entry
    /// in the table: they walk the same probe sequence, and the one that
    /// claims second meets the other's slot first (slots are claimed once,
    /// and never freed). Slots before `from` must have been walked before
    /// (their entries are not of this key); runs no user code.
    pub(super) fn claim(
        &self,
        hash: u64,
        entry: *mut Entry<K, V>,
        from: usize,
    ) -> Result<(), Met<K, V>> {
        let tag = tag_of(hash);
        let mask = self.slots.len() - 1;
        let home = hash as usize & mask;
        for at in from..self.slots.len() {
            let i = (home + at) & mask;
            let mut t = self.tag(i);
            if t == FREE {
                // Relaxed: the claim publishes nothing (the entry pointer,
                // stored below with Release, does); on failure the winner's
                // tag is examined below like any occupied slot's.
                match self.tags[i].compare_exchange(FREE, tag, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.slots[i].entry.store(entry, Ordering::Release);
                        self.len.len.fetch_add(1, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => t = now,
                }
            }
            if t == tag {
                let p = self.load(i);
                let same_hash = !p.is_null() && {
                    // SAFETY: a stored entry of a live table (invariant 1);
                    // Acquire slot load. Its hash is immutable.
                    unsafe { (*p).hash == hash }
                };
                if p.is_null() || same_hash {
                    return Err(Met {
                        at,
                        entry: (!p.is_null()).then_some(p),
                    });
                }
            }
        }
        unreachable!("a table at most 7/8 full always has a free slot");
    }

    /// Waits until slot `at` of `hash`'s probe sequence, claimed, has its
    /// entry stored (by an insert that runs no user code and takes no lock
    /// in between); returns it.
    pub(super) fn wait_for_slot(&self, hash: u64, at: usize) -> *mut Entry<K, V> {
        let i = (hash as usize + at) & (self.slots.len() - 1);
        loop {
            let p = self.load(i);
            if !p.is_null() {
                return p;
            }
            super::sync::spin_wait();
        }
    }

    /// All non-null entry pointers (for drop). Scans the tags, and stops
    /// after the `len` entries: a presized table that holds few entries, or
    /// none, is not read through.
    pub(super) fn entries(&self) -> impl Iterator<Item = *mut Entry<K, V>> + '_ {
        (0..self.slots.len())
            .filter(|&i| self.tag(i) != FREE)
            .map(|i| self.load(i))
            .filter(|p| !p.is_null())
            .take(self.len())
    }
}

/// `n` free slots (null entry), from zeroed memory (see
/// [`try_zeroed_array`](super::alloc::try_zeroed_array)), so sealing an
/// overlay and starting a merge does not pay an `O(n)` memset on the write
/// path. Aborts (`handle_alloc_error`) if the allocator refuses.
pub(super) fn null_slots<K, V>(n: usize) -> Box<[Slot<K, V>]> {
    try_null_slots(n).unwrap_or_else(|layout| std::alloc::handle_alloc_error(layout))
}

/// `n` free tags (zero), like [`null_slots`].
pub(super) fn free_tags(n: usize) -> Box<[AtomicU8]> {
    try_free_tags(n).unwrap_or_else(|layout| std::alloc::handle_alloc_error(layout))
}

/// [`null_slots`], or the layout the allocator refused.
#[cfg(not(epochmap_loom))]
pub(super) fn try_null_slots<K, V>(n: usize) -> Result<Box<[Slot<K, V>]>, std::alloc::Layout> {
    // SAFETY: a `Slot` is an `AtomicPtr` (repr(transparent)): all-zero bytes
    // are a valid, null `AtomicPtr`, i.e. a free slot.
    unsafe { super::alloc::try_zeroed_array(n) }
}

/// [`free_tags`], or the layout the allocator refused.
#[cfg(not(epochmap_loom))]
pub(super) fn try_free_tags(n: usize) -> Result<Box<[AtomicU8]>, std::alloc::Layout> {
    // SAFETY: `AtomicU8` has the size, alignment and bit validity of `u8`
    // (documented): all-zero bytes are a valid `AtomicU8` equal to 0,
    // [`FREE`].
    unsafe { super::alloc::try_zeroed_array(n) }
}

/// `n` free slots, one at a time: loom's atomics cannot be zeroed memory.
#[cfg(epochmap_loom)]
pub(super) fn try_null_slots<K, V>(n: usize) -> Result<Box<[Slot<K, V>]>, std::alloc::Layout> {
    let _ = array_layout::<Slot<K, V>>(n);
    Ok((0..n).map(|_| Slot::free()).collect())
}

/// `n` free tags, one at a time: loom's atomics cannot be zeroed memory.
#[cfg(epochmap_loom)]
pub(super) fn try_free_tags(n: usize) -> Result<Box<[AtomicU8]>, std::alloc::Layout> {
    let _ = array_layout::<AtomicU8>(n);
    Ok((0..n).map(|_| AtomicU8::new(FREE)).collect())
}

/// A slot of a [`Zeroing`] array: not yet initialised until zeroed.
type UninitSlot<K, V> = MaybeUninit<Slot<K, V>>;

/// A slot array (and its tag array) zeroed a chunk at a time, so that no
/// insert pays an `O(n)` memset for the next snapshot or overlay (the
/// allocator hands out dirty memory for arrays it recycles). Becomes a
/// [`Table`] once fully zeroed.
///
/// The arrays themselves are allocated on demand, one per call of
/// [`Zeroing::allocate_next`] (or all at once by the first
/// [`Zeroing::step`]): an incremental merge allocates one array per insert
/// rather than all four of a merge (next snapshot and next overlay, slots
/// and tags) in the insert that seals. Measured by timing the parts of a
/// seal (session 10, map of 1M entries, 8 partitions, glibc's allocator):
/// allocating the four arrays took 15-45 µs of the sealing insert, the
/// slowest inserts of the map: time spent in the allocation calls, not
/// in the merge's own work.
pub(super) struct Zeroing<K, V> {
    /// Slots of the table to be.
    n: usize,
    /// Invariant: each array, once allocated, has length `n`;
    /// `slots[..done]` and `tags[..done]` are initialised (free), the rest
    /// are not; `done > 0` only once both are allocated.
    slots: Option<Box<[UninitSlot<K, V>]>>,
    tags: Option<Box<[MaybeUninit<AtomicU8>]>>,
    done: usize,
}

impl<K, V> Zeroing<K, V> {
    /// A table of `n` slots to be: nothing is allocated yet.
    pub(super) fn new(n: usize) -> Self {
        Zeroing {
            n,
            slots: None,
            tags: None,
            done: 0,
        }
    }

    /// Allocates the next array not allocated yet (uninitialised, no
    /// writes); returns whether there was one.
    pub(super) fn allocate_next(&mut self) -> bool {
        if self.slots.is_none() {
            self.slots = Some(uninit_array(self.n));
            true
        } else if self.tags.is_none() {
            self.tags = Some(uninit_array(self.n));
            true
        } else {
            false
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.n - self.done
    }

    /// Zeroes up to `n` more slots (and their tags), allocating the arrays
    /// first if they are not yet; returns how many.
    pub(super) fn step(&mut self, n: usize) -> usize {
        while self.allocate_next() {}
        let (Some(slots), Some(tags)) = (self.slots.as_deref_mut(), self.tags.as_deref_mut())
        else {
            unreachable!("both arrays allocated just above");
        };
        let end = self.done.saturating_add(n).min(self.n);
        for s in &mut slots[self.done..end] {
            s.write(Slot::free());
        }
        for t in &mut tags[self.done..end] {
            t.write(AtomicU8::new(FREE));
        }
        let did = end - self.done;
        self.done = end;
        did
    }

    /// The zeroed table (zeroing what is left first).
    pub(super) fn finish(mut self) -> Table<K, V> {
        self.step(usize::MAX);
        debug_assert_eq!(self.done, self.n);
        let (Some(slots), Some(tags)) = (self.slots, self.tags) else {
            unreachable!("`step` allocates both arrays");
        };
        let slots = Box::into_raw(slots) as *mut [Slot<K, V>];
        let tags = Box::into_raw(tags) as *mut [AtomicU8];
        // SAFETY: every slot and tag was initialised by `step` (done == len),
        // and `MaybeUninit<T>` has the layout of `T`, so these are the same
        // allocations as a `Box<[Slot<_>]>` and a `Box<[AtomicU8]>` of the
        // same lengths.
        unsafe { Table::from_parts(Box::from_raw(tags), Box::from_raw(slots)) }
    }
}

/// Searches one table of a live layer set for a non-expunged entry of `key`.
/// A plain loop (not the iterator chain of `Table::probe`): this is the
/// inner loop of every lookup.
#[inline(always)]
pub(super) fn probe_table<'g, K, V, Q>(
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
    // Bounded by the slot count; a table is at most 7/8 full, so a free
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
            // Null: claimed by an insert in flight (`Table::claim`), which
            // has not happened yet for this lookup.
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

/// How many slots ahead of itself an iteration prefetches entries.
pub(super) const PREFETCH_SLOTS: usize = 64;

/// Hints the CPU to fetch the cache line at `p` (null or not, live or not: a
/// prefetch never faults and reads nothing the program sees).
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it does
    // not dereference `p` in the language's sense (no fault, no read).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

/// The partition index is the top 16 bits of the mixed hash (see
/// [`partition_index`]).
pub(super) const PARTITION_SHIFT: u32 = 48;

/// Largest partition count accepted by the builder.
pub(crate) const MAX_PARTITIONS: usize = 1 << 16;

/// Index of the partition for `hash`, given `mask = partitions - 1`.
///
/// The top bits of `hash` times an odd constant (Fibonacci hashing): every
/// bit of the hash moves them, so a weak hasher (an identity hash of small
/// integers, whose top bits are all zero) still spreads keys over every
/// partition instead of serialising all new keys on partition 0's mutex.
#[inline]
pub(super) fn partition_index(hash: u64, mask: usize) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> PARTITION_SHIFT) as usize & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_math() {
        assert_eq!(slots_for(0), MIN_SLOTS);
        assert_eq!(slots_for(7), 8);
        assert_eq!(slots_for(8), 16);
        assert_eq!(slots_for(14), 16);
        assert_eq!(slots_for(15), 32);
        assert_eq!(slots_for(12_500), 16_384);
        assert_eq!(slots_for(usize::MAX), MAX_SLOTS);
        // The least power of two that holds `e` entries at 7/8.
        for e in 0..2000 {
            let n = slots_for(e);
            assert!(n.is_power_of_two() && n >= MIN_SLOTS);
            assert!(n / 8 * 7 >= e, "{e} entries in {n} slots");
            assert!(
                n == MIN_SLOTS || (n / 2) / 8 * 7 < e,
                "{e}: {n} is not the least"
            );
        }
        let t: Table<u64, u64> = Table::with_capacity(8);
        assert_eq!(t.capacity(), 14);
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

    /// Claims: the first free slot of the probe sequence; a slot of the same
    /// full hash, or a claimed slot whose entry is not stored yet, stops the
    /// claim (it may be the same key); resuming after a slot passes it.
    /// Reservations: bounded by the capacity, refused once sealed.
    #[cfg(not(epochmap_loom))]
    #[test]
    fn claims_and_reservations() {
        use super::super::entry::{new_entry, take_entry, NewValue};
        let t: Table<u64, u64> = Table::with_capacity(4);
        let h = 3u64 | (5 << 40);
        let (a, _) = new_entry(1, h, NewValue::Plain(1));
        let (b, _) = new_entry(2, h, NewValue::Plain(2));
        assert!(t.try_reserve());
        assert!(t.claim(h, a, 0).is_ok());
        assert_eq!((t.len(), t.load(3)), (1, a));
        assert!(t.try_reserve());
        let met = t.claim(h, b, 0).expect_err("the same hash stops the claim");
        assert_eq!((met.at, met.entry), (0, Some(a)));
        assert!(t.claim(h, b, met.at + 1).is_ok());
        assert_eq!((t.len(), t.load(4)), (2, b));
        // A slot claimed by an insert in flight (tag set, entry not stored).
        let (c, _) = new_entry(3, h, NewValue::Plain(3));
        t.tags[5].store(tag_of(h), Ordering::Relaxed);
        assert!(t.try_reserve());
        let met = t.claim(h, c, 0).expect_err("stops at slot 3, same hash");
        let met = t.claim(h, c, met.at + 1).expect_err("stops at slot 4");
        let met = t.claim(h, c, met.at + 1).expect_err("stops at slot 5");
        assert_eq!((met.at, met.entry), (2, None));
        t.tags[5].store(FREE, Ordering::Relaxed);
        assert!(t.claim(h, c, 2).is_ok());
        assert_eq!(t.load(5), c);
        // 8 slots, capacity 7: four more reservations, then none; sealed:
        // none either.
        for _ in 0..4 {
            assert!(t.try_reserve());
        }
        assert!(!t.try_reserve());
        for _ in 0..4 {
            t.unreserve();
        }
        t.seal_and_wait();
        assert!(!t.try_reserve());
        for e in [a, b, c] {
            // SAFETY: entries of this test only, freed once.
            let _ = unsafe { take_entry(e) };
        }
    }
}
