//! The harness's own reference map.

use super::{ConcurrentMap, FuzzMap};
use crate::val::Val;

/// `RwLock<HashMap>` behind the [`FuzzMap`] trait: the harness's own
/// reference, used by the fuzz crate's unit tests to show that the checkers
/// accept a correct map (and, with a fault injected, reject a wrong one).
#[derive(Debug, Default)]
pub struct Reference {
    inner: std::sync::RwLock<std::collections::HashMap<u64, Val>>,
    /// Fault injection for the harness's own tests: iterators yield the first
    /// key twice.
    pub fault_duplicate: bool,
}

impl Reference {
    // A closure that panics under the lock must not poison it (the crate's
    // maps promise as much).
    fn r(&self) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<u64, Val>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn w(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::HashMap<u64, Val>> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// A reference map whose iterators yield their first key twice.
    pub fn with_duplicate_fault() -> Self {
        Reference {
            fault_duplicate: true,
            ..Default::default()
        }
    }
}

/// The reference's own operations, each under the lock.
impl ConcurrentMap<u64, Val> for Reference {
    fn insert(&self, k: u64, v: Val) -> bool {
        self.w().insert(k, v).is_some()
    }
    fn remove(&self, k: &u64) -> bool {
        self.w().remove(k).is_some()
    }
    fn get_cloned(&self, k: &u64) -> Option<Val> {
        self.r().get(k).cloned()
    }
    fn contains_key(&self, k: &u64) -> bool {
        self.r().contains_key(k)
    }
    fn update(&self, k: &u64, f: impl Fn(&Val) -> Val) -> bool {
        let mut m = self.w();
        match m.get_mut(k) {
            Some(v) => {
                *v = f(v);
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, k: u64, f: impl FnOnce() -> Val) -> Val {
        self.w().entry(k).or_insert_with(f).clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &Val)) {
        for (k, v) in self.r().iter() {
            f(k, v);
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &Val) -> bool) {
        self.w().retain(|k, v| f(k, v))
    }
    fn len(&self) -> usize {
        self.r().len()
    }
    fn is_empty(&self) -> bool {
        self.r().is_empty()
    }
    fn clear(&self) {
        self.w().clear()
    }
}

impl FuzzMap for Reference {
    type Map = Self;
    type Pinned<'a> = ();

    fn map(&self) -> &Self {
        self
    }
    fn describe(&self) -> String {
        "Reference(RwLock<HashMap>)".into()
    }
    fn insert_id(&self, k: u64, v: Val) -> Option<u64> {
        self.w().insert(k, v).map(|o| o.check(k))
    }
    fn remove_id(&self, k: u64) -> Option<u64> {
        self.w().remove(&k).map(|o| o.check(k))
    }
    fn get_id(&self, k: u64) -> Option<u64> {
        self.r().get(&k).map(|v| v.check(k))
    }
    fn compact(&self) {}
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        // A copy: the reference map is only for the harness's own tests.
        let mut items: Vec<(u64, u64)> = self.r().iter().map(|(k, v)| (*k, v.check(*k))).collect();
        if self.fault_duplicate {
            if let Some(&first) = items.first() {
                items.push(first);
            }
        }
        Box::new(items.into_iter())
    }
    fn get_or_insert_id(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64 {
        self.w().entry(k).or_insert_with(f).check(k)
    }
    fn compute(&self, k: u64, f: &mut dyn FnMut(Option<&Val>) -> Option<Val>) -> Option<u64> {
        let mut m = self.w();
        match f(m.get(&k)) {
            Some(v) => {
                let id = v.check(k);
                m.insert(k, v);
                Some(id)
            }
            None => {
                m.remove(&k);
                None
            }
        }
    }
    fn pin(&self) {}
    fn pinned_get<'g>(&self, _: &'g (), _: u64) -> Option<&'g Val> {
        None
    }
}
