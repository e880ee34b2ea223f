//! What can change while a node runs without a restart: certificates, keys, the users file.
//!
//! [`Security`] is shared by every shard: the HTTPS material and the users behind `ArcSwap`s
//! (a reload is a pointer swap; readers never lock), plus the way to ask for a reload. Reloads
//! run on shard 0 ([`reload`]), which owns the peer transport: SIGHUP and
//! `POST /admin/reload-certs` both end up there. Everything is loaded and checked before
//! anything is swapped, so a bad file leaves the node exactly as it was.

pub mod expiry;
pub mod material;
pub mod reload;

use crate::auth::Users;
use crate::http::tls::HttpTls;
use arc_swap::ArcSwap;
use futures_channel::{mpsc, oneshot};
use material::Material;
use reload::ReloadRequest;
use std::sync::Arc;

/// The node's live security material, shared by every shard.
pub struct Security {
    /// Present exactly when `http_tls` is configured.
    pub http_tls: Option<Arc<ArcSwap<HttpTls>>>,
    /// Present exactly when `auth` is configured.
    pub users: Option<ArcSwap<Users>>,
    /// Whether `admin.token` is configured (it is not reloadable: it lives in the config).
    pub admin_token: Option<String>,
    reloads: mpsc::UnboundedSender<ReloadRequest>,
}

impl Security {
    /// Takes what start-up loaded. Returns the receiving end of reload requests, for shard 0.
    pub fn new(
        material: &mut Material,
        admin_token: Option<String>,
    ) -> (Arc<Security>, mpsc::UnboundedReceiver<ReloadRequest>) {
        let (tx, rx) = mpsc::unbounded();
        let users = material.users.take().map(|(users, warnings)| {
            for w in warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(users = users.len(), file = %users.source().display(), "authentication on");
            ArcSwap::from_pointee(users)
        });
        let security = Security {
            http_tls: material
                .http
                .take()
                .map(|h| Arc::new(ArcSwap::from_pointee(h))),
            users,
            admin_token,
            reloads: tx,
        };
        (Arc::new(security), rx)
    }

    /// A sender for reload requests (the SIGHUP thread holds one).
    pub fn reload_sender(&self) -> mpsc::UnboundedSender<ReloadRequest> {
        self.reloads.clone()
    }

    /// Asks shard 0 to reload and waits for the outcome.
    pub async fn reload(&self, cause: &'static str) -> Result<serde_json::Value, String> {
        let (tx, rx) = oneshot::channel();
        self.reloads
            .unbounded_send(ReloadRequest {
                cause,
                reply: Some(tx),
            })
            .map_err(|_| "the node is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the node is shutting down".to_string())?
    }

    /// `/status`'s account of transport and API security.
    pub fn status_json(&self) -> serde_json::Value {
        let http = match &self.http_tls {
            None => "off",
            Some(h) if h.load().client_auth() => "mtls",
            Some(_) => "tls",
        };
        serde_json::json!({
            "peers": "mtls",
            "http": http,
            "auth": self.users.is_some(),
        })
    }
}
