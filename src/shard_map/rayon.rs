//! Parallel iteration with rayon (feature `rayon`).
//!
//! Items handed to rayon must be `Send`, while shard guards are `!Send` by
//! design (deadlock-proofing). So `par_iter_cloned` copies each shard out under its
//! read lock (one shard per task, the lock held only while copying) and then
//! yields owned pairs: no lock is held while your code runs on the items.

use std::hash::{BuildHasher, Hash};

use rayon::iter::plumbing::UnindexedConsumer;
use rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};
use rayon::prelude::*;

use super::shard::Table;
use super::ShardMap;

impl<K, V, S> ShardMap<K, V, S>
where
    K: Clone + Send + Sync,
    V: Clone + Send + Sync,
    S: Sync,
{
    /// A parallel iterator over copies of the entries, one rayon task per
    /// shard.
    ///
    /// **Locking behaviour:** each task copies one shard, read-locking it
    /// for at most about a thousand entries at a time; no lock is held while
    /// the items are processed. An entry present during the whole call is
    /// yielded once (see "Consistency").
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: epochmap::ShardMap<u64, u64> = (0..1000).map(|i| (i, i)).collect();
    /// let sum: u64 = map.par_iter_cloned().map(|(_, v)| v).sum();
    /// assert_eq!(sum, 499_500);
    /// ```
    pub fn par_iter_cloned(&self) -> impl ParallelIterator<Item = (K, V)> + '_ {
        self.shards.par_iter().flat_map_iter(|shard| {
            let mut out = Vec::with_capacity(shard.len());
            let _ = super::iter::visit_shard::<_, _, ()>(shard, "par_iter_cloned", |k, v| {
                out.push((k.clone(), v.clone()));
                std::ops::ControlFlow::Continue(())
            });
            out
        })
    }
}

/// Owning parallel iterator over the entries of a [`ShardMap`]; from
/// `into_par_iter`. Takes no locks.
#[derive(Debug)]
pub struct IntoParIter<K, V> {
    tables: Vec<Table<K, V>>,
}

impl<K: Send, V: Send> ParallelIterator for IntoParIter<K, V> {
    type Item = (K, V);
    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        self.tables
            .into_par_iter()
            .flat_map_iter(|t| t.into_iter())
            .drive_unindexed(consumer)
    }
}

impl<K: Send, V: Send, S> IntoParallelIterator for ShardMap<K, V, S> {
    type Item = (K, V);
    type Iter = IntoParIter<K, V>;
    /// Consumes the map. **Locking behaviour:** none.
    fn into_par_iter(self) -> IntoParIter<K, V> {
        IntoParIter {
            tables: Vec::from(self.shards)
                .into_iter()
                .map(|s| s.into_table())
                .collect(),
        }
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for ShardMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    /// Inserts the pairs from several threads.
    ///
    /// **Locking behaviour:** each insert write-locks its key's shard.
    fn par_extend<I>(&mut self, par_iter: I)
    where
        I: IntoParallelIterator<Item = (K, V)>,
    {
        let map = &*self;
        par_iter.into_par_iter().for_each(|(k, v)| {
            map.insert(k, v);
        });
    }
}

impl<K, V, S> FromParallelIterator<(K, V)> for ShardMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Default + Sync,
{
    fn from_par_iter<I>(par_iter: I) -> Self
    where
        I: IntoParallelIterator<Item = (K, V)>,
    {
        let mut map = ShardMap::with_hasher(S::default());
        map.par_extend(par_iter);
        map
    }
}
