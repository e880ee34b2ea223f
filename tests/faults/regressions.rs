//! Minimal failing tests for bugs the fault suite ran into outside its own code. Each is
//! `#[ignore]`d with the bug named, so the suite stays green until the fix lands; run them
//! with `--run-ignored only` to see whether a fix holds.

use crate::support::Cluster;
use serde_json::json;
use std::time::Duration;

/// SQLite numbers anonymous `?` parameters left to right; the engine compiles the WHERE clause
/// of an UPDATE before its SET list and numbers them in that order, so
/// `UPDATE t SET v = ? WHERE id = ?` with `[100, 1]` looks for `id = 100` and sets `v = 1`.
/// Found with the register workload's compare-and-set (`UPDATE reg SET v = ? WHERE k = ? AND
/// v = ?`), which never swapped.
#[test]
#[ignore = "bug: engine binds anonymous ? in UPDATE .. SET .. WHERE in WHERE-first order"]
fn update_binds_anonymous_parameters_left_to_right() {
    let _turn = crate::take_turn();
    let c = Cluster::start(1);
    let leader = c.wait_leader(Duration::from_secs(30));
    let (code, v) = c.execute(
        leader,
        &json!([
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)",
            "INSERT INTO t VALUES(1, 1)",
            "INSERT INTO t VALUES(2, 2)"
        ]),
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = c.execute(
        leader,
        &json!([["UPDATE t SET v = ? WHERE id = ?", 100, 1]]),
    );
    assert_eq!(code, 200, "{v}");
    let (_, rows) = c.query(leader, "SELECT id, v FROM t ORDER BY id", Some("strong"));
    assert_eq!(
        rows["results"][0]["values"],
        json!([[1, 100], [2, 2]]),
        "UPDATE answered {v}"
    );
}

/// Result column names of expressions lose their closing parenthesis (`typeof(v`, `abs(v`)
/// and `count(*)` comes back as `count`; SQLite (and rqlite clients reading by name) expect
/// the expression text.
#[test]
#[ignore = "bug: engine truncates expression column names (`typeof(v`, `count`)"]
fn expression_columns_are_named_by_their_text() {
    let _turn = crate::take_turn();
    let c = Cluster::start(1);
    let leader = c.wait_leader(Duration::from_secs(30));
    let (code, v) = c.execute(
        leader,
        &json!(["CREATE TABLE t(v INTEGER)", "INSERT INTO t VALUES(-3)"]),
    );
    assert_eq!(code, 200, "{v}");
    let (_, rows) = c.query(leader, "SELECT typeof(v), abs(v), count(*) FROM t", None);
    assert_eq!(
        rows["results"][0]["columns"],
        json!(["typeof(v)", "abs(v)", "count(*)"]),
        "{rows}"
    );
}
