//! `cargo bench --bench net`: the peer transport against a plain TCP socket pair, same run.
//!
//! Two nodes on loopback, each on its own thread and glommio executor (one core each when the
//! machine has two). Measured:
//! - round trip of a 256 B frame on the ordered frame stream (send, peer echoes, recv), and of
//!   a 256 B forwarded request (`Transport::request`, a new QUIC stream each time), p50/p99;
//! - bulk throughput of 1 KiB frames, one direction, counted at the receiver.
//!
//! Baselines, same run: a plain TCP socket pair (TCP_NODELAY) doing the same length-prefixed
//! 256 B ping-pong and 1 KiB stream, twice: with blocking std sockets on one thread per end
//! (the floor), and on two glommio executors set up exactly like the QUIC nodes (the same
//! measurement with only the protocol changed). Round trips run in 5 interleaved rounds of
//! all three, and the ratio reported is the median round's (the machine's load drifts);
//! bulk throughput runs once after them. Targets: QUIC frame p50 round trip within 2x
//! of TCP's; at least 300k 1 KiB frames/s. The executors poll 100 us before sleeping, as a
//! node's pinned shards do by default (`spin_before_park_us`); `REEF_BENCH_SPIN_US=N` sets
//! another value (0: sleep at once, as on a node with `pin_cores: false`).
//!
//! Writes `<target>/reef-bench/net.json` (`$CARGO_TARGET_DIR` if set, else the workspace's
//! `target/`). `REEF_BENCH_QUICK=1` shortens every phase (for smoke runs);
//! `REEF_BENCH_PROFILE_RTT=1` / `REEF_BENCH_PROFILE_BULK=1` run only the QUIC round trips /
//! bulk phase, long enough for a profiler.

