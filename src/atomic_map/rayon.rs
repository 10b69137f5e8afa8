//! Rayon support for [`AtomicPtrMap`] (feature `rayon`).

use std::hash::{BuildHasher, Hash};

use rayon::prelude::*;

use super::AtomicPtrMap;

impl<K, V, S> AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Calls `f` on every entry, partitions in parallel on the rayon pool,
    /// each a chunk at a time under a short guard of its own, as
    /// [`for_each`](AtomicPtrMap::for_each), with the same weak consistency.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let map: epochmap::AtomicPtrMap<u64, u64> = (0..100).map(|i| (i, i)).collect();
    /// let sum = AtomicU64::new(0);
    /// map.par_for_each(|_, v| { sum.fetch_add(*v, Ordering::Relaxed); });
    /// assert_eq!(sum.into_inner(), 4950);
    /// ```
    pub fn par_for_each(&self, f: impl Fn(&K, &V) + Send + Sync) {
        (0..self.raw.partition_count())
            .into_par_iter()
            .for_each(|p| {
                self.raw.visit_partition_in_chunks(p, |_, e, v| {
                    if let Some(v) = v.value() {
                        f(e.key(), v);
                    }
                })
            });
    }

    /// A parallel iterator over clones of the entries (weakly consistent),
    /// each partition cloned a chunk at a time, as
    /// [`for_each`](AtomicPtrMap::for_each) visits it.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: epochmap::AtomicPtrMap<u64, u64> = (0..100).map(|i| (i, i)).collect();
    /// assert_eq!(map.par_iter_cloned().map(|(_, v)| v).sum::<u64>(), 4950);
    /// ```
    pub fn par_iter_cloned(&self) -> impl ParallelIterator<Item = (K, V)> + '_
    where
        K: Clone,
        V: Clone,
    {
        (0..self.raw.partition_count())
            .into_par_iter()
            .flat_map_iter(move |p| {
                let mut part = Vec::new();
                self.raw.visit_partition_in_chunks(p, |_, e, v| {
                    if let Some(v) = v.value() {
                        part.push((e.key().clone(), v.clone()));
                    }
                });
                part
            })
    }
}

impl<K, V, S> IntoParallelIterator for AtomicPtrMap<K, V, S>
where
    K: Send + 'static,
    V: Send + 'static,
{
    type Item = (K, V);
    type Iter = rayon::vec::IntoIter<(K, V)>;

    fn into_par_iter(mut self) -> Self::Iter {
        self.raw.drain_all().into_par_iter()
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for &AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, iter: I) {
        let map: &AtomicPtrMap<K, V, S> = self;
        iter.into_par_iter().for_each(|(k, v)| {
            map.insert(k, v);
        });
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for AtomicPtrMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, iter: I) {
        let mut map: &Self = self;
        map.par_extend(iter);
    }
}

impl<K, V> FromParallelIterator<(K, V)> for AtomicPtrMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = AtomicPtrMap::new();
        map.par_extend(iter);
        map
    }
}
