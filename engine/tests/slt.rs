//! Runs the engine's own sqllogictest files (`tests/slt/*.slt`, expected output produced by
//! SQLite with `examples/slt_fill.rs`) and SQLite's shared conformance corpus.
//!
//! The corpus is found via `REEF_SLT_CORPUS`, else `<workspace>/../shared/sqllogictest`,
//! else `/work/shared/sqllogictest`; when none exists the test says so loudly and passes
//! (CI may run on a clean clone without it).

// The runner is reef-slt's own module, compiled in here so the engine's tests do not depend
// on the tools crate (which depends on the engine).
#[path = "../../tools/src/slt.rs"]
#[allow(dead_code)]
mod slt;

use std::path::{Path, PathBuf};

fn run_dir(dir: &Path, names: &[&str]) -> (usize, usize, Vec<String>) {
    let opts = slt::Options {
        engine_names: names.iter().map(|s| s.to_string()).collect(),
        verbose: true,
    };
    let files = slt::collect(dir).expect("list slt files");
    assert!(
        !files.is_empty(),
        "no .slt/.test files under {}",
        dir.display()
    );
    let (mut passed, mut failed, mut report) = (0, 0, Vec::new());
    for f in files {
        let rep = slt::run_file(&f, &opts).expect("read slt file");
        passed += rep.passed;
        failed += rep.failed;
        report.push(rep.summary());
        for fl in &rep.failures {
            report.push(slt::format_failure(fl));
        }
    }
    (passed, failed, report)
}

#[test]
fn engine_slt_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let (passed, failed, report) = run_dir(&dir, &["sqlite", "reef"]);
    println!("{}", report.join("\n"));
    assert_eq!(failed, 0, "{failed} records failed:\n{}", report.join("\n"));
    assert!(passed > 400, "only {passed} records ran");
}

fn corpus() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("REEF_SLT_CORPUS") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sqllogictest");
    if ws.exists() {
        return Some(ws);
    }
    let abs = PathBuf::from("/work/shared/sqllogictest");
    abs.exists().then_some(abs)
}

#[test]
fn sqlite_conformance_corpus() {
    let Some(dir) = corpus() else {
        eprintln!("\n\n*** sqlite_conformance_corpus skipped: corpus not found (set REEF_SLT_CORPUS) ***\n\n");
        return;
    };
    let (passed, failed, report) = run_dir(&dir, &["sqlite"]);
    println!("{}", report.join("\n"));
    let total = passed + failed;
    let pct = passed as f64 * 100.0 / total.max(1) as f64;
    println!("corpus: {passed} passed, {failed} failed ({pct:.2}%)");
    assert!(
        total > 2000,
        "corpus at {} looks incomplete: {total} records",
        dir.display()
    );
    assert!(
        pct >= 99.0,
        "corpus pass rate {pct:.2}% < 99%:\n{}",
        report.join("\n")
    );
    for must in ["select1.test", "select2.test"] {
        let rep = slt::run_file(&dir.join(must), &slt::Options::default()).expect("read");
        assert_eq!(
            rep.failed,
            0,
            "{must} must pass completely: {:?}",
            rep.failures.first()
        );
    }
}
