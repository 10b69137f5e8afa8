//! Random operation sequences on each map compared with std `HashMap`, with
//! values that count their drops. See `src/model.rs`.
#![no_main]

use epochmap_fuzz::targets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: targets::ModelInput| targets::model(input));
