//! The rqlite-compatible API: routing and handlers, the same on every shard.
//!
//! A handler sees an [`ApiRequest`] (method, path, query, content type, body) rather than a
//! hyper request, because the same handlers serve requests a follower forwarded over QUIC:
//! the leader answers a forwarded request exactly as if the client had come to it, and the
//! follower relays the answer verbatim. Writes and linearizable reads go to shard 0 as
//! messages; every other read runs here, on the shard that accepted the connection,
//! against the latest published engine view.

use super::body::{self, BodyLimits, RequestStatement};
use super::guard;
use super::respond::{self, HttpResponse};
use crate::auth::verify::Verifier;
use crate::auth::{Identity, Perm};
use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::replica::clocks::Clocks;
use crate::replica::wire::{ForwardedRequest, ForwardedResponse};
use crate::replica::{Board, ProposeError, Request};
use crate::security::Security;
use crate::sql;
use crate::status::Role;
use bytes::Bytes;
use futures::SinkExt;
use futures_channel::{mpsc, oneshot};
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use reef_engine::{PrepareCache, QueryRunner};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every handler on one shard needs.
pub struct ShardCtx {
    pub shard: usize,
    pub config: Arc<Config>,
    pub board: Arc<Board>,
    pub to_driver: mpsc::Sender<Request>,
    pub metrics: Arc<Metrics>,
    /// Lease and staleness clocks the driver keeps (shared by every shard).
    pub clocks: Arc<Clocks>,
    /// This shard's query runner (it caches plans). Borrowed only for the synchronous
    /// duration of one read, never across an await.
    pub reader: RefCell<QueryRunner>,
    /// This shard's memory of statement texts it parsed (kind, and whether a write needs its
    /// clock or random calls fixed). Borrowed only synchronously, never across an await.
    pub prepared: RefCell<PrepareCache>,
    /// Certificates and users, shared by every shard; reloadable.
    pub security: Arc<Security>,
    /// This shard's password checker and its memory of good credentials.
    pub verifier: Verifier,
    /// Bytes of request bodies this shard may still take in (its share of
    /// `limits.max_request_memory_bytes`).
    body_budget: Cell<usize>,
}

/// Bytes of a shard's request-body budget one request holds until it is answered.
struct BodyReservation<'a> {
    budget: &'a Cell<usize>,
    bytes: usize,
}

impl Drop for BodyReservation<'_> {
    fn drop(&mut self) {
        self.budget.set(self.budget.get() + self.bytes);
    }
}

impl ShardCtx {
    pub fn new(
        shard: usize,
        config: Arc<Config>,
        board: Arc<Board>,
        to_driver: mpsc::Sender<Request>,
        metrics: Arc<Metrics>,
        clocks: Arc<Clocks>,
        security: Arc<Security>,
    ) -> ShardCtx {
        let reader = RefCell::new(QueryRunner::new(sql::read_config(&config)));
        ShardCtx {
            shard,
            board,
            to_driver,
            metrics,
            clocks,
            reader,
            prepared: RefCell::new(PrepareCache::new()),
            security,
            verifier: Verifier::new(),
            body_budget: Cell::new(config.request_memory_per_shard()),
            config,
        }
    }

    /// The scheme clients reach this node's API with.
    pub fn scheme(&self) -> &'static str {
        if self.config.http_tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

impl ShardCtx {
    fn limits(&self) -> BodyLimits {
        BodyLimits {
            max_statements: self.config.limits.max_statements,
            max_statement_bytes: self.config.limits.max_statement_bytes,
        }
    }

    /// Takes `bytes` of the shard's request-body budget, or None when they are not there.
    fn reserve_body(&self, bytes: usize) -> Option<BodyReservation<'_>> {
        let left = self.body_budget.get();
        if bytes > left {
            return None;
        }
        self.body_budget.set(left - bytes);
        Some(BodyReservation {
            budget: &self.body_budget,
            bytes,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.limits.request_timeout_ms)
    }

    /// Sends a request to shard 0 and waits for its answer, bounded by the request timeout.
    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        let mut to = self.to_driver.clone();
        if to.send(make(tx)).await.is_err() {
            return Err("the node is shutting down");
        }
        let timeout = glommio::timer::sleep(self.timeout());
        match futures_lite::future::or(async { Some(rx.await) }, async {
            timeout.await;
            None
        })
        .await
        {
            Some(Ok(v)) => Ok(v),
            Some(Err(_)) => Err("the node is shutting down"),
            None => Err("timed out"),
        }
    }
}

