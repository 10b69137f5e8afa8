//! The write path: a found entry and the CAS on its value ([`EntryRef`]),
//! and the insert of a key: lock-free when it has an entry, and when a new
//! entry is made while no merge runs; otherwise under the partition mutex.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr;

use super::entry::{is_inline, new_entry, take_new_entry, Entry, Loaded, NewValue};
use super::partition::{find_in, find_in_layer, Layers, Partition, Writer};
use super::pool::alloc_value;
use super::reclaim::{retire_boxed_value, Guard};
use super::sync::Ordering;

/// A live reference to an entry found under a guard.
pub(crate) struct EntryRef<'g, K, V> {
    pub(super) entry: &'g Entry<K, V>,
    /// The entry's partition.
    pub(super) part: &'g Partition<K, V>,
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
                    unsafe { retire_boxed_value(guard, self.part.values, expected.ptr) };
                }
                if let Some(live) = removed {
                    // The caller's operation is done: a merge may now expunge
                    // the tombstone just made.
                    self.part.after_removal(guard, live);
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

/// What [`Partition::insert`] did.
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

/// What a search without the partition mutex saw: the layer set it searched.
///
/// If, under the mutex, the layer set is the same, the insert skips
/// searching again: a key the search did not find (or found expunged, which
/// is final) has no live entry in the snapshot or the sealed overlay still
/// (their entries are fixed while the layer set is; a seal or merge
/// publishes a new one, and a layer set cannot be freed and its address
/// reused while we are pinned), and an entry for it stored in the active
/// overlay since, or in flight, lies on the key's probe sequence before any
/// free slot, where `Table::claim` meets it (and the insert then searches
/// with `Eq`).
struct Searched<'g, K, V> {
    layers: &'g Layers<K, V>,
}

