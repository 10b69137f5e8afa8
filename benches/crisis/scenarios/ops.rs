//! Throughput scenarios: C1 to C5, C9 and C10. Each worker checks every
//! result it can know in advance, and each run ends with a check of what the
//! quiescent map must hold.

use super::{census, expect_count, fig, measure, Params, Rep, Sample, Scenario};
use crate::adapter::CrisisMap;
use crate::runner::{Gate, Stop, WorkerOut};
use crate::workload::{fresh_base, rng, Session};

/// A map of `cap` capacity with stable keys `0..n` (value class 0).
fn prefilled<M: CrisisMap<u64>>(p: &Params, cap: u64, n: u64) -> M {
    let keys = p.keys();
    let m = M::with_capacity(cap as usize);
    for i in 0..n {
        let k = keys.key(i);
        m.insert(k, keys.value(k, 0));
    }
    m
}

/// C1: fresh inserts and overwrites, fixed work, the map grows.
pub fn write_storm<M: CrisisMap<u64>>(
    scn: &Scenario,
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let dist = p.dist(scn.zipf);
    let quota = p.c1_ops / threads as u64;
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let base = fresh_base(t);
        let mut fresh = 0u64;
        let mut i = 0u64;
        while g.go(i) {
            i += 1;
            let r = rng.next_u64();
            if r & 1 == 0 {
                let k = keys.key(base + fresh);
                fresh += 1;
                let t0 = o.lat.start();
                let was = m.insert(k, keys.value(k, 1));
                o.lat.finish(t0, true);
                if was {
                    o.error(|| format!("insert of fresh key {k:#x} found it present"));
                }
            } else {
                let k = keys.key(dist.sample(&mut rng));
                let t0 = o.lat.start();
                let was = m.insert(k, keys.value(k, 0));
                o.lat.finish(t0, true);
                if !was {
                    o.error(|| format!("overwrite of prefilled key {k:#x} found it absent"));
                }
            }
        }
        o.ops = i;
        o.counts[0] = fresh;
        o
    };
    let check = |m: &M, out: &crate::runner::RunOut<()>| {
        expect_count(m, &keys, n + out.count(0))?;
        for (t, w) in out.workers.iter().enumerate() {
            for j in 0..w.counts[0].min(256) {
                let k = keys.key(fresh_base(t) + j);
                match (m.contains_key(&k), m.get_cloned(&k)) {
                    (true, Some(v)) if keys.check(k, v) => {}
                    other => return Err(format!("fresh key {k:#x} reads {other:?} after the run")),
                }
            }
        }
        Ok(())
    };
    measure(
        p,
        threads,
        rep,
        Stop::Quota(quota),
        || prefilled::<M>(p, n, n),
        worker,
        check,
    )
}

/// C2: 98% gets that must hit, 1% insert, 1% remove in a churn set.
pub fn read_mostly<M: CrisisMap<u64>>(
    scn: &Scenario,
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let churn = (n / 10).max(16);
    let dist = p.dist(scn.zipf);
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        while g.go(i) {
            i += 1;
            let r = rng.below(100);
            if r < 98 {
                let k = keys.key(dist.sample(&mut rng));
                let t0 = o.lat.start();
                let v = m.get_cloned(&k);
                o.lat.finish(t0, true);
                match v {
                    Some(v) if keys.check(k, v) => {}
                    other => o.error(|| format!("get of prefilled key {k:#x} returned {other:?}")),
                }
            } else {
                let k = keys.key(n + rng.below(churn));
                let t0 = o.lat.start();
                if r == 98 {
                    m.insert(k, keys.value(k, 1));
                } else {
                    m.remove(&k);
                }
                o.lat.finish(t0, false);
            }
        }
        o.ops = i;
        o
    };
    let check = |m: &M, _: &crate::runner::RunOut<()>| {
        let (total, stable) = census(m, &keys, 0)?;
        if stable != n || total > n + churn {
            return Err(format!(
                "after the run: {stable} prefilled keys of {n}, {total} entries (at most {})",
                n + churn
            ));
        }
        Ok(())
    };
    measure(
        p,
        threads,
        rep,
        Stop::Duration(p.duration),
        || prefilled::<M>(p, n + churn, n),
        worker,
        check,
    )
}