/// A request as the handlers see it, whether it came over HTTP or was forwarded.
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Bytes,
    /// `Idempotency-Key`: a retried write with the same key applies once.
    pub idempotency_key: Option<String>,
    /// Who is asking: checked from the credentials where the request entered the cluster.
    pub identity: Identity,
    /// True when a follower forwarded it: never forward it again.
    pub forwarded: bool,
}

/// rqlite's query-string flags.
#[derive(Default)]
pub(super) struct Flags {
    transaction: bool,
    timings: bool,
    pretty: bool,
    redirect: bool,
    associative: bool,
    digest: bool,
    level: Option<String>,
    freshness: Option<String>,
    freshness_strict: bool,
    q: Option<String>,
}

impl Flags {
    pub(super) fn parse(query: &str) -> Flags {
        let mut f = Flags::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "transaction" => f.transaction = v != "false",
                "timings" => f.timings = v != "false",
                "pretty" => f.pretty = v != "false",
                "redirect" => f.redirect = v != "false",
                "associative" => f.associative = v != "false",
                "digest" => f.digest = v != "false",
                "level" => f.level = Some(v.into_owned()),
                "freshness" => f.freshness = Some(v.into_owned()),
                "freshness_strict" => f.freshness_strict = v != "false",
                "q" => f.q = Some(v.into_owned()),
                _ => {}
            }
        }
        f
    }
}

/// Serves one HTTP request and records it in the metrics.
pub async fn serve_http(
    ctx: &ShardCtx,
    req: hyper::Request<hyper::body::Incoming>,
) -> HttpResponse {
    let started = Instant::now();
    let endpoint = metrics::endpoint_index(req.uri().path());
    let resp = serve_http_inner(ctx, req).await;
    ctx.metrics
        .record_http(endpoint, resp.status().as_u16(), started.elapsed());
    resp
}

/// Checks the credentials, reads the body within the size limit, then dispatches.
async fn serve_http_inner(
    ctx: &ShardCtx,
    req: hyper::Request<hyper::body::Incoming>,
) -> HttpResponse {
    let (parts, incoming) = req.into_parts();
    // Before the body is read: an unauthenticated client does not get to make us buffer it.
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = match guard::identify(ctx, authorization).await {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let limit = ctx.config.limits.max_body_bytes;
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    // Held until the answer is ready. A body of unknown length may grow to the limit.
    let expected = hyper::body::Body::size_hint(&incoming)
        .upper()
        .unwrap_or(limit as u64)
        .min(limit as u64) as usize;
    let Some(_held) = ctx.reserve_body(expected) else {
        return respond::error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many request bodies in progress on this node: this {expected}-byte body \
                 would pass limits.max_request_memory_bytes ({}); retry shortly",
                ctx.config.limits.max_request_memory_bytes
            ),
        );
    };
    let read = async {
        Some(
            http_body_util::Limited::new(incoming, limit)
                .collect()
                .await,
        )
    };
    let idle_ms = ctx.config.limits.idle_timeout_ms;
    let read = if idle_ms == 0 {
        read.await
    } else {
        // A body that trickles in holds the request open; it gets as long as an idle
        // connection does.
        let late = async {
            glommio::timer::sleep(Duration::from_millis(idle_ms)).await;
            None
        };
        futures_lite::future::or(read, late).await
    };
    let Some(read) = read else {
        return respond::error(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "the request body did not arrive within {idle_ms} ms (limits.idle_timeout_ms)"
            ),
        );
    };
    let body = match read {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(limit),
        Err(e) => {
            return respond::error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"))
        }
    };
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let idempotency_key = header("idempotency-key");
    let req = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        content_type,
        body,
        idempotency_key,
        identity,
        forwarded: false,
    };
    handle(ctx, req).await
}

fn too_large(limit: usize) -> HttpResponse {
    respond::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body exceeds the limit of {limit} bytes (limits.max_body_bytes)"),
    )
}

/// Serves a request a follower forwarded.
pub async fn serve_forwarded(ctx: &ShardCtx, f: ForwardedRequest) -> ForwardedResponse {
    let (path, query) = match f.path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (f.path_and_query.clone(), String::new()),
    };
    let method = Method::from_bytes(f.method.as_bytes()).unwrap_or(Method::GET);
    let resp = handle(
        ctx,
        ApiRequest {
            method,
            path,
            query,
            content_type: f.content_type,
            body: f.body.into(),
            idempotency_key: (!f.idempotency_key.is_empty()).then_some(f.idempotency_key),
            identity: Identity::from_wire(&f.user),
            forwarded: true,
        },
    )
    .await;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    ForwardedResponse { status, body }
}

