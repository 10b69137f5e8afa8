#!/usr/bin/env python3
"""Checks that the loom models can fail: breaks the engine (AtomicPtrMap's
`raw/`) or the shard lock (ShardMap's `lock/`) on purpose, one mutant at a
time, and runs the models against each mutant (the engine's models against
the engine's mutants, the lock's against the lock's).

Every mutant is a real bug (a missing Release or Acquire, a lost expunge race,
a premature free, the wrong iteration order, a lock that lets a writer in
with a reader, a lost wake-up) and must be caught by at least one model; the script prints which models catch which mutant and exits 1 if
a mutant survives them all. A mutant whose text is no longer in the engine
(it was edited) is skipped with a message, not failed: update it here.

It never touches the working tree: the crate is copied into a temporary
directory and the mutants are applied there, one copy (and build directory)
per worker; MUTANTS_JOBS workers run at once (default: one per core). Each
mutant costs a rebuild of the crate and one run of the models.

Usage: python3 loom/mutants.py [MUTANT...]   (default: all; LOOM_MAX_PREEMPTIONS
is passed on, default 3; MUTANTS_TARGET_DIR overrides the build directory,
target/loom-mutants)

Not mutants, because they are not bugs: Relaxed stores in
`Table::publish_slot`, which writes only tables no other thread sees yet (the
layer set's Release store publishes them), and the Relaxed tag CAS of
`Table::claim` (the entry pointer's Release store orders the entry; a
claimed tag with a null slot is skipped). Nor is an insert under the mutex
that skips its search when the layer set is unchanged (`Searched`): entries
stored in the active overlay since are met by `Table::claim`.

Not mutants, because loom cannot see them: the shard lock's `SeqCst` stores
of its Dekker pairs (a reader's slot increment, the flag CAS) weakened to
`AcqRel`. Loom does not model the store-load ordering of `SeqCst`
accesses; under loom the pairs' loads read the newest value
(`dekker_load`), which gives their guarantee whatever the store's ordering.
"""

import concurrent.futures
import os
import queue
import shutil
import subprocess
import sys
import tempfile

ENGINE = "src/atomic_map/raw/"
PARTITION = ENGINE + "partition.rs"
TABLE = ENGINE + "table.rs"
MERGE = ENGINE + "merge.rs"
WRITE = ENGINE + "write.rs"
TRAVERSAL = ENGINE + "traversal.rs"
# ShardMap's shard lock: its mutants run the lock's models only
# (loom/tests/shard_lock.rs), the engine's the engine's.
LOCK_DIR = "src/shard_map/lock/"
LOCK = LOCK_DIR + "mod.rs"

