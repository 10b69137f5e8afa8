//! `AtomicPtrMap` in a child process forked without exec (a pre-fork
//! server): the child has none of the parent's threads, the reclaimer that
//! frees retired arrays of 64 KiB or more included, so the child must start
//! its own. When it handed them to the parent's (absent) thread instead, the
//! child never freed them: this test's child kept megabytes live after
//! dropping its map.
//!
//! One test in its own binary: at the fork, the only other threads are the
//! test harness's main thread (waiting for this test) and the parent's
//! reclaimer, neither inside a map call. The counting global allocator is
//! process-wide, which a binary of one test also keeps to itself.
#![cfg(unix)]

mod fork_common;

use epochmap_testkit::alloc::KitAlloc;
use fork_common::{exit, fill_drop_and_collect, measure, wait_for, FREED, LEAKED, PANICKED, SLACK};

#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

#[test]
fn a_forked_child_frees_the_large_arrays_it_retires() {
    // In the parent first: this starts the parent's reclaimer (which the
    // child then inherits a copy of), and shows that the measure works.
    let (peak, live) = fill_drop_and_collect();
    assert!(
        peak > 4 * SLACK,
        "the map is too small to test anything: peak {peak}"
    );
    assert!(
        live <= SLACK,
        "the parent kept {live} bytes live (peak {peak})"
    );

    // SAFETY: `fork` has no preconditions. The child runs only this test's
    // code, the map and the allocator, and leaves by `_exit`, never
    // returning into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        exit(std::panic::catch_unwind(|| measure("child")).unwrap_or(PANICKED));
    }
    match wait_for(pid, "the child") {
        FREED => {}
        LEAKED => {
            panic!("the child never freed the large arrays it retired (its stderr has the figures)")
        }
        PANICKED => panic!("the child panicked"),
        other => panic!("the child exited with {other}"),
    }
}
