//! The HTTP side of auth: credentials to an identity where a request enters the cluster, the
//! permission each endpoint needs, and the 401/403/429 answers.
//!
//! A forwarded request skips [`identify`]: the follower did it, and its identity arrives with
//! the request over the peer transport. [`authorize`] runs on both nodes.

use super::api::ShardCtx;
use super::respond::{self, HttpResponse};
use crate::auth::verify::{self, Outcome};
use crate::auth::{self, Denial, Identity, Perm};
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, StatusCode};
use std::sync::atomic::Ordering::Relaxed;

/// The permission (any one of) an endpoint needs; `None` for open endpoints and for
/// `/db/request`, whose handler decides per statement.
pub fn required(method: &Method, path: &str) -> Option<&'static [Perm]> {
    use Perm::*;
    let path = path.trim_end_matches('/');
    let need: &'static [Perm] = match path {
        "/db/execute" => &[Execute],
        "/db/query" => &[Query],
        "/status" | "/nodes" | "/metrics" => &[Status],
        "/readyz" => &[Ready],
        // Adding a learner is rqlite's read-only join.
        "/admin/members" if *method == Method::POST => &[Join, JoinReadOnly],
        p if p.starts_with("/admin/members/") && p.ends_with("/promote") => &[Join],
        p if p.starts_with("/admin/members/") && *method == Method::DELETE => &[Remove],
        "/admin/snapshot" | "/admin/compact" => &[Snapshot],
        "/admin/transfer-leader" => &[Leader],
        "/admin/backup" => &[Backup],
        // `/admin/reload-certs` and anything not listed: only `all` (or the admin token).
        p if p.starts_with("/admin/") => &[All],
        _ => return None,
    };
    Some(need)
}

/// Turns a request's `Authorization` header into an identity, or the answer refusing it.
pub async fn identify(
    ctx: &ShardCtx,
    authorization: Option<&str>,
) -> Result<Identity, Box<HttpResponse>> {
    let Some(header) = authorization else {
        return Ok(Identity::Anonymous);
    };
    let security = &ctx.security;
    if let Some(token) = verify::parse_bearer(header) {
        return match &security.admin_token {
            Some(t) if verify::same_secret(token, t) => Ok(Identity::AdminToken),
            Some(_) => Err(Box::new(denied(
                ctx,
                Denial::Unauthenticated("wrong admin token".into()),
            ))),
            // Without a configured token the header means nothing here.
            None => Ok(Identity::Anonymous),
        };
    }
    let Some(users) = &security.users else {
        return Ok(Identity::Anonymous);
    };
    match verify::parse_basic(header) {
        None => Ok(Identity::Anonymous),
        Some(Err(m)) => Err(Box::new(denied(ctx, Denial::Unauthenticated(m.into())))),
        Some(Ok((user, password))) => {
            let users = users.load_full();
            match ctx.verifier.check(&users, &user, &password).await {
                Outcome::Valid => Ok(Identity::User(user)),
                Outcome::Invalid => Err(Box::new(denied(
                    ctx,
                    Denial::Unauthenticated("wrong user name or password".into()),
                ))),
                Outcome::Busy => Err(Box::new(respond::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many password checks in progress on this node; retry shortly",
                ))),
            }
        }
    }
}

/// Refuses the request unless `who` holds one of `need`.
pub fn authorize(ctx: &ShardCtx, who: &Identity, need: &[Perm]) -> Result<(), Box<HttpResponse>> {
    let users = ctx.security.users.as_ref().map(|u| u.load());
    auth::check(
        users.as_deref().map(|u| &**u),
        ctx.security.admin_token.is_some(),
        who,
        need,
    )
    .map_err(|d| Box::new(denied(ctx, d)))
}

/// The JSON answer to a denial, counted in the metrics.
pub fn denied(ctx: &ShardCtx, d: Denial) -> HttpResponse {
    match d {
        Denial::Unauthenticated(m) => {
            ctx.metrics.auth_failures.fetch_add(1, Relaxed);
            challenge(ctx, respond::error(StatusCode::UNAUTHORIZED, &m))
        }
        Denial::Forbidden(m) => {
            ctx.metrics.auth_forbidden.fetch_add(1, Relaxed);
            respond::error(StatusCode::FORBIDDEN, &m)
        }
    }
}

/// Adds the `WWW-Authenticate` header a 401 must carry.
pub fn challenge(ctx: &ShardCtx, mut resp: HttpResponse) -> HttpResponse {
    let value = if ctx.security.users.is_some() {
        "Basic realm=\"reefdb\", charset=\"UTF-8\""
    } else {
        "Bearer realm=\"reefdb\""
    };
    resp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(value));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_map_to_permissions() {
        use Perm::*;
        let p = |m: Method, path: &str| required(&m, path);
        assert_eq!(p(Method::GET, "/livez"), None);
        assert_eq!(p(Method::POST, "/db/request"), None);
        assert_eq!(p(Method::POST, "/db/execute"), Some(&[Execute][..]));
        assert_eq!(p(Method::GET, "/db/query"), Some(&[Query][..]));
        assert_eq!(p(Method::GET, "/metrics"), Some(&[Status][..]));
        assert_eq!(p(Method::GET, "/nodes"), Some(&[Status][..]));
        assert_eq!(p(Method::GET, "/readyz"), Some(&[Ready][..]));
        assert_eq!(
            p(Method::POST, "/admin/members/"),
            Some(&[Join, JoinReadOnly][..])
        );
        assert_eq!(
            p(Method::POST, "/admin/members/4/promote"),
            Some(&[Join][..])
        );
        assert_eq!(p(Method::DELETE, "/admin/members/4"), Some(&[Remove][..]));
        assert_eq!(p(Method::POST, "/admin/snapshot"), Some(&[Snapshot][..]));
        assert_eq!(p(Method::POST, "/admin/compact"), Some(&[Snapshot][..]));
        assert_eq!(
            p(Method::POST, "/admin/transfer-leader"),
            Some(&[Leader][..])
        );
        assert_eq!(p(Method::POST, "/admin/reload-certs"), Some(&[All][..]));
        assert_eq!(p(Method::POST, "/admin/whatever"), Some(&[All][..]));
    }
}
