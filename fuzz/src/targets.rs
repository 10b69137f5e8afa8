//! The three targets as functions of their decoded input, shared by the
//! libFuzzer entry points in `fuzz_targets/` and by [`replay`].

use arbitrary::{Arbitrary, Unstructured};

use crate::maps::MapChoice;
use crate::val::Drops;
use crate::{closures, iter_delete, model, with_map};

/// The `iter_delete` target's two modes.
#[derive(Arbitrary, Debug, Clone)]
pub enum Mode {
    /// One thread, live iterators interleaved with writes.
    Single(iter_delete::SingleInput),
    /// A writer thread churning keys while this thread traverses.
    Threaded(iter_delete::ThreadedInput),
}

/// Input of the `iter_delete` target.
pub type IterDeleteInput = (MapChoice, Mode);
/// Input of the `model` target.
pub type ModelInput = (MapChoice, model::ModelInput);
/// Input of the `closures` target.
pub type ClosuresInput = (MapChoice, closures::ClosuresInput);

/// The `iter_delete` target.
pub fn iter_delete((choice, mode): IterDeleteInput) {
    let drops = Drops::new();
    with_map!(choice, |map, policy| match &mode {
        Mode::Single(s) => {
            iter_delete::run_single(map, &drops, s, policy);
        }
        Mode::Threaded(t) => iter_delete::run_threaded(map, &drops, t),
    });
    drops.assert_all_dropped("iter_delete");
}

/// The `model` target.
pub fn model((choice, input): ModelInput) {
    let drops = Drops::new();
    with_map!(choice, |map, _policy| model::run_model(map, &drops, &input));
    drops.assert_all_dropped("model");
}

/// The `closures` target.
pub fn closures((choice, input): ClosuresInput) {
    let drops = Drops::new();
    with_map!(choice, |map, _policy| closures::run_closures(
        map, &drops, &input
    ));
    drops.assert_all_dropped("closures");
}

/// The target names.
pub const TARGETS: [&str; 3] = ["iter_delete", "model", "closures"];

/// Decodes `data` as libFuzzer's entry point does (`arbitrary_take_rest`)
/// and runs `target` on it. Returns false when the bytes do not decode
/// (libFuzzer skips such inputs too).
pub fn replay(target: &str, data: &[u8]) -> bool {
    fn decode<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
        T::arbitrary_take_rest(Unstructured::new(data)).ok()
    }
    match target {
        "iter_delete" => decode(data).map(iter_delete).is_some(),
        "model" => decode(data).map(model).is_some(),
        "closures" => decode(data).map(closures).is_some(),
        _ => panic!("no fuzz target {target}"),
    }
}

/// The directory of the checked-in corpus (`fuzz/corpus`).
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}
