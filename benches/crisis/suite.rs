//! The run: choose scenarios, maps and thread counts, run every repetition
//! (repetitions outermost, maps innermost), print the tables, write the JSON
//! and HTML, and turn any failed check into a non-zero exit code.

use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{self, Row, ScenarioResult, Status};
use crate::scenarios::{self, Acc, Kind, Rep};
use crate::{cli, goref, html, machine, maps, verdict};

/// Runs the suite as `opts` says; returns the process exit code (0: every
/// check passed; 1: some check failed; 2: bad filters).
pub fn run(opts: &cli::Options, args: &[String]) -> i32 {
    let p = &opts.params;
    if opts.self_test {
        let failures = self_test();
        return i32::from(!failures.is_empty());
    }
    let maps = maps::all();
    let machine = machine::Machine::detect();

    let chosen_maps: Vec<usize> = (0..maps.len())
        .filter(|&i| {
            opts.maps.is_empty()
                || opts.maps.iter().any(|f| {
                    let f = f.to_lowercase();
                    maps[i].id == f || maps[i].name.to_lowercase().contains(&f)
                })
        })
        .collect();
    let all_scenarios = scenarios::all();
    let chosen: Vec<scenarios::Scenario> = all_scenarios
        .iter()
        .filter(|s| {
            opts.scenarios.is_empty()
                || opts
                    .scenarios
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(s.id) || f.eq_ignore_ascii_case(s.key))
        })
        .cloned()
        .collect();
    if chosen_maps.is_empty() || chosen.is_empty() {
        eprintln!("crisis: the filters match no map or no scenario (try --list)");
        return 2;
    }
    let threads: Vec<usize> = opts.threads.clone().unwrap_or_else(|| {
        let mut t = vec![1, 2, 2 * machine.cores];
        t.sort();
        t.dedup();
        t
    });
    if opts.list {
        println!("scenarios:");
        for s in &all_scenarios {
            println!("  {:<8} {:<28} {}", s.key, s.title, s.what);
        }
        println!("maps:");
        for m in &maps {
            let state = if m.run.is_some() {
                ""
            } else {
                " (not built yet)"
            };
            println!("  {:<8} {}{}", m.id, m.name, state);
        }
        return 0;
    }

    let command = format!(
        "cargo bench --bench crisis -- {}",
        args.iter()
            .filter(|a| *a != "--bench")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let caveat = caveat(opts);
    let goref = goref::Reference::load();
    println!("epochmap sync.Map-crisis suite: {} profile", p.profile);
    if let Some(c) = &caveat {
        println!("NOT A MEASUREMENT: {c}");
    }
    println!(
        "{} ({} cores), {}, commit {}{}, {}",
        machine.cpu,
        machine.cores,
        machine.os,
        machine.commit,
        if machine.dirty { " (dirty)" } else { "" },
        machine.date
    );
    println!(
        "load average at start (1m 5m 15m): {}",
        machine.load_at_start
    );
    println!(
        "threads {threads:?}; {} entries; runs of {} ms x {} (median) after a {} ms warm-up; latency: 1 op in {} timed; hasher: ahash (fixed seeds) for every map",
        p.entries,
        p.duration.as_millis(),
        p.reps,
        p.warmup.as_millis(),
        p.sample_every
    );

    let threads_of = |s: &scenarios::Scenario| {
        if s.single_thread {
            vec![1]
        } else {
            threads.clone()
        }
    };
    // Runs of one (scenario, map, threads): a warm-up, then the repetitions.
    let runs_of = |s: &scenarios::Scenario| -> Vec<Rep> {
        if s.single_thread {
            return vec![Rep::Measured(0)];
        }
        let warm = (!p.warmup.is_zero()).then_some(Rep::Warmup);
        warm.into_iter()
            .chain((0..p.reps as u64).map(Rep::Measured))
            .collect()
    };
    let built: Vec<usize> = chosen_maps
        .iter()
        .copied()
        .filter(|&i| maps[i].run.is_some())
        .collect();
    let total: u64 = chosen
        .iter()
        .map(|s| threads_of(s).len() * runs_of(s).len() * built.len())
        .sum::<usize>() as u64;
    // On a terminal, a bar; otherwise (CI logs, redirected runs) a line per
    // scenario on stderr with the elapsed time and an estimate of the rest.
    let on_terminal = std::env::var_os("CI").is_none() && std::io::stderr().is_terminal();
    let bar = if !on_terminal {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise} eta {eta}] {msg}",
            )
            .expect("valid template"),
        );
        b
    };

    // C8 runs first, so that garbage other scenarios leave for deferred
    // reclamation is not freed inside its counting window.
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|&i| chosen[i].kind != Kind::Memory);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut results: Vec<Option<ScenarioResult>> = (0..chosen.len()).map(|_| None).collect();
    let mut runs_done = 0u64;
    let mut go_header_printed = false;
    for (done_scenarios, &si) in order.iter().enumerate() {
        let s = &chosen[si];
        let t0 = Instant::now();
        let mut rows = Vec::new();
        for &t in &threads_of(s) {
            // Repetitions outermost, maps innermost: a burst of background
            // load then hits one repetition of every map, not every
            // repetition of one map.
            let mut acc: Vec<(Acc, Option<String>)> =
                built.iter().map(|_| (Acc::default(), None)).collect();
            for rep in runs_of(s) {
                for (bi, &mi) in built.iter().enumerate() {
                    if acc[bi].1.is_some() {
                        bar.inc(1);
                        continue;
                    }
                    let m = &maps[mi];
                    let run = m.run.expect("built");
                    bar.set_message(format!("{} {} {}t", s.key, m.name, t));
                    let r = catch_unwind(AssertUnwindSafe(|| run(s, p, t, rep)));
                    bar.inc(1);
                    let what = if rep == Rep::Warmup { "warm-up: " } else { "" };
                    match r {
                        Ok(Ok(sample)) if rep != Rep::Warmup => acc[bi].0.add(sample),
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => acc[bi].1 = Some(format!("{what}{e}")),
                        Err(panic) => {
                            let msg = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "panic".into());
                            acc[bi].1 = Some(format!("{what}panicked: {msg}"));
                        }
                    }
                }
            }
            for &mi in &chosen_maps {
                let status = match built.iter().position(|&b| b == mi) {
                    None => Status::NotBuilt,
                    Some(bi) => match &acc[bi].1 {
                        Some(e) => {
                            failures.push(format!(
                                "{} {} at {} threads: {}",
                                s.key, maps[mi].name, t, e
                            ));
                            Status::Failed(e.clone())
                        }
                        None => Status::Ok(acc[bi].0.finish()),
                    },
                };
                let reps = built
                    .iter()
                    .position(|&b| b == mi)
                    .map_or_else(Vec::new, |bi| acc[bi].0.reps().to_vec());
                rows.push(Row {
                    map: mi,
                    threads: t,
                    status,
                    reps,
                });
            }
        }
        let res = ScenarioResult {
            scenario: s.clone(),
            rows,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let live = results
            .iter()
            .flatten()
            .find(|r| r.scenario.kind == Kind::IterDelete);
        let text = if matches!(s.kind, Kind::Go(_)) {
            let header = if go_header_printed {
                String::new()
            } else {
                go_header_printed = true;
                report::go_header(&maps, &goref, &machine.cpu)
            };
            header + &report::go_table(&res, &maps, &goref)
        } else {
            report::table(&res, &maps, p, live)
        };
        bar.suspend(|| print!("{text}"));
        runs_done += (threads_of(s).len() * runs_of(s).len() * built.len()) as u64;
        if !on_terminal {
            eprintln!(
                "{}",
                progress_line(
                    done_scenarios + 1,
                    order.len(),
                    s.key,
                    res.seconds,
                    started.elapsed().as_secs_f64(),
                    runs_done,
                    total,
                )
            );
        }
        results[si] = Some(res);
    }
    bar.finish_and_clear();
    let results: Vec<ScenarioResult> = results.into_iter().flatten().collect();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nload average at end (1m 5m 15m): {}",
        machine::load_average()
    );

    let dir = opts.out.clone().map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            // The workspace's target/ (this package lives in benches/).
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("crisis")
    });
    let fams = verdict::families(&results, &maps);
    let mut json = report::json(
        &results, &maps, p, &machine, &command, &threads, &failures, seconds,
    );
    json["not_a_measurement"] = serde_json::json!(caveat);
    json["verdict"] = serde_json::json!(fams
        .iter()
        .map(|f| serde_json::json!({"family": f.name, "findings": f.lines, "use_of_ours": f.ours}))
        .collect::<Vec<_>>());
    json["go_reference"] = serde_json::json!({
        "provenance": goref.provenance(),
        "cpu_warning": goref.cpu_warning(&machine.cpu),
        "columns": goref.columns.iter().map(|c| c.json()).collect::<Vec<_>>(),
    });
    let page = html::page(
        &results,
        &maps,
        p,
        &machine,
        &command,
        &failures,
        &html::Extras {
            verdict: &fams,
            caveat: caveat.as_deref(),
            goref: &goref,
        },
    );
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| {
            std::fs::write(
                dir.join("results.json"),
                serde_json::to_string_pretty(&json).expect("json"),
            )
        })
        .and_then(|_| std::fs::write(dir.join("report.html"), page));
    match written {
        Ok(()) => println!(
            "\nwrote {} and {} ({seconds:.0}s)",
            dir.join("results.json").display(),
            dir.join("report.html").display()
        ),
        Err(e) => {
            eprintln!("crisis: cannot write results to {}: {e}", dir.display());
            failures.push(format!("writing results: {e}"));
        }
    }
    print!("{}", verdict::text(&fams, caveat.as_deref()));
    if p.profile == "smoke" {
        failures.extend(self_test());
    }
    if !failures.is_empty() {
        eprintln!("\ncrisis: {} check(s) FAILED:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        return 1;
    }
    0
}

