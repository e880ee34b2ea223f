//! Snapshots end to end, through the public API the node uses: `snapshot::write` to a real
//! file, `Engine::restore` into a fresh engine, `Engine::rebase` of the engine that wrote it.
//! Round trips compare `state_digest()` and a battery of queries, then keep writing on both
//! sides; corruption tests flip and cut real files and expect a named error, never a panic,
//! with the previous state intact.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reef_engine::snapshot::{self, Error as SnapError};
use reef_engine::{CommandBatch, Engine, EngineConfig, Statement, StatementResult, Value, View};

const SETUP: &[&str] = &[
    "CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, bal INTEGER DEFAULT 0, tag TEXT UNIQUE, note BLOB, r REAL)",
    "CREATE INDEX acct_owner ON acct(owner, bal DESC)",
    "CREATE TABLE hist(seq INTEGER PRIMARY KEY AUTOINCREMENT, acct INTEGER, delta INTEGER)",
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v)",
    "CREATE TABLE pairs(a INTEGER, b TEXT, c, PRIMARY KEY(a, b))",
    "CREATE UNIQUE INDEX pairs_c ON pairs(c)",
    "CREATE TABLE docs(body TEXT, n INTEGER)",
    "CREATE INDEX docs_n ON docs(n)",
    "CREATE TRIGGER acct_upd AFTER UPDATE OF bal ON acct BEGIN INSERT INTO hist(acct, delta) VALUES(new.id, new.bal - old.bal); END",
    "CREATE VIEW rich AS SELECT owner, sum(bal) AS total FROM acct GROUP BY owner",
    "CREATE VIEW richest AS SELECT * FROM rich WHERE total > 100",
];

fn value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..7) {
        0 => Value::Null,
        1 => Value::Integer(rng.random_range(-1000..1000)),
        2 => Value::Real(rng.random_range(-1e6..1e6)),
        3 => Value::from(format!("s{}", rng.random_range(0..500))),
        4 => Value::Blob(
            (0..rng.random_range(0..64))
                .map(|_| rng.random())
                .collect::<Vec<u8>>()
                .into(),
        ),
        5 => Value::from("x".repeat(rng.random_range(1000..40_000))),
        _ => Value::Integer(rng.random()),
    }
}

fn statement(rng: &mut StdRng) -> Statement {
    let id = Value::Integer(rng.random_range(1..300));
    let owner = Value::from(["ann", "bob", "cid", "dee", "eve"][rng.random_range(0..5)]);
    let n = Value::Integer(rng.random_range(-50..50));
    let p = |sql: &str, v: Vec<Value>| Statement::with_params(sql, v);
    match rng.random_range(0..20) {
        0..=3 => p(
            "INSERT INTO acct(id, owner, bal, tag, note, r) VALUES(?, ?, ?, ?, ?, ?)",
            vec![id, owner, n, value(rng), value(rng), value(rng)],
        ),
        4 => p(
            "INSERT OR REPLACE INTO acct(id, owner, note) VALUES(?, ?, ?)",
            vec![id, owner, value(rng)],
        ),
        5 => p("UPDATE acct SET bal = bal + ? WHERE id = ?", vec![n, id]),
        6 => p(
            "UPDATE acct SET tag = NULL, r = ? WHERE owner = ? AND bal > ?",
            vec![value(rng), owner, n],
        ),
        7 => p("DELETE FROM acct WHERE id = ?", vec![id]),
        8 => p(
            "DELETE FROM acct WHERE id BETWEEN ? AND ? + 5",
            vec![id.clone(), id],
        ),
        9 => p(
            "INSERT INTO kv VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            vec![
                Value::from(format!("k{}", rng.random_range(0..200))),
                value(rng),
            ],
        ),
        10 => p(
            "DELETE FROM kv WHERE k = ?",
            vec![Value::from(format!("k{}", rng.random_range(0..200)))],
        ),
        11 => p(
            "INSERT OR IGNORE INTO pairs VALUES(?, ?, ?)",
            vec![n, value(rng), value(rng)],
        ),
        12 => p("DELETE FROM pairs WHERE a = ?", vec![n]),
        13 => p(
            "INSERT INTO docs VALUES(?, ?) RETURNING rowid, n",
            vec![value(rng), n],
        ),
        14 => p("UPDATE docs SET n = n + 1 WHERE n < ?", vec![n]),
        15 => p(
            "DELETE FROM docs WHERE rowid % 5 = ?",
            vec![Value::Integer(rng.random_range(0..5))],
        ),
        16 => p(
            "DELETE FROM hist WHERE seq % 3 = ?",
            vec![Value::Integer(rng.random_range(0..3))],
        ),
        17 => Statement::new(
            "INSERT INTO acct(owner, bal) SELECT owner, count(*) FROM acct GROUP BY owner LIMIT 2",
        ),
        18 => p(
            "REPLACE INTO kv VALUES(?, zeroblob(?))",
            vec![
                Value::from(format!("z{}", rng.random_range(0..20))),
                Value::Integer(rng.random_range(0..3000)),
            ],
        ),
        _ => p(
            "INSERT INTO acct(id, owner, bal) VALUES(?, NULL, 1)",
            vec![id],
        ), // NOT NULL fails
    }
}

