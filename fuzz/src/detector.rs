//! ShardMap's deadlock detector, as a fuzzing tool.
//!
//! ShardMap's iterators hold the read lock of the shard they are in, and a
//! call from the same thread that would lock that shard again panics (in
//! every build) with a message
//! saying it "would deadlock", before it takes any lock or changes anything.
//! The single-thread `iter_delete` mode relies on that: it makes every
//! single-key write and read through [`try_legal`], so the writes to other
//! shards happen between the iterator's steps, and a write to the shard the
//! iterator holds is refused and left out of the model. A write that got
//! through to a held shard would hang instead, and libFuzzer's timeout would
//! report it.
//!
//! libFuzzer's panic hook aborts on every panic; [`try_legal`] installs a
//! hook in front of it that lets the detector's panic through quietly, and
//! only while a `try_legal` call is running on the thread.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Once;

/// The words of ShardMap's detector message this module recognises.
pub const DETECTOR_MESSAGE: &str = "this would deadlock";

thread_local! {
    static EXPECTING: Cell<bool> = const { Cell::new(false) };
}

fn message(p: &(dyn std::any::Any + Send)) -> Option<&str> {
    p.downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied())
}

fn is_detector(p: &(dyn std::any::Any + Send)) -> bool {
    message(p).is_some_and(|m| m.contains(DETECTOR_MESSAGE))
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if EXPECTING.with(Cell::get) && is_detector(info.payload()) {
                return;
            }
            previous(info)
        }));
    });
}

/// Runs `f`; `None` when ShardMap's detector refused it (the call would
/// have locked a shard this thread holds). Any other panic propagates.
pub fn try_legal<R>(f: impl FnOnce() -> R) -> Option<R> {
    install_hook();
    let was = EXPECTING.with(|e| e.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    EXPECTING.with(|e| e.set(was));
    match r {
        Ok(v) => Some(v),
        Err(p) if is_detector(&*p) => None,
        Err(p) => resume_unwind(p),
    }
}