/// Why this run's figures are not a measurement (a smoke run, a filtered
/// run, shortened runs), or `None` for a full run of a profile.
fn caveat(opts: &cli::Options) -> Option<String> {
    let p = &opts.params;
    let profile = scenarios::Params::profile(p.profile);
    let mut why = Vec::new();
    if p.profile == "smoke" {
        why.push(
            "a smoke run (tiny maps, runs of a few ms, one repetition) checks that the suite works"
                .to_string(),
        );
    }
    let mut filters = Vec::new();
    if !opts.scenarios.is_empty() {
        filters.push("--scenario");
    }
    if !opts.maps.is_empty() {
        filters.push("--map");
    }
    if opts.threads.is_some() && p.profile != "smoke" {
        filters.push("--threads");
    }
    if !filters.is_empty() {
        why.push(format!(
            "a filtered run ({}) leaves families and peers out",
            filters.join(", ")
        ));
    }
    if p.duration < profile.duration || p.reps < profile.reps || p.entries < profile.entries {
        why.push(
            "runs shortened below the profile (--duration-ms, --reps or --entries)".to_string(),
        );
    }
    (!why.is_empty()).then(|| format!("{}; its figures are not a measurement", why.join("; ")))
}

/// The progress line printed after each scenario when stderr is not a
/// terminal: the time left is estimated from the runs done so far (runs
/// differ in length, so it is a rough estimate).
fn progress_line(
    done: usize,
    of: usize,
    key: &str,
    scenario_s: f64,
    elapsed_s: f64,
    runs_done: u64,
    runs_total: u64,
) -> String {
    let left = if runs_done == 0 {
        "?".to_string()
    } else {
        let rest = elapsed_s / runs_done as f64 * runs_total.saturating_sub(runs_done) as f64;
        format!("~{}", clock(rest))
    };
    format!(
        "crisis: [{done}/{of}] {key} done in {scenario_s:.1}s; elapsed {}, left {left} ({runs_done}/{runs_total} runs)",
        clock(elapsed_s)
    )
}

