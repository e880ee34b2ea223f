//! Prometheus metrics, recorded lock-free and encoded only when scraped.
//!
//! Every shard records into one shared [`Metrics`] through relaxed atomic adds: no mutex is
//! taken on a request path or on shard 0's apply path (prometheus-client's own histogram and
//! label families lock, so they are not used for recording). At scrape time a
//! prometheus-client `Collector` reads the atomics and encodes them in the Prometheus text
//! format. Per-peer transport figures live on shard 0 (the transport is not `Send`), so the
//! driver copies them here once per tick.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// A histogram with fixed bucket bounds and atomic counts.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths of the unit, so it can be an integer atomic.
    sum_micro: AtomicU64,
}

/// Seconds, 50 µs to 10 s.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];
/// Counts (entries in a group commit).
pub const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];
/// Seconds, for slow things (snapshot builds).
pub const SLOW_BOUNDS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

impl AtomicHistogram {
    pub fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_micro.fetch_add((v.max(0.0) * 1e6) as u64, Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Cumulative buckets as Prometheus wants them, ending with +Inf.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut cum = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Relaxed);
            let le = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((le, cum));
        }
        (self.sum_micro.load(Relaxed) as f64 / 1e6, cum, buckets)
    }
}

/// HTTP endpoints, as a fixed set so counting needs no label lookup.
pub const ENDPOINTS: &[&str] = &[
    "execute", "query", "request", "status", "nodes", "readyz", "livez", "metrics", "admin",
    "other",
];
/// HTTP status codes counted individually; anything else counts as "other".
pub const CODES: &[u16] = &[
    200, 307, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503,
];
/// Certificates whose expiry is exported, in the order of `Metrics::cert_expiry`.
pub const CERTS: &[&str] = &["transport", "http", "ca", "client_ca"];
/// Read consistency levels.
pub const LEVELS: &[&str] = &["none", "weak", "linearizable", "strong"];

pub fn endpoint_index(path: &str) -> usize {
    let name = match path {
        "/db/execute" => "execute",
        "/db/query" => "query",
        "/db/request" => "request",
        "/status" => "status",
        "/nodes" => "nodes",
        "/readyz" => "readyz",
        "/livez" => "livez",
        "/metrics" => "metrics",
        p if p.starts_with("/admin/") => "admin",
        _ => "other",
    };
    ENDPOINTS
        .iter()
        .position(|e| *e == name)
        .unwrap_or(ENDPOINTS.len() - 1)
}

fn code_index(code: u16) -> usize {
    CODES.iter().position(|c| *c == code).unwrap_or(CODES.len())
}

/// Per-peer transport figures, copied from reef-net by the driver every tick.
#[derive(Debug, Clone, Default)]
pub struct PeerFigures {
    pub id: u64,
    pub connected: bool,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub drops: u64,
    pub reconnects: u64,
    pub queue_depth: u64,
}

macro_rules! gauges {
    ($($name:ident),* $(,)?) => {
        /// Replica state the driver sets on every publish.
        #[derive(Debug, Default)]
        pub struct ReplicaGauges { $(pub $name: AtomicU64,)* }
    };
}
gauges!(
    role,
    term,
    leader_id,
    commit_index,
    applied_index,
    first_index,
    last_index,
    snapshot_index,
    log_bytes,
    log_segments,
    last_snapshot_bytes,
    disk_free_bytes,
    disk_total_bytes,
    disk_low,
    low_disk_members,
);

