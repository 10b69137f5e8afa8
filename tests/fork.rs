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

use epochmap::AtomicPtrMap;
use epochmap_testkit::alloc::{self, KitAlloc};

#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

/// Keys per map: one partition of them retires snapshot and overlay arrays
/// far above 64 KiB as it merges.
const KEYS: u64 = 200_000;

/// Live bytes allowed after the map is dropped and its garbage collected:
/// what per-thread pools and epoch bags keep, far below one retired
/// snapshot (several MiB at this size).
const SLACK: i64 = 256 * 1024;

/// Counts live bytes from zero, fills a one-partition map (merges retire
/// large arrays), drops it, and drives reclamation until the live bytes
/// fall to `SLACK` or a bounded number of rounds has passed. Returns the
/// peak and the final live bytes.
fn fill_drop_and_collect() -> (i64, i64) {
    alloc::start();
    {
        let map: AtomicPtrMap<u64, u64> = AtomicPtrMap::builder().partitions(1).build().unwrap();
        for k in 0..KEYS {
            map.insert(k, k);
        }
        map.shrink_to_fit();
        assert_eq!(map.len(), KEYS as usize);
    }
    let (_, peak) = alloc::live_and_peak();
    // Retired arrays are freed some epochs later (deferred destructors run
    // by a collecting pin hand them to the reclaimer), then by the reclaimer
    // thread: no bound on when, so poll, for up to about ten seconds.
    for round in 0..10_000 {
        if alloc::live_bytes() <= SLACK {
            break;
        }
        crossbeam_epoch::pin().flush();
        if round < 1000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let live = alloc::live_bytes();
    alloc::stop();
    (peak, live)
}

/// The child's exit statuses.
const FREED: i32 = 0;
const LEAKED: i32 = 1;
const PANICKED: i32 = 2;

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
        let status = match std::panic::catch_unwind(fill_drop_and_collect) {
            Ok((peak, live)) if live <= SLACK && peak > 4 * SLACK => FREED,
            Ok((peak, live)) => {
                let msg =
                    format!("child: {live} bytes still live after collection (peak {peak})\n");
                // SAFETY: writes `msg`'s initialised bytes to stderr.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                LEAKED
            }
            Err(_) => PANICKED,
        };
        // SAFETY: ends the child without running the parent's copies of
        // exit handlers or the harness.
        unsafe { libc::_exit(status) };
    }

    // Wait for the child, for up to two minutes (it needs well under one):
    // a child that hangs fails the test instead of hanging it.
    let mut status = 0;
    let mut waited = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            break;
        }
        if waited == 120_000 {
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the child hung (killed after two minutes)");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        waited += 1;
    }
    assert!(
        libc::WIFEXITED(status),
        "the child did not exit normally: status {status:#x}"
    );
    match libc::WEXITSTATUS(status) {
        FREED => {}
        LEAKED => {
            panic!("the child never freed the large arrays it retired (its stderr has the figures)")
        }
        PANICKED => panic!("the child panicked"),
        other => panic!("the child exited with {other}"),
    }
}
