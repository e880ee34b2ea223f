//! Node configuration: one YAML file per node.
//!
//! Every field has a default except the ones that make a node who it is (`id`, `data_dir`,
//! `raft_addr`, `tls`). Unknown keys are errors, because a misspelt key silently falling back
//! to its default is how production clusters end up with settings nobody chose. Errors name
//! the key path (`raft.tick_ms`, `peers[1].raft_addr`) and the file. Relative paths resolve
//! against the folder holding the config file, so a cluster directory can be moved whole.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration problem a person can fix: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: key `{key}`: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("config file {path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// One member of the initial cluster (or a known peer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub id: u64,
    pub raft_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

/// PEM files for the peer transport's mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// PEM files for HTTPS on the client API. Without this block the API is plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate from this CA (client mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    pub tick_ms: u64,
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    pub max_msg_bytes: u64,
    pub max_inflight_msgs: usize,
    /// Byte budget of log entries carried in one append message.
    pub max_size_per_msg: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Linearizable reads that arrive while a ReadIndex round is in flight share the next
    /// round. Off only to measure what batching saves: every read then costs its own round.
    pub batch_read_index: bool,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            tick_ms: 100,
            election_tick: 10,
            heartbeat_tick: 2,
            max_msg_bytes: 16 * 1024 * 1024,
            max_inflight_msgs: 256,
            max_size_per_msg: 1024 * 1024,
            pre_vote: true,
            check_quorum: true,
            batch_read_index: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotConfig {
    /// Build a snapshot once this many entries were applied since the last one.
    pub entries: u64,
    /// ... or once the log holds this many bytes.
    pub log_bytes: u64,
    /// Entries kept behind a snapshot so slow followers catch up by log, not by snapshot.
    pub keep_entries: u64,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            entries: 100_000,
            log_bytes: 256 * 1024 * 1024,
            keep_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub segment_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Guards on what one client request may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_statements: usize,
    pub max_result_rows: usize,
    pub max_statement_bytes: usize,
    /// How long a client waits for its write to commit and apply before a 503.
    pub request_timeout_ms: u64,
    /// A connection with no request in progress is closed after this long without a new
    /// one (idle keep-alive connections, and clients that never finish their headers); a
    /// request's body must arrive within it too (else 408). 0: never.
    pub idle_timeout_ms: u64,
    /// Request bodies being read or served at once on this node, in bytes (shared evenly by
    /// the shards, each at least `max_body_bytes`). A request that would pass it gets 503:
    /// many clients each sending a large body cannot make the node buffer without bound.
    pub max_request_memory_bytes: usize,
    /// Free bytes this node keeps on the file system of its data dir. Below it the node
    /// reports its disk low, and the leader refuses writes (507) while any member's disk is
    /// low; they resume once that disk has a quarter more than this free again. A node whose
    /// disk fills up regardless stops without acknowledging anything it could not write.
    /// 0: never refuse.
    pub min_free_disk_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 8 * 1024 * 1024,
            max_statements: 1000,
            max_result_rows: 100_000,
            max_statement_bytes: 1024 * 1024,
            request_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_request_memory_bytes: 256 * 1024 * 1024,
            min_free_disk_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `RUST_LOG`-style filter; the `RUST_LOG` environment variable wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Who may call `/admin/*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Off: every admin endpoint answers 403.
    pub enabled: bool,
    /// When set, admin calls need `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            token: None,
        }
    }
}

