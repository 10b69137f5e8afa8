//! Results, the table per scenario on stdout, and `results.json`.

use serde_json::{json, Value as Json};

use crate::machine::Machine;
use crate::maps::MapEntry;
use crate::scenarios::{fig, Figures, Kind, Params, Scenario};

/// The outcome of one (scenario, map, thread count).
pub enum Status {
    Ok(Figures),
    NotBuilt,
    Failed(String),
}

pub struct Row {
    /// Index into the map list.
    pub map: usize,
    pub threads: usize,
    pub status: Status,
    /// Each measured repetition's scalar figures (the medians in `status`
    /// are taken over these).
    pub reps: Vec<Figures>,
}

pub struct ScenarioResult {
    pub scenario: Scenario,
    pub rows: Vec<Row>,
    pub seconds: f64,
}

impl Row {
    pub fn figure(&self, name: &str) -> Option<f64> {
        match &self.status {
            Status::Ok(f) => f.get(name).copied().filter(|v| v.is_finite()),
            _ => None,
        }
    }
}

/// How a figure is printed.
#[derive(Clone, Copy)]
pub enum Unit {
    Rate,
    Nanos,
    Percent,
    Count,
    Bytes,
    Ratio,
}

pub fn format(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Rate => {
            if v >= 1e9 {
                format!("{:.2}G", v / 1e9)
            } else if v >= 1e6 {
                format!("{:.2}M", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.1}k", v / 1e3)
            } else {
                format!("{v:.1}")
            }
        }
        Unit::Nanos => {
            if v >= 1e9 {
                format!("{:.2}s", v / 1e9)
            } else if v >= 1e6 {
                format!("{:.2}ms", v / 1e6)
            } else if v >= 1e4 {
                format!("{:.1}µs", v / 1e3)
            } else if v >= 1e3 {
                format!("{:.2}µs", v / 1e3)
            } else {
                format!("{v:.0}ns")
            }
        }
        Unit::Percent => format!("{v:+.1}%"),
        Unit::Count => {
            if v >= 1e6 {
                format!("{:.2}M", v / 1e6)
            } else if v >= 1e4 {
                format!("{:.1}k", v / 1e3)
            } else {
                format!("{v:.0}")
            }
        }
        Unit::Bytes => format!("{v:.1}"),
        Unit::Ratio if v < 0.095 => format!("{v:.3}x"),
        Unit::Ratio => format!("{v:.2}x"),
    }
}

/// The columns of a scenario's table: header, figure, unit.
pub fn columns(kind: Kind) -> Vec<(&'static str, &'static str, Unit)> {
    use Unit::*;
    let lat = |p50, p99, p999, max, stall| {
        let mut c = vec![("ops/s", fig::OPS, Rate)];
        if p50 {
            c.push(("p50", fig::P50, Nanos));
        }
        if p99 {
            c.push(("p99", fig::P99, Nanos));
        }
        if p999 {
            c.push(("p99.9", fig::P999, Nanos));
        }
        if max {
            c.push(("max", fig::MAX, Nanos));
        }
        if stall {
            c.push(("stall16", fig::STALL, Nanos));
        }
        c
    };
    match kind {
        Kind::WriteStorm => lat(true, true, true, true, true),
        Kind::ReadMostly => {
            let mut c = lat(true, true, true, false, false);
            for h in &mut c[1..] {
                h.0 = match h.0 {
                    "p50" => "get p50",
                    "p99" => "get p99",
                    _ => "get p99.9",
                };
            }
            c
        }
        Kind::Misses => lat(true, true, false, false, false),
        Kind::Exchange | Kind::RapidGrow => lat(true, true, true, false, false),
        Kind::AdversarialDelete => lat(true, true, true, true, true),
        Kind::Session => lat(true, true, true, true, false),
        Kind::IterDelete | Kind::Snapshot => vec![
            ("trav p50", fig::TRAV_P50, Nanos),
            ("trav p99", fig::TRAV_P99, Nanos),
            ("trav/s", fig::TRAV_PER_S, Rate),
            ("seen/trav", fig::SEEN, Count),
            ("writers alone", fig::WRITERS_ALONE, Rate),
            ("with trav", fig::WRITERS_WITH, Rate),
            ("impact", fig::IMPACT, Percent),
        ],
        Kind::Go(_) => vec![("ns/op", fig::NS_OP, Nanos), ("ops/s", fig::OPS, Rate)],
        Kind::Memory => vec![
            ("bytes/entry", fig::BYTES, Bytes),
            ("peak/entry", fig::PEAK_BYTES, Bytes),
            ("vs std HashMap", fig::RATIO_STD, Ratio),
        ],
    }
}