/// A random log; occasional schema changes, transactions and idempotency keys.
fn workload(seed: u64, entries: usize, from: usize) -> Vec<CommandBatch> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut log = Vec::new();
    for step in from..from + entries {
        let mut stmts: Vec<Statement> = (0..rng.random_range(1..5))
            .map(|_| statement(&mut rng))
            .collect();
        match step {
            60 => stmts.push(Statement::new(
                "ALTER TABLE acct ADD COLUMN extra INTEGER DEFAULT 7",
            )),
            70 => stmts.push(Statement::new("CREATE INDEX hist_acct ON hist(acct)")),
            80 => stmts.push(Statement::new("CREATE TABLE gone(x)")),
            81 => stmts.push(Statement::new("INSERT INTO gone VALUES(1),(2)")),
            90 => stmts.push(Statement::new("DROP TABLE gone")),
            100 => stmts.push(Statement::new("ALTER TABLE docs RENAME TO papers")),
            101 => stmts.push(Statement::new("CREATE TABLE docs(body TEXT, n INTEGER)")),
            _ => {}
        }
        let mut b = CommandBatch::new(stmts);
        b.client_id = rng.random_range(0..3);
        b.seq = step as u64 + 1;
        b.transaction = rng.random_bool(0.15);
        b.now_ms = 1_700_000_000_000 + step as i64;
        b.seed = rng.random();
        log.push(b);
    }
    log
}

fn setup() -> CommandBatch {
    CommandBatch::new(SETUP.iter().map(|s| Statement::new(*s)).collect())
}

const BATTERY: &[&str] = &[
    "SELECT * FROM acct ORDER BY id",
    "SELECT * FROM acct ORDER BY id DESC LIMIT 7",
    "SELECT id, owner, bal FROM acct WHERE owner = 'bob' ORDER BY bal DESC",
    "SELECT count(*), sum(bal), max(id), min(r), typeof(note) FROM acct",
    "SELECT * FROM acct WHERE id = 42",
    "SELECT * FROM acct WHERE id BETWEEN 100 AND 140",
    "SELECT tag FROM acct WHERE tag IS NOT NULL ORDER BY tag",
    "SELECT * FROM hist ORDER BY seq",
    "SELECT k, length(v), typeof(v) FROM kv ORDER BY k",
    "SELECT * FROM kv WHERE k > 'k5' ORDER BY k DESC",
    "SELECT * FROM pairs ORDER BY a, b",
    "SELECT c FROM pairs WHERE c IS NOT NULL ORDER BY c",
    "SELECT length(body), n FROM docs ORDER BY rowid",
    "SELECT n, count(*) FROM docs WHERE n > 0 GROUP BY n",
    "SELECT * FROM rich ORDER BY owner",
    "SELECT * FROM richest",
    "SELECT a.id, h.delta FROM acct a JOIN hist h ON h.acct = a.id ORDER BY h.seq LIMIT 50",
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
];

fn battery(view: &View) -> Vec<StatementResult> {
    let config = EngineConfig::default();
    let mut all = BATTERY.to_vec();
    let papers = "SELECT length(body), n FROM papers ORDER BY rowid";
    if view.catalog().table("papers").is_some() {
        all.push(papers);
    }
    view.query(
        &all.iter().map(|s| Statement::new(*s)).collect::<Vec<_>>(),
        &config,
    )
}

fn write_file(view: &View, path: &Path) -> snapshot::SnapshotInfo {
    let mut f = std::fs::File::create(path).unwrap();
    let mut chunks = 0;
    let info = snapshot::write(view, &mut |c: &[u8]| {
        assert!(c.len() <= snapshot::CHUNK, "chunk of {} bytes", c.len());
        chunks += 1;
        std::io::Write::write_all(&mut f, c)
    })
    .unwrap();
    assert!(chunks >= 3, "header, body, footer");
    f.sync_all().unwrap();
    info
}