impl<K: Send + 'static, V: Send + 'static> Partition<K, V> {
    /// The non-expunged entry of `key`, if any, and its value as loaded.
    #[inline]
    pub(super) fn find<'g, Q>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
    ) -> Option<(EntryRef<'g, K, V>, Loaded<'g, V>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (entry, v, in_overlay) = find_in_layer(self.layers(guard), hash, key)?;
        // Only for a live value (see `overlay_hit`): the caller may CAS on
        // what it loaded.
        if in_overlay && !v.is_null() {
            self.overlay_hit(guard);
        }
        Some((
            EntryRef { entry, part: self },
            Loaded {
                ptr: v,
                _guard: PhantomData,
            },
        ))
    }

    /// Removes `key` (CAS to a tombstone, retried while the value changes
    /// under it); returns the removed value, alive for the guard.
    pub(super) fn remove<'g, Q>(&'g self, guard: &'g Guard, hash: u64, key: &Q) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (e, mut cur) = self.find(guard, hash, key)?;
        loop {
            cur.value()?;
            match e.replace(guard, cur, None) {
                Ok((old, _)) => return old,
                Err(_) => cur = e.load(),
            }
        }
    }

    /// Read-copy-update of a present key: `f` runs without a lock on the
    /// value loaded, again on the newer value if the CAS finds it changed.
    pub(super) fn update<'g, Q>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: &Q,
        mut f: impl FnMut(&V) -> V,
    ) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (e, mut cur) = self.find(guard, hash, key)?;
        loop {
            let new = alloc_value(f(cur.value()?));
            match e.replace(guard, cur, Some(new)) {
                Ok((_, new)) => return new,
                Err(_) => cur = e.load(),
            }
        }
    }

    /// Sets `key` to `f(current)` (`None` out: removed), atomically per
    /// key: a CAS on the entry if it has one, else an insert only if absent;
    /// either retried (and `f` run again) if another writer got there first.
    /// Returns the value it replaced or removed (retired, alive for the
    /// guard), `None` if the key was absent.
    pub(super) fn compute<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        mut f: impl FnMut(Option<&V>) -> Option<V>,
    ) -> Option<&'g V>
    where
        K: Eq,
    {
        let mut key = key;
        loop {
            if let Some((e, cur)) = self.find(guard, hash, &key) {
                if !cur.is_expunged() {
                    let new = f(cur.value()).map(alloc_value);
                    if new.is_none() && cur.value().is_none() {
                        return None;
                    }
                    match e.replace(guard, cur, new) {
                        Ok((old, _)) => return old,
                        Err(_) => continue,
                    }
                }
            }
            let new = NewValue::Plain(f(None)?);
            match self.insert(guard, hash, key, new, true) {
                (Inserted::New(_), _) => return None,
                // Someone inserted first: recompute from their value.
                (Inserted::Existing(..), Some(k)) => key = k,
                (Inserted::Existing(..), None) => unreachable!("an existing key is given back"),
                (Inserted::Replaced(..), _) => unreachable!("only-if-absent mode"),
            }
        }
    }

    /// The value of `key`, inserting `f()` first if it is absent (`f` runs
    /// without a lock; its value is dropped if another thread inserts
    /// first).
    pub(super) fn get_or_insert_with<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        key: K,
        f: impl FnOnce() -> V,
    ) -> &'g V
    where
        K: Eq,
    {
        if let Some(v) = self.find(guard, hash, &key).and_then(|(_, v)| v.value()) {
            return v;
        }
        match self.insert(guard, hash, key, NewValue::Plain(f()), true) {
            (Inserted::New(v), _) | (Inserted::Existing(v, _), _) => v,
            (Inserted::Replaced(..), _) => unreachable!("only-if-absent mode"),
        }
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
        let layers = self.layers(guard);
        // What the search below saw, so that the insert under the mutex can
        // skip searching again when nothing changed (see `Searched`).
        let searched = Searched { layers };
        if let Some((entry, v, in_overlay)) = find_in_layer(layers, hash, &key) {
            if in_overlay && !v.is_null() {
                self.overlay_hit(guard);
            }
            let e = EntryRef { entry, part: self };
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
        let mut pending;
        // A new key: lock-free while no merge runs. While one runs, its
        // inserts do its work under the mutex; one that finds the mutex taken
        // (by a thread doing that work) inserts lock-free instead of waiting.
        let held = if layers.sealed.is_null() {
            None
        } else {
            self.try_lock()
        };
        if held.is_none() {
            match self.insert_lock_free(guard, layers, hash, key, value) {
                Ok(v) => return (Inserted::New(v), None),
                Err(kv) => pending = Some(kv),
            }
        } else {
            pending = Some((key, value));
        }
        let mut w = held.unwrap_or_else(|| self.lock());
        let out = self.insert_under_lock(
            guard,
            &mut w,
            hash,
            &mut pending,
            only_if_absent,
            Some(searched),
        );
        debug_assert!(pending.is_none(), "the insert took the key and value");
        self.unlock_and_flush(guard, w);
        out
    }

    /// The insert of a new entry for `key` into the active overlay of
    /// `layers` without the partition mutex, after a search of `layers`
    /// found no non-expunged entry for it. Gives the key and value back
    /// (`Err`) if the overlay is full or sealed, or if `Table::claim`
    /// meets a slot that may hold the same key; the caller then inserts
    /// under the mutex. (A merge that runs meanwhile reads the snapshot and
    /// the sealed overlay only, and its publication keeps the active
    /// overlay.)
    ///
    /// Invariant 2 holds: the reservation succeeds only while the overlay
    /// is not sealed, and a seal waits for it to end; so the overlay is the
    /// active one of the current layer set until the entry is stored, and
    /// since the search, entries for the key could only have been created in
    /// it, where the claim meets them (or one in flight).
    fn insert_lock_free<'g>(
        &'g self,
        guard: &'g Guard,
        layers: &'g Layers<K, V>,
        hash: u64,
        key: K,
        value: NewValue<V>,
    ) -> Result<&'g V, (K, NewValue<V>)> {
        // SAFETY: tables of a live layer set (invariant 1).
        let active = unsafe { &*layers.active };
        if !active.try_reserve() {
            return Err((key, value));
        }
        let (entry, value) = new_entry(key, hash, value);
        match active.claim(hash, entry, 0) {
            Ok(()) => {
                self.add_len(1);
                if active.is_full() {
                    // As under the mutex: the insert that fills the overlay
                    // seals it, so that the merge starts now, not on the
                    // next insert.
                    let mut w = self.lock();
                    if w.merge.is_none() && ptr::eq(self.layers(guard).active, active) {
                        self.seal(guard, &mut w);
                    }
                    self.unlock_and_flush(guard, w);
                }
                // The value is published and lives for 'g like any value
                // loaded under the guard.
                let new = Loaded::<'g, V> {
                    ptr: value,
                    _guard: PhantomData,
                };
                Ok(new.value().expect("a stored value"))
            }
            Err(_) => {
                active.unreserve();
                // SAFETY: `entry` came from `new_entry` and was never stored
                // in a slot: only we can reach it.
                Err(unsafe { take_new_entry(entry) })
            }
        }
    }

    /// CAS loop on an entry. Err: the entry got expunged.
    pub(super) fn store<'g>(
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
            self.merge_step(guard, w, budget);
        }
        let mut searched = searched;
        // Where the claim in the active overlay resumes (an offset in the
        // key's probe sequence): the slots before it hold entries of other
        // keys (see `Met` below). Valid while the active overlay is the same,
        // which only this thread can change (it holds the mutex).
        let mut from = 0;
        loop {
            let layers = self.layers(guard);
            let unchanged = searched.take().is_some_and(|s| ptr::eq(s.layers, layers));
            let found = if unchanged {
                None
            } else {
                let (key, _) = pending.as_ref().expect("the key is pending");
                // User code (`Eq`) under the mutex: the key and value stay
                // in `pending` (see above).
                find_in(layers, hash, key)
            };
            if let Some((entry, v)) = found {
                let e = EntryRef { entry, part: self };
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
            // (A reservation fails only when the overlay is full: only the
            // holder of the mutex seals it.)
            if active.is_full() || !active.try_reserve() {
                if w.merge.is_some() {
                    self.merge_step(guard, w, usize::MAX);
                } else {
                    self.seal(guard, w);
                }
                from = 0;
                continue;
            }
            let (key, value) = pending.take().expect("the key is pending");
            let (entry, value) = new_entry(key, hash, value);
            // Invariant 2: no non-expunged entry for the key in the current
            // layer set (searched above under the mutex), except perhaps one
            // that a lock-free insert stored in the active overlay since,
            // which the claim meets.
            if let Err(met) = active.claim(hash, entry, from) {
                active.unreserve();
                // SAFETY: `entry` came from `new_entry` and was never stored
                // in a slot: only we can reach it.
                *pending = Some(unsafe { take_new_entry(entry) });
                if met.entry.is_none() {
                    active.wait_for_slot(hash, met.at);
                }
                // The entry met is stored now: the search (with `Eq`, the key
                // back in `pending`) finds it if it is this key's. If it does
                // not, it is another key's of the same hash, and the claim
                // resumes after it.
                from = met.at + 1;
                continue;
            }
            self.add_len(1);
            if active.is_full() && w.merge.is_none() {
                self.seal(guard, w);
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
}
