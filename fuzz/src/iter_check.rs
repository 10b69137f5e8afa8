//! The iteration guarantee both maps promise, as a checker.
//!
//! A traversal that runs while the map changes must yield
//! - every key that is present for the whole traversal exactly once,
//! - no key twice,
//! - only keys that were present at some moment of the traversal, each with a
//!   value that was stored under that key at some moment of the traversal.
//!
//! A [`Traversal`] is told about every write made while it is live (in the
//! order they happen, as seen by the thread that makes them) and about every
//! item the iterator yields; it panics on the first violation.

use std::collections::{HashMap, HashSet};

/// The state of one live traversal.
#[derive(Debug, Clone)]
pub struct Traversal {
    /// Keys present when the traversal started and never removed since:
    /// each must be yielded exactly once by the end.
    must: HashSet<u64>,
    /// Every value id that was current for a key at some moment since the
    /// traversal started (the value at the start, and every value written
    /// since). A yielded key must be here with one of its ids.
    allowed: HashMap<u64, HashSet<u64>>,
    /// Keys yielded so far.
    seen: HashSet<u64>,
    /// Set once the iterator returned `None`.
    finished: bool,
}

impl Traversal {
    /// Starts tracking a traversal of a map whose content is `current`
    /// (key to the id of its value) at the moment the iterator is created.
    pub fn start<'a>(current: impl IntoIterator<Item = (&'a u64, &'a u64)>) -> Self {
        let mut must = HashSet::new();
        let mut allowed: HashMap<u64, HashSet<u64>> = HashMap::new();
        for (&k, &id) in current {
            must.insert(k);
            allowed.entry(k).or_default().insert(id);
        }
        Traversal {
            must,
            allowed,
            seen: HashSet::new(),
            finished: false,
        }
    }

    /// `key` now holds the value `id` (insert or overwrite).
    pub fn stored(&mut self, key: u64, id: u64) {
        self.allowed.entry(key).or_default().insert(id);
    }

    /// `key` was removed: it is no longer present throughout.
    pub fn removed(&mut self, key: u64) {
        self.must.remove(&key);
    }

    /// The iterator yielded `key` with the value `id`.
    #[track_caller]
    pub fn yielded(&mut self, key: u64, id: u64) {
        assert!(
            !self.finished,
            "iterator yielded ({key}, {id}) after returning None"
        );
        assert!(self.seen.insert(key), "iteration yielded key {key} twice");
        match self.allowed.get(&key) {
            None => panic!("iteration yielded key {key}, which was never present during it"),
            Some(ids) => assert!(
                ids.contains(&id),
                "iteration yielded key {key} with value #{id}, never stored during it \
                 (stored: {ids:?})"
            ),
        }
    }

    /// The iterator returned `None`: every key present throughout must have
    /// been yielded.
    #[track_caller]
    pub fn finish(&mut self) {
        self.finished = true;
        let mut missing: Vec<u64> = self.must.difference(&self.seen).copied().collect();
        missing.sort_unstable();
        assert!(
            missing.is_empty(),
            "iteration missed keys present throughout it: {missing:?}"
        );
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Number of keys yielded so far.
    pub fn yielded_count(&self) -> usize {
        self.seen.len()
    }
}

/// A set of live traversals fed the same writes.
#[derive(Debug, Default)]
pub struct Traversals {
    /// The live ones, by slot.
    pub live: Vec<Option<Traversal>>,
}

impl Traversals {
    /// Tells every live traversal that `key` now holds `id`.
    pub fn stored(&mut self, key: u64, id: u64) {
        for t in self.live.iter_mut().flatten() {
            t.stored(key, id);
        }
    }

    /// Tells every live traversal that `key` was removed.
    pub fn removed(&mut self, key: u64) {
        for t in self.live.iter_mut().flatten() {
            t.removed(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(pairs: &[(u64, u64)]) -> Traversal {
        let m: HashMap<u64, u64> = pairs.iter().copied().collect();
        Traversal::start(&m)
    }

    #[test]
    fn accepts_a_correct_traversal_under_churn() {
        let mut t = start(&[(1, 10), (2, 20), (3, 30)]);
        t.yielded(1, 10);
        t.removed(2);
        t.stored(3, 31);
        t.stored(4, 40);
        t.yielded(3, 31);
        t.yielded(4, 40);
        t.finish();
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn rejects_a_duplicate() {
        let mut t = start(&[(1, 10)]);
        t.yielded(1, 10);
        t.stored(1, 11);
        t.yielded(1, 11);
    }

    #[test]
    #[should_panic(expected = "missed keys")]
    fn rejects_a_missed_key() {
        let mut t = start(&[(1, 10), (2, 20)]);
        t.stored(2, 21); // an overwrite keeps the key present throughout
        t.yielded(1, 10);
        t.finish();
    }

    #[test]
    #[should_panic(expected = "never stored")]
    fn rejects_a_value_from_before_the_traversal() {
        let mut t = start(&[(1, 10)]);
        t.yielded(1, 9);
    }

    #[test]
    #[should_panic(expected = "never present")]
    fn rejects_a_key_never_present() {
        let mut t = start(&[(1, 10)]);
        t.yielded(2, 20);
    }

    #[test]
    fn a_key_removed_and_reinserted_may_be_missed() {
        let mut t = start(&[(1, 10), (2, 20)]);
        t.removed(2);
        t.stored(2, 22);
        t.yielded(1, 10);
        t.finish();
    }
}
