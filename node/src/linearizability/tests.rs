//! Known-good and known-bad register histories, plus a brute-force cross-check on random
//! small histories.

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn op(client: u32, call: Call, a: u64, b: u64, outcome: Outcome) -> Operation {
    Operation {
        client,
        key: "x".to_string(),
        call,
        invoked_ns: a,
        completed_ns: b,
        outcome,
    }
}

fn w(client: u32, value: Value, a: u64, b: u64) -> Operation {
    op(client, Call::Write { value }, a, b, Outcome::Written)
}

fn w_info(client: u32, value: Value, a: u64, b: u64) -> Operation {
    op(client, Call::Write { value }, a, b, Outcome::Indeterminate)
}

fn w_fail(client: u32, value: Value, a: u64, b: u64) -> Operation {
    op(client, Call::Write { value }, a, b, Outcome::Failed)
}

fn r(client: u32, value: Option<Value>, a: u64, b: u64) -> Operation {
    op(client, Call::Read, a, b, Outcome::Read { value })
}

fn cas(client: u32, expected: Value, new: Value, ok: bool, a: u64, b: u64) -> Operation {
    op(
        client,
        Call::Cas { expected, new },
        a,
        b,
        Outcome::Cas { succeeded: ok },
    )
}

fn cas_info(client: u32, expected: Value, new: Value, a: u64, b: u64) -> Operation {
    op(
        client,
        Call::Cas { expected, new },
        a,
        b,
        Outcome::Indeterminate,
    )
}

fn verdict(ops: Vec<Operation>) -> Verdict {
    let h = History {
        initial: Default::default(),
        ops,
    };
    check(&h, &CheckOptions::default()).unwrap().verdict
}

use Verdict::{Linearizable as Good, NotLinearizable as Bad};

#[test]
fn empty_and_sequential_histories() {
    assert_eq!(verdict(vec![]), Good);
    assert_eq!(verdict(vec![r(1, None, 0, 1)]), Good);
    assert_eq!(
        verdict(vec![r(1, Some(1), 0, 1)]),
        Bad,
        "read of a value never written"
    );
    assert_eq!(verdict(vec![w(1, 1, 0, 10), r(1, Some(1), 20, 30)]), Good);
    assert_eq!(
        verdict(vec![w(1, 1, 0, 10), w(1, 2, 20, 30), r(2, Some(2), 40, 50)]),
        Good
    );
}

#[test]
fn stale_read_after_a_completed_write_is_caught() {
    assert_eq!(verdict(vec![w(1, 1, 0, 10), r(2, None, 20, 30)]), Bad);
    assert_eq!(
        verdict(vec![w(1, 1, 0, 10), w(1, 2, 20, 30), r(2, Some(1), 40, 50)]),
        Bad
    );
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    assert_eq!(verdict(vec![w(1, 1, 0, 100), r(2, None, 10, 20)]), Good);
    assert_eq!(verdict(vec![w(1, 1, 0, 100), r(2, Some(1), 10, 20)]), Good);
    // Touching intervals count as concurrent.
    assert_eq!(verdict(vec![w(1, 1, 0, 10), r(2, None, 10, 20)]), Good);
}

#[test]
fn a_new_value_cannot_be_unseen() {
    // Once a read has returned the new value, a later read must not see the old one.
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 100),
            r(2, Some(1), 10, 20),
            r(3, None, 30, 40)
        ]),
        Bad
    );
}

#[test]
fn concurrent_writes_take_effect_in_either_order_but_only_one() {
    let base = || vec![w(1, 1, 0, 10), w(2, 2, 5, 15)];
    for last in [1, 2] {
        let mut h = base();
        h.push(r(3, Some(last), 20, 25));
        assert_eq!(verdict(h), Good, "final value {last}");
    }
    let mut h = base();
    h.extend([r(3, Some(1), 20, 25), r(3, Some(2), 30, 35)]);
    assert_eq!(
        verdict(h),
        Bad,
        "the register changed with no write in flight"
    );
    let mut h = base();
    h.extend([
        r(3, Some(2), 6, 8),
        r(4, Some(1), 9, 9),
        r(3, Some(1), 20, 25),
    ]);
    assert_eq!(
        verdict(h),
        Good,
        "2 then 1, observed while both were in flight"
    );
    let mut h = base();
    h.extend([
        r(3, Some(1), 6, 7),
        r(4, Some(2), 8, 8),
        r(3, Some(1), 20, 25),
    ]);
    assert_eq!(verdict(h), Bad, "1, 2, 1 needs a third write");
}

