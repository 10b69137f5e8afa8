//! Entries: a key, its hash and a pointer to its current value, which is a
//! value, a tombstone (null) or the final `EXPUNGED`; how an entry and its
//! first value are allocated together, and freed.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;

use super::pool::alloc_value;
use super::sync::{AtomicPtr, Ordering};

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
    pub(super) hash: u64,
    /// Immutable.
    pub(super) key: K,
    /// Null: a tombstone (the key is absent). [`expunged`]: the entry is being
    /// dropped by a merge (the key is absent, and a new entry must be made
    /// for it). Otherwise a value, immutable, replaced only by CAS: either
    /// the entry's inline first value (see [`EntryWithValue`]) or a `Box<V>`
    /// owned by the entry.
    pub(super) value: AtomicPtr<V>,
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
pub(super) struct EntryWithValue<K, V> {
    /// First field of a `repr(C)` struct: a pointer to the allocation is a
    /// pointer to the entry.
    entry: Entry<K, V>,
    first: MaybeUninit<V>,
}

/// Whether entries of values `V` hold their first value inline (no drop
/// glue, so a replaced inline value needs no destructor; and small, so the
/// space a replaced one keeps is bounded).
#[inline]
pub(super) const fn inline_first<V>() -> bool {
    !std::mem::needs_drop::<V>() && std::mem::size_of::<V>() <= 64
}

/// Whether `v` is the inline first value of entry `e` (an address
/// comparison only; meaningful only when [`inline_first::<V>()`]).
#[inline]
pub(super) fn is_inline<K, V>(e: *const Entry<K, V>, v: *const V) -> bool {
    inline_first::<V>()
        && v as usize == e as usize + std::mem::offset_of!(EntryWithValue<K, V>, first)
}

/// Bytes of one entry allocation (for the garbage statistics).
pub(super) fn entry_bytes<K, V>() -> usize {
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
    pub(super) fn boxed(self) -> Box<V> {
        match self {
            NewValue::Plain(v) => alloc_value(v),
            NewValue::Boxed(b) => b,
        }
    }

    #[inline]
    pub(super) fn into_inner(self) -> V {
        match self {
            NewValue::Plain(v) => v,
            NewValue::Boxed(b) => *b,
        }
    }
}

/// Allocates an entry for `key` holding `value`; returns it and the pointer
/// to its value (not yet published: the caller publishes the entry with
/// Release).
pub(super) fn new_entry<K, V>(key: K, hash: u64, value: NewValue<V>) -> (*mut Entry<K, V>, *mut V) {
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

/// Frees an entry that [`new_entry`] made and that was never stored in a
/// table; returns its key and value.
///
/// # Safety
/// As [`take_entry`].
pub(super) unsafe fn take_new_entry<K, V>(e: *mut Entry<K, V>) -> (K, NewValue<V>) {
    // SAFETY: the caller's guarantee.
    let (key, value) = unsafe { take_entry(e) };
    (
        key,
        NewValue::Plain(value.expect("a new entry holds its first value")),
    )
}

/// The address behind the `EXPUNGED` sentinel: a static, so no allocation
/// (and no dangling pointer of a zero-sized `Box`) can ever be equal to it.
static EXPUNGED_SENTINEL: u8 = 0;

/// The `EXPUNGED` sentinel pointer. Never dereferenced, only compared.
#[inline]
pub(super) fn expunged<V>() -> *mut V {
    ptr::addr_of!(EXPUNGED_SENTINEL) as *mut V
}

/// A value pointer (neither null nor `EXPUNGED`): a `Box<V>` owned by its
/// entry, or the entry's inline first value.
#[inline]
pub(super) fn is_value<V>(p: *mut V) -> bool {
    !p.is_null() && p != expunged()
}

/// Frees an entry and the value it owns, if any; returns its key and its
/// current value (if present).
///
/// # Safety
/// `e` came from [`new_entry`], no other thread can reach it, and it is freed
/// only here.
pub(super) unsafe fn take_entry<K, V>(e: *mut Entry<K, V>) -> (K, Option<V>) {
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

/// What an entry's value was when loaded.
pub(crate) struct Loaded<'g, V> {
    pub(super) ptr: *mut V,
    pub(super) _guard: PhantomData<&'g V>,
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
