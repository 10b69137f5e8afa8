//! Iterators over a [`ShardMap`](super::ShardMap), and the chunked
//! traversal that every whole-map visit uses.
//!
//! A traversal visits the shards in order; inside a shard it visits the
//! table's buckets in increasing index order, at most
//! [`TRAVERSAL_CHUNK`](super::shard::TRAVERSAL_CHUNK) entries per hold of
//! the shard's lock, then releases the lock (so that writers get in) and
//! later resumes where it stopped; a read-locked traversal ends a hold
//! early, within a few entries, when a writer is waiting for it. Its
//! position is a [`ShardCursor`], which stays exact when writers rebuild the
//! table meanwhile, and which skips the buckets that new keys went into
//! while the traversal was suspended: an entry present during the whole
//! traversal is visited exactly once, and no key twice, also one removed
//! after its visit and inserted again. Shards that are empty when reached
//! are skipped without locking.

use std::fmt;
use std::ops::ControlFlow;

use super::guard::{KeyRef, MultiRef, MultiRefMut};
use super::lock::{SharedGuard, SharedRef, UniqueGuard, WeakShared, WeakUnique};
use super::shard::{traversal_chunk, Shard, ShardCursor, Table};

/// Visits the entries of `shards` with `f`, read-locking one shard at a
/// time for at most one chunk of entries; `f` runs under that read lock.
/// Stops at the first `Break`.
#[track_caller]
pub(crate) fn visit<K, V, B>(
    shards: &[Shard<K, V>],
    op: &'static str,
    mut f: impl FnMut(&K, &V) -> ControlFlow<B>,
) -> ControlFlow<B> {
    for shard in shards {
        visit_shard(shard, op, &mut f)?;
    }
    ControlFlow::Continue(())
}

/// [`visit`] over one shard.
#[track_caller]
pub(crate) fn visit_shard<K, V, B>(
    shard: &Shard<K, V>,
    op: &'static str,
    mut f: impl FnMut(&K, &V) -> ControlFlow<B>,
) -> ControlFlow<B> {
    if shard.len() == 0 {
        return ControlFlow::Continue(());
    }
    let chunk = traversal_chunk();
    let mut cursor = ShardCursor::default();
    loop {
        let table = shard.lock().read(op);
        cursor.resume(table.num_buckets());
        let mut n = 0;
        while n < chunk {
            let Some(i) = cursor.next_candidate(table.num_buckets()) else {
                return ControlFlow::Continue(());
            };
            if let Some((k, v)) = table.get_bucket(i) {
                f(k, v)?;
                n += 1;
                if yield_to_writer(shard, n) {
                    break;
                }
            }
        }
        cursor.suspend(shard, table.num_buckets());
    }
}

/// Entries a read-locked traversal visits between two looks at whether a
/// writer waits for it.
const WRITER_CHECK_EVERY: usize = 8;

/// Whether a read-locked traversal of `shard` that has visited `n` entries
/// under its current hold should end the hold early, because a writer waits
/// for it (a writer-preferring lock would otherwise keep that writer waiting
/// until the chunk ends). Every [`WRITER_CHECK_EVERY`] entries, so a hold
/// makes progress of at least that many entries, and a writer waits for at
/// most about that many.
#[inline]
fn yield_to_writer<K, V>(shard: &Shard<K, V>, n: usize) -> bool {
    n % WRITER_CHECK_EVERY == 0 && shard.lock().writer_waiting()
}

/// Visits the entries of each shard under its write lock, one chunk per
/// hold, and removes those for which `f` returns false.
#[track_caller]
pub(crate) fn retain<K, V>(
    shards: &[Shard<K, V>],
    op: &'static str,
    mut f: impl FnMut(&K, &mut V) -> bool,
) {
    let chunk = traversal_chunk();
    for shard in shards {
        if shard.len() == 0 {
            continue;
        }
        let mut cursor = ShardCursor::default();
        'shard: loop {
            let mut table = shard.write(op);
            cursor.resume(table.num_buckets());
            let mut n = 0;
            while n < chunk {
                let buckets = table.num_buckets();
                let Some(i) = cursor.next_candidate(buckets) else {
                    break 'shard;
                };
                if let Ok(mut entry) = table.get_bucket_entry(i) {
                    let (k, v) = entry.get_mut();
                    if !f(k, v) {
                        entry.remove();
                    }
                    n += 1;
                }
            }
            cursor.suspend(shard, table.num_buckets());
        }
    }
}