pub async fn handle(ctx: &ShardCtx, req: ApiRequest) -> HttpResponse {
    let flags = Flags::parse(&req.query);
    if let Some(need) = guard::required(&req.method, &req.path) {
        if let Err(r) = guard::authorize(ctx, &req.identity, need) {
            return *r;
        }
    }
    match (req.method.clone(), req.path.as_str()) {
        (Method::GET, "/livez") => respond::json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
            flags.pretty,
        ),
        (Method::GET, "/readyz") => {
            let published = ctx.board.load();
            match published.status.not_ready_reason() {
                None => respond::json(
                    StatusCode::OK,
                    &serde_json::json!({"status": "ready", "leader_id": published.status.leader_id}),
                    flags.pretty,
                ),
                Some(reason) => respond::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"status": "not ready", "error": reason}),
                    flags.pretty,
                ),
            }
        }
        (Method::GET, "/status") => {
            let published = ctx.board.load();
            let mut v = serde_json::to_value(&published.status).unwrap_or_default();
            v["tls"] = ctx.security.status_json();
            let gauges = &ctx.metrics.replica;
            v["disk"] = serde_json::json!({
                "path": ctx.config.raft_dir(),
                "free_bytes": gauges.disk_free_bytes.load(std::sync::atomic::Ordering::Relaxed),
                "total_bytes": gauges.disk_total_bytes.load(std::sync::atomic::Ordering::Relaxed),
                "min_free_bytes": ctx.config.limits.min_free_disk_bytes,
                "low": gauges.disk_low.load(std::sync::atomic::Ordering::Relaxed) == 1,
            });
            v["cert_expiry"] = certs_expiry_json(ctx);
            if flags.digest {
                // Hashes the whole state: for tests and operators comparing replicas, not for
                // monitoring loops.
                v["state_digest"] = serde_json::json!(published.view.state_digest().to_string());
                v["digest_applied_index"] = serde_json::json!(published.view.applied_index());
            }
            respond::json(StatusCode::OK, &v, flags.pretty)
        }
        (Method::GET, "/metrics") => {
            respond::text(StatusCode::OK, metrics::CONTENT_TYPE, ctx.metrics.render())
        }
        (Method::GET, "/nodes") => {
            let published = ctx.board.load();
            respond::json(StatusCode::OK, &published.status.peers, flags.pretty)
        }
        (Method::POST, "/db/execute") => execute(ctx, req, flags).await,
        (Method::GET | Method::POST, "/db/query") => query(ctx, req, flags).await,
        (Method::POST, "/db/request") => request(ctx, req, flags).await,
        (_, "/db/execute" | "/db/request") => {
            respond::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
        (_, "/db/query") => respond::error(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST"),
        (_, path) if path.starts_with("/admin/") => super::admin::handle(ctx, req).await,
        (_, path) => respond::error(StatusCode::NOT_FOUND, &format!("no such endpoint: {path}")),
    }
}

/// When each certificate in use expires, from the gauges the reloader keeps.
fn certs_expiry_json(ctx: &ShardCtx) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (label, v) in metrics::CERTS.iter().zip(&ctx.metrics.cert_expiry) {
        let v = v.load(std::sync::atomic::Ordering::Relaxed);
        if v != 0 {
            m.insert(label.to_string(), serde_json::json!(v));
        }
    }
    serde_json::Value::Object(m)
}

/// Decodes the statements of a request: `q=` for GET, else the body by content type.
fn statements(
    ctx: &ShardCtx,
    req: &ApiRequest,
    flags: &Flags,
) -> Result<Vec<RequestStatement>, Box<HttpResponse>> {
    let limits = ctx.limits();
    let decoded = if req.method == Method::GET {
        match &flags.q {
            Some(q) => body::single(q.clone(), limits),
            None => {
                return Err(Box::new(respond::error(
                    StatusCode::BAD_REQUEST,
                    "GET /db/query needs a q= parameter",
                )))
            }
        }
    } else if req.content_type.starts_with("text/plain") {
        body::decode_text(&req.body, limits)
    } else if req.content_type.is_empty()
        || req.content_type.starts_with("application/json")
        // curl's default for -d; rqlite accepts it too, and the body is JSON all the same.
        || req.content_type.starts_with("application/x-www-form-urlencoded")
    {
        body::decode_json(&req.body, limits)
    } else {
        return Err(Box::new(respond::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "content type {:?} is not supported; send application/json or text/plain",
                req.content_type
            ),
        )));
    };
    decoded.map_err(|e| {
        let status = match e {
            body::BodyError::TooManyStatements { .. }
            | body::BodyError::StatementTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Box::new(respond::error(status, &e.to_string()))
    })
}