/// A node's whole configuration. See `README.md` for an annotated example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: u64,
    /// Holds `raft/` (log, hard state, snapshots, identity).
    pub data_dir: PathBuf,
    #[serde(default = "default_http_addr")]
    pub http_addr: SocketAddr,
    pub raft_addr: SocketAddr,
    /// True on the first start of an initial member: it forms the cluster from `peers`.
    #[serde(default)]
    pub bootstrap: bool,
    /// Written by `init-cluster`; a node refuses data that belongs to another cluster.
    #[serde(default = "default_cluster_id")]
    pub cluster_id: String,
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    pub tls: TlsConfig,
    /// HTTPS for the client API; absent means plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_tls: Option<HttpTlsConfig>,
    /// An rqlite-format users file; absent means no authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PathBuf>,
    /// Executor threads (shards); 0 means one per available core.
    #[serde(default)]
    pub cores: usize,
    /// Pin each shard to a core. Off when several nodes share one machine (tests, demo).
    #[serde(default = "default_true")]
    pub pin_cores: bool,
    /// Microseconds a pinned shard keeps polling for work before it sleeps (glommio's
    /// `spin_before_park`). Every sleep and wake-up costs a cross-core wake and a
    /// process-wide memory barrier (`membarrier`), which dominate a peer round trip; polling
    /// for a moment after the last event avoids them while traffic flows, at the price of a
    /// core that looks busy under load. Unset: 100 us on pinned shards (the cores are
    /// ReefDB's), none when `pin_cores: false` (cores shared with other processes, where
    /// polling would steal their time). glommio polls only on pinned executors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin_before_park_us: Option<u64>,
    #[serde(default)]
    pub raft: RaftConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub admin: AdminConfig,
}

fn default_http_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4001))
}

fn default_cluster_id() -> String {
    "reefdb".into()
}

/// `spin_before_park_us` when unset on pinned shards: long enough to cover a peer round trip
/// and the next client request under load, short enough to be nothing when idle.
const DEFAULT_SPIN_BEFORE_PARK_US: u64 = 100;

fn default_true() -> bool {
    true
}