#[test]
fn indeterminate_writes_may_land_late_or_never() {
    // The client gave up at 5, but the write can take effect later and be read at 100.
    assert_eq!(
        verdict(vec![w_info(1, 1, 0, 5), r(2, Some(1), 100, 110)]),
        Good
    );
    assert_eq!(
        verdict(vec![w_info(1, 1, 0, 5), r(2, None, 100, 110)]),
        Good
    );
    // Once observed it stays, unless something overwrites it.
    assert_eq!(
        verdict(vec![
            w_info(1, 1, 0, 5),
            r(2, Some(1), 10, 20),
            r(2, None, 30, 40)
        ]),
        Bad
    );
    // It cannot take effect before it was invoked.
    assert_eq!(
        verdict(vec![r(2, Some(1), 0, 10), w_info(1, 1, 20, 25)]),
        Bad
    );
    // Landing late means it can also overwrite a later acknowledged write.
    assert_eq!(
        verdict(vec![
            w_info(1, 1, 0, 5),
            w(2, 2, 10, 20),
            r(3, Some(1), 30, 40)
        ]),
        Good
    );
}

#[test]
fn failed_writes_never_take_effect() {
    assert_eq!(
        verdict(vec![w_fail(1, 1, 0, 5), r(2, Some(1), 10, 20)]),
        Bad
    );
    assert_eq!(verdict(vec![w_fail(1, 1, 0, 5), r(2, None, 10, 20)]), Good);
}

#[test]
fn compare_and_set() {
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 10),
            cas(2, 1, 2, true, 20, 30),
            r(1, Some(2), 40, 50)
        ]),
        Good
    );
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 10),
            cas(2, 1, 2, true, 20, 30),
            r(1, Some(1), 40, 50)
        ]),
        Bad,
        "a successful swap was lost"
    );
    assert_eq!(
        verdict(vec![w(1, 1, 0, 10), cas(2, 1, 2, false, 20, 30)]),
        Bad,
        "the comparison must hold when the register holds the expected value"
    );
    assert_eq!(
        verdict(vec![w(1, 3, 0, 10), cas(2, 1, 2, false, 20, 30)]),
        Good
    );
    assert_eq!(
        verdict(vec![cas(2, 1, 2, true, 0, 10)]),
        Bad,
        "swap of an absent register"
    );
    // Two clients race to swap the same value: only one may win.
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 10),
            cas(2, 1, 2, true, 20, 30),
            cas(3, 1, 3, true, 20, 30)
        ]),
        Bad
    );
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 10),
            cas(2, 1, 2, true, 20, 30),
            cas(3, 1, 3, false, 20, 30),
            r(1, Some(2), 40, 50)
        ]),
        Good
    );
    // An indeterminate swap may or may not have happened.
    for seen in [1, 2] {
        assert_eq!(
            verdict(vec![
                w(1, 1, 0, 10),
                cas_info(2, 1, 2, 20, 25),
                r(1, Some(seen), 100, 110)
            ]),
            Good
        );
    }
    assert_eq!(
        verdict(vec![
            w(1, 1, 0, 10),
            cas_info(2, 5, 2, 20, 25),
            r(1, Some(2), 100, 110)
        ]),
        Bad,
        "a swap whose comparison cannot hold has no effect"
    );
}

