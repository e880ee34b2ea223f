//! `/admin/*`: membership, leadership, snapshots, certificate reloads — for operators.
//!
//! Admin calls go to the leader like writes do (forwarded, or redirected with `?redirect`),
//! except `/admin/reload-certs`, which reloads the node it is sent to. Who may call what is
//! decided in `guard` before the call gets here (users' permissions, or the `admin.token`);
//! a forwarded call carries the caller's identity, and the leader decides again. Leadership
//! transfer and "remove the leader" wait until the new leader is known, so the operator's
//! next call lands on it.

use super::api::{self, ApiRequest, ShardCtx};
use super::respond::{self, HttpResponse};
use crate::replica::admin::{AdminError, AdminOp};
use crate::replica::peers::JoinContext;
use crate::replica::Request;
use crate::status::Role;
use hyper::{Method, StatusCode};
use std::time::{Duration, Instant};

/// Refuses the call when admin endpoints are switched off on this node.
fn enabled(ctx: &ShardCtx) -> Result<(), Box<HttpResponse>> {
    if ctx.config.admin.enabled {
        return Ok(());
    }
    Err(Box::new(respond::error(
        StatusCode::FORBIDDEN,
        "admin endpoints are disabled on this node (admin.enabled: false)",
    )))
}

/// `POST /admin/reload-certs`: reloads this node's certificates, keys and users file.
async fn reload_certs(ctx: &ShardCtx) -> HttpResponse {
    match ctx.security.reload("POST /admin/reload-certs").await {
        Ok(v) => respond::json(StatusCode::OK, &v, false),
        Err(e) => respond::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("reload refused, the certificates in use stay: {e}"),
        ),
    }
}

fn parse_op(req: &ApiRequest) -> Result<AdminOp, Box<HttpResponse>> {
    let bad = |m: String| Box::new(respond::error(StatusCode::BAD_REQUEST, &m));
    let parts: Vec<&str> = req.path.trim_end_matches('/').split('/').collect();
    let id = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| bad(format!("{s:?} is not a node id")))
    };
    match (req.method.clone(), parts.as_slice()) {
        (Method::POST, ["", "admin", "members"]) => {
            let j: JoinContext = serde_json::from_slice(&req.body).map_err(|e| {
                bad(format!(
                    "body must be {{\"id\": N, \"raft_addr\": \"ip:port\", \"http_addr\": \"ip:port\"}}: {e}"
                ))
            })?;
            Ok(AdminOp::AddLearner(j))
        }
        (Method::POST, ["", "admin", "members", n, "promote"]) => {
            Ok(AdminOp::Promote { id: id(n)? })
        }
        (Method::DELETE, ["", "admin", "members", n]) => Ok(AdminOp::Remove { id: id(n)? }),
        (Method::POST, ["", "admin", "snapshot"]) => Ok(AdminOp::Snapshot),
        (Method::POST, ["", "admin", "compact"]) => Ok(AdminOp::Compact),
        (Method::POST, ["", "admin", "transfer-leader"]) => {
            let to = if req.body.iter().all(|b| b.is_ascii_whitespace()) {
                None
            } else {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Body {
                    to: Option<u64>,
                }
                serde_json::from_slice::<Body>(&req.body)
                    .map_err(|e| bad(format!("body must be {{\"to\": N}} or empty: {e}")))?
                    .to
            };
            Ok(AdminOp::TransferLeader { to })
        }
        _ => Err(Box::new(respond::error(
            StatusCode::NOT_FOUND,
            &format!("no such admin endpoint: {} {}", req.method, req.path),
        ))),
    }
}

/// Waits until the published status shows `want` (or any leader, if 0) leading.
async fn wait_for_leader(ctx: &ShardCtx, want: u64, within: Duration) -> Option<u64> {
    let deadline = Instant::now() + within;
    loop {
        let s = &ctx.board.load().status;
        if s.leader_id != 0 && (want == 0 || s.leader_id == want) {
            return Some(s.leader_id);
        }
        if Instant::now() > deadline {
            return None;
        }
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

fn election_time(ctx: &ShardCtx) -> Duration {
    let r = &ctx.config.raft;
    Duration::from_millis(r.tick_ms * r.election_tick as u64 * 3)
}

pub async fn handle(ctx: &ShardCtx, req: ApiRequest) -> HttpResponse {
    if let Err(r) = enabled(ctx) {
        return *r;
    }
    if req.method == Method::POST && req.path.trim_end_matches('/') == "/admin/reload-certs" {
        return reload_certs(ctx).await;
    }
    let op = match parse_op(&req) {
        Ok(op) => op,
        Err(r) => return *r,
    };
    let flags = api::Flags::parse(&req.query);
    // Snapshots and compaction are this node's own business; everything else is the leader's.
    let local = matches!(op, AdminOp::Snapshot | AdminOp::Compact);
    if !local && !api::is_leader(ctx) {
        return api::forward(ctx, req, &flags).await;
    }
    let transfer = matches!(op, AdminOp::TransferLeader { .. });
    let answer = match ctx.ask(|reply| Request::Admin { op, reply }).await {
        Ok(a) => a,
        Err(e) => {
            return respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("admin request: {e}"),
            )
        }
    };
    match answer {
        Ok(v) if transfer => {
            let to = v["transferring_to"].as_u64().unwrap_or(0);
            match wait_for_leader(ctx, to, election_time(ctx)).await {
                Some(l) => respond::json(
                    StatusCode::OK,
                    &serde_json::json!({ "leader_id": l }),
                    false,
                ),
                None => respond::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("leadership did not move to node {to} in time; check /status"),
                ),
            }
        }
        Ok(v) => respond::json(StatusCode::OK, &v, false),
        Err(AdminError::NotLeader { .. }) if !req.forwarded => api::forward(ctx, req, &flags).await,
        Err(AdminError::TransferFirst { to }) => {
            // The leader is removing itself: once `to` leads, the removal is asked of it.
            if wait_for_leader(ctx, to, election_time(ctx)).await.is_none()
                || ctx.board.load().status.role == Role::Leader
            {
                return respond::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not hand leadership over before removing this node; retry",
                );
            }
            api::forward(ctx, req, &flags).await
        }
        Err(e @ AdminError::BadRequest(_)) => {
            respond::error(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(e @ AdminError::Conflict(_)) => respond::error(StatusCode::CONFLICT, &e.to_string()),
        Err(e @ AdminError::NotFound(_)) => respond::error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(AdminError::Failed(e)) => api::propose_error(ctx, e),
        Err(e) => respond::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}
