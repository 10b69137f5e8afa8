//! The verdict: per family of workloads, which map wins, by how much, how
//! far the repetitions spread, and which of our two maps to use there.
//!
//! A "cell" is one (scenario, thread count). In each cell the maps are
//! ranked on the scenario's headline figure (the median of the
//! repetitions). The family's winner is the map that wins most cells; its
//! margin is its ratio to the runner-up in the cells it wins; the spread
//! is each winner's (max - min) / median over the repetitions.

use crate::maps::MapEntry;
use crate::report::{ScenarioResult, Status};
use crate::runner::median;
use crate::scenarios::{fig, Scenario, FAMILIES};

/// The verdict on one family.
pub struct Family {
    pub name: &'static str,
    /// One sentence per finding.
    pub lines: Vec<String>,
    /// Which of our maps to use for this family, in a few words.
    pub ours: Option<String>,
}

/// `(min, max)` figure names of the headline's repetition spread, when the
/// suite keeps one.
fn spread_names(headline: &str) -> Option<(&'static str, &'static str)> {
    match headline {
        h if h == fig::OPS => Some((fig::OPS_MIN, fig::OPS_MAX)),
        h if h == fig::NS_OP => Some((fig::NS_OP_MIN, fig::NS_OP_MAX)),
        h if h == fig::WRITERS_WITH => Some((fig::WRITERS_WITH_MIN, fig::WRITERS_WITH_MAX)),
        _ => None,
    }
}

/// "a is better than b by this factor" (>= 1 when a is better).
fn ratio(s: &Scenario, a: f64, b: f64) -> f64 {
    if s.higher_better {
        a / b
    } else {
        b / a
    }
}

fn x(v: f64) -> String {
    format!("{v:.2}x")
}