# name -> [(file, old text, new text)]: each old text occurs exactly once.
MUTANTS = {
    "layers load Relaxed (Partition::layers)": [(PARTITION,
        "let p = self.layers.load(Ordering::Acquire);\n        debug_assert!(!p.is_null());",
        "let p = self.layers.load(Ordering::Relaxed);\n        debug_assert!(!p.is_null());")],
    "layers store Relaxed (merge publish)": [(PARTITION,
        "        // slots written above.\n        self.layers.store(next, Ordering::Release);",
        "        // slots written above.\n        self.layers.store(next, Ordering::Relaxed);")],
    "value load Relaxed (lookup)": [(TABLE,
        "let v = e.value.load(Ordering::Acquire);",
        "let v = e.value.load(Ordering::Relaxed);")],
    "value CAS Relaxed (EntryRef::replace)": [(WRITE,
        "            new_ptr,\n            Ordering::AcqRel,\n            Ordering::Acquire,\n        ) {",
        "            new_ptr,\n            Ordering::Relaxed,\n            Ordering::Relaxed,\n        ) {")],
    "slot entry store Relaxed (Table::claim)": [(TABLE,
        "                        self.slots[i].entry.store(entry, Ordering::Release);\n                        self.len.len.fetch_add(1, Ordering::Release);",
        "                        self.slots[i].entry.store(entry, Ordering::Relaxed);\n                        self.len.len.fetch_add(1, Ordering::Release);")],
    "expunge by load-then-store instead of CAS (MergeState::step)": [(MERGE,
        """            let live = !e.value.load(Ordering::Relaxed).is_null()
                || e.value
                    .compare_exchange(
                        ptr::null_mut(),
                        expunged(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err();""",
        """            let live = !e.value.load(Ordering::Relaxed).is_null();
            if !live {
                e.value.store(expunged(), Ordering::Release);
            }""")],
    "EXPUNGED not final: writers revive expunged entries": [(WRITE,
        """        if expected.is_expunged() {
            // Invariant 3: EXPUNGED is final.
            return Err(new);
        }""", ""), (WRITE,
        """            if cur.is_expunged() {
                return Err(value);
            }
            if only_if_absent {""",
        "            if only_if_absent {")],
    "replaced value freed at once, not retired": [(WRITE,
        "unsafe { retire_boxed_value(guard, self.part.values, expected.ptr) };",
        "{ let _ = guard; drop(unsafe { Box::from_raw(expected.ptr) }); }")],
    "expunged entries freed at once, not retired": [(PARTITION,
        "            unsafe { reclaim::retire(guard, &self.garbage, bytes, destroy) };",
        "            let _ = bytes;\n            destroy();")],
    "old layer set freed at once, not retired (merge publish)": [(PARTITION,
        """            retire_box(
                guard,
                &self.garbage,
                old,
                std::mem::size_of::<Layers<K, V>>(),
            );
            retire_array(guard, &self.garbage, snap_ptr""",
        """            drop(Box::from_raw(old));
            retire_array(guard, &self.garbage, snap_ptr""")],
    "overlay length Relaxed (Table::claim increment, len_acquire load)": [(TABLE,
        "                        self.len.len.fetch_add(1, Ordering::Release);\n                        return Ok(());",
        "                        self.len.len.fetch_add(1, Ordering::Relaxed);\n                        return Ok(());"), (TABLE,
        "self.len.len.load(Ordering::Acquire)",
        "self.len.len.load(Ordering::Relaxed)")],
    "a seal does not wait for lock-free inserts in flight": [(PARTITION,
        "        active.seal_and_wait();",
        "")],
    "a claim passes a slot of the same hash (Table::claim)": [(TABLE,
        "if p.is_null() || same_hash {",
        "if false {")],
    "a claim passes a claimed slot whose entry is not stored yet (Table::claim)": [(TABLE,
        "if p.is_null() || same_hash {",
        "if !p.is_null() && same_hash {")],
    "iteration visits the snapshot first (invariant 5)": [(TRAVERSAL,
        "                0 => layers.active,\n                1 => layers.sealed,\n                2 => layers.snapshot,",
        "                0 => layers.snapshot,\n                1 => layers.sealed,\n                2 => layers.active,")],
    "a chunk of for_each visits the snapshot first (invariant 5)": [(TRAVERSAL,
        "for t in [layers.active, layers.sealed, layers.snapshot] {",
        "for t in [layers.snapshot, layers.sealed, layers.active] {")],
    "chunks of for_each re-planned at every chunk": [(TRAVERSAL,
        "        debug_assert!(c < plan.chunks);\n        let layers = self.layers(guard);",
        "        let plan = self.chunk_plan(guard);\n        if c >= plan.chunks {\n            return;\n        }\n        let layers = self.layers(guard);")],
    # The shard lock.
    "lock: a reader does not check the writer flag after registering (read)": [(LOCK,
        "if !self.writer.dekker_load() {",
        "if true {")],
    "lock: a reader checks the writer flag with a Relaxed load (read)": [(LOCK,
        "if !self.writer.dekker_load() {",
        "if !self.writer.load(Ordering::Relaxed) {")],
    "lock: try_read does not check the writer flag": [(LOCK,
        "if self.writer.dekker_load() {\n            self.release_slot(slot);\n            return None;",
        "if false {\n            self.release_slot(slot);\n            return None;")],
    "lock: reader unlock decrements Relaxed (release_slot)": [(LOCK,
        "let prev = self.readers[slot].fetch_sub(1, Ordering::SeqCst);",
        "let prev = self.readers[slot].fetch_sub(1, Ordering::Relaxed);")],
    "lock: writer unlock stores Relaxed (lower_flag)": [(LOCK,
        "self.writer.store(false, Ordering::SeqCst);",
        "self.writer.store(false, Ordering::Relaxed);")],
    "lock: writer's flag CAS Relaxed (write)": [(LOCK,
        "let raised = self\n            .writer\n            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)",
        "let raised = self\n            .writer\n            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)")],
    "lock: a writer's drain check loads Relaxed (readers_drained)": [(LOCK,
        ".all(|counter| counter.dekker_load() & !DRAIN_WAITER == 0)",
        ".all(|counter| counter.load(Ordering::Relaxed) & !DRAIN_WAITER == 0)")],
    "lock: try_upgrade does not wait for the other readers to leave": [(LOCK,
        "        if !lock.readers_drained() {\n            lock.wait_for_drain_holding_flag();\n        }\n",
        "")],
    "lock: try_upgrade proceeds without the writer flag": [(LOCK,
        "            .is_err()\n        {\n            return Err(guard);",
        "            .is_err()\n            && false\n        {\n            return Err(guard);")],
    "lock: try_upgrade steps back for slow readers, like write": [(LOCK,
        "            lock.wait_for_drain_holding_flag();",
        "            lock.write_contended(true);")],
    "lock: a writer insists without waiting for the readers inside": [(LOCK,
        "                self.wait_for_drain();\n                return;",
        "                return;")],
    "lock: the last reader to leave a marked slot does not wake the writer": [(LOCK,
        "if prev == DRAIN_WAITER | 1 {",
        "if false {")],
    "lock: a writer sleeps without marking the reader slots": [(LOCK,
        "                counter.fetch_or(DRAIN_WAITER, Ordering::SeqCst);\n",
        "")],
    "lock: unlock does not wake the threads asleep on the flag": [(LOCK,
        "if self.parked.dekker_load() & FLAG_WAITERS != 0 {",
        "if false {")],
    "lock: a flag waiter sleeps without re-checking the flag": [(LOCK,
        "self.writer.dekker_load() && self.parked",
        "true && self.parked")],
}