/// Each row's ratio to the best peer (not ours) at the same thread count,
/// on the scenario's headline figure; above 1 means better than that peer.
pub fn vs_best_peer(res: &ScenarioResult, maps: &[MapEntry], row: &Row) -> Option<f64> {
    let s = &res.scenario;
    let v = row.figure(s.headline)?;
    let peers = res
        .rows
        .iter()
        .filter(|r| r.threads == row.threads && !maps[r.map].ours)
        .filter_map(|r| r.figure(s.headline));
    let best = if s.higher_better {
        peers.fold(f64::NEG_INFINITY, f64::max)
    } else {
        peers.fold(f64::INFINITY, f64::min)
    };
    if !best.is_finite() || v <= 0.0 || best <= 0.0 {
        return None;
    }
    Some(if s.higher_better { v / best } else { best / v })
}

fn headline_name(s: &Scenario) -> &'static str {
    match s.headline {
        h if h == fig::OPS => "ops/s",
        h if h == fig::WRITERS_WITH => "writer ops/s beside the traversal",
        h if h == fig::TRAV_P99 => "traversal p99",
        h if h == fig::BYTES => "bytes/entry",
        h if h == fig::NS_OP => "ns/op",
        _ => s.headline,
    }
}

/// The live-traversal p99 of C6 for the same map and thread count, which
/// C7 shows beside each map's copy ("against a live traversal").
pub fn live_p99(live: Option<&ScenarioResult>, row: &Row) -> Option<f64> {
    live?
        .rows
        .iter()
        .find(|r| r.map == row.map && r.threads == row.threads)?
        .figure(fig::TRAV_P99)
}

