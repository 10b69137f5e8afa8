//! Live iterators interleaved with deletes, re-inserts, overwrites, `retain`,
//! `clear` and merges, single-threaded (deterministic) or with a second
//! thread writing while the first traverses. See `src/iter_delete.rs`.
#![no_main]

use epochmap_fuzz::maps::MapChoice;
use epochmap_fuzz::{iter_delete, val::Drops, with_map};
use libfuzzer_sys::fuzz_target;

#[derive(arbitrary::Arbitrary, Debug)]
enum Mode {
    Single(iter_delete::SingleInput),
    Threaded(iter_delete::ThreadedInput),
}

fuzz_target!(|input: (MapChoice, Mode)| {
    let (choice, mode) = input;
    let drops = Drops::new();
    with_map!(choice, |map, policy| match &mode {
        Mode::Single(s) => {
            iter_delete::run_single(map, &drops, s, policy);
        }
        Mode::Threaded(t) => iter_delete::run_threaded(map, &drops, t),
    });
    drops.assert_all_dropped("iter_delete");
});