#[test]
fn keys_are_checked_independently_and_the_bad_one_is_named() {
    let mut ops = vec![w(1, 1, 0, 10), r(2, Some(1), 20, 30)];
    let mut bad = vec![w(1, 7, 0, 10), r(2, None, 20, 30)];
    for o in &mut bad {
        o.key = "y".to_string();
    }
    ops.extend(bad);
    let h = History {
        initial: Default::default(),
        ops,
    };
    let report = check(&h, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Bad);
    let v: Vec<_> = report.violations().collect();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key, "y");
    assert_eq!(v[0].blocking.call, Call::Read);
    let text = report.to_string();
    assert!(text.contains("key \"y\" is not linearizable"), "{text}");
    assert!(text.contains("must precede: client 2 read"), "{text}");
}

#[test]
fn initial_values_are_honoured() {
    let h = History::new().with_initial("x", 5);
    let h = History {
        ops: vec![r(1, Some(5), 0, 1), cas(1, 5, 6, true, 2, 3)],
        ..h
    };
    assert!(check(&h, &CheckOptions::default())
        .unwrap()
        .is_linearizable());
}

/// `n` writes all in flight together, then two reads of different values after all of
/// them completed: no order works, and ruling every order out costs about 2^n * n
/// configurations.
fn hard_violation(n: i64) -> History {
    let mut ops: Vec<Operation> = (1..=n).map(|v| w(v as u32, v, 0, 1000)).collect();
    ops.push(r(0, Some(1), 2000, 2010));
    ops.push(r(0, Some(2), 2020, 2030));
    History {
        initial: Default::default(),
        ops,
    }
}

#[test]
fn hard_histories_are_decided_within_budget_or_reported_unknown() {
    let small = check(&hard_violation(8), &CheckOptions::default()).unwrap();
    assert_eq!(small.verdict, Bad);
    let opts = CheckOptions {
        timeout: Duration::from_millis(50),
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let big = check(&hard_violation(40), &opts).unwrap();
    assert_eq!(big.verdict, Verdict::Unknown);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(big.to_string().contains("time budget"), "{big}");
    let opts = CheckOptions {
        max_memo_bytes: 64 * 1024,
        ..CheckOptions::default()
    };
    let tight = check(&hard_violation(40), &opts).unwrap();
    assert_eq!(tight.verdict, Verdict::Unknown);
    assert!(tight.to_string().contains("memo cache"), "{tight}");
}

#[test]
fn many_concurrent_clients_on_a_correct_register_check_quickly() {
    // 2000 operations by 8 clients, 5% of writes and swaps lost or indeterminate,
    // generated from a real execution: memoization, tightening and the open-operation
    // rules keep this to milliseconds (without them it does not finish).
    let mut rng = StdRng::seed_from_u64(7);
    let ops = simulate(&mut rng, 2000, 8, Values::Unique, 0.05);
    let open = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Indeterminate)
        .count();
    assert!(
        open > 20,
        "the history should carry many indeterminate operations: {open}"
    );
    let h = History {
        initial: Default::default(),
        ops,
    };
    let report = check(&h, &CheckOptions::default()).unwrap();
    assert!(report.is_linearizable(), "{report}");
}

