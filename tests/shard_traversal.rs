//! ShardMap traversals release a shard's lock every chunk of entries and
//! resume where they stopped, also when writers rebuild the shard's table in
//! between (growth, or a same-size rebuild that recycles tombstones under
//! delete/re-insert churn). Every key present for the whole traversal must
//! be visited exactly once, no key twice.
//!
//! The chunk size is shrunk to a few entries (`__set_traversal_chunk`, a
//! process-wide setting: every test here sets the same value). The iterator
//! tests are deterministic: one shard, and the writes happen from the
//! iterating thread between two `next` calls, right after a chunk ended (no
//! item held, so the lock is free). The closure forms cannot let their body
//! write (it runs under the lock), so a second thread writes meanwhile.

// Explicit `next` calls: the writes happen between two of them.
#![allow(clippy::while_let_on_iterator)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use epochmap::shard_map::__set_traversal_chunk;
use epochmap::ShardMap;

const CHUNK: usize = 4;
/// Keys present for the whole traversal: `0..STABLE`.
const STABLE: u64 = if cfg!(miri) { 24 } else { 300 };
/// Most churned keys live at once in the concurrent tests.
const FRESH_WINDOW: u64 = if cfg!(miri) { 40 } else { 1500 };
/// Churned keys start here.
const FRESH: u64 = 1 << 32;
/// Keys that writers remove and insert again during a traversal:
/// `BOUNCE..BOUNCE + BOUNCERS`, present when it starts.
const BOUNCE: u64 = 1 << 40;
const BOUNCERS: u64 = if cfg!(miri) { 8 } else { 64 };

type Map = ShardMap<u64, u64, ahash::RandomState>;

fn map(shards: usize, seed: u64) -> Map {
    __set_traversal_chunk(CHUNK);
    let map = ShardMap::builder()
        .shards(shards)
        .hasher(ahash::RandomState::with_seeds(seed, 2, 3, 4))
        .build()
        .unwrap();
    for k in 0..STABLE {
        map.insert(k, k * 10);
    }
    for k in BOUNCE..BOUNCE + BOUNCERS {
        map.insert(k, 0);
    }
    map
}

/// Writes that force the shard's table to be rebuilt now and then: inserts
/// fresh keys (growth) and removes older fresh keys (tombstones, so that
/// some rebuilds keep the size).
struct Churn {
    next: u64,
    oldest: u64,
}

impl Churn {
    fn new() -> Self {
        Churn {
            next: FRESH,
            oldest: FRESH,
        }
    }

    fn step(&mut self, map: &Map, inserts: u64, removes: u64) {
        for _ in 0..inserts {
            map.insert(self.next, 0);
            self.next += 1;
        }
        for _ in 0..removes {
            if self.oldest < self.next {
                // (`clear` and `retain` may have removed it already.)
                map.remove(&self.oldest);
                self.oldest += 1;
            }
        }
    }
}

/// Every stable key seen exactly once, no key seen twice.
fn check(form: &str, seen: &[u64]) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for &k in seen {
        *counts.entry(k).or_default() += 1;
    }
    for (k, n) in &counts {
        assert_eq!(*n, 1, "{form}: key {k} seen {n} times");
    }
    for k in 0..STABLE {
        assert!(counts.contains_key(&k), "{form}: stable key {k} skipped");
    }
}

/// Runs `iterate` over a one-shard map whose iteration calls `between`
/// after every chunk, with a churn that either grows the table (more
/// inserts than removes) or keeps its size (as many removes as inserts,
/// which leaves tombstones and makes rebuilds of the same size).
fn deterministic(form: &str, iterate: impl Fn(&Map, &mut dyn FnMut(&Map)) -> Vec<u64>) {
    for (inserts, removes) in [(9, 2), (6, 6), (3, 3)] {
        for seed in 0..4 {
            let map = map(1, seed);
            let cap_before = map.capacity();
            let mut churn = Churn::new();
            let mut rebuilt = 0;
            let mut last_cap = cap_before;
            let mut chunks = 0;
            let seen = iterate(&map, &mut |m| {
                // A traversal that revisits keys may never end; fail instead.
                chunks += 1;
                assert!(chunks < 20_000, "{form}: the traversal does not end");
                churn.step(m, inserts, removes);
                if m.capacity() != last_cap {
                    rebuilt += 1;
                    last_cap = m.capacity();
                }
            });
            check(&format!("{form} ({inserts}/{removes}, seed {seed})"), &seen);
            if inserts > removes {
                assert!(rebuilt > 0, "{form}: the table never grew");
            }
        }
    }
}

