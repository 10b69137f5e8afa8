//! The entry API, `update`, `compute`, `get_or_insert_with` and `retain` with
//! closures that panic, and hashers that panic; the map must stay consistent
//! with a model. See `src/closures.rs`.
#![no_main]

use epochmap_fuzz::targets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: targets::ClosuresInput| targets::closures(input));
