//! The rqlite-compatible API as the tools use it: `/db/execute`, `/db/query`, `/status`,
//! `/nodes`, with typed results and the server's own error message surfaced verbatim.
//!
//! Statements are JSON values exactly as the API takes them: `"SQL"` or
//! `["SQL ?", arg, ...]` (see [`stmt`]). Every field of an answer is optional on decode,
//! because rqlite, ReefDB and future versions of either differ in what they include.

use super::url::encode_query_component;
use super::{shorten, ClientError, Endpoint, HttpConn, Response};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Default per-request timeout for interactive tools.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One statement in the API's JSON form.
pub fn stmt(sql: &str, args: &[Value]) -> Value {
    if args.is_empty() {
        Value::String(sql.to_string())
    } else {
        let mut v = Vec::with_capacity(args.len() + 1);
        v.push(Value::String(sql.to_string()));
        v.extend(args.iter().cloned());
        Value::Array(v)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExecuteResult {
    pub last_insert_id: Option<i64>,
    pub rows_affected: Option<i64>,
    pub error: Option<String>,
    pub time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExecuteResponse {
    pub results: Vec<ExecuteResult>,
    pub error: Option<String>,
    pub time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub values: Vec<Vec<Value>>,
    pub error: Option<String>,
    pub time: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QueryResponse {
    pub results: Vec<QueryResult>,
    pub error: Option<String>,
    pub time: Option<f64>,
}

/// A client of one node. Not `Sync`: give each thread its own.
pub struct RqliteClient {
    conn: HttpConn,
    follow_redirects: bool,
}

impl RqliteClient {
    /// A client for `url` with the default timeout, following redirects to the leader.
    pub fn new(url: &str) -> Result<RqliteClient, ClientError> {
        Ok(Self::with_conn(HttpConn::new(
            Endpoint::parse(url)?,
            DEFAULT_TIMEOUT,
        )))
    }

    pub fn with_conn(conn: HttpConn) -> RqliteClient {
        RqliteClient {
            conn,
            follow_redirects: true,
        }
    }

    /// Whether a 301/302/307/308 answer (a follower naming its leader) is followed once.
    pub fn follow_redirects(mut self, yes: bool) -> RqliteClient {
        self.follow_redirects = yes;
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.conn.endpoint()
    }

    pub fn conn_mut(&mut self) -> &mut HttpConn {
        &mut self.conn
    }

    /// `POST /db/execute`. Per-statement errors are in the results, not an `Err`.
    pub fn execute(&mut self, statements: &[Value]) -> Result<ExecuteResponse, ClientError> {
        self.execute_with(statements, false)
    }

    /// `POST /db/execute[?transaction]`.
    pub fn execute_with(
        &mut self,
        statements: &[Value],
        transaction: bool,
    ) -> Result<ExecuteResponse, ClientError> {
        let target = if transaction {
            "/db/execute?transaction"
        } else {
            "/db/execute"
        };
        let body = serde_json::to_vec(statements).map_err(|e| self.json_err("request", e))?;
        let resp = self.send("POST", target, Some("application/json"), &body)?;
        self.decode(&resp, "execute response")
    }

    /// `POST /db/query[?level=L]`. Per-statement errors are in the results.
    pub fn query(
        &mut self,
        statements: &[Value],
        level: Option<&str>,
    ) -> Result<QueryResponse, ClientError> {
        let target = match level {
            Some(l) => format!("/db/query?level={}", encode_query_component(l)),
            None => "/db/query".to_string(),
        };
        let body = serde_json::to_vec(statements).map_err(|e| self.json_err("request", e))?;
        let resp = self.send("POST", &target, Some("application/json"), &body)?;
        self.decode(&resp, "query response")
    }

    /// `GET /status` as raw JSON (see [`super::NodeStatus::from_json`]).
    pub fn status(&mut self) -> Result<Value, ClientError> {
        self.get_json("/status")
    }

    /// `GET /nodes` as raw JSON (see [`super::NodeInfo::list_from_json`]).
    pub fn nodes(&mut self) -> Result<Value, ClientError> {
        self.get_json("/nodes")
    }

    pub fn get_json(&mut self, target: &str) -> Result<Value, ClientError> {
        let resp = self.send("GET", target, None, &[])?;
        self.decode(&resp, "JSON document")
    }

    /// Sends a request; a non-2xx answer becomes [`ClientError::Http`] with the server's
    /// message. One redirect is followed when enabled.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut resp = self.conn.request(method, target, content_type, body)?;
        if self.follow_redirects && matches!(resp.status, 301 | 302 | 307 | 308) {
            if let Some(location) = resp.header("location").map(str::to_string) {
                resp = self.follow(&location, method, content_type, body)?;
            }
        }
        if resp.is_success() {
            Ok(resp)
        } else {
            Err(http_error(&self.conn.endpoint().authority(), &resp))
        }
    }

    fn follow(
        &mut self,
        location: &str,
        method: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        // Location is absolute (http://leader:port/path?query) or a path on this node.
        let (endpoint, target) = if location.starts_with('/') {
            let here = Endpoint {
                prefix: String::new(),
                ..self.conn.endpoint().clone()
            };
            (here, location.to_string())
        } else {
            let (scheme, rest) = location.split_once("://").unwrap_or(("http", location));
            let split = rest.find('/').unwrap_or(rest.len());
            let endpoint = Endpoint::parse(&format!("{scheme}://{}", &rest[..split]))?;
            let target = if split == rest.len() {
                "/"
            } else {
                &rest[split..]
            };
            (endpoint, target.to_string())
        };
        let mut other = HttpConn::new(endpoint, self.conn.timeout());
        other.request(method, &target, content_type, body)
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        resp: &Response,
        what: &'static str,
    ) -> Result<T, ClientError> {
        serde_json::from_slice(&resp.body).map_err(|e| self.json_err(what, e))
    }

    fn json_err(&self, what: &'static str, e: serde_json::Error) -> ClientError {
        ClientError::Json {
            addr: self.conn.endpoint().authority(),
            what,
            reason: e.to_string(),
        }
    }
}

/// Turns a non-2xx response into an error carrying the server's `error` message and, when
/// the body names one, the leader to retry against.
pub fn http_error(addr: &str, resp: &Response) -> ClientError {
    let message = match serde_json::from_slice::<Value>(&resp.body) {
        Ok(Value::Object(map)) => {
            let mut msg = map
                .get("error")
                .or_else(|| map.get("message"))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| Value::Object(map.clone()).to_string());
            let leader: Vec<String> = ["leader_id", "leader_addr", "leader_http_addr", "leader"]
                .iter()
                .filter_map(|k| map.get(*k).map(|v| format!("{k}={v}")))
                .collect();
            if !leader.is_empty() {
                msg = format!("{msg} ({})", leader.join(", "));
            }
            msg
        }
        _ => {
            let text = String::from_utf8_lossy(&resp.body);
            let text = text.trim();
            if text.is_empty() {
                "(empty body)".to_string()
            } else {
                shorten(text, 300)
            }
        }
    };
    ClientError::Http {
        addr: addr.to_string(),
        status: resp.status,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statements_take_the_api_shapes() {
        assert_eq!(stmt("SELECT 1", &[]), serde_json::json!("SELECT 1"));
        assert_eq!(
            stmt("INSERT INTO t VALUES(?, ?)", &[1.into(), "x".into()]),
            serde_json::json!(["INSERT INTO t VALUES(?, ?)", 1, "x"])
        );
    }

    #[test]
    fn http_errors_carry_the_servers_message_and_leader() {
        let e = http_error(
            "n1:4001",
            &resp(
                503,
                r#"{"error":"not leader","leader_id":2,"leader_addr":"127.0.0.1:4002"}"#,
            ),
        );
        assert_eq!(
            e.to_string(),
            "n1:4001 answered HTTP 503: not leader (leader_id=2, leader_addr=\"127.0.0.1:4002\")"
        );
        let e = http_error("n1:4001", &resp(400, "plain words\n"));
        assert_eq!(e.to_string(), "n1:4001 answered HTTP 400: plain words");
        assert_eq!(e.kind(), "http 400: plain words");
        let e = http_error("n1:4001", &resp(500, ""));
        assert!(e.to_string().ends_with("(empty body)"));
    }

    #[test]
    fn responses_decode_with_missing_fields() {
        let r: ExecuteResponse = serde_json::from_str(
            r#"{"results":[{"last_insert_id":3,"rows_affected":1},{"error":"no such table: t"}],"time":0.1}"#,
        )
        .unwrap();
        assert_eq!(r.results[0].last_insert_id, Some(3));
        assert_eq!(r.results[1].error.as_deref(), Some("no such table: t"));
        let q: QueryResponse = serde_json::from_str(
            r#"{"results":[{"columns":["a"],"types":["integer"],"values":[[1],[null]]},{}]}"#,
        )
        .unwrap();
        assert_eq!(q.results[0].values.len(), 2);
        assert!(q.results[1].columns.is_empty());
    }
}
