//! `report.html`: one self-contained page, SVG charts, the reference figures
//! of `docs/crisis.md` beside each scenario.

use std::fmt::Write;

use crate::machine::Machine;
use crate::maps::MapEntry;
use crate::report::{columns, format, live_p99, vs_best_peer, ScenarioResult, Status, Unit};
use crate::scenarios::{fig, Kind, Params};
use crate::svg::{bar_chart, dot_plot, line_chart, Series};

fn color(id: &str) -> &'static str {
    match id {
        "shard" => "#d62728",
        "atomic" => "#ff7f0e",
        "mutex" => "#7f7f7f",
        "rwlock" => "#bcbd22",
        "dashmap" => "#1f77b4",
        "papaya" => "#2ca02c",
        "scc" => "#9467bd",
        _ => "#17becf",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The figures docs/crisis.md gives for the Go world, per scenario.
fn reference(kind: Kind) -> &'static str {
    match kind {
        Kind::WriteStorm => "Go <code>sync.Map</code> in a write storm (16 cores, above 8,000 writes/s): mean Store latency 0.3 ms &rarr; 12 ms, p99 12.1 ms, 63% of store time in the O(n) dirty-map copy. 32 hash-sharded map+RWMutex: p99 0.4 ms. Atomically swapped copy-on-write map: p99 0.2 ms.",
        Kind::ReadMostly => "Shape of Go's LoadMostlyHits and of conc-map-bench's read-heavy mix (98/1/1). No absolute figure.",
        Kind::Misses => "Shape of Go's LoadMostlyMisses: in the read/dirty design each miss takes the mutex. No absolute figure.",
        Kind::Exchange => "conc-map-bench's exchange mix. No absolute figure.",
        Kind::RapidGrow => "conc-map-bench's rapid-grow mix; Go's LoadOrStoreUnique has the same shape (every store a new key). No absolute figure.",
        Kind::IterDelete => "One million keys: a lock-free callback traversal of the live structure: 41,700 traversals/s, p99 9.1 ms, writers down 2.1%. (In Rust, traversal during deletes is where reclamation must prevent use-after-free.)",
        Kind::Snapshot => "One million keys: a full copy under a lock per traversal: 12,400 traversals/s, p99 86.3 ms, writers down 38%. With 1% change between traversals: full snapshot rebuild p99 82 ms at 2.0x memory; read-only copy plus incremental delta p99 3.1 ms at 1.05x.",
        Kind::Memory => "Memory overhead over a plain map: sync.Map +32%, 32-way sharded +8%, copy-on-write +5%.",
        Kind::AdversarialDelete => "Shape of Go's AdversarialDelete: load, delete and store the same keys to thrash promotion of the dirty map. No absolute figure.",
        Kind::Session => "Swapping whole per-session structs through an atomic pointer: 4.2x faster than sync.Map Store.",
        Kind::Go(_) => "Go's own ns/op for this shape: see the Go columns.",
    }
}

/// What the page shows beyond the results: the verdict, why the run is
/// not a measurement (if so), and Go's reference columns.
pub struct Extras<'a> {
    pub verdict: &'a [crate::verdict::Family],
    pub caveat: Option<&'a str>,
    pub goref: &'a crate::goref::Reference,
}

