//! The entry API, `update`, `compute`, `get_or_insert_with` and `retain` with
//! closures that panic, and hashers that panic; the map must stay consistent
//! with a model. See `src/closures.rs`.
#![no_main]

use epochmap_fuzz::maps::MapChoice;
use epochmap_fuzz::{closures, val::Drops, with_map};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (MapChoice, closures::ClosuresInput)| {
    let (choice, input) = input;
    let drops = Drops::new();
    with_map!(choice, |map, _policy| closures::run_closures(
        map, &drops, &input
    ));
    drops.assert_all_dropped("closures");
});
