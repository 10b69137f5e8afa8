//! A value whose `Drop` writes to the map, run by epoch reclamation on a
//! thread with a small stack.
//!
//! Regression test for the CI failure of 2026-11-22: collecting garbage runs
//! deferred destructors; a destructor that inserts can merge, and a merge
//! flushed this thread's garbage again from inside the first flush. Each level
//! collected more destructors that flushed again, so the recursion depth grew
//! with the garbage backlog and overflowed a 2 MiB test-thread stack (debug
//! build). Nested flushes are now skipped (`reclaim::flush`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};

use epochmap::AtomicPtrMap;

static MAP: OnceLock<Arc<AtomicPtrMap<u64, Reenter>>> = OnceLock::new();
static NEXT_KEY: AtomicU64 = AtomicU64::new(1 << 40);
static REENTERED: AtomicU64 = AtomicU64::new(0);

struct Reenter {
    armed: bool,
}

impl Drop for Reenter {
    fn drop(&mut self) {
        if self.armed {
            let k = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            map().insert(k, Reenter { armed: false });
            REENTERED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn map() -> &'static Arc<AtomicPtrMap<u64, Reenter>> {
    MAP.get_or_init(|| {
        Arc::new(
            AtomicPtrMap::builder()
                .partitions(1)
                .merge_threshold(1)
                .merge_ratio(1024)
                .build()
                .unwrap(),
        )
    })
}

#[test]
fn reentrant_drops_do_not_recurse_through_a_garbage_backlog() {
    let backlog: u64 = if cfg!(miri) { 200 } else { 20_000 };
    // A reader that stays pinned keeps the epoch from advancing, so every
    // retired value waits: the backlog a long iteration would cause.
    let (pinned_tx, pinned_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let guard = map().pin_owned();
        pinned_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(guard);
    });
    pinned_rx.recv().unwrap();

    // The writer runs on a small stack: a depth that grows with the backlog
    // overflows it, a bounded depth does not.
    let writer = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            for i in 0..backlog {
                map().insert(i % 8, Reenter { armed: true });
            }
            release_tx.send(()).unwrap();
            // Epochs may advance now: new keys merge (threshold 1) and each
            // merge flushes, running the backlog's re-entering destructors.
            let mut i = 0u64;
            while REENTERED.load(Ordering::Relaxed) < backlog / 2 {
                map().insert(1_000_000 + i, Reenter { armed: false });
                map().shrink_to_fit();
                i += 1;
                assert!(i < 100 * backlog, "retired values were never dropped");
            }
        })
        .unwrap();
    writer.join().expect("writer thread (small stack) failed");
    reader.join().unwrap();
    assert!(map().len() >= 8);
}