pub(super) fn is_leader(ctx: &ShardCtx) -> bool {
    ctx.board.load().status.role == Role::Leader
}

/// Hands the request to the leader (or redirects the client there).
pub(super) async fn forward(ctx: &ShardCtx, req: ApiRequest, flags: &Flags) -> HttpResponse {
    let status = ctx.board.load().status.clone();
    if status.leader_id == 0 || status.leader_id == status.id {
        return respond::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no leader is known; the cluster may be electing one, retry shortly",
        );
    }
    if req.forwarded {
        return respond::error_with_leader(
            StatusCode::SERVICE_UNAVAILABLE,
            "not the leader (forwarded requests are not forwarded again)",
            status.leader_id,
            status.leader_http_addr.as_deref(),
            ctx.scheme(),
        );
    }
    if flags.redirect {
        return match &status.leader_http_addr {
            Some(http) => {
                let pq = if req.query.is_empty() {
                    req.path.clone()
                } else {
                    format!("{}?{}", req.path, req.query)
                };
                respond::redirect(ctx.scheme(), http, &pq)
            }
            None => respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the leader's address is unknown",
            ),
        };
    }
    let fwd = ForwardedRequest {
        method: req.method.to_string(),
        path_and_query: if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        },
        content_type: req.content_type.clone(),
        user: req.identity.to_wire(),
        idempotency_key: req.idempotency_key.clone().unwrap_or_default(),
        body: req.body.to_vec(),
    };
    let to = status.leader_id;
    match ctx
        .ask(|reply| Request::Forward {
            to,
            req: fwd,
            reply,
        })
        .await
    {
        Ok(Ok(resp)) => {
            let code = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let relayed = respond::text(code, "application/json", resp.body);
            if code == StatusCode::UNAUTHORIZED {
                // The leader refused the caller; the challenge header did not travel with it.
                guard::challenge(ctx, relayed)
            } else {
                relayed
            }
        }
        Ok(Err(e)) => respond::error_with_leader(
            StatusCode::SERVICE_UNAVAILABLE,
            &e,
            to,
            status.leader_http_addr.as_deref(),
            ctx.scheme(),
        ),
        Err(e) => respond::error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("forwarding to the leader: {e}"),
        ),
    }
}

