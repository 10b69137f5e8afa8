//! Iterators of [`AtomicPtrMap`](super::AtomicPtrMap).

use std::fmt;

use super::raw::RawIter;

/// Iterator over the entries of a map, borrowed from a [`Pinned`] handle.
///
/// Weakly consistent: see the map's [Consistency](super::AtomicPtrMap#consistency)
/// section. Created by [`Pinned::iter`].
///
/// [`Pinned`]: super::Pinned
/// [`Pinned::iter`]: super::Pinned::iter
pub struct Iter<'g, K, V> {
    pub(super) raw: RawIter<'g, K, V>,
}

impl<'g, K: Send + 'static, V: Send + 'static> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (e, v) = self.raw.next()?;
        Some((e.key(), v.value()?))
    }
}

impl<K, V> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Iterator over the keys of a map. Created by [`Pinned::keys`](super::Pinned::keys).
pub struct Keys<'g, K, V> {
    pub(super) inner: Iter<'g, K, V>,
}

impl<'g, K: Send + 'static, V: Send + 'static> Iterator for Keys<'g, K, V> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.inner.next().map(|(k, _)| k)
    }
}

impl<K, V> fmt::Debug for Keys<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

/// Iterator over the values of a map. Created by [`Pinned::values`](super::Pinned::values).
pub struct Values<'g, K, V> {
    pub(super) inner: Iter<'g, K, V>,
}

impl<'g, K: Send + 'static, V: Send + 'static> Iterator for Values<'g, K, V> {
    type Item = &'g V;

    #[inline]
    fn next(&mut self) -> Option<&'g V> {
        self.inner.next().map(|(_, v)| v)
    }
}

impl<K, V> fmt::Debug for Values<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").finish_non_exhaustive()
    }
}

/// Owning iterator over the entries of a map, created by
/// `AtomicPtrMap::into_iter` (no guard needed: the map is consumed).
pub struct IntoIter<K, V> {
    pub(super) inner: std::vec::IntoIter<(K, V)>,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}

impl<K, V> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.inner.len())
            .finish()
    }
}
