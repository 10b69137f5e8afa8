//! Random operation sequences on each map compared with std `HashMap`, with
//! values that count their drops. See `src/model.rs`.
#![no_main]

use epochmap_fuzz::maps::MapChoice;
use epochmap_fuzz::{model, val::Drops, with_map};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (MapChoice, model::ModelInput)| {
    let (choice, input) = input;
    let drops = Drops::new();
    with_map!(choice, |map, _policy| model::run_model(map, &drops, &input));
    drops.assert_all_dropped("model");
});