/// C3: gets over 20N keys of which N are present.
pub fn misses<M: CrisisMap<u64>>(p: &Params, threads: usize, rep: Rep) -> Result<Sample, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        let mut hits = 0u64;
        while g.go(i) {
            i += 1;
            let idx = rng.below(20 * n);
            let k = keys.key(idx);
            let t0 = o.lat.start();
            let v = m.get_cloned(&k);
            o.lat.finish(t0, true);
            match (idx < n, v) {
                (true, Some(v)) if keys.check(k, v) => hits += 1,
                (false, None) => {}
                (_, v) => o.error(|| {
                    format!(
                        "get of key index {idx} (present: {}) returned {v:?}",
                        idx < n
                    )
                }),
            }
        }
        o.ops = i;
        o.counts[0] = hits;
        o
    };
    let check = |m: &M, _: &crate::runner::RunOut<()>| expect_count(m, &keys, n);
    let mut s = measure(
        p,
        threads,
        rep,
        Stop::Duration(p.duration),
        || prefilled::<M>(p, n, n),
        worker,
        check,
    )?;
    s.figures.insert(fig::HIT_RATE, 1.0 / 20.0);
    Ok(s)
}

/// C4: 10% get, 40% insert, 40% remove, 10% update over N keys.
pub fn exchange<M: CrisisMap<u64>>(p: &Params, threads: usize, rep: Rep) -> Result<Sample, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let setup = || {
        let m = M::with_capacity(n as usize);
        for i in (0..n).step_by(2) {
            let k = keys.key(i);
            m.insert(k, keys.value(k, 0));
        }
        m
    };
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        while g.go(i) {
            i += 1;
            let r = rng.below(100);
            let k = keys.key(rng.below(n));
            let t0 = o.lat.start();
            if r < 10 {
                let v = m.get_cloned(&k);
                o.lat.finish(t0, true);
                if let Some(v) = v {
                    if !keys.check(k, v) {
                        o.error(|| format!("get of {k:#x} returned another key's value {v:#x}"));
                    }
                }
            } else if r < 50 {
                m.insert(k, keys.value(k, 0));
                o.lat.finish(t0, true);
            } else if r < 90 {
                m.remove(&k);
                o.lat.finish(t0, true);
            } else {
                m.update(&k, |v| v.wrapping_add(1));
                o.lat.finish(t0, true);
            }
        }
        o.ops = i;
        o
    };
    let check = |m: &M, _: &crate::runner::RunOut<()>| {
        let (total, _) = census(m, &keys, u64::MAX)?;
        if total > n {
            return Err(format!(
                "after the run: {total} entries from a key space of {n}"
            ));
        }
        Ok(())
    };
    measure(
        p,
        threads,
        rep,
        Stop::Duration(p.duration),
        setup,
        worker,
        check,
    )
}

/// C5: from empty, 80% fresh inserts, fixed work.
pub fn rapid_grow<M: CrisisMap<u64>>(
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    let (keys, every, seed) = (p.keys(), p.sample_every, p.seed);
    let quota = p.c5_ops / threads as u64;
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let base = fresh_base(t);
        let (mut inserted, mut removed) = (0u64, 0u64);
        let mut i = 0u64;
        while g.go(i) {
            i += 1;
            let r = rng.below(100);
            if (5..85).contains(&r) || inserted == 0 {
                let k = keys.key(base + inserted);
                inserted += 1;
                let t0 = o.lat.start();
                let was = m.insert(k, keys.value(k, 0));
                o.lat.finish(t0, true);
                if was {
                    o.error(|| format!("insert of fresh key {k:#x} found it present"));
                }
                continue;
            }
            let k = keys.key(base + rng.below(inserted));
            let t0 = o.lat.start();
            if r < 5 {
                let v = m.get_cloned(&k);
                o.lat.finish(t0, true);
                if let Some(v) = v {
                    if !keys.check(k, v) {
                        o.error(|| format!("get of {k:#x} returned another key's value {v:#x}"));
                    }
                }
            } else if r < 90 {
                let was = m.remove(&k);
                o.lat.finish(t0, true);
                removed += was as u64;
            } else {
                m.update(&k, |v| v.wrapping_add(1));
                o.lat.finish(t0, true);
            }
        }
        o.ops = i;
        o.counts = [inserted, removed, 0, 0];
        o
    };
    let check = |m: &M, out: &crate::runner::RunOut<()>| {
        expect_count(m, &keys, out.count(0) - out.count(1))
    };
    measure(
        p,
        threads,
        rep,
        Stop::Quota(quota),
        || M::with_capacity(0),
        worker,
        check,
    )
}

