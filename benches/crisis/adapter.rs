//! The small traits every map under test implements on top of the test
//! kit's [`ConcurrentMap`].
//!
//! Adding a map to the suite is one file in `maps/` with a zero-sized
//! [`MapKind`] marker and a type implementing [`ConcurrentMap`] (a peer: a
//! newtype in that file; our maps: the kit's impls) and [`CrisisMap`], plus
//! one line in `maps/mod.rs`. Keys are `u64`; values are `u64` in every
//! scenario but C10, which stores a small `Session` struct and updates it
//! copy-on-write.

pub use epochmap_testkit::map::ConcurrentMap;

/// A value the maps store: `u64`, or the C10 `Session` struct.
pub trait Value: Clone + Send + Sync + 'static {}

impl Value for u64 {}

/// What the scenarios need beyond [`ConcurrentMap`] (the adapter shared
/// with the tests and the fuzz targets, in the test kit:
/// `tests/kit/src/map.rs`, which holds every map operation and its
/// contract, and its impls for our two maps): construction with a capacity
/// hint and the snapshot traversal. Keys are `u64`.
pub trait CrisisMap<V: Value>: ConcurrentMap<u64, V> + Sized {
    /// Whether `len` is exact once no thread writes (checked after each run
    /// when true; the traversal count is checked for every map).
    const EXACT_LEN: bool = true;
    /// A new map sized for about `capacity` entries (0: the map's default).
    fn with_capacity(capacity: usize) -> Self;
    /// Takes the map's copy of itself for reading (see
    /// [`MapKind::SNAPSHOT`]), then calls `f` on each entry of that copy.
    fn snapshot_for_each(&self, f: impl FnMut(&u64, &V));
}

/// Names a map family; its adapter is generic over the value type.
pub trait MapKind: 'static {
    /// Short id used by `--map` (e.g. `dashmap`).
    const ID: &'static str;
    /// Display name in tables and charts.
    const NAME: &'static str;
    /// True for this crate's maps (they are compared against the best peer).
    const OURS: bool;
    /// How `for_each` traverses while others write.
    const TRAVERSAL: &'static str;
    /// How `snapshot_for_each` obtains its copy.
    const SNAPSHOT: &'static str;
    /// Whether that copy is a single point in time.
    const POINT_IN_TIME: bool;
    /// The adapter for values of type `V`.
    type Map<V: Value>: CrisisMap<V>;
    /// The adapter of the Go shapes (`Map<u64>`).
    type Go: GoMap;
}

/// Go's `sync.Map` operations beyond [`ConcurrentMap`], for the Go shapes
/// (`Load` is [`ConcurrentMap::get_cloned`], `Store`
/// [`ConcurrentMap::insert`], `Delete` [`ConcurrentMap::remove`], `Range`
/// [`ConcurrentMap::for_each`], `Clear` [`ConcurrentMap::clear`]). Each is the
/// map's idiomatic operation and atomic per key, as Go's are, unless
/// [`GoMap::EMULATED`] says otherwise.
pub trait GoMap: CrisisMap<u64> {
    /// Which of the map's operations serve Go's, in one line (shown in the
    /// report). An operation emulated without Go's atomicity says "racy".
    const OPS: &'static str;
    /// `LoadOrStore`: the present value and true, or stores `value` and
    /// returns it and false.
    fn load_or_store(&self, key: u64, value: u64) -> (u64, bool);
    /// `LoadAndDelete`: removes `key`, returning its value.
    fn load_and_delete(&self, key: u64) -> Option<u64>;
    /// `Swap`: stores `value`, returning the previous value.
    fn swap(&self, key: u64, value: u64) -> Option<u64>;
    /// `CompareAndSwap`: stores `new` if `key` holds `old`; whether it did.
    fn compare_and_swap(&self, key: u64, old: u64, new: u64) -> bool;
    /// `CompareAndDelete`: removes `key` if it holds `old`; whether it did.
    fn compare_and_delete(&self, key: u64, old: u64) -> bool;
    /// `Range` that stops after the first entry: that entry's key. The
    /// traversal has ended when this returns (AdversarialDelete then
    /// deletes the key; Go deletes from inside the callback, which would
    /// deadlock a map that locks while iterating).
    fn first_key(&self) -> Option<u64>;
}