pub fn page(
    results: &[ScenarioResult],
    maps: &[MapEntry],
    p: &Params,
    m: &Machine,
    command: &str,
    failures: &[String],
    extras: &Extras,
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>epochmap: sync.Map-crisis suite</title>
<style>
body {{ font-family: sans-serif; margin: 24px; max-width: 1250px; color: #222; }}
h2 {{ margin-top: 36px; border-bottom: 1px solid #ccc; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.ref {{ background: #f6f6ee; border-left: 4px solid #bb9; padding: 6px 10px; margin: 8px 0; font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 12px; margin: 8px 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
td:nth-child(2), th:nth-child(2) {{ text-align: left; }}
tr.ours td {{ font-weight: bold; }}
.fail {{ color: #b00; font-weight: bold; }}
.muted {{ color: #888; }}
.caveat {{ background: #fde8e8; border: 2px solid #b00; padding: 8px 12px; font-weight: bold; }}
.verdict {{ background: #eef4fb; border-left: 4px solid #1f77b4; padding: 6px 12px; }}
.verdict li {{ margin: 2px 0; }}
</style></head><body>
<h1>epochmap: the sync.Map-crisis suite</h1>
{}<p><b>{}</b> profile &middot; {} &middot; commit <code>{}</code>{} &middot; {} ({} cores) &middot; {} &middot; load average at start {} (other processes on the machine add noise)</p>
<p>Command: <code>{}</code>. Every map uses the same ahash hasher with fixed seeds; keys are seeded u64s; figures are medians of {} runs of {} ms after a warm-up
(C1 and C5: fixed work). Latency: 1 op in {} timed; <i>stall16</i> is the longest time {} consecutive ops took, an upper bound on any op. Our maps are bold; "vs best peer" is each map's ratio to the best map that is not ours (&gt;1 = better).</p>"#,
        extras.caveat.map_or(String::new(), |c| format!(
            r#"<p class="caveat">NOT A MEASUREMENT: {}.</p>"#,
            esc(c)
        )),
        p.profile,
        esc(&m.date),
        esc(&m.commit),
        if m.dirty {
            " (uncommitted changes)"
        } else {
            ""
        },
        esc(&m.cpu),
        m.cores,
        esc(&m.os),
        esc(&m.load_at_start),
        esc(command),
        p.reps,
        p.duration.as_millis(),
        p.sample_every,
        p.sample_every
    );
    if failures.is_empty() {
        h.push_str("<p>All checks passed: every result the workers could verify was right, and every traversal saw what it had to.</p>");
    } else {
        h.push_str(r#"<p class="fail">FAILURES:</p><ul>"#);
        for f in failures {
            let _ = write!(h, r#"<li class="fail">{}</li>"#, esc(f));
        }
        h.push_str("</ul>");
    }
    let unbuilt: Vec<&str> = maps
        .iter()
        .filter(|m| m.run.is_none())
        .map(|m| m.name)
        .collect();
    if !unbuilt.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\">Not built yet: {}.</p>",
            esc(&unbuilt.join(", "))
        );
    }
    verdict_section(&mut h, extras);
    let live = results.iter().find(|r| r.scenario.kind == Kind::IterDelete);
    for r in results
        .iter()
        .filter(|r| !matches!(r.scenario.kind, Kind::Go(_)))
    {
        section(&mut h, r, maps, p, live);
    }
    let go: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| matches!(r.scenario.kind, Kind::Go(_)))
        .collect();
    if !go.is_empty() {
        go_section(&mut h, &go, maps, p, m, extras.goref);
    }
    h.push_str("</body></html>\n");
    h
}

fn section(
    h: &mut String,
    r: &ScenarioResult,
    maps: &[MapEntry],
    p: &Params,
    live: Option<&ScenarioResult>,
) {
    let s = &r.scenario;
    let _ = write!(
        h,
        "<h2>{} {}</h2><p>{}.</p>",
        esc(s.key),
        esc(s.title),
        esc(s.what)
    );
    let _ = write!(
        h,
        r#"<div class="ref"><b>Reference (docs/crisis.md):</b> {}</div>"#,
        reference(s.kind)
    );
    let mut threads: Vec<usize> = r.rows.iter().map(|r| r.threads).collect();
    threads.dedup();
    let in_order: Vec<usize> = {
        let mut v: Vec<usize> = r.rows.iter().map(|r| r.map).collect();
        v.sort();
        v.dedup();
        v
    };
    let series: Vec<Series> = in_order
        .iter()
        .map(|&i| Series {
            name: if maps[i].run.is_some() {
                maps[i].name.to_string()
            } else {
                format!("{} (not built yet)", maps[i].name)
            },
            color: color(maps[i].id),
            bold: maps[i].ours,
        })
        .collect();
    let value = |map: usize, t: usize, f: &str| {
        r.rows
            .iter()
            .find(|x| x.map == map && x.threads == t)
            .and_then(|x| x.figure(f))
    };
    let tmax = *threads.last().unwrap_or(&1);
    h.push_str(r#"<div class="charts">"#);
    let rate = |v: f64| format(Unit::Rate, v);
    let nanos = |v: f64| format(Unit::Nanos, v);
    match s.kind {
        Kind::Memory => {
            let vals: Vec<Option<f64>> =
                in_order.iter().map(|&i| value(i, 1, fig::BYTES)).collect();
            let reference = crate::scenarios::std_bytes_per_entry().map(|b| ("std HashMap", b));
            h.push_str(&bar_chart(
                &format!(
                    "Bytes per entry, {} u64 -> u64 entries (lower is better)",
                    p.c8_entries
                ),
                &series,
                &vals,
                reference,
                &|v| format!("{v:.1} B"),
            ));
        }
        Kind::IterDelete | Kind::Snapshot => {
            let xs: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
            let w: Vec<Vec<Option<f64>>> = in_order
                .iter()
                .map(|&i| {
                    threads
                        .iter()
                        .map(|&t| value(i, t, fig::WRITERS_WITH))
                        .collect()
                })
                .collect();
            h.push_str(&line_chart(
                "Writer ops/s beside the traversal, by writer threads (higher is better)",
                "writer ops/s",
                &xs,
                &series,
                &w,
                &rate,
            ));
            let labels = ["p50", "p99", "max"];
            let d: Vec<Vec<Option<f64>>> = in_order
                .iter()
                .map(|&i| {
                    vec![
                        value(i, tmax, fig::TRAV_P50),
                        value(i, tmax, fig::TRAV_P99),
                        value(i, tmax, fig::TRAV_MAX),
                    ]
                })
                .collect();
            let what = if s.kind == Kind::Snapshot {
                "Copy + traversal"
            } else {
                "Traversal"
            };
            h.push_str(&dot_plot(
                &format!("{what} time, {tmax} writers (log scale, lower is better)"),
                &labels,
                &series,
                &d,
                &nanos,
            ));
            let imp: Vec<Option<f64>> = in_order
                .iter()
                .map(|&i| value(i, tmax, fig::IMPACT))
                .collect();
            h.push_str(&bar_chart(
                &format!("Writer slowdown beside the traversal, {tmax} writers (lower is better)"),
                &series,
                &imp,
                None,
                &|v| format!("{v:.1}%"),
            ));
        }
        _ => {
            let xs: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
            let v: Vec<Vec<Option<f64>>> = in_order
                .iter()
                .map(|&i| threads.iter().map(|&t| value(i, t, fig::OPS)).collect())
                .collect();
            h.push_str(&line_chart(
                "Throughput by thread count (higher is better)",
                "ops/s",
                &xs,
                &series,
                &v,
                &rate,
            ));
            let labels = ["p50", "p99", "p99.9", "max", "stall16"];
            let keys = [fig::P50, fig::P99, fig::P999, fig::MAX, fig::STALL];
            let d: Vec<Vec<Option<f64>>> = in_order
                .iter()
                .map(|&i| keys.iter().map(|k| value(i, tmax, k)).collect())
                .collect();
            let title = if s.kind == Kind::ReadMostly {
                "Get latency"
            } else {
                "Latency per op"
            };
            h.push_str(&dot_plot(
                &format!("{title}, {tmax} threads (log scale, lower is better)"),
                &labels,
                &series,
                &d,
                &nanos,
            ));
        }
    }
    h.push_str("</div>");
    // The table, as on stdout.
    let cols = columns(s.kind);
    h.push_str("<table><tr><th>threads</th><th>map</th>");
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c.0));
    }
    h.push_str("<th>vs best peer</th>");
    if s.kind == Kind::Snapshot {
        h.push_str("<th>live p99 (C6)</th>");
    }
    h.push_str("</tr>");
    for row in &r.rows {
        let m = &maps[row.map];
        let _ = write!(
            h,
            r#"<tr{}><td>{}</td><td>{}</td>"#,
            if m.ours { r#" class="ours""# } else { "" },
            row.threads,
            esc(m.name)
        );
        match &row.status {
            Status::NotBuilt => {
                let _ = write!(
                    h,
                    r#"<td colspan="{}" class="muted" style="text-align:left">not built yet</td>"#,
                    cols.len() + 1
                );
            }
            Status::Failed(e) => {
                let _ = write!(
                    h,
                    r#"<td colspan="{}" class="fail" style="text-align:left">FAILED: {}</td>"#,
                    cols.len() + 1,
                    esc(e)
                );
            }
            Status::Ok(_) => {
                for c in &cols {
                    let _ = write!(
                        h,
                        "<td>{}</td>",
                        row.figure(c.1).map_or("-".into(), |v| esc(&format(c.2, v)))
                    );
                }
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    vs_best_peer(r, maps, row).map_or("-".into(), |v| format(Unit::Ratio, v))
                );
                if s.kind == Kind::Snapshot {
                    let l = live_p99(live, row).map_or("-".into(), |v| format(Unit::Nanos, v));
                    let _ = write!(h, "<td>{}</td>", esc(&l));
                }
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if matches!(s.kind, Kind::IterDelete | Kind::Snapshot) {
        h.push_str("<p class=\"muted\">How each map traverses / copies: ");
        let parts: Vec<String> = in_order
            .iter()
            .filter(|&&i| maps[i].run.is_some())
            .map(|&i| {
                let m = &maps[i];
                let how = if s.kind == Kind::Snapshot {
                    m.snapshot
                } else {
                    m.traversal
                };
                format!("<b>{}</b>: {}", esc(m.name), esc(how))
            })
            .collect();
        h.push_str(&parts.join("; "));
        h.push_str(".</p>");
    }
}

fn verdict_section(h: &mut String, extras: &Extras) {
    h.push_str(r#"<h2>Verdict</h2><div class="verdict">"#);
    if let Some(c) = extras.caveat {
        let _ = write!(h, r#"<p class="caveat">NOT A MEASUREMENT: {}.</p>"#, esc(c));
    }
    h.push_str("<p>Per family of workloads: the map that wins most (scenario, thread count) cells on the scenario's headline figure, its margin over the runner-up, the spread of the repetitions, and which of our maps to use.</p><ul>");
    for f in extras.verdict {
        let _ = write!(
            h,
            "<li><b>{}</b>: {}",
            esc(f.name),
            esc(&f.lines.join("; "))
        );
        if let Some(o) = &f.ours {
            let _ = write!(h, ". <b>Of ours, use {}</b>", esc(o));
        }
        h.push_str(".</li>");
    }
    h.push_str("</ul></div>");
}

/// All Go shapes in one table: a row per (shape, thread count), a column
/// per map, then Go's own ns/op.
fn go_section(
    h: &mut String,
    go: &[&ScenarioResult],
    maps: &[MapEntry],
    p: &Params,
    m: &Machine,
    goref: &crate::goref::Reference,
) {
    let _ = write!(
        h,
        "<h2>Go shapes</h2><p>The loops of Go's own <code>sync</code> map benchmarks (<code>src/sync/map_bench_test.go</code>), on every map with Go's semantics; ns/op as Go counts it (wall time over the loop iterations of all threads; lower is better), median of {} runs of {} ms. <i>ours/peer</i>: best of ours against the best peer (&gt;1 = ours faster).</p>",
        p.reps,
        p.go_duration.as_millis()
    );
    let _ = write!(
        h,
        r#"<div class="ref"><b>Reference (docs/crisis.md):</b> {}</div>"#,
        esc(&goref.provenance())
    );
    if let Some(w) = goref.cpu_warning(&m.cpu) {
        let _ = write!(h, r#"<p class="fail">{}.</p>"#, esc(&w));
    }
    h.push_str("<ul>");
    for mp in maps.iter().filter(|mp| !mp.go_ops.is_empty()) {
        let _ = write!(h, "<li><b>{}</b>: {}</li>", esc(mp.name), esc(mp.go_ops));
    }
    h.push_str("</ul>");
    let mut ids: Vec<usize> = go
        .iter()
        .flat_map(|r| r.rows.iter().map(|x| x.map))
        .collect();
    ids.sort();
    ids.dedup();
    h.push_str("<table><tr><th>threads</th><th>shape</th>");
    for &i in &ids {
        let _ = write!(h, "<th>{}</th>", esc(maps[i].name));
    }
    h.push_str("<th>ours/peer</th>");
    for c in &goref.columns {
        let _ = write!(h, "<th>{}</th>", esc(&c.label));
    }
    h.push_str("</tr>");
    for r in go {
        let mut threads: Vec<usize> = r.rows.iter().map(|x| x.threads).collect();
        threads.dedup();
        for t in threads {
            let _ = write!(h, "<tr><td>{t}</td><td>{}</td>", esc(r.scenario.title));
            let best = r
                .rows
                .iter()
                .filter(|x| x.threads == t)
                .filter_map(|x| x.figure(fig::NS_OP))
                .fold(f64::INFINITY, f64::min);
            for &i in &ids {
                let row = r.rows.iter().find(|x| x.map == i && x.threads == t);
                let cell = match row.map(|x| &x.status) {
                    Some(Status::Ok(_)) => match row.and_then(|x| x.figure(fig::NS_OP)) {
                        Some(v) if v == best => format!("<b>{}</b>", format(Unit::Nanos, v)),
                        Some(v) => format(Unit::Nanos, v),
                        None => "-".into(),
                    },
                    Some(Status::Failed(e)) => {
                        format!(r#"<span class="fail" title="{}">FAILED</span>"#, esc(e))
                    }
                    _ => "-".into(),
                };
                let _ = write!(h, "<td>{cell}</td>");
            }
            let ours = r
                .rows
                .iter()
                .filter(|x| x.threads == t && maps[x.map].ours)
                .filter_map(|x| vs_best_peer(r, maps, x))
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
            let _ = write!(
                h,
                "<td>{}</td>",
                ours.map_or("-".into(), |v| format(Unit::Ratio, v))
            );
            for c in &goref.columns {
                let cell = match c.ns_per_op(r.scenario.title, t) {
                    Some(v) => format(Unit::Nanos, v),
                    None if !c.note.is_empty() => esc(&c.note),
                    None => "-".into(),
                };
                let _ = write!(h, r#"<td class="muted">{cell}</td>"#);
            }
            h.push_str("</tr>");
        }
    }
    h.push_str("</table>");
}
