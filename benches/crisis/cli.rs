//! Command-line options, parsed by hand. Flags that cargo or criterion pass
//! to every bench (`--bench`, filters) are ignored.

use std::time::Duration;

use crate::scenarios::Params;

pub const HELP: &str = "\
cargo bench --bench crisis -- [OPTIONS]

Profiles (default: --quick, all scenarios and maps, a few minutes on 2 cores):
  --quick              100k entries, 120 ms runs (Go shapes 50 ms), 3 repetitions
  --full               1M entries, 1 s runs (Go shapes 200 ms), 5 repetitions
  --smoke              10k entries, 20 ms runs, 1 repetition, threads 2 (CI)
Filters and overrides:
  --scenario C1,G      scenario ids (C1..C10; G: the 24 Go shapes) or keys
                       (C1-zipf, G-Range)
  --map atomic,dashmap map ids (shard, atomic, mutex, rwlock, dashmap, papaya, scc)
  --threads 1,2,4      thread counts (default 1, 2 and 2 x cores)
  --entries N          stable entries of the steady-state scenarios
  --duration-ms N      length of a measured run (Go shapes too)
  --reps N             measured repetitions (median reported)
  --seed N             seed of the key generator
  --out DIR            where results.json and report.html go (default target/crisis)
  --list               list scenarios and maps, then exit
  --self-test          only check that the suite's checks fire on deliberately
                       broken maps (also run at the end of --smoke)
";

/// Parsed options.
pub struct Options {
    pub params: Params,
    pub scenarios: Vec<String>,
    pub maps: Vec<String>,
    pub threads: Option<Vec<usize>>,
    pub out: Option<String>,
    pub list: bool,
    pub self_test: bool,
    pub warnings: Vec<String>,
}

fn list_of(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(flag: &str, v: &str) -> Result<u64, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag} expects a number, got {v:?}"))
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut profile = "quick";
    for a in args {
        match a.as_str() {
            "--full" => profile = "full",
            "--smoke" => profile = "smoke",
            "--quick" => profile = "quick",
            _ => {}
        }
    }
    let mut params = Params::profile(profile);
    let mut o = Options {
        params: Params::profile(profile),
        scenarios: Vec::new(),
        maps: Vec::new(),
        threads: if profile == "smoke" {
            Some(vec![2])
        } else {
            None
        },
        out: None,
        list: false,
        self_test: false,
        warnings: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let takes_value = matches!(
            flag,
            "--scenario"
                | "--map"
                | "--threads"
                | "--entries"
                | "--duration-ms"
                | "--reps"
                | "--seed"
                | "--out"
        );
        let value = if takes_value {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => return Err(format!("{flag} expects a value")),
            }
        } else {
            String::new()
        };
        match flag {
            "--full" | "--smoke" | "--quick" => {}
            "--help" | "-h" => return Err(HELP.to_string()),
            "--list" => o.list = true,
            "--self-test" => o.self_test = true,
            "--scenario" => o.scenarios.extend(list_of(&value)),
            "--map" => o.maps.extend(list_of(&value)),
            "--threads" => {
                let mut t = Vec::new();
                for s in list_of(&value) {
                    let n = number(flag, &s)? as usize;
                    if n == 0 {
                        return Err("--threads: counts must be at least 1".into());
                    }
                    t.push(n);
                }
                o.threads = Some(t);
            }
            "--entries" => params.entries = number(flag, &value)?.max(64),
            "--duration-ms" => {
                params.duration = Duration::from_millis(number(flag, &value)?.max(1));
                params.go_duration = params.duration;
            }
            "--reps" => params.reps = number(flag, &value)?.max(1) as usize,
            "--seed" => params.seed = number(flag, &value)?,
            "--out" => o.out = Some(value),
            // cargo bench passes --bench; criterion-style flags are ignored.
            "--bench" | "--nocapture" | "--test" => {}
            f if f.starts_with('-') => o.warnings.push(format!("ignoring unknown option {f}")),
            f => o.warnings.push(format!("ignoring argument {f:?}")),
        }
    }
    o.params = params;
    Ok(o)
}
