//! What the fork tests (`fork.rs`, `fork_pid_namespace.rs`) share: the
//! workload whose large arrays must be freed, its measure, the exit
//! statuses a forked child reports, and the parent's bounded wait. Each
//! test binary installs the counting allocator itself (`KitAlloc`).

use epochmap::AtomicPtrMap;
use epochmap_testkit::alloc;

/// Keys per map: one partition of them retires snapshot and overlay arrays
/// far above 64 KiB as it merges.
pub const KEYS: u64 = 200_000;

/// Live bytes allowed after the map is dropped and its garbage collected:
/// what per-thread pools and epoch bags keep, far below one retired
/// snapshot (several MiB at this size).
pub const SLACK: i64 = 256 * 1024;

/// Exit statuses of a forked child.
pub const FREED: i32 = 0;
pub const LEAKED: i32 = 1;
pub const PANICKED: i32 = 2;

/// Counts live bytes from zero, fills a one-partition map (merges retire
/// large arrays), drops it, and drives reclamation until the live bytes
/// fall to `SLACK` or a bounded number of rounds has passed. Returns the
/// peak and the final live bytes.
pub fn fill_drop_and_collect() -> (i64, i64) {
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

/// Fills and drops a map in this process: `FREED`, or `LEAKED` with the
/// figures on stderr (`who` names the process).
pub fn measure(who: &str) -> i32 {
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

/// Writes `msg` to stderr without locking (a forked child).
pub fn say(msg: &str) {
    // SAFETY: writes `msg`'s initialised bytes to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Ends a forked child without running the parent's copies of exit
/// handlers or the harness.
pub fn exit(status: i32) -> ! {
    // SAFETY: as above; `_exit` has no preconditions.
    unsafe { libc::_exit(status) }
}

/// Waits for the child `pid`, for up to two minutes (it needs well under
/// one): a child that hangs is killed and fails the test (`who` names it)
/// instead of hanging it. Returns its exit status; panics if it did not
/// exit normally.
pub fn wait_for(pid: libc::pid_t, who: &str) -> i32 {
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
            panic!("{who} hung (killed after two minutes)");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        waited += 1;
    }
    assert!(
        libc::WIFEXITED(status),
        "{who} did not exit normally: status {status:#x}"
    );
    libc::WEXITSTATUS(status)
}