/// The stdout table of one scenario (`live`: the C6 result, for C7).
pub fn table(
    res: &ScenarioResult,
    maps: &[MapEntry],
    p: &Params,
    live: Option<&ScenarioResult>,
) -> String {
    let s = &res.scenario;
    let cols = columns(s.kind);
    let mut out = String::new();
    out.push_str(&format!(
        "\n== {} {} ({:.1}s)\n",
        s.key, s.title, res.seconds
    ));
    out.push_str(&format!("   {}\n", s.what));
    let extra = match s.kind {
        Kind::Memory => format!("   {} entries", p.c8_entries),
        Kind::RapidGrow => format!("   {} ops per run", p.c5_ops),
        Kind::WriteStorm => format!("   {} prefilled, {} ops per run", p.entries, p.c1_ops),
        _ => format!("   {} prefilled entries", p.entries),
    };
    let extra = if s.zipf {
        format!(
            "{extra}, hottest key drawn {:.1}% of the time",
            p.zipf().hottest_share() * 100.0
        )
    } else {
        extra
    };
    out.push_str(&format!(
        "{extra}; vs best peer = ratio to the best map not ours on {} ({}; >1 = better)\n",
        headline_name(s),
        if s.higher_better {
            "higher is better"
        } else {
            "lower is better"
        }
    ));
    let name_w = maps.iter().map(|m| m.name.len()).max().unwrap_or(8).max(8);
    let mut header = format!("{:>3}  {:<name_w$}", "thr", "map");
    let widths: Vec<usize> = cols.iter().map(|c| c.0.chars().count().max(9)).collect();
    for (c, w) in cols.iter().zip(&widths) {
        header.push_str(&format!("  {:>w$}", c.0));
    }
    header.push_str("  vs best peer");
    if s.kind == Kind::Snapshot {
        header.push_str("  live p99 (C6)  copy");
    }
    out.push_str(&header);
    out.push('\n');
    let mut last_threads = 0;
    for row in &res.rows {
        if row.threads != last_threads && last_threads != 0 {
            out.push('\n');
        }
        last_threads = row.threads;
        let m = &maps[row.map];
        let name = if m.ours {
            format!("{} *", m.name)
        } else {
            m.name.to_string()
        };
        let mut line = format!("{:>3}  {:<name_w$}", row.threads, name);
        match &row.status {
            Status::NotBuilt => line.push_str("  not built yet"),
            Status::Failed(e) => line.push_str(&format!("  FAILED: {e}")),
            Status::Ok(_) => {
                for (c, w) in cols.iter().zip(&widths) {
                    let cell = row.figure(c.1).map_or("-".to_string(), |v| format(c.2, v));
                    line.push_str(&format!("  {cell:>w$}"));
                }
                let vs =
                    vs_best_peer(res, maps, row).map_or("-".into(), |r| format(Unit::Ratio, r));
                line.push_str(&format!("  {vs:>12}"));
                if s.kind == Kind::Snapshot {
                    let l = live_p99(live, row).map_or("-".into(), |v| format(Unit::Nanos, v));
                    line.push_str(&format!("  {l:>13}  {}", m.snapshot));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if s.kind == Kind::Memory {
        if let Some(b) = crate::scenarios::std_bytes_per_entry() {
            out.push_str(&format!(
                "  -  {:<name_w$}  {:>11.1}  (reference, not concurrent)\n",
                "std HashMap", b
            ));
        }
    }
    out
}

/// Everything, as JSON.
#[allow(clippy::too_many_arguments)]
pub fn json(
    results: &[ScenarioResult],
    maps: &[MapEntry],
    p: &Params,
    m: &Machine,
    command: &str,
    threads: &[usize],
    failures: &[String],
    seconds: f64,
) -> Json {
    let scenarios: Vec<Json> = results
        .iter()
        .map(|r| {
            let s = &r.scenario;
            let rows: Vec<Json> = r
                .rows
                .iter()
                .map(|row| {
                    let map = &maps[row.map];
                    let (status, figures, error) = match &row.status {
                        Status::Ok(f) => ("ok", json!(f), Json::Null),
                        Status::NotBuilt => ("not built yet", Json::Null, Json::Null),
                        Status::Failed(e) => ("failed", Json::Null, json!(e)),
                    };
                    json!({
                        "map": map.id, "name": map.name, "ours": map.ours, "threads": row.threads,
                        "status": status, "figures": figures, "error": error,
                        "vs_best_peer": vs_best_peer(r, maps, row),
                        "per_rep": row.reps,
                    })
                })
                .collect();
            json!({
                "id": s.id, "key": s.key, "title": s.title, "what": s.what,
                "headline": s.headline, "higher_is_better": s.higher_better,
                "seconds": r.seconds, "rows": rows,
            })
        })
        .collect();
    json!({
        "suite": "epochmap sync.Map-crisis suite",
        "command": command,
        "profile": p.profile,
        "date": m.date,
        "commit": m.commit,
        "dirty": m.dirty,
        "machine": {
            "cpu": m.cpu, "cores": m.cores, "os": m.os,
            "load_average_at_start": m.load_at_start,
            "load_average_at_end": crate::machine::load_average(),
        },
        "seconds": seconds,
        "params": {
            "entries": p.entries, "duration_ms": p.duration.as_millis() as u64,
            "warmup_ms": p.warmup.as_millis() as u64, "reps": p.reps,
            "latency_sample_every": p.sample_every, "seed": p.seed,
            "c1_ops": p.c1_ops, "c5_ops": p.c5_ops, "c8_entries": p.c8_entries,
            "c9_hot_keys": p.hot_keys, "c10_sessions": p.sessions, "threads": threads,
            "hasher": "ahash::RandomState with fixed seeds, for every map",
            "latency": "1 op in latency_sample_every timed (hdrhistogram); stall = longest span of latency_sample_every consecutive ops, an upper bound on every op",
        },
        "maps": maps.iter().map(|m| json!({
            "id": m.id, "name": m.name, "ours": m.ours, "built": m.run.is_some(),
            "traversal": m.traversal, "snapshot": m.snapshot, "snapshot_point_in_time": m.point_in_time,
        })).collect::<Vec<_>>(),
        "std_hashmap_bytes_per_entry": crate::scenarios::std_bytes_per_entry(),
        "scenarios": scenarios,
        "failures": failures,
    })
}

/// Short column names of the maps in the compact Go-shapes tables.
fn short(m: &MapEntry) -> String {
    if m.ours {
        format!("{}*", m.id)
    } else {
        m.id.to_string()
    }
}

/// The legend printed before the first Go shape.
pub fn go_header(maps: &[MapEntry], goref: &crate::goref::Reference, cpu: &str) -> String {
    let mut out = String::from(
        "\n== Go shapes: Go's own sync map benchmarks (sync/map_bench_test.go), ns/op as Go counts it (lower is better)\n",
    );
    out.push_str("   columns: each map's ns/op (* = ours); ours/peer = best of ours against the best peer (>1 = ours faster); then Go's own ns/op\n");
    out.push_str(&format!("   {}\n", goref.provenance()));
    if let Some(w) = goref.cpu_warning(cpu) {
        out.push_str(&format!("   NOTE: {w}\n"));
    }
    for m in maps {
        if !m.go_ops.is_empty() {
            out.push_str(&format!("   {}: {}\n", m.name, m.go_ops));
        }
    }
    out
}

/// The compact stdout table of one Go shape: a line per thread count.
pub fn go_table(
    res: &ScenarioResult,
    maps: &[MapEntry],
    goref: &crate::goref::Reference,
) -> String {
    let s = &res.scenario;
    let mut map_ids: Vec<usize> = res.rows.iter().map(|r| r.map).collect();
    map_ids.sort();
    map_ids.dedup();
    let mut out = format!("\n-- {} ({:.1}s): {}\n", s.title, res.seconds, s.what);
    let mut header = "thr".to_string();
    for &i in &map_ids {
        header.push_str(&format!("  {:>9}", short(&maps[i])));
    }
    header.push_str(&format!("  {:>9}", "ours/peer"));
    for c in &goref.columns {
        header.push_str(&format!(
            "  {:>12}",
            c.label.split(" (").next().unwrap_or("Go")
        ));
    }
    out.push_str(&header);
    out.push('\n');
    let mut threads: Vec<usize> = res.rows.iter().map(|r| r.threads).collect();
    threads.dedup();
    for t in threads {
        let mut line = format!("{t:>3}");
        for &i in &map_ids {
            let row = res.rows.iter().find(|r| r.map == i && r.threads == t);
            let cell = match row.map(|r| &r.status) {
                Some(Status::Ok(_)) => row
                    .and_then(|r| r.figure(fig::NS_OP))
                    .map_or("-".into(), |v| format(Unit::Nanos, v)),
                Some(Status::Failed(_)) => "FAILED".into(),
                _ => "-".into(),
            };
            line.push_str(&format!("  {cell:>9}"));
        }
        let ours = res
            .rows
            .iter()
            .filter(|r| r.threads == t && maps[r.map].ours)
            .filter_map(|r| vs_best_peer(res, maps, r))
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        line.push_str(&format!(
            "  {:>9}",
            ours.map_or("-".into(), |v| format(Unit::Ratio, v))
        ));
        for c in &goref.columns {
            let cell = match c.ns_per_op(s.title, t) {
                Some(v) => format(Unit::Nanos, v),
                None if !c.note.is_empty() => c.note.clone(),
                None => "-".into(),
            };
            line.push_str(&format!("  {cell:>12}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in &res.rows {
        if let Status::Failed(e) = &r.status {
            out.push_str(&format!(
                "    FAILED {} at {} threads: {e}\n",
                maps[r.map].name, r.threads
            ));
        }
    }
    out
}