/// Removes each listed key and inserts it again, after inserting `fresh`
/// new keys in between (they take free buckets, the removed keys' among
/// them, so the keys come back elsewhere, often in buckets the traversal
/// has not reached yet).
/// Every method that inserts takes a turn.
fn bounce(map: &Map, keys: &[u64], fresh: &mut u64, n: u64) {
    let insert = |k: u64| match k % 5 {
        0 => drop(map.insert(k, 0)),
        1 => drop(map.get_or_insert_with(k, || 0)),
        2 => drop(map.entry(k).or_insert(0)),
        3 => drop(map.upsert(k, || 0, |_| ())),
        _ => drop(map.compute(k, |_| Some(0))),
    };
    for k in keys {
        map.remove(k);
    }
    for _ in 0..n {
        insert(*fresh);
        *fresh += 1;
    }
    for &k in keys.iter().rev() {
        insert(k);
    }
}

/// Runs `iterate` over a one-shard map whose iteration calls `between`
/// after every chunk; `between` removes the keys yielded so far that are
/// not stable and inserts them again (after fresh keys took free buckets),
/// with or without room left in the table (a rebuild or not).
fn deterministic_reinsert(
    form: &str,
    iterate: impl Fn(&Map, &mut dyn FnMut(&Map, &[u64])) -> Vec<u64>,
) {
    for fresh_per_chunk in [1, 3, 8] {
        for seed in 0..8 {
            let map = map(1, seed);
            let mut fresh = FRESH;
            let mut chunks = 0;
            let seen = iterate(&map, &mut |m, seen| {
                chunks += 1;
                assert!(chunks < 20_000, "{form}: the traversal does not end");
                let yielded: Vec<u64> = seen.iter().copied().filter(|&k| k >= BOUNCE).collect();
                bounce(m, &yielded, &mut fresh, fresh_per_chunk);
            });
            check(
                &format!("{form} (re-insert, {fresh_per_chunk} fresh, seed {seed})"),
                &seen,
            );
        }
    }
}

/// A key yielded before a pause, removed and inserted again during it into
/// a bucket the traversal has not reached, is not yielded again (a resume
/// by bucket position alone yields it twice).
#[test]
fn reinserted_key_is_not_yielded_twice() {
    deterministic_reinsert("iter", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.iter();
        while let Some(r) = it.next() {
            seen.push(*r.key());
            drop(r);
            if seen.len() % CHUNK == 0 {
                between(map, &seen);
            }
        }
        seen
    });
    deterministic_reinsert("iter_mut", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.iter_mut();
        while let Some(r) = it.next() {
            seen.push(*r.key());
            drop(r);
            if seen.len() % CHUNK == 0 {
                between(map, &seen);
            }
        }
        seen
    });
}

#[test]
fn iter_resumes_exactly() {
    deterministic("iter", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.iter();
        while let Some(r) = it.next() {
            seen.push(*r.key());
            assert_eq!(*r.value(), if *r.key() < STABLE { r.key() * 10 } else { 0 });
            drop(r);
            if seen.len() % CHUNK == 0 {
                between(map);
            }
        }
        seen
    });
}

#[test]
fn keys_and_values_resume_exactly() {
    deterministic("keys", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.keys();
        while let Some(k) = it.next() {
            seen.push(*k);
            drop(k);
            if seen.len() % CHUNK == 0 {
                between(map);
            }
        }
        seen
    });
    deterministic("values", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.values();
        while let Some(r) = it.next() {
            seen.push(*r.key());
            drop(r);
            if seen.len() % CHUNK == 0 {
                between(map);
            }
        }
        seen
    });
}

#[test]
fn iter_mut_resumes_exactly() {
    deterministic("iter_mut", |map, between| {
        let mut seen = Vec::new();
        let mut it = map.iter_mut();
        while let Some(mut r) = it.next() {
            seen.push(*r.key());
            *r.value_mut() += 1;
            drop(r);
            if seen.len() % CHUNK == 0 {
                between(map);
            }
        }
        seen
    });
}

#[test]
fn iter_mut_changes_each_stable_value_once() {
    let map = map(1, 7);
    let mut churn = Churn::new();
    let mut it = map.iter_mut();
    let mut n = 0;
    while let Some(mut r) = it.next() {
        *r.value_mut() += 1;
        drop(r);
        n += 1;
        if n % CHUNK == 0 {
            churn.step(&map, 7, 3);
        }
    }
    drop(it);
    for k in 0..STABLE {
        assert_eq!(map.get_cloned(&k), Some(k * 10 + 1), "key {k}");
    }
}

