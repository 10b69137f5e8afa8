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

mod fork_common;

use epochmap_testkit::alloc::KitAlloc;
use fork_common::{exit, fill_drop_and_collect, measure, wait_for, FREED, LEAKED, PANICKED, SLACK};

#[global_allocator]
static ALLOC: KitAlloc = KitAlloc;

/// The exit statuses of A, B and C besides `fork_common`'s (each relays its
/// child's).
const NO_NAMESPACES: i32 = 3;
const NOT_PID_1: i32 = 4;
const FAILED: i32 = 5;

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
    // (A hung chain: only A is killed; a hung B, and C with it, are left
    // to the system.)
    match wait_for(pid, "a process of the chain (A)") {
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
