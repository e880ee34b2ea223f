//! One load-generating client: a thread with one keep-alive connection, sending
//! back-to-back (closed loop) or at its scheduled times (open loop), and measuring each
//! request from when it was *due*, so a stalled server cannot hide behind a stalled
//! client.

use super::schedule::Schedule;
use super::tally::Tally;
use super::workload::Params;
use super::{etcd, reef, TargetKind};
use crate::client::{ClientError, Endpoint, HttpConn};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a worker hands its counts to the collector.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Pause after a failed connect, so a dead server is not hammered in a tight loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(50);

pub struct WorkerSpec {
    pub id: usize,
    pub endpoint: Endpoint,
    pub timeout: Duration,
    pub target: TargetKind,
    pub params: Arc<Params>,
    pub schedule: Option<Schedule>,
    /// Requests due before this are warm-up and not recorded.
    pub measure_from: Instant,
    pub deadline: Instant,
    pub seed: u64,
}

pub fn run(spec: WorkerSpec, tx: Sender<Tally>) {
    let mut conn = HttpConn::new(spec.endpoint.clone(), spec.timeout);
    let addr = spec.endpoint.authority();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut tally = Tally::default();
    let mut last_flush = Instant::now();
    let (mut body, mut value) = (Vec::with_capacity(1024), String::new());
    let mut sent: u64 = 0;
    let params = &spec.params;
    loop {
        let due = match &spec.schedule {
            Some(s) => {
                let due = s.intended(sent);
                if due >= spec.deadline {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                due
            }
            None => {
                let now = Instant::now();
                if now >= spec.deadline {
                    break;
                }
                now
            }
        };
        let op = params.pick(&mut rng);
        let path = match spec.target {
            TargetKind::Reefdb => {
                reef::build(op, params, spec.id, sent, &mut rng, &mut value, &mut body);
                reef::path(op, params)
            }
            TargetKind::Etcd => {
                etcd::build(op, params, spec.id, sent, &mut rng, &mut value, &mut body);
                etcd::path(op, params).to_string()
            }
        };
        sent += 1;
        let result = conn.request("POST", &path, Some("application/json"), &body);
        let done = Instant::now();
        let measured = due >= spec.measure_from;
        let outcome = match &result {
            Ok(resp) => match spec.target {
                TargetKind::Reefdb => reef::check(op, params, &addr, resp),
                TargetKind::Etcd => etcd::check(op, params, &addr, resp),
            },
            Err(e) => Err(e.kind()),
        };
        match outcome {
            Ok(statements) if measured => {
                let micros =
                    u64::try_from(done.duration_since(due).as_micros()).unwrap_or(u64::MAX);
                tally.record(op, micros, statements);
            }
            Ok(_) => {}
            Err(kind) => {
                if measured {
                    tally.error(&kind);
                }
                if matches!(result, Err(ClientError::Connect { .. })) {
                    std::thread::sleep(CONNECT_BACKOFF);
                }
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            if tx.send(std::mem::take(&mut tally)).is_err() {
                return;
            }
            last_flush = Instant::now();
        }
    }
    if let Some(s) = &spec.schedule {
        tally.not_sent = s.due_by(spec.deadline).saturating_sub(sent);
    }
    let _ = tx.send(tally);
}