/// `m:ss` (or `h:mm:ss`).
fn clock(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Runs the deliberately broken maps of `maps/broken.rs` through the
/// scenarios that check what each breaks: every broken map must fail and the
/// unbroken control must pass. Returns what went wrong.
fn self_test() -> Vec<String> {
    let p = scenarios::Params::profile("smoke");
    let all = scenarios::all();
    let mut failures = Vec::new();
    let cases = maps::broken::cases();
    for &(key, mode, run) in &cases {
        let s = all
            .iter()
            .find(|s| s.key == key)
            .expect("self-test scenario exists");
        let r = catch_unwind(AssertUnwindSafe(|| run(s, &p, 2, Rep::Measured(0))));
        let failed = !matches!(r, Ok(Ok(_)));
        match (mode == maps::broken::mode::NONE, failed) {
            (true, true) => failures.push(format!("self-test: {key} fails on a correct map")),
            (false, false) => failures.push(format!(
                "self-test: {key} does not notice broken map mode {mode}"
            )),
            _ => {}
        }
    }
    if failures.is_empty() {
        println!(
            "self-test: {} cases; each check fired on its broken map and stayed quiet on the correct one",
            cases.len()
        );
    } else {
        for f in &failures {
            eprintln!("crisis: {f}");
        }
    }
    failures
}
