//! Deliberately broken maps for the suite's self-test (`--self-test`, also
//! run by `--smoke`): each breaks one promise, and the scenario that checks
//! that promise must fail. Mode 0 is the same map unbroken, which must pass,
//! so a check that fires on everything is caught too.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::adapter::{ConcurrentMap, CrisisMap, GoMap, MapKind, Value};
use crate::maps::{hasher, Hasher};

/// What the map gets wrong.
pub mod mode {
    pub const NONE: u8 = 0;
    /// `get` of one key in 64 returns nothing although it is present.
    pub const MISSING_GET: u8 = 1;
    /// The live traversal skips one entry in 1,000 (a map that "looks fast").
    pub const SKIPPING_TRAVERSAL: u8 = 2;
    /// The live traversal yields one entry in 1,000 twice.
    pub const REPEATING_TRAVERSAL: u8 = 3;
    /// One `update` in 100 reports success but changes nothing.
    pub const LOST_UPDATE: u8 = 4;
    /// `len` is off by one.
    pub const WRONG_LEN: u8 = 5;
    /// Go's `LoadOrStore` overwrites a present value (a Store in disguise).
    pub const OVERWRITING_LOAD_OR_STORE: u8 = 6;
    /// Go's `CompareAndSwap` swaps whatever the key holds.
    pub const BLIND_COMPARE_AND_SWAP: u8 = 7;
}

/// Marker of a broken map.
pub struct Broken<const MODE: u8>;

impl<const MODE: u8> MapKind for Broken<MODE> {
    const ID: &'static str = "broken";
    const NAME: &'static str = "broken (self-test)";
    const OURS: bool = false;
    const TRAVERSAL: &'static str = "";
    const SNAPSHOT: &'static str = "";
    const POINT_IN_TIME: bool = true;
    type Map<V: Value> = Adapter<V, MODE>;
    type Go = Adapter<u64, MODE>;
}

/// A mutex-protected std map with one deliberate fault.
pub struct Adapter<V, const MODE: u8>(Mutex<(HashMap<u64, V, Hasher>, u64)>);

impl<V: Value, const MODE: u8> ConcurrentMap<u64, V> for Adapter<V, MODE> {
    fn insert(&self, key: u64, value: V) -> bool {
        self.0.lock().unwrap().0.insert(key, value).is_some()
    }
    fn remove(&self, key: &u64) -> bool {
        self.0.lock().unwrap().0.remove(key).is_some()
    }
    fn get_cloned(&self, key: &u64) -> Option<V> {
        if MODE == mode::MISSING_GET && key.is_multiple_of(64) {
            return None;
        }
        self.0.lock().unwrap().0.get(key).cloned()
    }
    fn contains_key(&self, key: &u64) -> bool {
        self.0.lock().unwrap().0.contains_key(key)
    }
    fn update(&self, key: &u64, f: impl Fn(&V) -> V) -> bool {
        let mut g = self.0.lock().unwrap();
        g.1 += 1;
        let lose = MODE == mode::LOST_UPDATE && g.1.is_multiple_of(100);
        match g.0.get_mut(key) {
            Some(v) => {
                if !lose {
                    *v = f(v);
                }
                true
            }
            None => false,
        }
    }
    fn get_or_insert_with(&self, key: u64, f: impl FnOnce() -> V) -> V {
        self.0
            .lock()
            .unwrap()
            .0
            .entry(key)
            .or_insert_with(f)
            .clone()
    }
    fn for_each(&self, mut f: impl FnMut(&u64, &V)) {
        for (i, (k, v)) in self.0.lock().unwrap().0.iter().enumerate() {
            match MODE {
                mode::SKIPPING_TRAVERSAL if i % 1000 == 999 => {}
                mode::REPEATING_TRAVERSAL if i % 1000 == 999 => {
                    f(k, v);
                    f(k, v);
                }
                _ => f(k, v),
            }
        }
    }
    fn retain(&self, mut f: impl FnMut(&u64, &V) -> bool) {
        self.0.lock().unwrap().0.retain(|k, v| f(k, v));
    }
    fn len(&self) -> usize {
        let n = self.0.lock().unwrap().0.len();
        if MODE == mode::WRONG_LEN {
            n + 1
        } else {
            n
        }
    }
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().0.is_empty()
    }
    fn clear(&self) {
        self.0.lock().unwrap().0.clear();
    }
}