#[test]
fn recorders_from_many_threads_merge_and_round_trip_through_json() {
    let clock = Clock::start();
    let recorders: Vec<Recorder> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|c| {
                s.spawn(move || {
                    let mut rec = Recorder::new(c, clock);
                    let p = rec.invoke(format!("k{c}"), Call::Write { value: c as i64 });
                    rec.complete(p, Outcome::Written);
                    let p = rec.invoke(format!("k{c}"), Call::Read);
                    rec.complete(
                        p,
                        Outcome::Read {
                            value: Some(c as i64),
                        },
                    );
                    // Never completed: must come out indeterminate.
                    let _lost = rec.invoke(format!("k{c}"), Call::Write { value: 99 });
                    rec
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let h = History::from_recorders(recorders);
    assert_eq!(h.ops.len(), 12);
    assert_eq!(
        h.ops
            .iter()
            .filter(|o| o.outcome == Outcome::Indeterminate)
            .count(),
        4
    );
    assert!(h.ops.windows(2).all(|p| p[0].invoked_ns <= p[1].invoked_ns));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.json");
    h.save(&path).unwrap();
    let back = History::load(&path).unwrap();
    assert_eq!(back, h);
    assert!(check(&back, &CheckOptions::default())
        .unwrap()
        .is_linearizable());
}

#[test]
fn malformed_histories_are_refused_with_the_operation_named() {
    let bad_outcome = History {
        initial: Default::default(),
        ops: vec![op(1, Call::Read, 0, 1, Outcome::Written)],
    };
    let e = check(&bad_outcome, &CheckOptions::default()).unwrap_err();
    assert!(e.to_string().contains("operation 0"), "{e}");
    let backwards = History {
        initial: Default::default(),
        ops: vec![w(1, 1, 10, 5)],
    };
    assert!(backwards.validate().is_err());
    assert!(History::from_json("{\"ops\": [{\"client\": 1}]}").is_err());
    let json = r#"{"ops":[{"client":1,"key":"x","call":{"f":"read"},"invoked_ns":0,"completed_ns":1,"outcome":{"type":"written"}}]}"#;
    assert!(matches!(
        History::from_json(json),
        Err(HistoryError::Invalid { .. })
    ));
    let e = History::load(std::path::Path::new("/nonexistent/h.json")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/h.json"));
}

/// Generates operations of `clients` clients on one register from a real execution: each
/// operation takes effect at a random instant inside its interval (or, for a `lossy`
/// fraction, possibly never, reported failed or indeterminate).
/// How write values are drawn: from a few (collisions) or never repeated.
#[derive(Clone, Copy)]
enum Values {
    Few(i64),
    Unique,
}

fn simulate(
    rng: &mut StdRng,
    n: usize,
    clients: u32,
    values: Values,
    lossy: f64,
) -> Vec<Operation> {
    let mut next_unique = 100;
    let mut draw = |rng: &mut StdRng| match values {
        Values::Few(k) => rng.random_range(1..=k),
        Values::Unique => {
            next_unique += 1;
            next_unique
        }
    };
    // Swaps expect a value that was (probably) written, so that some succeed.
    let mut written: Vec<Value> = vec![1];
    struct Plan {
        op: Operation,
        at: u64,
        applied: bool,
    }
    // Each client runs one operation at a time, so at most `clients` are in flight.
    let mut client_clock = vec![0u64; clients as usize];
    let mut plans: Vec<Plan> = (0..n)
        .map(|_| {
            let c = rng.random_range(0..clients) as usize;
            let a = client_clock[c] + rng.random_range(0..4);
            let b = a + rng.random_range(0..12);
            client_clock[c] = b + 1;
            let call = match rng.random_range(0..10) {
                0..4 => Call::Read,
                4..8 => {
                    let value = draw(rng);
                    written.push(value);
                    Call::Write { value }
                }
                _ => {
                    let expected = written[rng.random_range(0..written.len())];
                    let new = draw(rng);
                    written.push(new);
                    Call::Cas { expected, new }
                }
            };
            let (applied, outcome) = if call != Call::Read && rng.random_bool(lossy) {
                match rng.random_range(0..3) {
                    0 => (false, Outcome::Failed),
                    1 => (false, Outcome::Indeterminate),
                    _ => (true, Outcome::Indeterminate),
                }
            } else {
                (true, Outcome::Written)
            };
            // Indeterminate operations may take effect after the client gave up.
            let late = if outcome == Outcome::Indeterminate {
                40
            } else {
                0
            };
            Plan {
                op: Operation {
                    client: c as u32,
                    key: "x".to_string(),
                    call,
                    invoked_ns: a,
                    completed_ns: b,
                    outcome,
                },
                at: rng.random_range(a..=b + late),
                applied,
            }
        })
        .collect();
    plans.sort_by_key(|p| p.at);
    let mut state: Option<Value> = None;
    for p in &mut plans {
        if !p.applied {
            continue;
        }
        let result = match p.op.call {
            Call::Read => Outcome::Read { value: state },
            Call::Write { value } => {
                state = Some(value);
                Outcome::Written
            }
            Call::Cas { expected, new } => {
                // Most swaps expect what the client just read, as a real workload does.
                let expected = match state {
                    Some(current) if rng.random_bool(0.8) => current,
                    _ => expected,
                };
                p.op.call = Call::Cas { expected, new };
                let hit = state == Some(expected);
                if hit {
                    state = Some(new);
                }
                Outcome::Cas { succeeded: hit }
            }
        };
        if p.op.outcome != Outcome::Indeterminate {
            p.op.outcome = result;
        }
    }
    plans.into_iter().map(|p| p.op).collect()
}

/// Linearizability by definition: some subset of the indeterminate operations, plus every
/// completed one, in some order that respects real time, is a legal sequential run.
fn brute_force(ops: &[Operation]) -> bool {
    let kept: Vec<&Operation> = ops
        .iter()
        .filter(|o| model::Observed::from_outcome(o.call, o.outcome).is_some())
        .collect();
    let optional: Vec<usize> = (0..kept.len())
        .filter(|&i| kept[i].outcome == Outcome::Indeterminate)
        .collect();
    for mask in 0..(1u32 << optional.len()) {
        let chosen: Vec<usize> = (0..kept.len())
            .filter(|i| match optional.iter().position(|o| o == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .collect();
        if permute(
            &kept,
            &chosen,
            &mut Vec::new(),
            &mut vec![false; chosen.len()],
            None,
        ) {
            return true;
        }
    }
    false
}

fn permute(
    ops: &[&Operation],
    chosen: &[usize],
    order: &mut Vec<usize>,
    used: &mut Vec<bool>,
    state: Option<Value>,
) -> bool {
    if order.len() == chosen.len() {
        return true;
    }
    for (slot, &i) in chosen.iter().enumerate() {
        if used[slot] {
            continue;
        }
        // Every unplaced operation that returned before `i` was invoked must come first.
        let blocked = chosen.iter().enumerate().any(|(s2, &j)| {
            !used[s2]
                && j != i
                && ops[j].outcome != Outcome::Indeterminate
                && ops[j].completed_ns < ops[i].invoked_ns
        });
        if blocked {
            continue;
        }
        let obs = model::Observed::from_outcome(ops[i].call, ops[i].outcome).unwrap();
        if let Some(next) = model::step(state, ops[i].call, obs) {
            used[slot] = true;
            order.push(i);
            if permute(ops, chosen, order, used, next) {
                return true;
            }
            order.pop();
            used[slot] = false;
        }
    }
    false
}

fn cross_check(seed: u64, values: Values) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut good, mut bad) = (0, 0);
    for round in 0..3000 {
        let n = rng.random_range(1..=7);
        let mut ops = simulate(&mut rng, n, 3, values, 0.3);
        if rng.random_bool(0.5) {
            // Corrupt one result so that roughly half the cases are violations.
            let i = rng.random_range(0..ops.len());
            let pool: Vec<Option<Value>> = std::iter::once(None)
                .chain(ops.iter().filter_map(|o| match o.call {
                    Call::Write { value } => Some(Some(value)),
                    Call::Cas { new, .. } => Some(Some(new)),
                    Call::Read => None,
                }))
                .collect();
            ops[i].outcome = match ops[i].outcome {
                Outcome::Read { .. } => Outcome::Read {
                    value: pool[rng.random_range(0..pool.len())],
                },
                Outcome::Cas { succeeded } => Outcome::Cas {
                    succeeded: !succeeded,
                },
                other => other,
            };
        }
        let expected = brute_force(&ops);
        let h = History {
            initial: Default::default(),
            ops: ops.clone(),
        };
        let got = check(&h, &CheckOptions::default()).unwrap().verdict;
        assert_eq!(
            got == Good,
            expected,
            "round {round}: checker says {got:?}, brute force says {expected}\n{}",
            h.to_json()
        );
        if expected {
            good += 1;
        } else {
            bad += 1;
        }
    }
    assert!(good > 250 && bad > 250, "poor mix: {good} good, {bad} bad");
}

#[test]
fn agrees_with_brute_force_on_random_small_histories_with_repeated_values() {
    cross_check(2024, Values::Few(3));
}

#[test]
fn agrees_with_brute_force_on_random_small_histories_with_unique_values() {
    // Exercises the tightening of indeterminate operations (tighten.rs).
    cross_check(4048, Values::Unique);
}