/// Removes every entry, one chunk per hold of each shard's write lock (a
/// shard that fits in one chunk is cleared in one step).
#[track_caller]
pub(crate) fn clear<K, V>(shards: &[Shard<K, V>]) {
    let chunk = traversal_chunk();
    for shard in shards {
        let len = shard.len();
        if len == 0 {
            // Nothing to clear: an insert this misses is concurrent with the
            // call (one that returned before it was made stored its length
            // with Release before unlocking, and `len` loads with Acquire).
            continue;
        }
        if len <= chunk {
            shard.write("clear").clear();
        } else {
            retain(std::slice::from_ref(shard), "clear", |_, _| false);
        }
    }
}

/// Iterator over shared references to the entries, from
/// [`ShardMap::iter`](super::ShardMap::iter). Yields [`MultiRef`].
///
/// **Locking behaviour:** read-locks one shard at a time and keeps it
/// locked across `next` calls for at most about a thousand entries (fewer
/// when a writer waits: `next` looks every 8 entries); then releases it
/// (once no item of it is alive) and re-acquires it when `next` is called
/// again. Items keep their shard read-locked while they live.
pub struct Iter<'a, K, V> {
    shards: std::slice::Iter<'a, Shard<K, V>>,
    current: Option<SharedPass<'a, K, V>>,
    op: &'static str,
}

/// An [`Iter`]'s pass over one shard.
struct SharedPass<'a, K, V> {
    shard: &'a Shard<K, V>,
    cursor: ShardCursor,
    /// The read guard while this pass holds it; `None` once the chunk is
    /// done (then `weak` finds it again while items keep it alive).
    guard: Option<SharedGuard<'a, Table<K, V>>>,
    weak: Option<WeakShared<'a, Table<K, V>>>,
    /// Entries yielded under the current guard.
    yielded: usize,
}

impl<'a, K, V> Iter<'a, K, V> {
    pub(crate) fn new(shards: &'a [Shard<K, V>], op: &'static str) -> Self {
        Iter {
            shards: shards.iter(),
            current: None,
            op,
        }
    }

    #[inline]
    #[track_caller]
    fn next_pair(&mut self) -> Option<SharedRef<'a, Table<K, V>, (K, V)>> {
        let chunk = traversal_chunk();
        loop {
            let Some(pass) = &mut self.current else {
                let shard = self.shards.next()?;
                if shard.len() != 0 {
                    self.current = Some(SharedPass {
                        shard,
                        cursor: ShardCursor::default(),
                        guard: None,
                        weak: None,
                        yielded: 0,
                    });
                }
                continue;
            };
            let guard = match pass.guard.take() {
                Some(g) => g,
                None => {
                    // Still held by items of the last chunk: continue under
                    // it (locking again would wait for ourselves).
                    let g = match pass.weak.take().and_then(|w| w.upgrade()) {
                        Some(g) => g,
                        None => SharedGuard::new(pass.shard.lock().read(self.op)),
                    };
                    pass.cursor.resume(g.data().num_buckets());
                    pass.yielded = 0;
                    g
                }
            };
            let buckets = guard.data().num_buckets();
            while let Some(i) = pass.cursor.next_candidate(buckets) {
                if let Some(item) = guard.item(|t| t.get_bucket(i)) {
                    pass.yielded += 1;
                    if pass.yielded >= chunk || yield_to_writer(pass.shard, pass.yielded) {
                        // Publish the position, and let the lock go when
                        // the items of this chunk are gone.
                        pass.cursor.suspend(pass.shard, buckets);
                        pass.weak = Some(guard.downgrade());
                    } else {
                        pass.guard = Some(guard);
                    }
                    return Some(item);
                }
            }
            self.current = None;
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = MultiRef<'a, K, V>;
    #[inline]
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_pair().map(|inner| MultiRef { inner })
    }
}