impl<V: Value, const MODE: u8> CrisisMap<V> for Adapter<V, MODE> {
    fn with_capacity(capacity: usize) -> Self {
        Self(Mutex::new((
            HashMap::with_capacity_and_hasher(capacity, hasher()),
            0,
        )))
    }
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V)) {
        self.for_each(f)
    }
}

/// The self-test: (scenario key, mode, must fail).
pub fn cases() -> Vec<(&'static str, u8, crate::maps::RunFn)> {
    use crate::scenarios::run;
    vec![
        ("C2", mode::NONE, run::<Broken<{ mode::NONE }>>),
        (
            "C2",
            mode::MISSING_GET,
            run::<Broken<{ mode::MISSING_GET }>>,
        ),
        ("C6", mode::NONE, run::<Broken<{ mode::NONE }>>),
        (
            "C6",
            mode::SKIPPING_TRAVERSAL,
            run::<Broken<{ mode::SKIPPING_TRAVERSAL }>>,
        ),
        (
            "C6",
            mode::REPEATING_TRAVERSAL,
            run::<Broken<{ mode::REPEATING_TRAVERSAL }>>,
        ),
        ("C10", mode::NONE, run::<Broken<{ mode::NONE }>>),
        (
            "C10",
            mode::LOST_UPDATE,
            run::<Broken<{ mode::LOST_UPDATE }>>,
        ),
        ("C1", mode::NONE, run::<Broken<{ mode::NONE }>>),
        ("C1", mode::WRONG_LEN, run::<Broken<{ mode::WRONG_LEN }>>),
        (
            "G-LoadOrStoreBalanced",
            mode::NONE,
            run::<Broken<{ mode::NONE }>>,
        ),
        (
            "G-LoadOrStoreBalanced",
            mode::OVERWRITING_LOAD_OR_STORE,
            run::<Broken<{ mode::OVERWRITING_LOAD_OR_STORE }>>,
        ),
        (
            "G-CompareAndSwapValueNotEqual",
            mode::NONE,
            run::<Broken<{ mode::NONE }>>,
        ),
        (
            "G-CompareAndSwapValueNotEqual",
            mode::BLIND_COMPARE_AND_SWAP,
            run::<Broken<{ mode::BLIND_COMPARE_AND_SWAP }>>,
        ),
    ]
}

/// Go's operations, correct but in the modes that break them.
impl<const MODE: u8> GoMap for Adapter<u64, MODE> {
    const OPS: &'static str = "std HashMap under a Mutex";
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool) {
        let mut g = self.0.lock().unwrap();
        if MODE == mode::OVERWRITING_LOAD_OR_STORE {
            return match g.0.insert(key, value) {
                Some(old) => (old, true),
                None => (value, false),
            };
        }
        match g.0.get(&key) {
            Some(v) => (*v, true),
            None => {
                g.0.insert(key, value);
                (value, false)
            }
        }
    }
    fn load_and_delete(&self, key: u64) -> Option<u64> {
        self.0.lock().unwrap().0.remove(&key)
    }
    fn swap(&self, key: u64, value: u64) -> Option<u64> {
        self.0.lock().unwrap().0.insert(key, value)
    }
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool {
        match self.0.lock().unwrap().0.get_mut(&key) {
            Some(v) if *v == old || MODE == mode::BLIND_COMPARE_AND_SWAP => {
                *v = new;
                true
            }
            _ => false,
        }
    }
    fn compare_and_delete(&self, key: u64, old: u64) -> bool {
        let mut g = self.0.lock().unwrap();
        if g.0.get(&key) == Some(&old) {
            g.0.remove(&key);
            true
        } else {
            false
        }
    }
    fn first_key(&self) -> Option<u64> {
        self.0.lock().unwrap().0.keys().next().copied()
    }
}