impl Config {
    /// Reads, parses, resolves relative paths and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        // Paths become absolute: the node's files must not depend on the directory it was
        // started from (glommio also refuses some relative directory opens).
        let absolute = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = absolute.parent().unwrap_or_else(|| Path::new("/"));
        config.resolve_paths(base);
        config.validate(path)?;
        Ok(config)
    }

    /// Parses YAML text; `path` is only used to name the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Parse {
                path: path.to_path_buf(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: e.into_inner().to_string(),
            }
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.tls.ca);
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        if let Some(h) = &mut self.http_tls {
            fix(&mut h.cert);
            fix(&mut h.key);
            if let Some(ca) = &mut h.client_ca {
                fix(ca);
            }
        }
        if let Some(a) = &mut self.auth {
            fix(a);
        }
    }

    /// Where the Raft state lives: log segments, hard state, snapshots, identity.
    pub fn raft_dir(&self) -> PathBuf {
        self.data_dir.join("raft")
    }

    /// Checks values serde cannot: ranges, uniqueness, and that this node is among its peers.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if self.id == 0 {
            return Err(bad(
                "id",
                "node ids start at 1 (0 means 'none' to Raft)".into(),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "must not be empty".into()));
        }
        if self.cluster_id.is_empty() || self.cluster_id.len() > 128 {
            return Err(bad("cluster_id", "must be 1 to 128 characters".into()));
        }
        if self.http_addr == self.raft_addr {
            return Err(bad(
                "raft_addr",
                format!(
                    "equals http_addr {}; they need distinct ports",
                    self.http_addr
                ),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            if p.id == 0 {
                return Err(bad(&format!("peers[{i}].id"), "node ids start at 1".into()));
            }
            if !ids.insert(p.id) {
                return Err(bad(
                    &format!("peers[{i}].id"),
                    format!("node id {} is listed twice", p.id),
                ));
            }
            if p.id == self.id && (p.raft_addr != self.raft_addr || p.http_addr != self.http_addr) {
                return Err(bad(
                    &format!("peers[{i}]"),
                    format!(
                        "this node's entry ({} / {}) disagrees with raft_addr {} / http_addr {}",
                        p.raft_addr, p.http_addr, self.raft_addr, self.http_addr
                    ),
                ));
            }
        }
        if self.bootstrap && !ids.contains(&self.id) {
            return Err(bad(
                "peers",
                format!(
                    "bootstrap is true but this node (id {}) is not among the peers",
                    self.id
                ),
            ));
        }
        let r = &self.raft;
        if r.tick_ms == 0 || r.tick_ms > 60_000 {
            return Err(bad("raft.tick_ms", "must be 1 to 60000".into()));
        }
        if r.heartbeat_tick == 0 {
            return Err(bad("raft.heartbeat_tick", "must be at least 1".into()));
        }
        if r.election_tick <= r.heartbeat_tick {
            return Err(bad(
                "raft.election_tick",
                format!(
                    "must be greater than heartbeat_tick ({}); 10x is usual",
                    r.heartbeat_tick
                ),
            ));
        }
        if r.max_msg_bytes < 64 * 1024 || r.max_msg_bytes > 1 << 30 {
            return Err(bad(
                "raft.max_msg_bytes",
                "must be between 64 KiB and 1 GiB".into(),
            ));
        }
        if r.max_size_per_msg == 0 || r.max_size_per_msg > r.max_msg_bytes / 2 {
            return Err(bad(
                "raft.max_size_per_msg",
                "must be positive and at most half of max_msg_bytes".into(),
            ));
        }
        if r.max_inflight_msgs == 0 {
            return Err(bad("raft.max_inflight_msgs", "must be at least 1".into()));
        }
        if self.snapshot.entries == 0 {
            return Err(bad("snapshot.entries", "must be at least 1".into()));
        }
        if self.snapshot.log_bytes == 0 {
            return Err(bad("snapshot.log_bytes", "must be at least 1".into()));
        }
        let seg = self.log.segment_bytes;
        if !(1 << 20..=1 << 32).contains(&seg) || !seg.is_multiple_of(4096) {
            return Err(bad(
                "log.segment_bytes",
                "must be a multiple of 4096 between 1 MiB and 4 GiB".into(),
            ));
        }
        let l = &self.limits;
        for (key, v) in [
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_statements", l.max_statements),
            ("limits.max_result_rows", l.max_result_rows),
            ("limits.max_statement_bytes", l.max_statement_bytes),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if l.request_timeout_ms == 0 {
            return Err(bad(
                "limits.request_timeout_ms",
                "must be at least 1".into(),
            ));
        }
        if l.max_request_memory_bytes < l.max_body_bytes {
            return Err(bad(
                "limits.max_request_memory_bytes",
                format!(
                    "must be at least limits.max_body_bytes ({}), or no body of the largest \
                     allowed size could ever be read",
                    l.max_body_bytes
                ),
            ));
        }
        if l.idle_timeout_ms != 0 && !(100..=86_400_000).contains(&l.idle_timeout_ms) {
            return Err(bad(
                "limits.idle_timeout_ms",
                "must be 0 (never) or between 100 (0.1 s) and 86400000 (a day)".into(),
            ));
        }
        if self.admin.token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(bad(
                "admin.token",
                "must be at least 16 characters (or left out)".into(),
            ));
        }
        for (key, p) in [
            ("tls.ca", Some(&self.tls.ca)),
            ("tls.cert", Some(&self.tls.cert)),
            ("tls.key", Some(&self.tls.key)),
            ("http_tls.cert", self.http_tls.as_ref().map(|h| &h.cert)),
            ("http_tls.key", self.http_tls.as_ref().map(|h| &h.key)),
            (
                "http_tls.client_ca",
                self.http_tls.as_ref().and_then(|h| h.client_ca.as_ref()),
            ),
            ("auth", self.auth.as_ref()),
        ] {
            if p.is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(bad(key, "must not be empty".into()));
            }
        }
        if self.cores > 1024 {
            return Err(bad("cores", "at most 1024".into()));
        }
        let spin = self.spin_before_park_us.unwrap_or(0);
        if spin > 100_000 {
            return Err(bad(
                "spin_before_park_us",
                "at most 100000 (0.1 s); spinning longer only burns the core".into(),
            ));
        }
        if spin > 0 && !self.pin_cores {
            return Err(bad(
                "spin_before_park_us",
                "needs pin_cores: true (glommio spins only on pinned shards)".into(),
            ));
        }
        Ok(())
    }

    /// How long a shard polls before sleeping (see `spin_before_park_us`).
    pub fn spin_before_park(&self) -> std::time::Duration {
        let us = match (self.spin_before_park_us, self.pin_cores) {
            (Some(us), _) => us,
            (None, true) => DEFAULT_SPIN_BEFORE_PARK_US,
            (None, false) => 0,
        };
        std::time::Duration::from_micros(us)
    }

    /// Number of shards this node runs.
    /// Each shard's share of `limits.max_request_memory_bytes`.
    pub fn request_memory_per_shard(&self) -> usize {
        (self.limits.max_request_memory_bytes / self.shard_count().max(1))
            .max(self.limits.max_body_bytes)
    }

    pub fn shard_count(&self) -> usize {
        if self.cores == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.cores
        }
    }

    /// Serialises back to YAML (used by `init-cluster`).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("config always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const GOOD: &str = r#"
