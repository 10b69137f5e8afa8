//! Records the commit the benchmarks are built from, and whether the
//! checkout differed from it, so that a kept or copied binary (an A/B of two
//! builds) reports the commit it measures, not whichever one is checked out
//! when it runs.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    // No optional locks: `status` would otherwise refresh and rewrite the
    // index (taking its lock while the user may be running git).
    let out = Command::new("git")
        .arg("--no-optional-locks")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Asks cargo to run this script again when `path` changes; only for paths
/// that exist (cargo reruns a build script on every build while a watched
/// path is missing).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Only the repository this crate belongs to (the one whose top level is
    // the parent of `benches/`), not one that happens to enclose a copy.
    let ours = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| manifest.parent().is_some_and(|p| Path::new(&top) == p));
    let commit = ours
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    let dirty = ours
        && git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=EPOCHMAP_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=EPOCHMAP_BUILD_DIRTY={}", u8::from(dirty));
    // Run again when the commit moves (HEAD and its log, the branches, the
    // index a commit rewrites) or when a measured source changes (dirty).
    if ours {
        if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
            let dir = Path::new(&dir);
            watch(&dir.join("HEAD"));
            watch(&dir.join("index"));
            watch(&dir.join("logs").join("HEAD"));
        }
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            // Relative to the directory git ran in, unless absolute.
            let common = manifest.join(common);
            watch(&common.join("refs").join("heads"));
            watch(&common.join("packed-refs"));
        }
    }
    for path in ["../src", "../tests/kit", "../Cargo.toml", "."] {
        watch(&manifest.join(path));
    }
}
