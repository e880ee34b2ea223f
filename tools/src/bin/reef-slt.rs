//! `reef-slt [--engine-name sqlite]... [-v] FILE_OR_DIR...`: run sqllogictest files against
//! reef-engine (`--engine-name` may repeat; `onlyif`/`skipif` match any of the names). Prints per-file counts and the failures (SQL, expected, actual), then a final
//! line `N passed, M failed`; exits 1 if anything failed.

use std::path::PathBuf;
use std::process::ExitCode;

use reef_tools::slt::{collect, format_failure, run_file, Options};

fn usage() -> ExitCode {
    eprintln!("usage: reef-slt [--engine-name NAME] [-v|--verbose] FILE_OR_DIR...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut opts = Options::default();
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    let mut named = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--engine-name" => match args.next() {
                Some(n) => {
                    if !named {
                        opts.engine_names.clear();
                        named = true;
                    }
                    opts.engine_names.push(n)
                }
                None => return usage(),
            },
            "-v" | "--verbose" => opts.verbose = true,
            "-h" | "--help" => return usage(),
            s if s.starts_with('-') => return usage(),
            _ => roots.push(PathBuf::from(a)),
        }
    }
    if roots.is_empty() {
        return usage();
    }
    let mut files = Vec::new();
    for r in &roots {
        match collect(r) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("reef-slt: cannot read {}: {e}", r.display());
                return ExitCode::from(2);
            }
        }
    }
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let start = std::time::Instant::now();
    for f in &files {
        let rep = match run_file(f, &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("reef-slt: cannot read {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        println!("{}", rep.summary());
        let show = if opts.verbose { usize::MAX } else { 10 };
        for fl in rep.failures.iter().take(show) {
            println!("{}", format_failure(fl));
        }
        if rep.failures.len() > show {
            println!(
                "  ... {} more failures (use -v to see all)",
                rep.failures.len() - show
            );
        }
        passed += rep.passed;
        failed += rep.failed;
        skipped += rep.skipped;
    }
    let total = passed + failed;
    let pct = if total == 0 {
        100.0
    } else {
        passed as f64 * 100.0 / total as f64
    };
    eprintln!(
        "{} files, {skipped} skipped, {pct:.2}% passed in {:.2?}",
        files.len(),
        start.elapsed()
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