id: 1
data_dir: data
http_addr: 127.0.0.1:4001
raft_addr: 127.0.0.1:4101
bootstrap: true
peers:
  - { id: 1, raft_addr: 127.0.0.1:4101, http_addr: 127.0.0.1:4001 }
  - { id: 2, raft_addr: 127.0.0.1:4102, http_addr: 127.0.0.1:4002 }
tls: { ca: certs/ca.pem, cert: certs/node1.pem, key: certs/node1.key }
raft: { tick_ms: 50 }
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let c = Config::parse(text, Path::new("/etc/reef/node.yaml"))?;
        c.validate(Path::new("/etc/reef/node.yaml"))?;
        Ok(c)
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.raft.tick_ms, 50);
        assert_eq!(c.raft.election_tick, 10);
        assert_eq!(c.snapshot.keep_entries, 10_000);
        assert_eq!(c.log.segment_bytes, 64 << 20);
        assert!(c.pin_cores);
        assert_eq!(c.spin_before_park_us, None);
        assert_eq!(c.spin_before_park(), Duration::from_micros(100));
        assert_eq!(c.limits.idle_timeout_ms, 60_000);
        assert_eq!(c.limits.min_free_disk_bytes, 256 << 20);
        let set = |extra: &str| {
            GOOD.replacen("bootstrap: true\n", &format!("bootstrap: true\n{extra}"), 1)
        };
        let unpinned = parse(&set("pin_cores: false\n")).unwrap();
        assert_eq!(unpinned.spin_before_park(), Duration::ZERO);
        let off = parse(&set("spin_before_park_us: 0\n")).unwrap();
        assert_eq!(off.spin_before_park(), Duration::ZERO);
        let longer = parse(&set("spin_before_park_us: 250\n")).unwrap();
        assert_eq!(longer.spin_before_park(), Duration::from_micros(250));
        assert_eq!(parse(&longer.to_yaml()).unwrap(), longer);
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let mut c = parse(GOOD).unwrap();
        c.resolve_paths(Path::new("/etc/reef"));
        assert_eq!(c.data_dir, PathBuf::from("/etc/reef/data"));
        assert_eq!(c.tls.ca, PathBuf::from("/etc/reef/certs/ca.pem"));
        assert_eq!(c.raft_dir(), PathBuf::from("/etc/reef/data/raft"));
    }

    #[test]
    fn round_trips_through_yaml() {
        let c = parse(GOOD).unwrap();
        assert_eq!(parse(&c.to_yaml()).unwrap(), c);
    }

    /// Each bad input must be refused with an error naming the key.
    #[test]
    fn bad_configs_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("raft: { tick_ms: 50 }", "raft: { tikc_ms: 50 }", "raft"),
            (
                "raft: { tick_ms: 50 }",
                "raft: { tick_ms: -1 }",
                "raft.tick_ms",
            ),
            (
                "raft: { tick_ms: 50 }",
                "raft: { tick_ms: 0 }",
                "raft.tick_ms",
            ),
            (
                "raft: { tick_ms: 50 }",
                "raft: { election_tick: 2 }",
                "raft.election_tick",
            ),
            ("id: 1\n", "id: 0\n", "id"),
            ("id: 1\n", "id: one\n", "id"),
            (
                "raft_addr: 127.0.0.1:4101\n",
                "raft_addr: localhost\n",
                "raft_addr",
            ),
            (
                "  - { id: 2, raft_addr: 127.0.0.1:4102",
                "  - { id: 1, raft_addr: 127.0.0.1:4102",
                "peers[1].id",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\ncolour: blue\n",
                "colour",
            ),
            (
                "raft: { tick_ms: 50 }",
                "log: { segment_bytes: 1000 }",
                "log.segment_bytes",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\npin_cores: false\nspin_before_park_us: 100\n",
                "spin_before_park_us",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\nspin_before_park_us: 5000000\n",
                "spin_before_park_us",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\nlimits: { idle_timeout_ms: 50 }\n",
                "limits.idle_timeout_ms",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\nlimits: { max_request_memory_bytes: 1000 }\n",
                "limits.max_request_memory_bytes",
            ),
            (
                "bootstrap: true\n",
                "bootstrap: true\nlimits: { idle_timeout_ms: 100000000 }\n",
                "limits.idle_timeout_ms",
            ),
        ];
        for (from, to, key) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "case {to:?} did not change the text");
            let err = parse(&text).expect_err(to).to_string();
            assert!(
                err.contains(key),
                "error for {to:?} should name {key}: {err}"
            );
            assert!(
                err.contains("/etc/reef/node.yaml"),
                "error names the file: {err}"
            );
        }
    }

    #[test]
    fn https_and_auth_keys_resolve_and_round_trip() {
        let text = format!(
            "{GOOD}http_tls: {{ cert: certs/http.pem, key: certs/http.key, client_ca: certs/clients.pem }}\nauth: users.json\n"
        );
        let mut c = parse(&text).unwrap();
        assert_eq!(parse(&c.to_yaml()).unwrap(), c);
        c.resolve_paths(Path::new("/etc/reef"));
        let h = c.http_tls.as_ref().unwrap();
        assert_eq!(h.cert, PathBuf::from("/etc/reef/certs/http.pem"));
        assert_eq!(
            h.client_ca.as_deref(),
            Some(Path::new("/etc/reef/certs/clients.pem"))
        );
        assert_eq!(c.auth.as_deref(), Some(Path::new("/etc/reef/users.json")));
        // Absent blocks stay absent in written configs.
        let plain = parse(GOOD).unwrap().to_yaml();
        assert!(
            !plain.contains("http_tls") && !plain.contains("auth"),
            "{plain}"
        );
        let e = parse(&format!("{GOOD}http_tls: {{ cert: a.pem }}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_tls") && e.contains("key"), "{e}");
        let e = parse(&format!("{GOOD}auth: ''\n")).unwrap_err().to_string();
        assert!(e.contains("`auth`"), "{e}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let text = GOOD.replace("raft_addr: 127.0.0.1:4101\n", "");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("raft_addr"), "{err}");
    }

    #[test]
    fn bootstrap_requires_self_in_peers() {
        let text = GOOD.replace("id: 1\n", "id: 3\n").replace(
            "raft_addr: 127.0.0.1:4101\nbootstrap",
            "raft_addr: 127.0.0.1:4103\nbootstrap",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("not among the peers"), "{err}");
    }
}
