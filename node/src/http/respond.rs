//! Building HTTP responses: JSON bodies, rqlite's `?pretty`, and JSON errors.
//!
//! Every error a client sees is JSON with an `error` string, and where it helps the leader's
//! id and address, so scripts never have to parse prose out of an HTML page.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type HttpResponse = Response<Full<Bytes>>;

pub fn json<T: Serialize>(status: StatusCode, value: &T, pretty: bool) -> HttpResponse {
    let body = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    match body {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid"),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("encoding the response: {e}"),
        ),
    }
}

pub fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }), false)
}

/// An error that names the leader, so clients can retry there. `scheme` is `http` or
/// `https`, as this node serves (a cluster's nodes serve alike).
pub fn error_with_leader(
    status: StatusCode,
    message: &str,
    leader_id: u64,
    leader_http: Option<&str>,
    scheme: &str,
) -> HttpResponse {
    json(
        status,
        &serde_json::json!({
            "error": message,
            "leader_id": leader_id,
            "leader": leader_http.map(|a| format!("{scheme}://{a}")),
        }),
        false,
    )
}

pub fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

/// `307 Temporary Redirect` to the same path and query on the leader.
pub fn redirect(scheme: &str, leader_http: &str, path_and_query: &str) -> HttpResponse {
    let location = format!("{scheme}://{leader_http}{path_and_query}");
    Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header("location", &location)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::json!({ "error": "not the leader", "leader": location }).to_string(),
        )))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "bad leader address"))
}
