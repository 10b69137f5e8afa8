//! Go's own ns/op for the Go shapes, from the committed data file
//! `go_reference.json` (written by `scripts/go_reference.sh`; the suite
//! never runs Go). Compiled in, so the suite needs no file at run time.

use serde_json::Value as Json;

const DATA: &str = include_str!("go_reference.json");

/// One Go version's column.
pub struct Column {
    pub label: String,
    /// "not measured" and the like, when the column has no figures.
    pub note: String,
    /// (shape, GOMAXPROCS, ns/op).
    figures: Vec<(String, usize, f64)>,
}

impl Column {
    /// Go's ns/op for `shape` at `threads` (GOMAXPROCS), if measured.
    pub fn ns_per_op(&self, shape: &str, threads: usize) -> Option<f64> {
        self.figures
            .iter()
            .find(|(s, t, _)| s == shape && *t == threads)
            .map(|f| f.2)
    }

    /// The column as JSON for results.json: label, note and
    /// `{shape: {GOMAXPROCS: ns/op}}`.
    pub fn json(&self) -> Json {
        let mut shapes = serde_json::Map::new();
        for (shape, t, ns) in &self.figures {
            let by_threads = shapes
                .entry(shape.clone())
                .or_insert_with(|| Json::Object(serde_json::Map::new()));
            by_threads[t.to_string()] = serde_json::json!(ns);
        }
        serde_json::json!({"label": self.label, "note": self.note, "ns_per_op": shapes})
    }
}

/// The reference file.
pub struct Reference {
    pub machine: String,
    pub cpu_model: String,
    pub date: String,
    pub command: String,
    pub source: String,
    pub columns: Vec<Column>,
}

impl Reference {
    /// The committed reference (panics if the committed file is malformed,
    /// which a smoke run catches).
    pub fn load() -> Self {
        let j: Json = serde_json::from_str(DATA).expect("go_reference.json is valid JSON");
        let s = |v: &Json| v.as_str().unwrap_or("").to_string();
        let columns = j["versions"]
            .as_array()
            .expect("go_reference.json: versions")
            .iter()
            .map(|v| {
                let mut figures = Vec::new();
                if let Some(shapes) = v["ns_per_op"].as_object() {
                    for (shape, by_threads) in shapes {
                        for (t, ns) in by_threads.as_object().into_iter().flatten() {
                            if let (Ok(t), Some(ns)) = (t.parse(), ns.as_f64()) {
                                figures.push((shape.clone(), t, ns));
                            }
                        }
                    }
                }
                Column {
                    label: s(&v["label"]),
                    note: s(&v["note"]),
                    figures,
                }
            })
            .collect();
        Self {
            machine: s(&j["machine"]),
            cpu_model: s(&j["cpu_model"]),
            date: s(&j["date"]),
            command: s(&j["command"]),
            source: s(&j["source"]),
            columns,
        }
    }

    /// A warning when the reference was measured on another CPU model than
    /// `cpu` (this run's), or `None`.
    pub fn cpu_warning(&self, cpu: &str) -> Option<String> {
        (self.cpu_model != cpu).then(|| {
            format!(
                "Go's reference ns/op were measured on another CPU model ({}) than this run ({cpu}): compare them with care",
                self.cpu_model
            )
        })
    }

    /// One line saying where the columns come from.
    pub fn provenance(&self) -> String {
        format!(
            "Go reference: {}, {}, {}; `{}`; {}",
            self.machine, self.cpu_model, self.date, self.command, self.source
        )
    }
}