#[derive(Debug)]
pub struct Metrics {
    pub replica: ReplicaGauges,
    pub fsync_seconds: AtomicHistogram,
    pub commit_batch_entries: AtomicHistogram,
    pub apply_seconds: AtomicHistogram,
    pub snapshot_build_seconds: AtomicHistogram,
    pub snapshots_built: AtomicU64,
    pub snapshots_installed: AtomicU64,
    pub snapshots_sent: AtomicU64,
    pub proposals: AtomicU64,
    pub proposal_failures: AtomicU64,
    pub read_index_rounds: AtomicU64,
    pub reads: [AtomicU64; 4],
    pub elections_won: AtomicU64,
    pub leader_changes: AtomicU64,
    pub http_requests: Vec<AtomicU64>,
    pub http_seconds: Vec<AtomicHistogram>,
    pub auth_failures: AtomicU64,
    pub auth_forbidden: AtomicU64,
    pub http_tls_handshake_failures: AtomicU64,
    /// Unix seconds at which each certificate of [`CERTS`] expires; 0 when not in use.
    pub cert_expiry: [AtomicU64; 4],
    pub cert_reloads: AtomicU64,
    pub cert_reload_failures: AtomicU64,
    pub peers: arc_swap::ArcSwap<Vec<PeerFigures>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            replica: ReplicaGauges::default(),
            fsync_seconds: AtomicHistogram::new(LATENCY_BOUNDS),
            commit_batch_entries: AtomicHistogram::new(BATCH_BOUNDS),
            apply_seconds: AtomicHistogram::new(LATENCY_BOUNDS),
            snapshot_build_seconds: AtomicHistogram::new(SLOW_BOUNDS),
            snapshots_built: AtomicU64::new(0),
            snapshots_installed: AtomicU64::new(0),
            snapshots_sent: AtomicU64::new(0),
            proposals: AtomicU64::new(0),
            proposal_failures: AtomicU64::new(0),
            read_index_rounds: AtomicU64::new(0),
            reads: Default::default(),
            elections_won: AtomicU64::new(0),
            leader_changes: AtomicU64::new(0),
            http_requests: (0..ENDPOINTS.len() * (CODES.len() + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            http_seconds: ENDPOINTS
                .iter()
                .map(|_| AtomicHistogram::new(LATENCY_BOUNDS))
                .collect(),
            auth_failures: AtomicU64::new(0),
            auth_forbidden: AtomicU64::new(0),
            http_tls_handshake_failures: AtomicU64::new(0),
            cert_expiry: Default::default(),
            cert_reloads: AtomicU64::new(0),
            cert_reload_failures: AtomicU64::new(0),
            peers: arc_swap::ArcSwap::from_pointee(Vec::new()),
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    pub fn record_http(&self, endpoint: usize, code: u16, took: Duration) {
        let i = endpoint * (CODES.len() + 1) + code_index(code);
        self.http_requests[i].fetch_add(1, Relaxed);
        self.http_seconds[endpoint].observe_duration(took);
    }

    pub fn record_read(&self, level: usize) {
        self.reads[level].fetch_add(1, Relaxed);
    }

    /// The whole text a scrape returns.
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::with_prefix("reefdb");
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    m.encode_gauge(&v)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&v, None)
}

fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &AtomicHistogram,
) -> std::fmt::Result {
    let (sum, count, buckets) = h.snapshot();
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for Metrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.replica;
        {
            let role = r.role.load(Relaxed);
            let mut m = enc.encode_descriptor(
                "role",
                "1 for this node's current Raft role",
                None,
                MetricType::Gauge,
            )?;
            for (i, name) in ["follower", "candidate", "leader", "learner", "removed"]
                .iter()
                .enumerate()
            {
                let labels = [("role", *name)];
                let mut f = m.encode_family(&labels)?;
                f.encode_gauge(&((role == i as u64) as i64))?;
            }
        }
        for (name, help, v) in [
            ("term", "Current Raft term", &r.term),
            (
                "leader_id",
                "Node id of the known leader (0: none)",
                &r.leader_id,
            ),
            (
                "commit_index",
                "Highest log index known committed",
                &r.commit_index,
            ),
            (
                "applied_index",
                "Highest log index applied to the engine",
                &r.applied_index,
            ),
            ("first_index", "First log index still held", &r.first_index),
            ("last_index", "Last log index held", &r.last_index),
            (
                "snapshot_index",
                "Index of the latest snapshot",
                &r.snapshot_index,
            ),
            ("log_bytes", "Bytes of log segments in use", &r.log_bytes),
            ("log_segments", "Log segment files in use", &r.log_segments),
            (
                "snapshot_last_bytes",
                "Size of the latest snapshot built or installed",
                &r.last_snapshot_bytes,
            ),
            (
                "disk_free_bytes",
                "Bytes free (to unprivileged users) on the file system of data_dir/raft",
                &r.disk_free_bytes,
            ),
            (
                "disk_total_bytes",
                "Size of the file system of data_dir/raft",
                &r.disk_total_bytes,
            ),
            (
                "disk_low",
                "1 while this node's free disk space is below limits.min_free_disk_bytes",
                &r.disk_low,
            ),
            (
                "low_disk_members",
                "Members whose disk this node knows to be low; the leader refuses writes while any is",
                &r.low_disk_members,
            ),
        ] {
            gauge(&mut enc, name, help, v.load(Relaxed) as f64)?;
        }
        histogram(
            &mut enc,
            "fsync_seconds",
            "Durable flush latency of the Raft log (write + sync)",
            &self.fsync_seconds,
        )?;
        histogram(
            &mut enc,
            "commit_batch_entries",
            "Log records per group-commit flush",
            &self.commit_batch_entries,
        )?;
        histogram(
            &mut enc,
            "apply_seconds",
            "Time to apply one committed entry to the engine",
            &self.apply_seconds,
        )?;
        histogram(
            &mut enc,
            "snapshot_build_seconds",
            "Time to build a snapshot",
            &self.snapshot_build_seconds,
        )?;
        for (name, help, v) in [
            (
                "snapshots_built",
                "Snapshots this node built",
                &self.snapshots_built,
            ),
            (
                "snapshots_installed",
                "Snapshots installed from a leader",
                &self.snapshots_installed,
            ),
            (
                "snapshots_sent",
                "Snapshots streamed to followers",
                &self.snapshots_sent,
            ),
            ("proposals", "Write batches proposed", &self.proposals),
            (
                "proposal_failures",
                "Proposals refused or lost",
                &self.proposal_failures,
            ),
            (
                "read_index_rounds",
                "ReadIndex rounds started (shared by batched reads)",
                &self.read_index_rounds,
            ),
            (
                "elections_won",
                "Times this node became leader",
                &self.elections_won,
            ),
            (
                "leader_changes",
                "Times the known leader changed",
                &self.leader_changes,
            ),
            (
                "auth_failures",
                "Requests refused for missing or wrong credentials (401)",
                &self.auth_failures,
            ),
            (
                "auth_forbidden",
                "Requests refused because the caller lacks the permission (403)",
                &self.auth_forbidden,
            ),
            (
                "http_tls_handshake_failures",
                "Client TLS handshakes that failed or timed out",
                &self.http_tls_handshake_failures,
            ),
            (
                "cert_reloads",
                "Certificate reloads that took effect",
                &self.cert_reloads,
            ),
            (
                "cert_reload_failures",
                "Certificate reloads refused (the old certificates stayed in use)",
                &self.cert_reload_failures,
            ),
        ] {
            counter(&mut enc, name, help, v.load(Relaxed))?;
        }
        {
            let mut m = enc.encode_descriptor(
                "cert_expiry_timestamp_seconds",
                "When each certificate in use expires (Unix seconds)",
                None,
                MetricType::Gauge,
            )?;
            for (label, v) in CERTS.iter().zip(&self.cert_expiry) {
                let v = v.load(Relaxed);
                if v == 0 {
                    continue;
                }
                let labels = [("cert", *label)];
                let mut f = m.encode_family(&labels)?;
                f.encode_gauge(&(v as i64))?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "reads",
                "Reads served, by consistency level",
                None,
                MetricType::Counter,
            )?;
            for (i, level) in LEVELS.iter().enumerate() {
                let labels = [("level", *level)];
                let mut f = m.encode_family(&labels)?;
                f.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                    &self.reads[i].load(Relaxed),
                    None,
                )?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "http_requests",
                "HTTP requests by endpoint and status",
                None,
                MetricType::Counter,
            )?;
            for (e, endpoint) in ENDPOINTS.iter().enumerate() {
                for c in 0..=CODES.len() {
                    let n = self.http_requests[e * (CODES.len() + 1) + c].load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let code = CODES
                        .get(c)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "other".into());
                    let labels = [("endpoint", endpoint.to_string()), ("code", code)];
                    let mut f = m.encode_family(&labels)?;
                    f.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "http_request_seconds",
                "HTTP request latency by endpoint",
                None,
                MetricType::Histogram,
            )?;
            for (e, endpoint) in ENDPOINTS.iter().enumerate() {
                let h = &self.http_seconds[e];
                if h.count() == 0 {
                    continue;
                }
                let (sum, count, buckets) = h.snapshot();
                let labels = [("endpoint", *endpoint)];
                let mut f = m.encode_family(&labels)?;
                f.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
            }
        }
        let peers = self.peers.load();
        type Pick = fn(&PeerFigures) -> u64;
        let peer_families: [(&str, &str, MetricType, Pick); 8] = [
            (
                "peer_connected",
                "1 while the QUIC connection to the peer is up",
                MetricType::Gauge,
                |p| p.connected as u64,
            ),
            (
                "peer_frames_sent",
                "Frames sent to the peer",
                MetricType::Counter,
                |p| p.frames_sent,
            ),
            (
                "peer_frames_received",
                "Frames received from the peer",
                MetricType::Counter,
                |p| p.frames_received,
            ),
            (
                "peer_sent_bytes",
                "Bytes sent to the peer",
                MetricType::Counter,
                |p| p.bytes_sent,
            ),
            (
                "peer_received_bytes",
                "Bytes received from the peer",
                MetricType::Counter,
                |p| p.bytes_received,
            ),
            (
                "peer_drops",
                "Frames dropped because the peer's queue was full or it was unreachable",
                MetricType::Counter,
                |p| p.drops,
            ),
            (
                "peer_reconnects",
                "Reconnections to the peer",
                MetricType::Counter,
                |p| p.reconnects,
            ),
            (
                "peer_queue_depth",
                "Frames queued for the peer",
                MetricType::Gauge,
                |p| p.queue_depth,
            ),
        ];
        for (name, help, kind, pick) in peer_families {
            let mut m = enc.encode_descriptor(name, help, None, kind)?;
            for p in peers.iter() {
                let labels = [("peer", p.id.to_string())];
                let mut f = m.encode_family(&labels)?;
                let v = pick(p);
                match kind {
                    MetricType::Counter => f
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                            &v, None,
                        )?,
                    _ => f.encode_gauge(&(v as i64))?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = AtomicHistogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.5, 1.5, 5.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 8.5).abs() < 1e-6);
        assert_eq!(buckets, vec![(1.0, 1), (2.0, 3), (f64::INFINITY, 4)]);
    }

    #[test]
    fn renders_every_family_in_prometheus_text() {
        let m = Metrics::new();
        m.record_http(endpoint_index("/db/execute"), 200, Duration::from_millis(2));
        m.record_read(2);
        m.fsync_seconds.observe(0.0001);
        m.peers.store(Arc::new(vec![PeerFigures {
            id: 2,
            connected: true,
            ..Default::default()
        }]));
        let text = m.render();
        for family in [
            "reefdb_role",
            "reefdb_term",
            "reefdb_fsync_seconds_bucket",
            "reefdb_http_requests_total{endpoint=\"execute\",code=\"200\"} 1",
            "reefdb_reads_total{level=\"linearizable\"} 1",
            "reefdb_peer_connected{peer=\"2\"} 1",
        ] {
            assert!(text.contains(family), "{family} missing from:\n{text}");
        }
    }
}
