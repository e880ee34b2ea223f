//! Certificate expiry: Prometheus gauges and the warning an operator needs in time.

use crate::http::tls::unix_seconds;
use crate::metrics::{Metrics, CERTS};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

/// Warn when a certificate expires within this.
pub const WARN_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// When each certificate in use stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub transport: SystemTime,
    /// The earliest of the cluster CA certificates.
    pub ca: SystemTime,
    pub http: Option<SystemTime>,
    pub client_ca: Option<SystemTime>,
}

impl Expiry {
    /// `(label, time)` in the order of [`CERTS`], for the certificates in use.
    pub fn items(&self) -> Vec<(&'static str, SystemTime)> {
        [
            Some(self.transport),
            self.http,
            Some(self.ca),
            self.client_ca,
        ]
        .into_iter()
        .zip(CERTS)
        .filter_map(|(t, label)| t.map(|t| (*label, t)))
        .collect()
    }

    /// Sets the `reefdb_cert_expiry_timestamp_seconds` gauges.
    pub fn publish(&self, metrics: &Metrics) {
        let all = [
            Some(self.transport),
            self.http,
            Some(self.ca),
            self.client_ca,
        ];
        for (slot, t) in metrics.cert_expiry.iter().zip(all) {
            slot.store(t.map(unix_seconds).unwrap_or(0), Relaxed);
        }
    }

    /// The certificates that expire within [`WARN_BEFORE`] of `now`, with the time left.
    pub fn expiring(&self, now: SystemTime) -> Vec<(&'static str, Duration)> {
        self.items()
            .into_iter()
            .filter_map(|(label, t)| {
                let left = t.duration_since(now).unwrap_or(Duration::ZERO);
                (left < WARN_BEFORE).then_some((label, left))
            })
            .collect()
    }

    /// Logs a warning per certificate expiring soon.
    pub fn warn_if_soon(&self) {
        for (cert, left) in self.expiring(SystemTime::now()) {
            tracing::warn!(
                cert,
                days_left = left.as_secs() / 86_400,
                "certificate expires within 30 days: issue a new one (`reefdb certs issue`) and reload (SIGHUP)"
            );
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (label, t) in self.items() {
            m.insert(label.into(), serde_json::json!(unix_seconds(t)));
        }
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiring_soon_is_flagged_and_published() {
        let now = SystemTime::now();
        let e = Expiry {
            transport: now + Duration::from_secs(5 * 86_400),
            ca: now + Duration::from_secs(3650 * 86_400),
            http: Some(now + Duration::from_secs(31 * 86_400)),
            client_ca: None,
        };
        let soon = e.expiring(now);
        assert_eq!(soon.len(), 1);
        assert_eq!(soon[0].0, "transport");
        let m = Metrics::new();
        e.publish(&m);
        let text = m.render();
        assert!(
            text.contains("reefdb_cert_expiry_timestamp_seconds{cert=\"transport\"}"),
            "{text}"
        );
        assert!(!text.contains("cert=\"client_ca\""), "{text}");
        assert_eq!(e.json().as_object().unwrap().len(), 3);
    }
}
