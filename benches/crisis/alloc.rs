//! The counting global allocator for C8 (memory): the test kit's
//! (`tests/kit`, [`KitAlloc`]). Counting is off except while C8 measures, so
//! that a shared counter never slows the throughput scenarios (maps that
//! allocate per operation would pay for it more than others). While on, it
//! tracks live bytes and their peak.

pub use epochmap_testkit::alloc::{live_and_peak, start, stop, KitAlloc as Counting};