/// C9: get, remove, insert the same hot keys from every thread.
pub fn adversarial_delete<M: CrisisMap<u64>>(
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    let (keys, n, every, seed) = (p.keys(), p.entries, p.sample_every, p.seed);
    let hot = p.hot_keys.min(n);
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        while g.go(i) {
            i += 3;
            let k = keys.key(rng.below(hot));
            let t0 = o.lat.start();
            let v = m.get_cloned(&k);
            o.lat.finish(t0, true);
            if let Some(v) = v {
                if !keys.check(k, v) {
                    o.error(|| format!("get of {k:#x} returned another key's value {v:#x}"));
                }
            }
            let t0 = o.lat.start();
            m.remove(&k);
            o.lat.finish(t0, true);
            let t0 = o.lat.start();
            m.insert(k, keys.value(k, 0));
            o.lat.finish(t0, true);
        }
        o.ops = i;
        o
    };
    let check = |m: &M, _: &crate::runner::RunOut<()>| expect_count(m, &keys, n);
    measure(
        p,
        threads,
        rep,
        Stop::Duration(p.duration),
        || prefilled::<M>(p, n, n),
        worker,
        check,
    )
}

/// C10: copy-on-write updates of session structs under contention.
pub fn session<M: CrisisMap<Session>>(
    p: &Params,
    threads: usize,
    rep: Rep,
) -> Result<Sample, String> {
    let (keys, every, seed) = (p.keys(), p.sample_every, p.seed);
    let s = p.sessions;
    let setup = || {
        let m = M::with_capacity(s as usize);
        for i in 0..s {
            m.insert(keys.key(i), Session::new(keys.key(i)));
        }
        m
    };
    let worker = |m: &M, t: usize, rep: u64, g: &Gate| {
        let mut o = WorkerOut::new(every);
        let mut rng = rng(seed, t, rep);
        let mut i = 0u64;
        let mut updates = 0u64;
        while g.go(i) {
            i += 1;
            let r = rng.below(100);
            let k = keys.key(rng.below(s));
            let t0 = o.lat.start();
            if r < 90 {
                let ok = m.update(&k, |old| old.touched(i, 512));
                o.lat.finish(t0, true);
                if ok {
                    updates += 1;
                } else {
                    o.error(|| format!("update of session {k:#x} found it absent"));
                }
            } else {
                let v = m.get_cloned(&k);
                o.lat.finish(t0, true);
                match v {
                    Some(v) if v.id == k => {}
                    other => o.error(|| format!("get of session {k:#x} returned {other:?}")),
                }
            }
        }
        o.ops = i;
        o.counts[0] = updates;
        o
    };
    let check = |m: &M, out: &crate::runner::RunOut<()>| {
        let (mut n, mut hits, mut bytes) = (0u64, 0u64, 0u64);
        m.for_each(|&k, v| {
            n += 1;
            hits += v.hits;
            bytes += v.bytes;
            if v.id != k {
                hits = u64::MAX / 2;
            }
        });
        let updates = out.count(0);
        if n != s || hits != updates || bytes != 512 * updates {
            return Err(format!(
                "after the run: {n} sessions (expected {s}), {hits} hits counted by {updates} updates (lost or doubled updates)"
            ));
        }
        Ok(())
    };
    measure(
        p,
        threads,
        rep,
        Stop::Duration(p.duration),
        setup,
        worker,
        check,
    )
}