use std::{
    io::{BufReader, BufWriter, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use reef_net::{certs, Inbound, NetConfig, SendError, TlsFiles, TlsIdentity, Transport};

const PING: usize = 256;
/// Interleaved rounds of the round-trip measurements.
const ROUNDS: u64 = 5;
const BULK: usize = 1024;

struct Plan {
    rtt_iters: u64,
    warmup: u64,
    bulk_for: Duration,
}

fn plan() -> Plan {
    if std::env::var_os("REEF_BENCH_PROFILE_RTT").is_some() {
        // For profilers: the QUIC round trips, long enough to sample, and a token bulk phase.
        Plan {
            rtt_iters: 50_000,
            warmup: 1_000,
            bulk_for: Duration::from_millis(50),
        }
    } else if std::env::var_os("REEF_BENCH_PROFILE_BULK").is_some() {
        // For profilers: only the QUIC bulk phase, long enough to sample.
        Plan {
            rtt_iters: 1,
            warmup: 0,
            bulk_for: Duration::from_secs(5),
        }
    } else if std::env::var_os("REEF_BENCH_QUICK").is_some() {
        Plan {
            rtt_iters: 2_000,
            warmup: 200,
            bulk_for: Duration::from_millis(500),
        }
    } else {
        Plan {
            rtt_iters: 20_000,
            warmup: 2_000,
            bulk_for: Duration::from_secs(3),
        }
    }
}

fn cpu_count() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

fn cpus() -> (Option<usize>, Option<usize>) {
    if cpu_count() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    }
}

fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it; the call reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn executor<T>(
    cpu: Option<usize>,
    name: &str,
    f: impl std::future::Future<Output = T> + 'static,
) -> T {
    let placement = cpu.map_or(Placement::Unbound, Placement::Fixed);
    let mut b = LocalExecutorBuilder::new(placement).name(name);
    let us = spin_us();
    if us > 0 {
        b = b.spin_before_park(Duration::from_micros(us));
    }
    b.make().expect("glommio executor").run(f)
}

/// glommio's `spin_before_park` for every executor: the node's default for pinned shards
/// unless `REEF_BENCH_SPIN_US` says otherwise.
fn spin_us() -> u64 {
    std::env::var("REEF_BENCH_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
}

// ---------------------------------------------------------------- TCP baseline

fn tcp_rtt(plan: &Plan) -> Histogram<u64> {
    let (ca, cb) = cpus();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = thread::spawn(move || {
        pin(cb);
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 4 + PING];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    pin(ca);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut msg = vec![0u8; 4 + PING];
    msg[..4].copy_from_slice(&(PING as u32).to_be_bytes());
    let mut back = vec![0u8; 4 + PING];
    let mut h = hist();
    for i in 0..plan.warmup + plan.rtt_iters {
        let t = Instant::now();
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
        if i >= plan.warmup {
            h.record(t.elapsed().as_nanos() as u64).unwrap();
        }
    }
    drop(s);
    echo.join().unwrap();
    pin_all();
    h
}

fn tcp_throughput(plan: &Plan) -> f64 {
    let (ca, cb) = cpus();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = thread::spawn(move || {
        pin(cb);
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::with_capacity(256 * 1024, s);
        let mut frame = vec![0u8; BULK];
        let mut n = 0u64;
        let mut first = None;
        loop {
            let mut hdr = [0u8; 4];
            if r.read_exact(&mut hdr).is_err() {
                break;
            }
            let len = u32::from_be_bytes(hdr) as usize;
            if len == 0 {
                break;
            }
            r.read_exact(&mut frame[..len]).unwrap();
            first.get_or_insert_with(Instant::now);
            n += 1;
        }
        (n, first.unwrap().elapsed())
    });
    pin(ca);
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut w = BufWriter::with_capacity(256 * 1024, s);
    let payload = vec![7u8; BULK];
    let end = Instant::now() + plan.bulk_for;
    while Instant::now() < end {
        for _ in 0..64 {
            w.write_all(&(BULK as u32).to_be_bytes()).unwrap();
            w.write_all(&payload).unwrap();
        }
    }
    w.write_all(&0u32.to_be_bytes()).unwrap();
    w.flush().unwrap();
    let (n, took) = reader.join().unwrap();
    pin_all();
    n as f64 / took.as_secs_f64()
}

fn pin_all() {
    // SAFETY: as in `pin`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..cpu_count() {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The same ping-pong and stream over TCP on two glommio executors set up exactly like the
/// QUIC nodes: isolates the protocol's cost from the runtime's (sleep/wake through io_uring).
fn glommio_tcp(plan: &Plan) -> (Histogram<u64>, f64) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let (ca, cb) = cpus();
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let server = thread::spawn(move || {
        executor(cb, "tcp-b", async move {
            let l = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            // First connection: echo 256 B frames.
            let mut s = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = vec![0u8; 4 + PING];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    break;
                }
            }
            // Second: count 1 KiB frames until a zero length.
            let s = l.accept().await.unwrap();
            let mut r = futures_lite::io::BufReader::with_capacity(256 * 1024, s);
            let mut frame = vec![0u8; BULK];
            let (mut n, mut first) = (0u64, None);
            loop {
                let mut hdr = [0u8; 4];
                r.read_exact(&mut hdr).await.unwrap();
                let len = u32::from_be_bytes(hdr) as usize;
                if len == 0 {
                    break;
                }
                r.read_exact(&mut frame[..len]).await.unwrap();
                first.get_or_insert_with(Instant::now);
                n += 1;
            }
            n as f64 / first.unwrap().elapsed().as_secs_f64()
        })
    });
    let (warmup, iters, bulk_for) = (plan.warmup, plan.rtt_iters, plan.bulk_for);
    let h = executor(ca, "tcp-a", async move {
        let addr = addr_rx.recv().unwrap();
        let mut s = glommio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut msg = vec![0u8; 4 + PING];
        msg[..4].copy_from_slice(&(PING as u32).to_be_bytes());
        let mut back = vec![0u8; 4 + PING];
        let mut h = hist();
        for i in 0..warmup + iters {
            let t = Instant::now();
            s.write_all(&msg).await.unwrap();
            s.read_exact(&mut back).await.unwrap();
            if i >= warmup {
                h.record(t.elapsed().as_nanos() as u64).unwrap();
            }
        }
        drop(s);
        let s = glommio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut w = futures_lite::io::BufWriter::with_capacity(256 * 1024, s);
        let mut frame = (BULK as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[7u8; BULK]);
        let end = Instant::now() + bulk_for;
        while Instant::now() < end {
            for _ in 0..64 {
                w.write_all(&frame).await.unwrap();
            }
        }
        w.write_all(&0u32.to_be_bytes()).await.unwrap();
        w.flush().await.unwrap();
        h
    });
    (h, server.join().unwrap())
}

// ---------------------------------------------------------------- QUIC

struct QuicResults {
    frame_rtt: Histogram<u64>,
    request_rtt: Histogram<u64>,
    frames_per_sec: f64,
    sender_refusals: u64,
}

fn config(dir: &std::path::Path, id: u64) -> NetConfig {
    let tls = TlsIdentity::load(&TlsFiles::for_node(dir, id)).unwrap();
    NetConfig::new(id, "127.0.0.1:0".parse().unwrap(), tls)
}

async fn send_retrying(t: &Transport, peer: u64, b: Bytes) {
    loop {
        match t.send(peer, b.clone()) {
            Ok(()) => return,
            Err(SendError::Full { .. }) => t.wait_for_room(peer, b.len()).await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
}

async fn recv_frame(t: &Transport) -> Bytes {
    match t.recv().await.expect("open") {
        Inbound::Frame { bytes, .. } => bytes,
        other => panic!("unexpected {other:?}"),
    }
}

fn quic(plan: &Plan, dir: PathBuf) -> QuicResults {
    let (ca, cb) = cpus();
    let (b_addr_tx, b_addr_rx) = mpsc::channel::<SocketAddr>();
    let (a_addr_tx, a_addr_rx) = mpsc::channel::<SocketAddr>();
    let (bulk_tx, bulk_rx) = mpsc::channel::<(u64, Duration)>();
    let dir_b = dir.clone();
    let node_b = thread::spawn(move || {
        executor(cb, "bench-b", async move {
            let t = Transport::bind(config(&dir_b, 2)).unwrap();
            b_addr_tx.send(t.local_addr()).unwrap();
            t.set_peer(1, a_addr_rx.recv().unwrap());
            let mut bulk = 0u64;
            let mut first = None;
            while let Some(item) = t.recv().await {
                match item {
                    Inbound::Frame { bytes, .. } if bytes.len() == PING => {
                        send_retrying(&t, 1, bytes).await
                    }
                    Inbound::Frame { bytes, .. } if bytes.len() == BULK => {
                        first.get_or_insert_with(Instant::now);
                        bulk += 1;
                    }
                    Inbound::Frame { bytes, .. } if &bytes[..] == b"end" => {
                        bulk_tx.send((bulk, first.unwrap().elapsed())).unwrap();
                    }
                    Inbound::Frame { bytes, .. } if &bytes[..] == b"quit" => break,
                    Inbound::Request {
                        bytes, responder, ..
                    } => responder.respond(bytes).unwrap(),
                    other => panic!("unexpected {other:?}"),
                }
            }
            t.close().await;
        })
    });
    let rtt_iters = plan.rtt_iters;
    let warmup = plan.warmup;
    let bulk_for = plan.bulk_for;
    let results = executor(ca, "bench-a", async move {
        let t = Transport::bind(config(&dir, 1)).unwrap();
        t.set_peer(2, b_addr_rx.recv().unwrap());
        a_addr_tx.send(t.local_addr()).unwrap();

        let ping = Bytes::from(vec![1u8; PING]);
        let mut frame_rtt = hist();
        for i in 0..warmup + rtt_iters {
            let s = Instant::now();
            send_retrying(&t, 2, ping.clone()).await;
            let back = recv_frame(&t).await;
            assert_eq!(back.len(), PING);
            if i >= warmup {
                frame_rtt.record(s.elapsed().as_nanos() as u64).unwrap();
            }
        }
        let mut request_rtt = hist();
        for i in 0..warmup + rtt_iters {
            let s = Instant::now();
            let back = t
                .request(2, ping.clone(), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(back.len(), PING);
            if i >= warmup {
                request_rtt.record(s.elapsed().as_nanos() as u64).unwrap();
            }
        }

        let payload = Bytes::from(vec![7u8; BULK]);
        let mut refusals = 0u64;
        let end = Instant::now() + bulk_for;
        while Instant::now() < end {
            for _ in 0..64 {
                match t.send(2, payload.clone()) {
                    Ok(()) => {}
                    Err(SendError::Full { .. }) => {
                        refusals += 1;
                        t.wait_for_room(2, BULK).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            glommio::yield_if_needed().await;
        }
        send_retrying(&t, 2, Bytes::from_static(b"end")).await;
        let (frames, took) = loop {
            if let Ok(r) = bulk_rx.try_recv() {
                break r;
            }
            glommio::timer::Timer::new(Duration::from_millis(1)).await;
        };
        send_retrying(&t, 2, Bytes::from_static(b"quit")).await;
        glommio::timer::Timer::new(Duration::from_millis(50)).await;
        t.close().await;
        QuicResults {
            frame_rtt,
            request_rtt,
            frames_per_sec: frames as f64 / took.as_secs_f64(),
            sender_refusals: refusals,
        }
    });
    node_b.join().unwrap();
    results
}

// ---------------------------------------------------------------- report

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("net/ sits in the workspace")
                .join("target")
        })
}

fn main() {
    cpu_count();
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    certs::generate_cluster(
        dir.path(),
        &[(1, vec!["127.0.0.1".into()]), (2, vec!["127.0.0.1".into()])],
    )
    .unwrap();

    if std::env::var_os("REEF_BENCH_PROFILE_BULK").is_some()
        || std::env::var_os("REEF_BENCH_PROFILE_RTT").is_some()
    {
        let q = quic(&plan, dir.path().to_path_buf());
        println!(
            "QUIC frame round trip p50 {:.1} us, request p50 {:.1} us, 1 KiB frames/s {:.0}",
            us(&q.frame_rtt, 0.5),
            us(&q.request_rtt, 0.5),
            q.frames_per_sec
        );
        return;
    }
    // Round trips in interleaved rounds (std TCP, glommio TCP, QUIC, again and again): this
    // machine's load moves round trips by 2x within a minute, so each ratio compares
    // measurements taken seconds apart, and the headline is the median round's ratio.
    let round_plan = Plan {
        rtt_iters: (plan.rtt_iters / ROUNDS).max(1),
        warmup: (plan.warmup / ROUNDS).max(1),
        // Each pass ends with a token bulk phase; the real one runs once, below.
        bulk_for: Duration::from_millis(20),
    };
    let (mut tcp_h, mut gtcp_h) = (hist(), hist());
    let (mut frame_h, mut request_h) = (hist(), hist());
    let (mut round_std, mut round_g) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = tcp_rtt(&round_plan);
        let (g, _) = glommio_tcp(&round_plan);
        let q = quic(&round_plan, dir.path().to_path_buf());
        round_std.push(us(&q.frame_rtt, 0.5) / us(&t, 0.5));
        round_g.push(us(&q.frame_rtt, 0.5) / us(&g, 0.5));
        tcp_h.add(&t).unwrap();
        gtcp_h.add(&g).unwrap();
        frame_h.add(&q.frame_rtt).unwrap();
        request_h.add(&q.request_rtt).unwrap();
    }
    let bulk_plan = Plan {
        rtt_iters: 0,
        warmup: 0,
        bulk_for: plan.bulk_for,
    };
    let tcp_fps = tcp_throughput(&bulk_plan);
    let (_, gtcp_fps) = glommio_tcp(&bulk_plan);
    let mut q = quic(&bulk_plan, dir.path().to_path_buf());
    q.frame_rtt = frame_h;
    q.request_rtt = request_h;

    let frame_ratio = median(&round_std);
    let frame_ratio_g = median(&round_g);
    let request_ratio = us(&q.request_rtt, 0.5) / us(&tcp_h, 0.5);
    let spin = spin_us();
    println!(
        "reef-net bench (loopback, two threads{}, glommio spin_before_park {spin} us)",
        match cpus() {
            (Some(_), Some(_)) => ", pinned to cpus 0 and 1",
            _ => "",
        }
    );
    println!(
        "  256 B round trip  TCP (std, blocking threads)  p50 {:>8.1} us  p99 {:>8.1} us",
        us(&tcp_h, 0.5),
        us(&tcp_h, 0.99)
    );
    println!(
        "  256 B round trip  TCP (glommio executors)      p50 {:>8.1} us  p99 {:>8.1} us",
        us(&gtcp_h, 0.5),
        us(&gtcp_h, 0.99)
    );
    println!(
        "  256 B round trip  QUIC frame stream            p50 {:>8.1} us  p99 {:>8.1} us  median round: {:.2}x std TCP, {:.2}x glommio TCP (target <= 2.00x)",
        us(&q.frame_rtt, 0.5),
        us(&q.frame_rtt, 0.99),
        frame_ratio,
        frame_ratio_g
    );
    println!(
        "  per round, QUIC frame p50 / std TCP p50: {}",
        round_std
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  256 B round trip  QUIC request (new stream)    p50 {:>8.1} us  p99 {:>8.1} us  p50 {:.2}x std TCP",
        us(&q.request_rtt, 0.5),
        us(&q.request_rtt, 0.99),
        request_ratio
    );
    println!(
        "  1 KiB frames/s    TCP std {:>9.0}   TCP glommio {:>9.0}   QUIC {:>9.0}  ({:.2}x std TCP; {:.2}x the 300k target; {} sends refused as Full)",
        tcp_fps,
        gtcp_fps,
        q.frames_per_sec,
        q.frames_per_sec / tcp_fps,
        q.frames_per_sec / 300_000.0,
        q.sender_refusals
    );

    let json = serde_json::json!({
        "bench": "net",
        "rtt_iterations": plan.rtt_iters,
        "bulk_seconds": plan.bulk_for.as_secs_f64(),
        "glommio_spin_before_park_us": spin,
        "tcp": {
            "rtt_256b_p50_us": us(&tcp_h, 0.5),
            "rtt_256b_p99_us": us(&tcp_h, 0.99),
            "frames_1k_per_sec": tcp_fps,
        },
        "tcp_glommio": {
            "rtt_256b_p50_us": us(&gtcp_h, 0.5),
            "rtt_256b_p99_us": us(&gtcp_h, 0.99),
            "frames_1k_per_sec": gtcp_fps,
        },
        "quic": {
            "frame_rtt_256b_p50_us": us(&q.frame_rtt, 0.5),
            "frame_rtt_256b_p99_us": us(&q.frame_rtt, 0.99),
            "request_rtt_256b_p50_us": us(&q.request_rtt, 0.5),
            "request_rtt_256b_p99_us": us(&q.request_rtt, 0.99),
            "frames_1k_per_sec": q.frames_per_sec,
            "sender_full_refusals": q.sender_refusals,
        },
        "rounds": ROUNDS,
        "ratios": {
            "frame_rtt_p50_vs_tcp_per_round": round_std,
            "frame_rtt_p50_vs_tcp_glommio_per_round": round_g,
            "frame_rtt_p50_vs_tcp": frame_ratio,
            "frame_rtt_p50_vs_tcp_glommio": frame_ratio_g,
            "request_rtt_p50_vs_tcp": request_ratio,
            "frames_per_sec_vs_tcp": q.frames_per_sec / tcp_fps,
            "frames_per_sec_vs_target_300k": q.frames_per_sec / 300_000.0,
        },
        "targets": {
            "frame_rtt_p50_vs_tcp_max": 2.0,
            "frames_1k_per_sec_min": 300_000,
        },
    });
    let out = target_dir().join("reef-bench");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("net.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("  wrote {}", path.display());
}
