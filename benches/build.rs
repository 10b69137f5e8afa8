//! Records the commit the benchmarks are built from, and whether the
//! checkout differed from it, so that a kept or copied binary (an A/B of two
//! builds) reports the commit it measures, not whichever one is checked out
//! when it runs.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=EPOCHMAP_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=EPOCHMAP_BUILD_DIRTY={}", u8::from(dirty));
    // Run again when the commit moves (HEAD, the branch it names, the index
    // a commit rewrites) or when a measured source changes (dirty state).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
    }
    if let (Some(common), Some(branch)) = (
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) {
        println!("cargo:rerun-if-changed={common}/{branch}");
        println!("cargo:rerun-if-changed={common}/packed-refs");
    }
    for path in ["../src", "../tests/kit", "../Cargo.toml", "."] {
        println!("cargo:rerun-if-changed={path}");
    }
}