#[test]
fn items_held_across_a_chunk_keep_the_lock() {
    // Holding every item (collect) means the iterator never releases the
    // shard: it continues under the guard its items keep.
    let map = map(1, 1);
    let items: Vec<_> = map.iter().collect();
    let mut keys: Vec<u64> = items.iter().map(|r| *r.key()).collect();
    keys.sort_unstable();
    let want: Vec<u64> = (0..STABLE).chain(BOUNCE..BOUNCE + BOUNCERS).collect();
    assert_eq!(keys, want);
    drop(items);
    let mut items: Vec<_> = map.iter_mut().collect();
    for r in items.iter_mut() {
        *r.value_mut() += 1;
    }
    drop(items);
    assert_eq!(map.get_cloned(&3), Some(31));
    // Released: writes get in.
    map.insert(STABLE, 0);
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `traverse` repeatedly while a second thread churns the same shards;
/// each traversal returns the keys it saw.
fn concurrent(form: &str, shards: usize, traverse: impl Fn(&Map) -> Vec<u64> + Sync) {
    let rounds = if cfg!(miri) { 2 } else { 60 };
    let map = map(shards, 5);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut churn = Churn::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // A key the traversal may have yielded leaves, its bucket
                // may be taken by the churn's inserts, and it comes back,
                // perhaps in a bucket the traversal has not reached: it
                // must not be yielded again.
                let bouncer = BOUNCE + i % BOUNCERS;
                map.remove(&bouncer);
                // Bounded: the traversal must be able to finish. Grow up to
                // a window, churn at the same size, then shrink (when no
                // traversal is suspended in the shard) to grow again.
                let live = churn.next - churn.oldest;
                if i % 256 == 255 {
                    churn.step(&map, 0, live.saturating_sub(50));
                    map.shrink_to_fit();
                } else if live < FRESH_WINDOW {
                    churn.step(&map, 40, 8);
                } else {
                    churn.step(&map, 4, 4);
                }
                map.insert(bouncer, 0);
                i += 1;
                if cfg!(miri) && i > 20 {
                    break;
                }
            }
        });
        // Stops the writer also when a check fails (else the scope would
        // wait for it forever).
        let _stop = StopOnDrop(&stop);
        for round in 0..rounds {
            let seen = traverse(&map);
            check(&format!("{form} round {round}"), &seen);
        }
    });
}

#[test]
fn concurrent_iter() {
    concurrent("iter", 2, |m| {
        m.iter().map(|r| *r.key()).collect::<Vec<_>>()
    });
    concurrent("keys", 1, |m| {
        let mut v = Vec::new();
        for k in m.keys() {
            v.push(*k);
        }
        v
    });
}

#[test]
fn concurrent_iter_mut() {
    concurrent("iter_mut", 1, |m| {
        let mut v = Vec::new();
        for mut r in m.iter_mut() {
            *r.value_mut() += 0;
            v.push(*r.key());
        }
        v
    });
}

#[test]
fn concurrent_retain() {
    concurrent("retain", 2, |m| {
        let mut v = Vec::new();
        // Removes some fresh keys too; keeps every stable one.
        m.retain(|k, _| {
            v.push(*k);
            *k < STABLE || k % 3 != 0
        });
        v
    });
}

#[test]
fn concurrent_clone_and_debug() {
    concurrent("clone", 1, |m| {
        // A key visited twice would be in the copy's table twice.
        m.clone().into_iter().map(|(k, _)| k).collect()
    });
    concurrent("debug", 1, |m| {
        let text = format!("{m:?}");
        let body = text.trim_start_matches('{').trim_end_matches('}');
        body.split(", ")
            .filter(|e| !e.is_empty())
            .map(|e| e.split(": ").next().unwrap().parse().unwrap())
            .collect()
    });
}

#[test]
fn concurrent_clear_keeps_no_stable_key() {
    let map = map(1, 3);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut churn = Churn::new();
            for _ in 0..if cfg!(miri) { 2 } else { 2000 } {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                churn.step(&map, 8, 2);
            }
        });
        map.clear();
        stop.store(true, Ordering::Relaxed);
    });
    for k in 0..STABLE {
        assert!(!map.contains_key(&k), "clear skipped {k}");
    }
}

#[test]
fn retain_removes_and_visits_once_under_same_thread_free_lock() {
    // retain with growth from another shard's writes is covered above; here
    // the result: exactly the kept keys remain.
    let map = map(2, 9);
    let mut visits = 0;
    map.retain(|k, v| {
        visits += 1;
        *v += 1;
        k % 2 == 0
    });
    assert_eq!(visits, (STABLE + BOUNCERS) as usize);
    for k in 0..STABLE {
        let want = (k % 2 == 0).then_some(k * 10 + 1);
        assert_eq!(map.get_cloned(&k), want);
    }
    for k in BOUNCE..BOUNCE + BOUNCERS {
        assert_eq!(map.get_cloned(&k), (k % 2 == 0).then_some(1));
    }
    assert_eq!(map.len(), (STABLE.div_ceil(2) + BOUNCERS / 2) as usize);
}

#[cfg(feature = "rayon")]
#[test]
fn concurrent_par_iter() {
    use rayon::prelude::*;
    concurrent("par_iter", 2, |m| {
        m.par_iter_cloned().map(|(k, _)| k).collect()
    });
}

#[cfg(feature = "serde")]
#[test]
fn concurrent_serialize() {
    concurrent("serialize", 1, |m| {
        let text = serde_json::to_string(m).unwrap();
        let body = text.trim_start_matches('{').trim_end_matches('}');
        body.split(',')
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.split(':')
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .parse()
                    .unwrap()
            })
            .collect()
    });
}
