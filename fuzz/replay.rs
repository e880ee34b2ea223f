//! Replays committed fuzz inputs through a harness in the normal test suite, so a regression
//! is caught by `cargo nextest run --workspace` without cargo-fuzz or a nightly flag. Included
//! by path from each crate's `tests/fuzz_regressions.rs` (not part of the fuzz crate itself).

// Included by path into several test crates, each using only some of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The `fuzz/` folder, from a crate's `CARGO_MANIFEST_DIR` and its depth below the repo root.
pub fn fuzz_dir(manifest_dir: &str, depth: usize) -> PathBuf {
    let mut p = PathBuf::from(manifest_dir);
    for _ in 0..depth {
        p.pop();
    }
    p.join("fuzz")
}

/// Runs every file in `dir` through `run`; a panic names the file that caused it. Returns
/// how many files ran.
pub fn replay_dir(dir: &Path, run: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("listing a fuzz input folder").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for p in &paths {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        if let Err(cause) = std::panic::catch_unwind(|| run(&data)) {
            let msg = cause
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| cause.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("fuzz input {} fails: {msg}", p.display());
        }
    }
    paths.len()
}

/// Replays `corpus/<target>` (which must not be empty) and `regressions/<target>`.
pub fn replay_target(fuzz: &Path, target: &str, run: fn(&[u8])) {
    let n = replay_dir(&fuzz.join("corpus").join(target), run);
    assert!(n > 0, "no corpus committed for fuzz target {target}");
    replay_dir(&fuzz.join("regressions").join(target), run);
}

/// Reads one committed reproducer, `regressions/<target>/<name>`.
pub fn reproducer(fuzz: &Path, target: &str, name: &str) -> Vec<u8> {
    let p = fuzz.join("regressions").join(target).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}
