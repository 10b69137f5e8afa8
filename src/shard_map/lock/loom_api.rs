//! The shard lock as the loom models (`loom/tests/shard_lock.rs`) see it:
//! a thin public wrapper, compiled only under `--cfg epochmap_loom`, around the real
//! [`RwLock`] and its guards. Not part of the crate's API.

use std::ops::{Deref, DerefMut};

use super::{ReadGuard, RwLock, WriteGuard};

/// [`RwLock`], public for the models.
pub struct Lock<T>(RwLock<T>);

/// A read guard of a [`Lock`].
pub struct Read<'a, T>(ReadGuard<'a, T>);

/// A write guard of a [`Lock`].
pub struct Write<'a, T>(WriteGuard<'a, T>);

impl<T> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lock")
    }
}

impl<T> std::fmt::Debug for Read<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Read")
    }
}

impl<T> std::fmt::Debug for Write<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Write")
    }
}

impl<T> Lock<T> {
    /// [`RwLock::new`].
    pub fn new(data: T, slots: usize) -> Self {
        Lock(RwLock::new(data, slots))
    }

    /// [`RwLock::read`].
    pub fn read(&self) -> Read<'_, T> {
        Read(self.0.read("loom"))
    }

    /// [`RwLock::try_read`].
    pub fn try_read(&self) -> Option<Read<'_, T>> {
        self.0.try_read().map(Read)
    }

    /// [`RwLock::write`].
    pub fn write(&self) -> Write<'_, T> {
        Write(self.0.write("loom"))
    }

    /// [`RwLock::try_upgrade`].
    pub fn try_upgrade(guard: Read<'_, T>) -> Result<Write<'_, T>, Read<'_, T>> {
        RwLock::try_upgrade(guard.0).map(Write).map_err(Read)
    }

    /// [`RwLock::into_inner`].
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T> Deref for Read<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Deref for Write<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Write<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