impl<K, V> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("shards_left", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// Iterator over the keys, from [`ShardMap::keys`](super::ShardMap::keys).
/// Yields [`KeyRef`]. Locks like [`Iter`].
pub struct Keys<'a, K, V> {
    pub(crate) inner: Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Keys<'a, K, V> {
    type Item = KeyRef<'a, K, V>;
    #[inline]
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next_pair().map(|inner| KeyRef { inner })
    }
}

impl<K, V> fmt::Debug for Keys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

/// Iterator over the values, from [`ShardMap::values`](super::ShardMap::values).
/// Yields [`MultiRef`] (which dereferences to the value). Locks like [`Iter`].
pub struct Values<'a, K, V> {
    pub(crate) inner: Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Values<'a, K, V> {
    type Item = MultiRef<'a, K, V>;
    #[inline]
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<K, V> fmt::Debug for Values<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").finish_non_exhaustive()
    }
}

/// Iterator over unique references to the values, from
/// [`ShardMap::iter_mut`](super::ShardMap::iter_mut). Yields [`MultiRefMut`].
///
/// **Locking behaviour:** write-locks one shard at a time and keeps it
/// locked across `next` calls for about a thousand entries; then releases
/// it (once no item of it is alive) and re-acquires it when `next` is
/// called again. Items keep their shard write-locked while they live.
pub struct IterMut<'a, K, V> {
    shards: std::slice::Iter<'a, Shard<K, V>>,
    current: Option<UniquePass<'a, K, V>>,
}

/// An [`IterMut`]'s pass over one shard (see [`SharedPass`]).
struct UniquePass<'a, K, V> {
    shard: &'a Shard<K, V>,
    cursor: ShardCursor,
    guard: Option<UniqueGuard<'a, (K, V)>>,
    weak: Option<WeakUnique<'a, (K, V)>>,
    yielded: usize,
}

impl<'a, K, V> IterMut<'a, K, V> {
    pub(crate) fn new(shards: &'a [Shard<K, V>]) -> Self {
        IterMut {
            shards: shards.iter(),
            current: None,
        }
    }
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = MultiRefMut<'a, K, V>;
    #[inline]
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        let chunk = traversal_chunk();
        loop {
            let Some(pass) = &mut self.current else {
                let shard = self.shards.next()?;
                if shard.len() != 0 {
                    self.current = Some(UniquePass {
                        shard,
                        cursor: ShardCursor::default(),
                        guard: None,
                        weak: None,
                        yielded: 0,
                    });
                }
                continue;
            };
            let guard = match pass.guard.take() {
                Some(g) => g,
                None => {
                    let g = match pass.weak.take().and_then(|w| w.upgrade()) {
                        Some(g) => g,
                        // The plain lock guard: values change, the length
                        // does not.
                        None => UniqueGuard::new(pass.shard.lock().write("iter_mut")),
                    };
                    pass.cursor.resume(g.num_buckets());
                    pass.yielded = 0;
                    g
                }
            };
            let buckets = guard.num_buckets();
            while let Some(i) = pass.cursor.next_candidate(buckets) {
                if let Some(inner) = guard.bucket_mut(i) {
                    pass.yielded += 1;
                    if pass.yielded >= chunk {
                        pass.cursor.suspend(pass.shard, buckets);
                        pass.weak = Some(guard.downgrade());
                    } else {
                        pass.guard = Some(guard);
                    }
                    return Some(MultiRefMut { inner });
                }
            }
            self.current = None;
        }
    }
}

impl<K, V> fmt::Debug for IterMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut")
            .field("shards_left", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// Owning iterator over the entries, from `ShardMap::into_iter`. Takes no
/// locks (the map is consumed).
pub struct IntoIter<K, V> {
    pub(crate) shards: std::vec::IntoIter<Shard<K, V>>,
    pub(crate) current: Option<hashbrown::hash_table::IntoIter<(K, V)>>,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);
    #[track_caller]
    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(cur) = &mut self.current {
                if let Some(item) = cur.next() {
                    return Some(item);
                }
            }
            self.current = Some(self.shards.next()?.into_table().into_iter());
        }
    }
}

impl<K, V> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("shards_left", &self.shards.len())
            .finish_non_exhaustive()
    }
}