/// The verdict of every family that has results.
pub fn families(results: &[ScenarioResult], maps: &[MapEntry]) -> Vec<Family> {
    let mut out = Vec::new();
    for fam in FAMILIES {
        let rs: Vec<&ScenarioResult> = results
            .iter()
            .filter(|r| r.scenario.family() == fam)
            .collect();
        if rs.is_empty() {
            continue;
        }
        let mut wins = vec![0usize; maps.len()];
        let mut margins: Vec<Vec<f64>> = vec![Vec::new(); maps.len()];
        let mut spreads: Vec<f64> = Vec::new();
        let mut overlaps = 0usize;
        let mut cells = 0usize;
        // Ours: (shard better, atomic better, shard/atomic ratios, best-of-ours/best-peer ratios)
        let shard = maps.iter().position(|m| m.id == "shard");
        let atomic = maps.iter().position(|m| m.id == "atomic");
        let (mut shard_better, mut atomic_better) = (0usize, 0usize);
        let mut shard_vs_atomic = Vec::new();
        // (scenario, thread count, ShardMap over AtomicPtrMap) per cell.
        let mut ours_cells: Vec<(&'static str, usize, f64)> = Vec::new();
        let mut ours_vs_peer = Vec::new();
        let mut failed = 0usize;
        for r in &rs {
            let s = &r.scenario;
            let mut threads: Vec<usize> = r.rows.iter().map(|x| x.threads).collect();
            threads.sort();
            threads.dedup();
            for t in threads {
                let row_of = |m: usize| r.rows.iter().find(|x| x.map == m && x.threads == t);
                let mut ranked: Vec<(usize, f64)> = r
                    .rows
                    .iter()
                    .filter(|x| x.threads == t)
                    .filter_map(|x| {
                        x.figure(s.headline)
                            .filter(|v| *v > 0.0)
                            .map(|v| (x.map, v))
                    })
                    .collect();
                failed += r
                    .rows
                    .iter()
                    .filter(|x| x.threads == t && matches!(x.status, Status::Failed(_)))
                    .count();
                if ranked.len() < 2 {
                    continue;
                }
                ranked.sort_by(|a, b| {
                    if s.higher_better {
                        b.1.total_cmp(&a.1)
                    } else {
                        a.1.total_cmp(&b.1)
                    }
                });
                cells += 1;
                let (w, wv) = ranked[0];
                let (ru, rv) = ranked[1];
                wins[w] += 1;
                margins[w].push(ratio(s, wv, rv));
                let reps = row_of(w).and_then(|x| x.figure(fig::REPS)).unwrap_or(0.0);
                if let Some((lo, hi)) = spread_names(s.headline).filter(|_| reps >= 2.0) {
                    let w_row = row_of(w).expect("ranked rows exist");
                    let r_row = row_of(ru).expect("ranked rows exist");
                    if let (Some(a), Some(b)) = (w_row.figure(lo), w_row.figure(hi)) {
                        spreads.push((b - a) / wv * 100.0);
                        // The winner's worst repetition against the
                        // runner-up's best: do the two overlap?
                        let (w_worst, r_best) = if s.higher_better {
                            (a, r_row.figure(hi).unwrap_or(rv))
                        } else {
                            (b, r_row.figure(lo).unwrap_or(rv))
                        };
                        if ratio(s, w_worst, r_best) < 1.0 {
                            overlaps += 1;
                        }
                    }
                }
                let v = |m: Option<usize>| m.and_then(row_of).and_then(|x| x.figure(s.headline));
                if let (Some(a), Some(b)) = (v(shard), v(atomic)) {
                    let q = ratio(s, a, b);
                    shard_vs_atomic.push(q);
                    ours_cells.push((s.key, t, q));
                    if q >= 1.0 {
                        shard_better += 1;
                    } else {
                        atomic_better += 1;
                    }
                }
                let best_ours = ranked.iter().find(|(m, _)| maps[*m].ours);
                let best_peer = ranked.iter().find(|(m, _)| !maps[*m].ours);
                if let (Some(o), Some(p)) = (best_ours, best_peer) {
                    ours_vs_peer.push(ratio(s, o.1, p.1));
                }
            }
        }
        let mut lines = Vec::new();
        if cells == 0 {
            lines.push("no cell with two maps measured".into());
            out.push(Family {
                name: fam,
                lines,
                ours: None,
            });
            continue;
        }
        let winner = (0..maps.len())
            .max_by_key(|&i| (wins[i], std::cmp::Reverse(i)))
            .expect("maps");
        let m = &margins[winner];
        let (lo, hi) = (
            m.iter().copied().fold(f64::INFINITY, f64::min),
            m.iter().copied().fold(0.0, f64::max),
        );
        let scen: Vec<&str> = rs.iter().map(|r| r.scenario.key).collect();
        let scen = if scen.len() > 4 {
            format!("{} scenarios", scen.len())
        } else {
            scen.join(", ")
        };
        lines.push(format!(
            "{} wins {} of {} cells ({scen}, at each thread count), by {} over the runner-up (median; {}-{})",
            maps[winner].name,
            wins[winner],
            cells,
            x(median(m)),
            x(lo),
            x(hi)
        ));
        let others: Vec<String> = (0..maps.len())
            .filter(|&i| i != winner && wins[i] > 0)
            .map(|i| format!("{} {}", maps[i].name, wins[i]))
            .collect();
        if !others.is_empty() {
            lines.push(format!("other cell wins: {}", others.join(", ")));
        }
        if spreads.is_empty() {
            lines.push("no repetition spread: one repetition, or a headline measured once (C7's merged histogram, C8's single run)".into());
        } else {
            lines.push(format!(
                "repetition spread of the winners (max-min over median): median {:.1}%, up to {:.1}%; in {} of {} cells the winner's worst repetition is not better than the runner-up's best",
                median(&spreads),
                spreads.iter().copied().fold(0.0, f64::max),
                overlaps,
                spreads.len()
            ));
        }
        if !ours_vs_peer.is_empty() {
            lines.push(format!(
                "best of ours against the best peer: median {} ({}-{}; >1 = ours better)",
                x(median(&ours_vs_peer)),
                x(ours_vs_peer.iter().copied().fold(f64::INFINITY, f64::min)),
                x(ours_vs_peer.iter().copied().fold(0.0, f64::max))
            ));
        }
        if failed > 0 {
            lines.push(format!(
                "{failed} (map, thread count) runs FAILED their checks and are left out"
            ));
        }
        let ours = (!shard_vs_atomic.is_empty()).then(|| {
            let q = median(&shard_vs_atomic);
            let (pick, by) = if q >= 1.0 {
                ("ShardMap", q)
            } else {
                ("AtomicPtrMap", 1.0 / q)
            };
            let mut text = format!(
                "{pick} (cells where ShardMap is better: {shard_better}, AtomicPtrMap: {atomic_better}; median {} for {pick})",
                x(by)
            );
            // When: the cells where the other one is clearly (>10%) better.
            let (other, other_wins): (&str, Vec<String>) = if q >= 1.0 {
                ("AtomicPtrMap", ours_cells.iter().filter(|c| c.2 < 1.0 / 1.1).map(|c| format!("{} {}t ({})", c.0, c.1, x(1.0 / c.2))).collect())
            } else {
                ("ShardMap", ours_cells.iter().filter(|c| c.2 > 1.1).map(|c| format!("{} {}t ({})", c.0, c.1, x(c.2))).collect())
            };
            if !other_wins.is_empty() {
                let more = other_wins.len().saturating_sub(6);
                text.push_str(&format!(
                    "; but {other} where it is >10% better: {}{}",
                    other_wins[..other_wins.len().min(6)].join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ));
            }
            text
        });
        out.push(Family {
            name: fam,
            lines,
            ours,
        });
    }
    out
}

/// The verdict as terminal text.
pub fn text(fams: &[Family], caveat: Option<&str>) -> String {
    let mut out = String::from("\n== Verdict\n");
    if let Some(c) = caveat {
        out.push_str(&format!("   NOT A MEASUREMENT: {c}\n"));
    }
    for f in fams {
        out.push_str(&format!("{}:\n", f.name));
        for l in &f.lines {
            out.push_str(&format!("   {l}\n"));
        }
        if let Some(o) = &f.ours {
            out.push_str(&format!("   of ours, use {o}\n"));
        }
    }
    let picks: Vec<String> = fams
        .iter()
        .filter_map(|f| {
            f.ours
                .as_ref()
                .map(|o| format!("{}: {}", f.name, o.split(' ').next().unwrap_or("")))
        })
        .collect();
    if !picks.is_empty() {
        out.push_str(&format!("which of ours, by family: {}\n", picks.join("; ")));
    }
    if let Some(c) = caveat {
        out.push_str(&format!("NOT A MEASUREMENT: {c}\n"));
    }
    out
}
