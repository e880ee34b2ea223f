//! Determinism: the same log applied from scratch on two replicas gives byte-identical state
//! digests after every entry and identical results; replaying an entry that was already
//! applied returns its recorded result and changes nothing. The workload is random (seeded)
//! and covers every statement kind, constraint failures, transactions, triggers, DDL and
//! the non-deterministic functions that `prepare` pins down.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reef_engine::{prepare, CommandBatch, Engine, EngineConfig, PrepareOptions, Statement, Value};

const SETUP: &[&str] = &[
    "CREATE TABLE acct(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, bal INTEGER DEFAULT 0 CHECK(bal >= -1000), tag TEXT UNIQUE, note BLOB, at TEXT DEFAULT CURRENT_TIMESTAMP)",
    "CREATE INDEX acct_owner ON acct(owner, bal)",
    "CREATE TABLE hist(seq INTEGER PRIMARY KEY AUTOINCREMENT, acct INTEGER, delta INTEGER, r INTEGER)",
    "CREATE TABLE kv(k TEXT PRIMARY KEY, v)",
    "CREATE TRIGGER acct_upd AFTER UPDATE OF bal ON acct BEGIN INSERT INTO hist(acct, delta, r) VALUES(new.id, new.bal - old.bal, random()); END",
    "CREATE VIEW rich AS SELECT owner, sum(bal) AS total FROM acct GROUP BY owner",
];

fn statement(rng: &mut StdRng, step: usize) -> Statement {
    let id = rng.random_range(1..60i64);
    let owner = ["ann", "bob", "cid", "dee", "eve"][rng.random_range(0..5)];
    let amount = rng.random_range(-300..300i64);
    match rng.random_range(0..16) {
        0..=3 => Statement::with_params("INSERT INTO acct(id, owner, bal, tag) VALUES(?, ?, ?, ?)", vec![Value::Integer(id), Value::from(owner), Value::Integer(amount), Value::from(format!("t{}", rng.random_range(0..80)))]),
        4 => Statement::with_params("INSERT OR REPLACE INTO acct(id, owner, note) VALUES(?, ?, randomblob(8))", vec![Value::Integer(id), Value::from(owner)]),
        5 => Statement::with_params("INSERT OR IGNORE INTO acct(owner, bal) VALUES(?, abs(random()) % 100)", vec![Value::from(owner)]),
        6..=8 => Statement::with_params("UPDATE acct SET bal = bal + ? WHERE id = ?", vec![Value::Integer(amount), Value::Integer(id)]),
        9 => Statement::with_params("UPDATE acct SET bal = bal - 1, tag = NULL WHERE owner = ? AND bal > ?", vec![Value::from(owner), Value::Integer(amount)]),
        10 => Statement::with_params("DELETE FROM acct WHERE id = ?", vec![Value::Integer(id)]),
        11 => Statement::with_params(
            "INSERT INTO kv VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = coalesce(kv.v, 0) + excluded.v",
            vec![Value::from(format!("k{}", rng.random_range(0..10))), Value::Integer(amount)],
        ),
        12 => Statement::new(format!("INSERT INTO kv VALUES('now{step}', datetime('now'))")),
        13 => Statement::new("DELETE FROM hist WHERE seq % 7 = 0"),
        14 => Statement::with_params("SELECT owner, count(*), sum(bal) FROM acct WHERE bal > ? GROUP BY owner", vec![Value::Integer(amount)]),
        _ => Statement::with_params("INSERT INTO acct(id, owner, bal) VALUES(?, ?, -5000)", vec![Value::Integer(id), Value::from(owner)]),
    }
}

