//! Live iterators interleaved with deletes, re-inserts, overwrites, `retain`,
//! `clear` and merges, single-threaded (deterministic) or with a second
//! thread writing while the first traverses. See `src/iter_delete.rs`.
#![no_main]

use epochmap_fuzz::targets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: targets::IterDeleteInput| targets::iter_delete(input));