pub(super) fn propose_error(ctx: &ShardCtx, e: ProposeError) -> HttpResponse {
    let status = ctx.board.load().status.clone();
    match e {
        ProposeError::NotLeader { leader_id } => respond::error_with_leader(
            StatusCode::SERVICE_UNAVAILABLE,
            "not the leader",
            leader_id,
            status.leader_http_addr.as_deref(),
            ctx.scheme(),
        ),
        ProposeError::TooLarge { .. } => {
            respond::error(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
        }
        ProposeError::Internal(_) => {
            respond::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
        ProposeError::LowDisk { .. } => {
            respond::error(StatusCode::INSUFFICIENT_STORAGE, &e.to_string())
        }
        _ => respond::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

fn finish(results: serde_json::Value, started: Instant, flags: &Flags) -> HttpResponse {
    let mut out = serde_json::json!({ "results": results });
    if flags.timings {
        out["time"] = serde_json::json!(started.elapsed().as_secs_f64());
    }
    respond::json(StatusCode::OK, &out, flags.pretty)
}

/// Proposes a batch through the log and answers with its results.
async fn through_log(
    ctx: &ShardCtx,
    req: ApiRequest,
    flags: &Flags,
    stmts: Vec<RequestStatement>,
    started: Instant,
) -> HttpResponse {
    let idempotency = req.idempotency_key.as_deref().map(sql::idempotency_ids);
    let prepared = sql::prepare_batch(
        &stmts,
        flags.transaction,
        idempotency,
        &mut ctx.prepared.borrow_mut(),
    );
    let (batch, read_only) = match prepared {
        Ok(p) => {
            let read_only = p.read_only();
            (p.batch, read_only)
        }
        Err(e) => return respond::error(StatusCode::BAD_REQUEST, &e),
    };
    let propose = |reply| Request::Propose {
        batch,
        read_only,
        reply,
    };
    match ctx.ask(propose).await {
        Ok(Ok(result)) => finish(sql::batch_json(&result, flags.associative), started, flags),
        Ok(Err(ProposeError::NotLeader { .. })) if !req.forwarded => forward(ctx, req, flags).await,
        Ok(Err(e)) => propose_error(ctx, e),
        Err("timed out") => respond::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timed out waiting for the write to commit; it may still apply",
        ),
        Err(e) => respond::error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn execute(ctx: &ShardCtx, req: ApiRequest, flags: Flags) -> HttpResponse {
    let started = Instant::now();
    let stmts = match statements(ctx, &req, &flags) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if !is_leader(ctx) {
        return forward(ctx, req, &flags).await;
    }
    through_log(ctx, req, &flags, stmts, started).await
}

/// Parses a duration the way rqlite's users write it: `500ms`, `1s`, `2m`, `1.5s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 1s or 2m"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Read consistency levels, as rqlite names them.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Level {
    None,
    Weak,
    Linearizable,
    Strong,
}

fn level(flags: &Flags) -> Result<Level, Box<HttpResponse>> {
    match flags.level.as_deref() {
        None | Some("linearizable") => Ok(Level::Linearizable),
        Some("weak") => Ok(Level::Weak),
        Some("none") => Ok(Level::None),
        Some("strong") => Ok(Level::Strong),
        Some(other) => Err(Box::new(respond::error(
            StatusCode::BAD_REQUEST,
            &format!("unknown level {other:?}; use none, weak, linearizable or strong"),
        ))),
    }
}

async fn query(ctx: &ShardCtx, req: ApiRequest, flags: Flags) -> HttpResponse {
    let started = Instant::now();
    let stmts = match statements(ctx, &req, &flags) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Err(e) = sql::check_read_only(&stmts, &mut ctx.prepared.borrow_mut()) {
        return respond::error(StatusCode::BAD_REQUEST, &e);
    }
    read(ctx, req, flags, stmts, started).await
}

async fn read(
    ctx: &ShardCtx,
    req: ApiRequest,
    flags: Flags,
    stmts: Vec<RequestStatement>,
    started: Instant,
) -> HttpResponse {
    let level = match level(&flags) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    ctx.metrics.record_read(level as usize);
    let view = match level {
        Level::None => {
            if let Some(f) = &flags.freshness {
                let bound = match parse_duration(f) {
                    Ok(d) => d,
                    Err(e) => {
                        return respond::error(StatusCode::BAD_REQUEST, &format!("freshness: {e}"))
                    }
                };
                if let Some(why) = ctx.clocks.freshness_refusal(bound, flags.freshness_strict) {
                    return respond::error(StatusCode::SERVICE_UNAVAILABLE, &why);
                }
            }
            ctx.board.load().view.clone()
        }
        Level::Weak if is_leader(ctx) && ctx.clocks.lease_valid() => ctx.board.load().view.clone(),
        Level::Weak | Level::Linearizable => {
            if !is_leader(ctx) {
                return forward(ctx, req, &flags).await;
            }
            match ctx.ask(|reply| Request::ReadIndex { reply }).await {
                Ok(Ok(view)) => view,
                Ok(Err(ProposeError::NotLeader { .. })) if !req.forwarded => {
                    return forward(ctx, req, &flags).await
                }
                Ok(Err(e)) => return propose_error(ctx, e),
                Err(e) => {
                    return respond::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("linearizable read: {e}"),
                    )
                }
            }
        }
        Level::Strong => {
            if !is_leader(ctx) {
                return forward(ctx, req, &flags).await;
            }
            return through_log(ctx, req, &flags, stmts, started).await;
        }
    };
    let results = ctx
        .reader
        .borrow_mut()
        .query(&view, &sql::statements(&stmts));
    finish(
        sql::batch_json(&results, flags.associative),
        started,
        &flags,
    )
}

async fn request(ctx: &ShardCtx, req: ApiRequest, flags: Flags) -> HttpResponse {
    let started = Instant::now();
    let stmts = match statements(ctx, &req, &flags) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    // Reads need `query`, writes `execute`; a mixed request needs both.
    let (reads, writes) = {
        let mut cache = ctx.prepared.borrow_mut();
        let reads = stmts
            .iter()
            .any(|s| sql::check_read_only(std::slice::from_ref(s), &mut cache).is_ok());
        (reads, sql::check_read_only(&stmts, &mut cache).is_err())
    };
    for (needed, perm) in [(reads || !writes, Perm::Query), (writes, Perm::Execute)] {
        if needed {
            if let Err(r) = guard::authorize(ctx, &req.identity, &[perm]) {
                return *r;
            }
        }
    }
    if !writes {
        return read(ctx, req, flags, stmts, started).await;
    }
    if !is_leader(ctx) {
        return forward(ctx, req, &flags).await;
    }
    through_log(ctx, req, &flags, stmts, started).await
}
