//! One small adapter trait over the maps under test, so that each target is
//! written once. Keys are `u64`, values are [`Val`]s; every adapter checks
//! every value it reads ([`Val::check`]) before it reports the value's id.

use crate::val::Val;

/// The operations the targets drive. Methods take `&mut dyn FnMut` so the
/// trait stays object safe; each adapter maps them onto its map's API.
pub trait FuzzMap: Send + Sync {
    /// A handle under which values read stay valid (AtomicPtrMap's pinned
    /// handle); `()` for maps without one.
    type Pinned<'a>
    where
        Self: 'a;

    /// Name and configuration, for messages.
    fn describe(&self) -> String;
    /// Inserts or overwrites; the id of the value replaced.
    fn insert(&self, k: u64, v: Val) -> Option<u64>;
    /// Removes; the id of the value removed.
    fn remove(&self, k: u64) -> Option<u64>;
    /// The id of the value stored under `k`.
    fn get(&self, k: u64) -> Option<u64>;
    /// Whether `k` is present.
    fn contains_key(&self, k: u64) -> bool;
    /// Number of entries.
    fn len(&self) -> usize;
    /// Whether the map is empty.
    fn is_empty(&self) -> bool;
    /// Removes every entry.
    fn clear(&self);
    /// Keeps the entries for which `f` returns true.
    fn retain(&self, f: &mut dyn FnMut(u64, &Val) -> bool);
    /// Folds pending changes into the read structure (AtomicPtrMap's merge);
    /// nothing for maps without one.
    fn compact(&self);
    /// A live iterator; each item is checked and reported as (key, id).
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_>;
    /// The value of `k`, inserting `f()` first when absent; its id.
    fn get_or_insert_with(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64;
    /// Replaces the value of a present key by `f(old)`; false when absent.
    /// (`f` may run more than once on maps that retry on conflict.)
    fn update(&self, k: u64, f: &mut dyn FnMut(&Val) -> Val) -> bool;
    /// Inserts, replaces or removes in one step: `f(current)` returns the new
    /// value or `None` to remove. Returns the id now stored.
    fn compute(&self, k: u64, f: &mut dyn FnMut(Option<&Val>) -> Option<Val>) -> Option<u64>;
    /// Opens a pinned handle.
    fn pin(&self) -> Self::Pinned<'_>;
    /// A reference to the value of `k` that must stay valid (and unchanged)
    /// for as long as the pinned handle lives, whatever else happens to the
    /// map. `None` when absent, or when the map has no such reads.
    fn pinned_get<'g>(&self, p: &'g Self::Pinned<'_>, k: u64) -> Option<&'g Val>;
}

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
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn w(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::HashMap<u64, Val>> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// A reference map whose iterators yield their first key twice.
    pub fn with_duplicate_fault() -> Self {
        Reference {
            fault_duplicate: true,
            ..Default::default()
        }
    }
}

impl FuzzMap for Reference {
    type Pinned<'a> = ();

    fn describe(&self) -> String {
        "Reference(RwLock<HashMap>)".into()
    }
    fn insert(&self, k: u64, v: Val) -> Option<u64> {
        self.w().insert(k, v).map(|o| o.check(k))
    }
    fn remove(&self, k: u64) -> Option<u64> {
        self.w().remove(&k).map(|o| o.check(k))
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.r().get(&k).map(|v| v.check(k))
    }
    fn contains_key(&self, k: u64) -> bool {
        self.r().contains_key(&k)
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
    fn retain(&self, f: &mut dyn FnMut(u64, &Val) -> bool) {
        self.w().retain(|k, v| f(*k, v))
    }
    fn compact(&self) {}
    fn iter(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        // A copy: the reference map is only for the harness's own tests.
        let mut items: Vec<(u64, u64)> = self.r()
            .iter()
            .map(|(k, v)| (*k, v.check(*k)))
            .collect();
        if self.fault_duplicate {
            if let Some(&first) = items.first() {
                items.push(first);
            }
        }
        Box::new(items.into_iter())
    }
    fn get_or_insert_with(&self, k: u64, f: &mut dyn FnMut() -> Val) -> u64 {
        self.w()
            .entry(k)
            .or_insert_with(f)
            .check(k)
    }
    fn update(&self, k: u64, f: &mut dyn FnMut(&Val) -> Val) -> bool {
        let mut m = self.w();
        match m.get_mut(&k) {
            Some(v) => {
                *v = f(v);
                true
            }
            None => false,
        }
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

/// Which map, in which configuration, from the first bytes of an input.
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub struct MapChoice {
    /// Picks the map.
    pub which: u8,
    /// Picks its configuration.
    pub config: u8,
}

/// Builds the map `choice` names and evaluates `$body` with `$map` bound to
/// a reference to it and `$policy` to its [`WritePolicy`](crate::iter_delete::WritePolicy).
/// The map is dropped at the end of the block.
#[macro_export]
macro_rules! with_map {
    ($choice:expr, |$map:ident, $policy:ident| $body:expr) => {{
        let choice: $crate::maps::MapChoice = $choice;
        match choice.which % 1 {
            _ => {
                let owned = $crate::maps::Reference::default();
                let $map = &owned;
                let $policy = $crate::iter_delete::WritePolicy::Always;
                $body
            }
        }
    }};
}