fn apply_all(e: &mut Engine, log: &[CommandBatch], first_index: u64) {
    for (i, b) in log.iter().enumerate() {
        e.apply(first_index + i as u64, 3, b);
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn round_trip_restore_and_rebase_then_more_writes() {
    let dir = tmp();
    let mut a = Engine::new(EngineConfig::default());
    let mut control = Engine::new(EngineConfig::default());
    for e in [&mut a, &mut control] {
        e.apply(1, 3, &setup());
    }
    let first = workload(7, 150, 0);
    apply_all(&mut a, &first, 2);
    apply_all(&mut control, &first, 2);
    let view = a.view();
    let p1 = dir.path().join("snap-1");
    let info = write_file(&view, &p1);
    assert_eq!(info.index, 151);
    assert_eq!(info.size, std::fs::metadata(&p1).unwrap().len());

    let h = snapshot::read_header(&p1).unwrap();
    assert_eq!((h.index, h.term, h.size), (151, 3, info.size));
    let acct = h.tables.iter().find(|t| t.name == "acct").unwrap();
    let want = a.view().query(
        &[Statement::new("SELECT count(*) FROM acct")],
        &EngineConfig::default(),
    );
    assert_eq!(
        Some(vec![vec![Value::Integer(acct.rows as i64)]]),
        want[0].rows().map(|r| r.values.clone())
    );
    assert_eq!(acct.indexes, 2, "tag UNIQUE and acct_owner: {:?}", h.tables);

    // Restore into a fresh engine: same digest, same answers, same position.
    let mut b = Engine::new(EngineConfig::default());
    b.restore(&p1).unwrap();
    assert_eq!(b.state_digest(), a.state_digest());
    assert_eq!((b.applied_index(), b.applied_term()), (151, 3));
    assert_eq!(battery(&b.view()), battery(&a.view()));

    // The writer re-bases onto its own snapshot.
    a.rebase(&p1).unwrap();
    assert_eq!(a.state_digest(), control.state_digest());
    assert_eq!(battery(&a.view()), battery(&control.view()));

    // More writes everywhere (deletes of base rows, updates, schema changes): identical.
    let second = workload(8, 150, 150);
    for e in [&mut a, &mut b, &mut control] {
        apply_all(e, &second, 152);
    }
    assert_eq!(a.state_digest(), control.state_digest());
    assert_eq!(b.state_digest(), control.state_digest());
    assert_eq!(battery(&a.view()), battery(&control.view()));
    assert_eq!(battery(&b.view()), battery(&control.view()));

    // A snapshot of base + delta merges them: restore it and compare again, then rebase.
    let p2 = dir.path().join("snap-2");
    write_file(&b.view(), &p2);
    let mut c = Engine::new(EngineConfig::default());
    c.restore(&p2).unwrap();
    assert_eq!(c.state_digest(), control.state_digest());
    assert_eq!(battery(&c.view()), battery(&control.view()));
    b.rebase(&p2).unwrap();
    let third = workload(9, 60, 300);
    for e in [&mut b, &mut c, &mut control] {
        apply_all(e, &third, 302);
    }
    assert_eq!(b.state_digest(), control.state_digest());
    assert_eq!(c.state_digest(), control.state_digest());
    // Replayed batches are recognised from the restored idempotency table.
    let replay = &third[third.len() - 1];
    if replay.client_id != 0 {
        let before = c.state_digest();
        c.apply(999, 3, replay);
        assert_eq!(c.state_digest(), before);
    }
}

#[test]
fn empty_state_round_trips() {
    let dir = tmp();
    let e = Engine::new(EngineConfig::default());
    let p = dir.path().join("empty");
    write_file(&e.view(), &p);
    let mut f = Engine::new(EngineConfig::default());
    f.execute(&["CREATE TABLE old(x)"]);
    f.restore(&p).unwrap();
    assert_eq!(f.state_digest(), e.state_digest());
    assert_eq!(f.applied_index(), 0);
}

#[test]
fn rebase_refuses_a_snapshot_of_another_engine() {
    let dir = tmp();
    let mut a = Engine::new(EngineConfig::default());
    a.execute(&["CREATE TABLE t(x)", "INSERT INTO t VALUES(1)"]);
    let p = dir.path().join("a");
    write_file(&a.view(), &p);
    let mut b = Engine::new(EngineConfig::default());
    b.execute(&["CREATE TABLE t(x)", "INSERT INTO t VALUES(2)"]);
    let before = b.state_digest();
    let err = b.rebase(&p).unwrap_err();
    assert!(matches!(err, SnapError::NotOwnSnapshot { .. }), "{err}");
    assert_eq!(b.state_digest(), before);
}

/// A state of a few hundred KiB (tables, indexes, dedup entries) as a file.
fn small_snapshot(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut a = Engine::new(EngineConfig::default());
    a.apply(1, 3, &setup());
    apply_all(&mut a, &workload(11, 40, 0), 2);
    let p = dir.join("small");
    write_file(&a.view(), &p);
    let bytes = std::fs::read(&p).unwrap();
    (p, bytes)
}

fn victim() -> Engine {
    let mut v = Engine::new(EngineConfig::default());
    v.execute(&[
        "CREATE TABLE keep(x)",
        "INSERT INTO keep VALUES('still here')",
    ]);
    v
}

fn must_refuse(v: &mut Engine, path: &Path, bytes: &[u8], what: &str) -> SnapError {
    std::fs::write(path, bytes).unwrap();
    let before = v.state_digest();
    let err = match v.restore(path) {
        Ok(()) => panic!("{what}: a damaged snapshot was accepted"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{what}: error does not name the file: {err}"
    );
    assert_eq!(v.state_digest(), before, "{what}: the state changed");
    err
}

#[test]
fn every_header_and_footer_byte_flip_is_refused() {
    let dir = tmp();
    let (_, good) = small_snapshot(dir.path());
    let h = {
        let p = dir.path().join("good");
        std::fs::write(&p, &good).unwrap();
        snapshot::read_header(&p).unwrap()
    };
    let bad = dir.path().join("bad");
    let mut v = victim();
    let footer_start = good.len() - 32;
    let positions = (0..h.header_len as usize).chain(footer_start..good.len());
    for i in positions {
        for flip in [0x01u8, 0xFF] {
            let mut b = good.clone();
            b[i] ^= flip;
            must_refuse(&mut v, &bad, &b, &format!("flip {flip:#x} at {i}"));
        }
    }
    // Header-only reads refuse them too (what reef-logtool uses).
    let mut b = good.clone();
    b[30] ^= 1;
    std::fs::write(&bad, &b).unwrap();
    assert!(snapshot::read_header(&bad).is_err());
}

#[test]
fn body_flips_are_refused() {
    let dir = tmp();
    let (p, good) = small_snapshot(dir.path());
    let h = snapshot::read_header(&p).unwrap();
    let bad = dir.path().join("bad");
    let mut v = victim();
    let mut rng = StdRng::seed_from_u64(5);
    let (start, end) = (h.header_len as usize, (h.header_len + h.body_len) as usize);
    // Every byte of the body's last 512 (the archive root and the catalog), and a sample
    // of the rest.
    let tail = (end.saturating_sub(512).max(start)..end).collect::<Vec<_>>();
    let sample: Vec<usize> = (0..400).map(|_| rng.random_range(start..end)).collect();
    for i in tail.into_iter().chain(sample) {
        let mut b = good.clone();
        b[i] ^= 1 << rng.random_range(0..8);
        let err = must_refuse(&mut v, &bad, &b, &format!("body flip at {i}"));
        assert!(matches!(err, SnapError::Corrupt { .. }), "{err}");
    }
}

#[test]
fn truncation_and_wrong_versions_are_refused() {
    let dir = tmp();
    let (_, good) = small_snapshot(dir.path());
    let bad = dir.path().join("bad");
    let mut v = victim();
    let mut cuts: Vec<usize> = (0..200).collect();
    cuts.extend((200..good.len()).step_by(good.len() / 300 + 1));
    cuts.extend(good.len() - 40..good.len());
    for cut in cuts {
        must_refuse(&mut v, &bad, &good[..cut], &format!("cut at {cut}"));
    }
    // Trailing garbage is refused too.
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 16]);
    must_refuse(&mut v, &bad, &longer, "trailing bytes");
    // Another version, with a valid header checksum: named as a version problem.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    b[16..20].fill(0);
    let hl = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c(&b[..hl]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    let err = must_refuse(&mut v, &bad, &b, "version 2");
    assert!(
        matches!(
            err,
            SnapError::Version {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    // Not a snapshot at all.
    let err = must_refuse(
        &mut v,
        &bad,
        &[b"SQLite format 3\0".as_slice(), &[7u8; 200]].concat(),
        "sqlite file",
    );
    assert!(matches!(err, SnapError::NotASnapshot { .. }), "{err}");
    // A missing file.
    let gone = dir.path().join("nope");
    let err = v.restore(&gone).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Apply keeps going while a build is in the middle of streaming: the build's sink is held
/// until 100 more batches were applied (each one finishing while the build is still
/// running), and after the rebase none of them is lost.
#[test]
fn writes_during_a_build_are_not_blocked_and_survive_the_rebase() {
    let dir = tmp();
    let mut a = Engine::new(EngineConfig::default());
    let mut control = Engine::new(EngineConfig::default());
    let fill: Vec<CommandBatch> = (0..40)
        .map(|i| {
            let rows: Vec<String> = (0..500)
                .map(|j| {
                    format!(
                        "({}, 'row {} {}', randomblob(16))",
                        i * 500 + j,
                        i,
                        "p".repeat(j % 300)
                    )
                })
                .collect();
            CommandBatch::new(vec![Statement::new(format!(
                "INSERT INTO big VALUES {}",
                rows.join(",")
            ))])
        })
        .collect();
    for e in [&mut a, &mut control] {
        e.execute(&[
            "CREATE TABLE big(id INTEGER PRIMARY KEY, s TEXT, b BLOB)",
            "CREATE INDEX big_s ON big(s)",
        ]);
        apply_all(e, &fill, 3);
    }
    let view = a.view();
    let at = view.applied_index();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let path = dir.path().join("during");
    let p = path.clone();
    let builder = std::thread::spawn(move || {
        let mut f = std::fs::File::create(&p).unwrap();
        let mut calls = 0;
        let r = snapshot::write(&view, &mut |c: &[u8]| {
            calls += 1;
            if calls == 2 {
                // Hold the build inside its first body chunk until the applier is done.
                go_rx
                    .recv_timeout(std::time::Duration::from_secs(60))
                    .map_err(|_| std::io::Error::other("applier never released the build"))?;
            }
            std::io::Write::write_all(&mut f, c)
        });
        f.sync_all().unwrap();
        (r, calls)
    });
    let during: Vec<CommandBatch> = (0..100)
        .map(|i| {
            CommandBatch::new(vec![
                Statement::new(format!(
                    "UPDATE big SET s = 'changed {i}' WHERE id = {}",
                    i * 7
                )),
                Statement::new(format!("DELETE FROM big WHERE id = {}", 10_000 + i)),
                Statement::new(format!(
                    "INSERT INTO big VALUES({}, 'new', NULL)",
                    100_000 + i
                )),
            ])
        })
        .collect();
    for (i, b) in during.iter().enumerate() {
        let r = a.apply(at + 1 + i as u64, 3, b);
        assert!(r.iter().all(|r| !r.is_error()), "{r:?}");
        assert!(
            !builder.is_finished(),
            "the build finished before apply {i}: it was not running concurrently"
        );
    }
    apply_all(&mut control, &during, at + 1);
    go_tx.send(()).unwrap();
    let (info, calls) = builder.join().unwrap();
    let info = info.unwrap();
    assert_eq!(info.index, at);
    assert!(calls > 3, "a multi-chunk build ({calls} chunks)");
    // Without a base, deletes remove delta entries: 20 000 rows and 20 000 index entries.
    assert_eq!(a.view().delta_entries(), 40_000);
    a.rebase(&path).unwrap();
    // Exactly what changed during the build stays in memory: rows 100 updated, 100
    // deleted (tombstones), 100 inserted; index entries 100 moved (tombstone + new), 100
    // deleted, 100 inserted.
    assert_eq!(a.view().delta_entries(), 300 + 400);
    assert_eq!(a.applied_index(), at + 100);
    assert_eq!(a.state_digest(), control.state_digest());
    assert_eq!(battery_big(&a.view()), battery_big(&control.view()));
    // And the engine keeps working on its new base.
    let more = workload_big();
    apply_all(&mut a, &more, at + 101);
    apply_all(&mut control, &more, at + 101);
    assert_eq!(a.state_digest(), control.state_digest());
}

fn battery_big(v: &View) -> Vec<StatementResult> {
    v.query(
        &[
            Statement::new("SELECT count(*), sum(id), max(id) FROM big"),
            Statement::new("SELECT id, s FROM big WHERE s LIKE 'changed%' ORDER BY s"),
            Statement::new("SELECT id FROM big WHERE s = 'new' ORDER BY id DESC"),
            Statement::new("SELECT * FROM big WHERE id BETWEEN 9990 AND 10010"),
        ],
        &EngineConfig::default(),
    )
}

fn workload_big() -> Vec<CommandBatch> {
    (0..30)
        .map(|i| {
            CommandBatch::new(vec![
                Statement::new(format!(
                    "DELETE FROM big WHERE id BETWEEN {} AND {}",
                    i * 300,
                    i * 300 + 50
                )),
                Statement::new(format!(
                    "UPDATE big SET b = x'00' WHERE id = {}",
                    100_000 + i
                )),
                Statement::new(format!(
                    "INSERT OR REPLACE INTO big VALUES({}, 'again', NULL)",
                    i * 7
                )),
            ])
        })
        .collect()
}
