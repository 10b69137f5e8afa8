//! A small HTTP session service whose shared state is a concurrent map.
//!
//! It is the running example of `docs/migrating.md`: the same handlers serve
//! from `Arc<Mutex<HashMap>>` (`--store mutex`, the "before") or from one of
//! this crate's maps (`--store shard`, `--store atomic`, the "after"), so the
//! difference between them can be measured with a real HTTP load generator
//! (`scripts/service_load.sh`).
//!
//! ```text
//! cargo run --release --bin session_service -- --store shard --port 0
//! ```
//!
//! Options:
//! - `--store mutex|shard|atomic` (default `mutex`)
//! - `--port N` on 127.0.0.1 only; `0` (the default) picks a free port
//! - `--prefill N` creates sessions 1..=N before serving (default 0)
//! - `--threads N` tokio worker threads (default: one per core)
//!
//! Once bound it prints one line `LISTENING http://127.0.0.1:PORT store=NAME`
//! on standard output, and it stops cleanly on Ctrl-C or SIGTERM.
//!
//! Endpoints (all bodies JSON; every error is a 4xx with
//! `{"error": {"status": .., "message": ..}}`):
//! - `POST /sessions` `{"user": "ada", "points": 0}` -> 201 and the session
//! - `GET /sessions/{id}` -> the session, or 404
//! - `PATCH /sessions/{id}` `{"add_points": 5, "user": "bob"}` (either or
//!   both) -> the updated session: an atomic read-modify-write
//! - `DELETE /sessions/{id}` -> the removed session, or 404
//! - `GET /sessions?limit=N` (1..=1000, default 100) -> up to N live sessions,
//!   listed while other requests write
//! - `GET /stats` -> store name, session count, created/deleted totals

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

#[path = "session_service/app.rs"]
mod app;
#[path = "session_service/store.rs"]
mod store;

use store::StoreKind;

#[derive(Debug)]
struct Options {
    store: StoreKind,
    port: u16,
    prefill: u64,
    threads: Option<usize>,
}

/// Refuse prefills that would only exhaust memory.
const MAX_PREFILL: u64 = 10_000_000;
const USAGE: &str =
    "usage: session_service [--store mutex|shard|atomic] [--port N] [--prefill N] [--threads N]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        store: StoreKind::Mutex,
        port: 0,
        prefill: 0,
        threads: None,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag} {value:?}: {what}\n{USAGE}");
        match flag.as_str() {
            "--store" => opts.store = value.parse().map_err(|e: String| bad(&e))?,
            "--port" => opts.port = value.parse().map_err(|_| bad("expected 0..=65535"))?,
            "--prefill" => {
                opts.prefill = value
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_PREFILL)
                    .ok_or_else(|| bad(&format!("expected 0..={MAX_PREFILL}")))?;
            }
            "--threads" => {
                opts.threads = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| bad("expected 1..=1024"))?,
                );
            }
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    Ok(opts)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM stops the service.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn run(opts: Options) -> std::io::Result<()> {
    let state = app::AppState::new(opts.store.build());
    state.prefill(opts.prefill);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING http://{bound} store={}", opts.store)?;
        out.flush()?;
    }
    app::serve(listener, state, shutdown_signal()).await
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = opts.threads {
        rt.worker_threads(n);
    }
    let result = rt.build().and_then(|rt| rt.block_on(run(opts)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("session_service: {e}");
            ExitCode::FAILURE
        }
    }
}
