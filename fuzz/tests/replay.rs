//! Replays inputs through the fuzz engines without libFuzzer: the checked-in
//! seed corpus, and generated inputs of `iter_delete`'s two modes on both
//! maps. Plain `cargo test` here runs it; the CI safety net also runs it
//! under ThreadSanitizer and AddressSanitizer (the threaded mode is the
//! iterate-while-deleting scenario) and under Miri (small inputs).

use epochmap_fuzz::arbitrary::{Arbitrary, Unstructured};
use epochmap_fuzz::iter_delete::{self, SingleInput, Step, ThreadedInput, WritePolicy, WriterOp};
use epochmap_fuzz::maps::{Atomic, Shard};
use epochmap_fuzz::targets;
use epochmap_fuzz::val::Drops;
use epochmap_testkit::alloc::KitAlloc;
use epochmap_testkit::Rng;

/// Refuses single allocations above 1 GiB (the process then aborts with
/// "memory allocation of N bytes failed"), so a map whose tables grow without
/// bound fails this test at once instead of exhausting the machine's memory
/// (libFuzzer's -rss_limit_mb does the same for the fuzz targets).
#[global_allocator]
static ALLOC: KitAlloc<{ 1 << 30 }> = KitAlloc;

/// Deterministic bytes, so a failure replays.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

#[test]
fn seed_corpus_replays() {
    if cfg!(miri) {
        return; // Miri isolates the file system; the generated inputs below run.
    }
    let mut replayed = 0;
    for target in targets::TARGETS {
        let dir = targets::corpus_dir().join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("seed-") {
                let data = std::fs::read(&path).unwrap();
                targets::replay(target, &data);
                replayed += 1;
            }
        }
    }
    eprintln!("replayed {replayed} seed inputs");
}

#[test]
fn threaded_iterate_while_deleting() {
    let inputs = if cfg!(miri) { 2 } else { 96 };
    for i in 0..inputs {
        let data = bytes(i, 1024);
        let mut u = Unstructured::new(&data);
        let mut input = ThreadedInput::arbitrary(&mut u).unwrap();
        // (A derived `Vec` decodes to a couple of elements from random bytes.)
        let ops = if cfg!(miri) { 6 } else { 48 };
        input.ops = (0..ops)
            .map(|_| WriterOp::arbitrary(&mut u).unwrap())
            .collect();
        if cfg!(miri) {
            input.prefill %= 12;
        }
        let config = i as u8;
        let drops = Drops::new();
        iter_delete::run_threaded(&Shard::new(config), &drops, &input);
        drops.assert_all_dropped("shard, threaded");
        let drops = Drops::new();
        iter_delete::run_threaded(&Atomic::new(config), &drops, &input);
        drops.assert_all_dropped("atomic, threaded");
    }
}

#[test]
fn single_thread_interleavings() {
    let inputs = if cfg!(miri) { 2 } else { 128 };
    for i in 0..inputs {
        let data = bytes(1000 + i, 2048);
        let mut u = Unstructured::new(&data);
        let mut input = SingleInput::arbitrary(&mut u).unwrap();
        let steps = if cfg!(miri) { 40 } else { 400 };
        input.steps = (0..steps)
            .map(|_| Step::arbitrary(&mut u).unwrap())
            .collect();
        let config = i as u8;
        let drops = Drops::new();
        iter_delete::run_single(
            &Shard::new(config),
            &drops,
            &input,
            WritePolicy::DetectorChecked,
        );
        drops.assert_all_dropped("shard, single");
        let drops = Drops::new();
        iter_delete::run_single(&Atomic::new(config), &drops, &input, WritePolicy::Always);
        drops.assert_all_dropped("atomic, single");
    }
}
