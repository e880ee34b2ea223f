//! Replays committed fuzz inputs through a harness in the normal test suite, so a regression
//! is caught by `cargo nextest run --workspace` without cargo-fuzz or a nightly flag, and then
//! fuzzes each harness for a couple of seconds with simple random mutations of that corpus
//! (bit flips, byte sets, inserts, deletions, truncations, splices), so CI runs every target
//! briefly on the stable toolchain. The long coverage-guided runs are cargo-fuzz's
//! (`fuzz/README.md`). Included by path from each crate's `tests/fuzz_regressions.rs`.

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
            let msg = panic_text(cause.as_ref());
            panic!("fuzz input {} fails: {msg}", p.display());
        }
    }
    paths.len()
}

/// The message a caught panic carried.
fn panic_text(cause: &(dyn std::any::Any + Send)) -> String {
    cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Replays `corpus/<target>` (which must not be empty) and `regressions/<target>`, then runs
/// [`smoke`] on the corpus.
pub fn replay_target(fuzz: &Path, target: &str, run: fn(&[u8])) {
    let n = replay_dir(&fuzz.join("corpus").join(target), run);
    assert!(n > 0, "no corpus committed for fuzz target {target}");
    replay_dir(&fuzz.join("regressions").join(target), run);
    smoke(&fuzz.join("corpus").join(target), target, run);
}

/// Mutates corpus inputs at random and runs each through `run`, for `REEF_FUZZ_SMOKE_MS`
/// milliseconds (default 1500; 0 turns it off). The seed is printed and can be fixed with
/// `REEF_FUZZ_SEED`; a failing input is written to the system temp dir and named in the panic.
pub fn smoke(dir: &Path, target: &str, run: fn(&[u8])) {
    let millis: u64 = std::env::var("REEF_FUZZ_SMOKE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    if millis == 0 {
        return;
    }
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let seed: u64 = std::env::var("REEF_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(millis);
    let mut runs = 0u64;
    while std::time::Instant::now() < deadline {
        let mut data = corpus[(next() % corpus.len() as u64) as usize].clone();
        for _ in 0..1 + next() % 4 {
            mutate(&mut data, &corpus, &mut next);
        }
        if let Err(cause) = std::panic::catch_unwind(|| run(&data)) {
            let msg = panic_text(cause.as_ref());
            let path = std::env::temp_dir().join(format!("fuzz-smoke-{target}-{seed}"));
            let _ = std::fs::write(&path, &data);
            panic!(
                "fuzz smoke of {target} (REEF_FUZZ_SEED={seed}) found an input that fails, \
                 saved to {}: {msg}",
                path.display()
            );
        }
        runs += 1;
    }
    println!("fuzz smoke {target}: {runs} mutated inputs in {millis} ms, seed {seed}");
}

fn mutate(data: &mut Vec<u8>, corpus: &[Vec<u8>], next: &mut impl FnMut() -> u64) {
    const MAX: usize = 1 << 16;
    let pos = |n: &mut dyn FnMut() -> u64, len: usize| (n() % (len as u64 + 1)) as usize;
    match next() % 7 {
        0 if !data.is_empty() => {
            let i = (next() % data.len() as u64) as usize;
            data[i] ^= 1 << (next() % 8);
        }
        1 if !data.is_empty() => {
            let i = (next() % data.len() as u64) as usize;
            data[i] = [0u8, 0xff, 0x7f, 0x80, next() as u8][(next() % 5) as usize];
        }
        2 if data.len() < MAX => {
            let i = pos(next, data.len());
            let n = 1 + (next() % 8) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            data.splice(i..i, bytes);
        }
        3 if !data.is_empty() => {
            let i = (next() % data.len() as u64) as usize;
            let n = 1 + (next() % 16) as usize;
            data.drain(i..(i + n).min(data.len()));
        }
        4 => {
            let n = pos(next, data.len());
            data.truncate(n);
        }
        5 if data.len() < MAX => {
            let other = &corpus[(next() % corpus.len() as u64) as usize];
            let from = pos(next, other.len());
            let i = pos(next, data.len());
            data.splice(i..i, other[from..].iter().copied().take(256));
        }
        _ if data.len() >= 4 => {
            // An interesting integer over four bytes: lengths and counts live there.
            let i = (next() % (data.len() as u64 - 3)) as usize;
            let v: u32 = [0, 1, u32::MAX, 0x7fff_ffff, 0x8000_0000, 4096][(next() % 6) as usize];
            data[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        _ => data.push(next() as u8),
    }
}

/// Reads one committed reproducer, `regressions/<target>/<name>`.
pub fn reproducer(fuzz: &Path, target: &str, name: &str) -> Vec<u8> {
    let p = fuzz.join("regressions").join(target).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}
