use reef_engine::*;
fn main() {
    let mode = std::env::args().nth(1).unwrap();
    let n: i64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    let mut e = Engine::new(EngineConfig::default());
    e.execute(&["CREATE TABLE kv(id INTEGER PRIMARY KEY, name TEXT, val INTEGER)"]);
    let mut idx = 10;
    for c in 0..100 {
        let b = CommandBatch::new(
            (0..1000)
                .map(|i| {
                    let id = c * 1000 + i + 1;
                    Statement::with_params(
                        "INSERT INTO kv VALUES(?, ?, ?)",
                        vec![
                            Value::Integer(id),
                            Value::from(format!("name-{id}")),
                            Value::Integer(id % 1000),
                        ],
                    )
                })
                .collect(),
        );
        e.apply(idx, 1, &b);
        idx += 1;
    }
    let t = std::time::Instant::now();
    match mode.as_str() {
        "insert" => {
            for i in 0..n {
                let mut b = CommandBatch::new(vec![Statement::with_params(
                    "INSERT INTO kv VALUES(?, ?, ?)",
                    vec![
                        Value::Integer(1_000_000 + i),
                        Value::from("some name"),
                        Value::Integer(i),
                    ],
                )]);
                b.client_id = 7;
                b.seq = i as u64 + 1;
                e.apply(idx, 1, &b);
                idx += 1;
            }
        }
        _ => {
            let v = e.view();
            let mut q = QueryRunner::new(EngineConfig::default());
            for i in 0..n {
                let id = (i as u64).wrapping_mul(2654435761) % 100000 + 1;
                let r = q.query(
                    &v,
                    &[Statement::with_params(
                        "SELECT id, name, val FROM kv WHERE id = ?",
                        vec![Value::Integer(id as i64)],
                    )],
                );
                std::hint::black_box(r);
            }
        }
    }
    eprintln!("{} ns/op", t.elapsed().as_nanos() as i64 / n);
}
