//! [`KitAlloc`]: the one global allocator of the tests and benches that
//! need one. Install it in a test binary or bench with
//!
//! ```
//! use epochmap_testkit::alloc::{self, KitAlloc};
//!
//! #[global_allocator]
//! static ALLOC: KitAlloc = KitAlloc;
//!
//! alloc::start();
//! let v = vec![0u8; 4096];
//! assert!(alloc::live_and_peak().0 >= 4096);
//! drop(v);
//! alloc::stop();
//! // At most one allocation of a MiB or more: the second is refused.
//! alloc::with_large_allocations(1, || {
//!     let a: Vec<u8> = Vec::with_capacity(alloc::LARGE);
//!     let mut b: Vec<u8> = Vec::new();
//!     assert!(b.try_reserve_exact(alloc::LARGE).is_err());
//!     drop(a);
//! });
//! ```
//!
//! It forwards to [`System`], and:
//! - counts live bytes and their peak while counting is on ([`start`],
//!   [`live_and_peak`], [`stop`]); off by default, so that a shared counter
//!   never slows a throughput measurement;
//! - refuses any single allocation above its `MAX` parameter (a map whose
//!   tables grow without bound then fails at once instead of exhausting the
//!   machine);
//! - refuses allocations of at least [`LARGE`] bytes beyond a budget, on
//!   demand ([`with_large_allocations`]), to test allocation failure.
//!
//! The state is process-wide: a test binary that changes it should hold one
//! test, or serialise the tests that do.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

/// The kit's global allocator (see the module docs). `MAX` bounds every
/// single allocation: a request above it is refused (null, so the process
/// aborts with "memory allocation of N bytes failed" at once instead of
/// exhausting the machine's memory).
pub struct KitAlloc<const MAX: usize = { usize::MAX }>;

/// Allocations of at least this many bytes are "large".
pub const LARGE: usize = 1 << 20;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Large allocations still allowed; `usize::MAX`: unlimited.
static LARGE_LEFT: AtomicUsize = AtomicUsize::new(usize::MAX);

#[inline]
fn count(bytes: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

/// Whether an allocation of `size` bytes is allowed (and, if large, takes
/// one from the budget).
#[inline]
fn allowed(size: usize, max: usize) -> bool {
    if size > max {
        return false;
    }
    size < LARGE
        || LARGE_LEFT
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
                usize::MAX => Some(n),
                0 => None,
                n => Some(n - 1),
            })
            .is_ok()
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, or returns null, which `GlobalAlloc` permits for any request;
// the bookkeeping only touches atomics and never allocates.
unsafe impl<const MAX: usize> GlobalAlloc for KitAlloc<MAX> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size(), MAX) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size(), MAX) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract: `ptr`
        // came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !allowed(new_size, MAX) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

/// Starts counting from zero (live bytes and their peak).
pub fn start() {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
}

/// Bytes allocated and not freed since [`start`] (frees of older blocks
/// count negative), and the peak of that figure.
pub fn live_and_peak() -> (i64, i64) {
    (LIVE.load(Ordering::SeqCst), PEAK.load(Ordering::SeqCst))
}

/// Turns counting on without resetting anything (for tests that run in
/// parallel in one binary and measure differences of [`live_bytes`]).
pub fn keep_counting() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Bytes counted live now (see [`start`] and [`keep_counting`]).
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// Stops counting.
pub fn stop() {
    COUNTING.store(false, Ordering::SeqCst);
}

/// Runs `f` with at most `n` allocations of [`LARGE`] bytes or more allowed,
/// then lifts the limit (also if `f` panics).
pub fn with_large_allocations<R>(n: usize, f: impl FnOnce() -> R) -> R {
    struct Lift;
    impl Drop for Lift {
        fn drop(&mut self) {
            LARGE_LEFT.store(usize::MAX, Ordering::SeqCst);
        }
    }
    LARGE_LEFT.store(n, Ordering::SeqCst);
    let _lift = Lift;
    f()
}