/// A random log of encoded entries, as the leader would propose them.
fn workload(seed: u64, entries: usize) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let config = EngineConfig::default();
    let mut log = Vec::new();
    let opts = PrepareOptions {
        client_id: 1,
        seq: 0,
        transaction: false,
        now_ms: 1_700_000_000_000,
        seed: 1,
    };
    log.push(
        prepare(
            SETUP.iter().map(|s| Statement::new(*s)).collect(),
            opts,
            &config,
        )
        .unwrap()
        .batch
        .encode(),
    );
    for step in 0..entries {
        let n = rng.random_range(1..6);
        let mut stmts: Vec<Statement> = (0..n).map(|_| statement(&mut rng, step)).collect();
        if step == entries / 2 {
            stmts.push(Statement::new(
                "ALTER TABLE acct ADD COLUMN extra INTEGER DEFAULT 7",
            ));
            stmts.push(Statement::new("CREATE INDEX hist_acct ON hist(acct)"));
        }
        if rng.random_bool(0.1) {
            stmts.insert(0, Statement::new("BEGIN"));
            stmts.push(Statement::new(if rng.random_bool(0.5) {
                "COMMIT"
            } else {
                "ROLLBACK"
            }));
        }
        let opts = PrepareOptions {
            client_id: rng.random_range(0..4),
            seq: step as u64 + 1,
            transaction: rng.random_bool(0.2),
            now_ms: 1_700_000_000_000 + step as i64 * 1000,
            seed: rng.random(),
        };
        log.push(prepare(stmts, opts, &config).unwrap().batch.encode());
    }
    log
}

#[test]
fn same_log_same_digest_on_every_replica() {
    let log = workload(2024, 400);
    let mut a = Engine::new(EngineConfig::default());
    let mut b = Engine::new(EngineConfig::default());
    let mut errors = 0;
    for (i, entry) in log.iter().enumerate() {
        let batch = CommandBatch::decode(entry).expect("valid entry");
        let ra = a.apply(i as u64 + 1, 1, &batch);
        let rb = b.apply(
            i as u64 + 1,
            1,
            &CommandBatch::decode(entry).expect("valid entry"),
        );
        assert_eq!(ra, rb, "results diverge at entry {i}");
        assert_eq!(
            a.state_digest(),
            b.state_digest(),
            "digests diverge at entry {i}"
        );
        errors += ra.iter().filter(|r| r.is_error()).count();
    }
    assert!(
        errors > 20,
        "the workload should exercise failures too ({errors} errors)"
    );
    // A third replica that takes a view half way and keeps going agrees as well.
    let mut c = Engine::new(EngineConfig::default());
    let mut mid = None;
    for (i, entry) in log.iter().enumerate() {
        c.apply(i as u64 + 1, 1, &CommandBatch::decode(entry).unwrap());
        if i == log.len() / 2 {
            mid = Some((c.view(), c.state_digest()));
        }
    }
    assert_eq!(c.state_digest(), a.state_digest());
    let (view, digest) = mid.unwrap();
    assert_eq!(
        view.state_digest(),
        digest,
        "a view keeps the state it was taken at"
    );
    // Different logs give different digests (the digest sees the data).
    let mut d = Engine::new(EngineConfig::default());
    for (i, entry) in workload(2025, 400).iter().enumerate() {
        d.apply(i as u64 + 1, 1, &CommandBatch::decode(entry).unwrap());
    }
    assert_ne!(d.state_digest(), a.state_digest());
}

#[test]
fn replaying_an_applied_entry_returns_the_recorded_result_and_changes_nothing() {
    let log = workload(77, 120);
    let mut e = Engine::new(EngineConfig::default());
    let mut results = Vec::new();
    for (i, entry) in log.iter().enumerate() {
        results.push(e.apply(i as u64 + 1, 1, &CommandBatch::decode(entry).unwrap()));
    }
    let digest = e.state_digest();
    let mut replayed = 0;
    for (i, entry) in log.iter().enumerate() {
        let batch = CommandBatch::decode(entry).unwrap();
        if batch.client_id == 0 {
            continue;
        }
        let again = e.apply(1000 + i as u64, 1, &batch);
        assert_eq!(
            again, results[i],
            "entry {i} replayed with a different result"
        );
        assert_eq!(
            e.state_digest(),
            digest,
            "replaying entry {i} changed the state"
        );
        replayed += 1;
    }
    assert!(
        replayed > 50,
        "only {replayed} entries had idempotency keys"
    );
}
