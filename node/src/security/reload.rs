//! Reloading certificates on shard 0, on SIGHUP or on request, and the daily expiry check.
//!
//! The transport lives on shard 0 and is not `Send`, so the reload runs there: load and
//! check everything, then swap in the transport identity (new peer connections use it,
//! established ones continue), the HTTPS material and the users. A refused reload changes
//! nothing and says which file is at fault, in the log and to the caller.

use super::expiry::Expiry;
use super::material;
use super::Security;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Stop;
use futures::StreamExt;
use futures_channel::{mpsc, oneshot};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// A request to reload; `reply` gets the outcome (SIGHUP does not wait for one).
pub struct ReloadRequest {
    pub cause: &'static str,
    pub reply: Option<oneshot::Sender<Result<serde_json::Value, String>>>,
}

/// Forwards SIGHUP to the reload task. Installed before the node starts, so a SIGHUP during
/// start-up is queued instead of killing the process (its default action).
pub fn install_sighup(
    tx: mpsc::UnboundedSender<ReloadRequest>,
) -> std::io::Result<signal_hook::iterator::Handle> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("reef-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                tracing::info!("SIGHUP: reloading certificates");
                let req = ReloadRequest {
                    cause: "SIGHUP",
                    reply: None,
                };
                if tx.unbounded_send(req).is_err() {
                    break;
                }
            }
        })?;
    Ok(handle)
}

/// The shard-0 task: serves reload requests and checks expiry daily, until `stop`.
pub async fn run(
    config: Arc<Config>,
    security: Arc<Security>,
    net: reef_net::Transport,
    metrics: Arc<Metrics>,
    mut requests: mpsc::UnboundedReceiver<ReloadRequest>,
    mut expiry: Expiry,
    stop: Stop,
) {
    expiry.publish(&metrics);
    expiry.warn_if_soon();
    let serve = async {
        loop {
            let next = futures_lite::future::or(async { Some(requests.next().await) }, async {
                glommio::timer::sleep(DAY).await;
                None
            })
            .await;
            let req = match next {
                None => {
                    expiry.warn_if_soon();
                    continue;
                }
                Some(None) => break,
                Some(Some(req)) => req,
            };
            // Reading files and hashing plaintext passwords is blocking work: it runs on the
            // blocking pool, never inline on the shard that drives Raft.
            let cfg = config.clone();
            let loaded = glommio::executor()
                .spawn_blocking(move || material::load(&cfg))
                .await;
            let outcome = apply(loaded, &security, &net, &metrics, &mut expiry);
            match &outcome {
                Ok(v) => tracing::info!(cause = req.cause, result = %v, "certificates reloaded"),
                Err(e) => tracing::error!(
                    cause = req.cause,
                    "certificate reload refused, the certificates in use stay: {e}"
                ),
            }
            if let Some(reply) = req.reply {
                let _ = reply.send(outcome);
            }
        }
    };
    futures_lite::future::or(serve, async {
        let _ = stop.await;
    })
    .await;
}

/// Swaps in what was loaded, or counts the refusal.
fn apply(
    loaded: Result<material::Material, material::MaterialError>,
    security: &Security,
    net: &reef_net::Transport,
    metrics: &Metrics,
    expiry: &mut Expiry,
) -> Result<serde_json::Value, String> {
    let loaded = loaded.and_then(|m| {
        // Swap the transport first: it is the only step that can still fail, and nothing
        // else has changed if it does.
        net.reload_tls(&m.transport)
            .map_err(|e| {
                material::MaterialError::Transport(reef_net::TlsError::Config(e.to_string()))
            })
            .map(|()| m)
    });
    let m = match loaded {
        Ok(m) => m,
        Err(e) => {
            metrics.cert_reload_failures.fetch_add(1, Relaxed);
            return Err(e.to_string());
        }
    };
    let mut reloaded = vec!["transport"];
    if let (Some(slot), Some(http)) = (&security.http_tls, m.http) {
        slot.store(Arc::new(http));
        reloaded.push("http");
    }
    if let (Some(slot), Some((users, warnings))) = (&security.users, m.users) {
        for w in warnings {
            tracing::warn!("{w}");
        }
        slot.store(Arc::new(users));
        reloaded.push("users");
    }
    *expiry = m.expiry;
    expiry.publish(metrics);
    expiry.warn_if_soon();
    metrics.cert_reloads.fetch_add(1, Relaxed);
    Ok(serde_json::json!({ "reloaded": reloaded, "expiry": expiry.json() }))
}