MODELS = [
    "get_during_insert_merge_publish",
    "overwrite_vs_get",
    "reinsert_vs_expunge",
    "iterate_during_delete_merge_reinsert",
    "iterate_during_incremental_merge",
    "get_assists_merge_vs_insert",
    "racing_inserts_of_a_new_key",
    "for_each_in_chunks_during_incremental_merge",
    "remove_assists_merge_vs_get",
    "lock_free_insert_vs_seal",
]

LOCK_MODELS = [
    "lock_writers_exclude",
    "lock_reader_vs_writer",
    "lock_upgrade_vs_writer_and_reader",
    "lock_two_upgraders",
]


def run_models(crate, target, env, models):
    """Runs each of `models` in a `cargo test` of its own (one model per
    process, as loom models are written to run) of the loom crate at
    `crate`; returns those that failed."""
    failed = []
    for model in models:
        r = subprocess.run(
            ["cargo", "test", "--release", "--manifest-path", "loom/Cargo.toml",
             "--target-dir", target, "--", "--exact", model],
            cwd=crate, env=env, capture_output=True, text=True)
        if "could not compile" in r.stderr:
            sys.exit(f"the build failed:\n{r.stderr[-3000:]}")
        if r.returncode != 0:
            failed.append(model)
    return failed


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wanted = sys.argv[1:] or list(MUTANTS)
    env = dict(os.environ)
    env["RUSTFLAGS"] = "--cfg epochmap_loom --cfg crossbeam_loom"
    env.setdefault("LOOM_MAX_PREEMPTIONS", "3")
    # Workers in parallel, each with its own copy of the crate and its own
    # build directory (a mutant rebuilds the engine; the models are quick).
    jobs = max(1, min(int(os.environ.get("MUTANTS_JOBS") or os.cpu_count() or 1), len(wanted)))
    base_target = os.environ.get("MUTANTS_TARGET_DIR") or os.path.join(root, "target", "loom-mutants")
    with tempfile.TemporaryDirectory(prefix="epochmap-mutants-") as tmp:
        workers = []
        for i in range(jobs):
            crate = os.path.join(tmp, f"epochmap-{i}")
            shutil.copytree(root, crate, ignore=shutil.ignore_patterns("target*", ".git", "fuzz"))
            workers.append((crate, base_target if i == 0 else f"{base_target}-{i}"))

        # The unmutated crate, in every worker (which also builds each one).
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for failed in pool.map(lambda w: run_models(*w, env, MODELS + LOCK_MODELS), workers):
                if failed:
                    sys.exit(f"the unmutated engine fails {failed}: fix that first")

        free = queue.Queue()
        for w in workers:
            free.put(w)

        def try_mutant(name):
            """(caught models, or None if the mutant's text is missing; the file)."""
            crate, target = free.get()
            try:
                originals = {}
                missing = None
                for path, old, new in MUTANTS[name]:
                    full = os.path.join(crate, path)
                    text = originals.get(full) or open(full).read()
                    originals.setdefault(full, text)
                    current = open(full).read()
                    if current.count(old) != 1:
                        missing = path
                        break
                    open(full, "w").write(current.replace(old, new))
                lock = all(path.startswith(LOCK_DIR) for path, _, _ in MUTANTS[name])
                caught = None if missing else run_models(
                    crate, target, env, LOCK_MODELS if lock else MODELS)
                for full, text in originals.items():
                    open(full, "w").write(text)
                return caught, missing
            finally:
                free.put((crate, target))

        survivors, skipped = [], []
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            # Results print in the order of `wanted`, as each becomes known.
            for name, (caught, missing) in zip(wanted, pool.map(try_mutant, wanted)):
                if missing:
                    skipped.append(name)
                    print(f"{name}: SKIPPED, its text is not in {missing} once "
                          "(the engine changed: update loom/mutants.py)", flush=True)
                    continue
                print(f"{name}: caught by {', '.join(caught) or 'NO MODEL'}", flush=True)
                if not caught:
                    survivors.append(name)
    print(f"{len(wanted) - len(skipped) - len(survivors)} mutant(s) caught, "
          f"{len(skipped)} skipped, {len(survivors)} survived ({jobs} workers)")
    if survivors:
        sys.exit(f"mutants that no model catches: {survivors}")


if __name__ == "__main__":
    main()
