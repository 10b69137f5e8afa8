//! The sync.Map-crisis suite: every scenario of `docs/crisis.md`, every map,
//! side by side in one process. `cargo bench --bench crisis -- --help`.
//!
//! Layout (in `crisis/`): `suite.rs` (the run), `adapter.rs` (the trait a
//! map implements), `maps/` (one file per map), `workload.rs` (seeded keys),
//! `runner.rs` (threads, barrier, stop), `latency.rs` (sampled histograms),
//! `alloc.rs` (counting allocator, C8), `scenarios/` (C1..C10, the Go
//! shapes of `scenarios/go.rs`, and their checks), `goref.rs` (Go's own
//! ns/op from `go_reference.json`, written by `scripts/go_reference.sh`),
//! `verdict.rs` (which map wins each family), `report.rs` / `html.rs` /
//! `svg.rs` (table, JSON, HTML). The process exits non-zero when any check
//! fails (a wrong value, a traversal that skipped or repeated entries, a
//! lost update, a panic), never because of timing.

#[path = "crisis/adapter.rs"]
mod adapter;
#[path = "crisis/alloc.rs"]
mod alloc;
#[path = "crisis/cli.rs"]
mod cli;
#[path = "crisis/goref.rs"]
mod goref;
#[path = "crisis/html.rs"]
mod html;
#[path = "crisis/latency.rs"]
mod latency;
#[path = "crisis/machine.rs"]
mod machine;
#[path = "crisis/maps/mod.rs"]
mod maps;
#[path = "crisis/report.rs"]
mod report;
#[path = "crisis/runner.rs"]
mod runner;
#[path = "crisis/scenarios/mod.rs"]
mod scenarios;
#[path = "crisis/suite.rs"]
mod suite;
#[path = "crisis/svg.rs"]
mod svg;
#[path = "crisis/verdict.rs"]
mod verdict;
#[path = "crisis/workload.rs"]
mod workload;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse(&args) {
        Ok(o) => o,
        Err(msg) if msg == cli::HELP => {
            print!("{msg}");
            return;
        }
        Err(msg) => {
            eprintln!("crisis: {msg}\n\n{}", cli::HELP);
            std::process::exit(2);
        }
    };
    for w in &opts.warnings {
        eprintln!("crisis: {w}");
    }
    std::process::exit(suite::run(&opts, &args));
}
