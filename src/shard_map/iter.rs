//! Iterators over a [`ShardMap`](super::ShardMap).
//!
//! Borrowing iterators visit the shards in order, holding one shard's lock at
//! a time (plus the locks kept alive by items still held). Shards that are
//! empty when reached are skipped without locking.

use std::fmt;
use std::marker::PhantomData;

use hashbrown::hash_table;

use super::guard::{KeyRef, MultiRef, MultiRefMut};
use super::lock::{IterShared, IterUnique, SharedIter, UniqueIter};
use super::shard::{Shard, Table};

/// Projection of a table to its entries, for the lock's iterators.
pub(crate) struct Entries<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> IterShared<Table<K, V>> for Entries<K, V> {
    type Item = (K, V);
    type Iter<'x>
        = hash_table::Iter<'x, (K, V)>
    where
        Table<K, V>: 'x,
        (K, V): 'x;
    fn iter(data: &Table<K, V>) -> Self::Iter<'_> {
        data.iter()
    }
}

impl<K, V> IterUnique<Table<K, V>> for Entries<K, V> {
    type Item = (K, V);
    type Iter<'x>
        = hash_table::IterMut<'x, (K, V)>
    where
        Table<K, V>: 'x,
        (K, V): 'x;
    fn iter_mut(data: &mut Table<K, V>) -> Self::Iter<'_> {
        data.iter_mut()
    }
}

type SharedShardIter<'a, K, V> = SharedIter<'a, Table<K, V>, Entries<K, V>>;
type UniqueShardIter<'a, K, V> = UniqueIter<'a, Table<K, V>, Entries<K, V>>;

/// Iterator over shared references to the entries, from
/// [`ShardMap::iter`](super::ShardMap::iter). Yields [`MultiRef`].
///
/// **Locking behaviour:** read-locks one shard at a time; items keep their
/// shard read-locked while they live.
pub struct Iter<'a, K, V> {
    shards: std::slice::Iter<'a, Shard<K, V>>,
    current: Option<SharedShardIter<'a, K, V>>,
    op: &'static str,
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
    fn next_pair(&mut self) -> Option<super::lock::SharedRef<'a, Table<K, V>, (K, V)>> {
        loop {
            if let Some(cur) = &mut self.current {
                if let Some(item) = cur.next() {
                    return Some(item);
                }
                // Release this shard (unless items keep it) before the next.
                self.current = None;
            }
            let shard = self.shards.next()?;
            if shard.len() != 0 {
                self.current = Some(SharedIter::new(shard.lock().read(self.op)));
            }
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = MultiRef<'a, K, V>;
    #[inline]
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
/// **Locking behaviour:** write-locks one shard at a time; items keep their
/// shard write-locked while they live.
pub struct IterMut<'a, K, V> {
    shards: std::slice::Iter<'a, Shard<K, V>>,
    current: Option<UniqueShardIter<'a, K, V>>,
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
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cur) = &mut self.current {
                if let Some(inner) = cur.next() {
                    return Some(MultiRefMut { inner });
                }
                self.current = None;
            }
            let shard = self.shards.next()?;
            if shard.len() != 0 {
                // The plain lock guard: values change, the length does not.
                self.current = Some(UniqueIter::new(shard.lock().write("iter_mut")));
            }
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
    pub(crate) current: Option<hash_table::IntoIter<(K, V)>>,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);
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
