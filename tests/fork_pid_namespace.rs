//! `AtomicPtrMap` in a forked child that has the process id of the process
//! whose reclaimer it inherited: the child of a pid 1 forked into a new pid
//! namespace is pid 1 too. Told from its parent by the process id alone,
//! such a child took the parent's reclaimer (whose thread it does not
//! have) for its own, and pushed every large array it retired to a queue
//! that no thread empties: this test's grandchild kept megabytes live after
//! dropping its map.
//!
//! The chain: this process forks A, which enters new user and pid
//! namespaces (the user namespace only if it needs one for the
//! privileges) and forks B, pid 1 of that pid namespace; B fills and drops
//! a map (its reclaimer records pid 1), enters a nested pid namespace and
//! forks C, pid 1 again, which fills and drops a map and measures what it
//! left live. Where the kernel refuses the namespaces (no user namespaces
//! for unprivileged users, a seccomp filter), the test says so on stderr
//! and passes without having tested anything.
//!
//! One test in its own binary, for the reasons of `fork.rs`: no other
//! thread inside a map call at a fork, and a process-wide counting
//! allocator.
#![cfg(target_os = "linux")]

use epochmap::AtomicPtrMap;
use epochmap_testkit::alloc::{self, KitAlloc};

#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

/// Keys per map: one partition of them retires snapshot and overlay arrays
/// far above 64 KiB as it merges.
const KEYS: u64 = 200_000;

/// Live bytes allowed after the map is dropped and its garbage collected
/// (as in `fork.rs`).
const SLACK: i64 = 256 * 1024;

/// Counts live bytes from zero, fills a one-partition map, drops it, and
/// drives reclamation until the live bytes fall to `SLACK` or a bounded
/// number of rounds has passed. Returns the peak and the final live bytes.
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

/// The exit statuses of A, B and C (each relays its child's).
const FREED: i32 = 0;
const LEAKED: i32 = 1;
const PANICKED: i32 = 2;
const NO_NAMESPACES: i32 = 3;
const NOT_PID_1: i32 = 4;
const FAILED: i32 = 5;

/// Writes `msg` to stderr without locking (a forked child).
fn say(msg: &str) {
    // SAFETY: writes `msg`'s initialised bytes to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Ends a forked child.
fn exit(status: i32) -> ! {
    // SAFETY: ends the child without running the parent's copies of exit
    // handlers or the harness.
    unsafe { libc::_exit(status) }
}

/// Enters a new pid namespace: the next child of this process is its
/// pid 1. With `user_too`, falls back to new user and pid namespaces when
/// the process lacks the privilege for a pid namespace alone (allowed to a
/// single-threaded process only).
fn new_pid_namespace(user_too: bool) -> bool {
    // SAFETY: `unshare` has no memory preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } == 0 {
        return true;
    }
    // SAFETY: as above.
    user_too && unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID) } == 0
}

/// Forks, runs `child` in the child (its return value is the child's exit
/// status) and returns the child's exit status, or `FAILED`.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: `fork` has no preconditions. The child runs only `child`, the
    // map and the allocator, and leaves by `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return FAILED;
    }
    if pid == 0 {
        let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
        exit(status.unwrap_or(PANICKED));
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return FAILED;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        FAILED
    }
}

/// Fills and drops a map in this process: `FREED` or `LEAKED`.
fn measure(who: &str) -> i32 {
    let (peak, live) = fill_drop_and_collect();
    if live <= SLACK && peak > 4 * SLACK {
        FREED
    } else {
        say(&format!(
            "{who}: {live} bytes still live after collection (peak {peak})\n"
        ));
        LEAKED
    }
}

/// Process A: a pid namespace, and B in it.
fn a() -> i32 {
    if !new_pid_namespace(true) {
        return NO_NAMESPACES;
    }
    in_child(b)
}

/// Process B, pid 1: starts a reclaimer recorded as pid 1, then C.
fn b() -> i32 {
    if std::process::id() != 1 {
        return NOT_PID_1;
    }
    let status = measure("B (pid 1 of a new pid namespace)");
    if status != FREED {
        return status;
    }
    // B has a reclaimer thread now: a pid namespace alone (B has the
    // privilege in its user namespace).
    if !new_pid_namespace(false) {
        return NO_NAMESPACES;
    }
    in_child(c)
}

/// Process C, pid 1 again, with a copy of B's reclaimer (pid 1).
fn c() -> i32 {
    if std::process::id() != 1 {
        return NOT_PID_1;
    }
    measure("C (pid 1, forked by a pid 1)")
}

#[test]
fn a_child_with_its_parents_pid_frees_the_large_arrays_it_retires() {
    // Starts this process's reclaimer and shows that the measure works.
    let (peak, live) = fill_drop_and_collect();
    assert!(
        peak > 4 * SLACK,
        "the map is too small to test anything: peak {peak}"
    );
    assert!(
        live <= SLACK,
        "this process kept {live} bytes live (peak {peak})"
    );

    // SAFETY: as in `in_child`; waited for below with a time limit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = std::panic::catch_unwind(a).unwrap_or(PANICKED);
        exit(status);
    }
    // Wait for A, for up to two minutes (it needs well under one): a chain
    // that hangs fails the test instead of hanging it.
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
            // SAFETY: `pid` is our child, not yet reaped. (Only A is
            // killed: a hung B, and C with it, are left to the system.)
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("a process of the chain hung (A killed after two minutes)");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        waited += 1;
    }
    assert!(
        libc::WIFEXITED(status),
        "A did not exit normally: status {status:#x}"
    );
    match libc::WEXITSTATUS(status) {
        FREED => {}
        NO_NAMESPACES => eprintln!(
            "SKIPPED: the kernel refused new pid (and user) namespaces here; \
             nothing was tested"
        ),
        LEAKED => panic!(
            "a child with its parent's process id never freed the large arrays it retired \
             (stderr has the figures)"
        ),
        NOT_PID_1 => panic!("a process forked into a new pid namespace was not pid 1"),
        PANICKED => panic!("a process of the chain panicked"),
        other => panic!("the chain ended with status {other}"),
    }
}
