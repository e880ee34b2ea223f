//! One keep-alive HTTP/1.1 connection over a blocking `TcpStream`.
//!
//! A request is written with a single `write_all` (head and body in one buffer, Nagle off),
//! and the response is framed by content-length, chunked encoding, or connection close, as
//! RFC 9112 says. Every size is bounded ([`Limits`]) because the peer is untrusted: a
//! broken or hostile server gets a clear error, never unbounded memory. The connection is
//! reopened lazily after any failure or a `Connection: close`, so callers just call
//! [`HttpConn::request`] again.

use super::{ClientError, Endpoint};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Bounds on what a server may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Status line plus headers.
    pub max_head: usize,
    /// Decoded body.
    pub max_body: usize,
    /// Headers counted individually.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_body: 64 * 1024 * 1024,
            max_headers: 64,
        }
    }
}

/// A complete response. Header names are lower-cased.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One connection to one endpoint, reopened on demand.
pub struct HttpConn {
    endpoint: Endpoint,
    authority: String,
    stream: Option<TcpStream>,
    /// Bytes received but not yet consumed by a response.
    inbuf: Vec<u8>,
    /// Reused request buffer, so steady-state requests allocate nothing here.
    outbuf: Vec<u8>,
    timeout: Duration,
    limits: Limits,
    /// Reopen before sending if the connection sat idle this long: servers close idle
    /// keep-alive connections, and a write sent into such a close cannot be told apart from
    /// one the server dropped mid-request.
    max_idle: Option<Duration>,
    last_used: Instant,
    extra_headers: Vec<(String, String)>,
}

impl HttpConn {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> HttpConn {
        let authority = endpoint.authority();
        HttpConn {
            endpoint,
            authority,
            stream: None,
            inbuf: Vec::with_capacity(16 * 1024),
            outbuf: Vec::with_capacity(4 * 1024),
            timeout,
            limits: Limits::default(),
            // Half a ReefDB node's default `limits.idle_timeout_ms`: a connection the server
            // may be about to close is replaced before it is used, not after a failed send.
            max_idle: Some(Duration::from_secs(30)),
            last_used: Instant::now(),
            extra_headers: Vec::new(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> HttpConn {
        self.limits = limits;
        self
    }

    pub fn with_max_idle(mut self, idle: Duration) -> HttpConn {
        self.max_idle = Some(idle);
        self
    }

    /// Adds a header sent with every request (e.g. `Authorization`).
    pub fn with_header(mut self, name: &str, value: &str) -> HttpConn {
        self.extra_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether a connection is currently open.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Opens the connection now (otherwise the first request does).
    pub fn connect(&mut self) -> Result<(), ClientError> {
        if self.stream.is_none() {
            self.stream = Some(self.dial()?);
            self.inbuf.clear();
        }
        Ok(())
    }

    /// Drops the current connection; the next request dials again.
    pub fn disconnect(&mut self) {
        self.stream = None;
        self.inbuf.clear();
    }

    fn dial(&self) -> Result<TcpStream, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: self.authority.clone(),
            source,
        };
        let addrs = (self.endpoint.host.as_str(), self.endpoint.port)
            .to_socket_addrs()
            .map_err(connect_err)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "name resolved to no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(s) => {
                    let setup = s
                        .set_nodelay(true)
                        .and_then(|_| s.set_read_timeout(Some(self.timeout)))
                        .and_then(|_| s.set_write_timeout(Some(self.timeout)));
                    setup.map_err(connect_err)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(if matches!(last.kind(), io::ErrorKind::TimedOut) {
            ClientError::Timeout {
                addr: self.authority.clone(),
                timeout: self.timeout,
            }
        } else {
            connect_err(last)
        })
    }

    /// Sends one request and reads its response. `target` is the path (and query) below
    /// the endpoint's prefix, starting with '/'. On any error the connection is dropped.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        if let Some(idle) = self.max_idle {
            if self.stream.is_some() && self.last_used.elapsed() > idle {
                self.disconnect();
            }
        }
        let result = self.request_inner(method, target, content_type, body);
        self.last_used = Instant::now();
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    fn request_inner(
        &mut self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        self.connect()?;
        self.outbuf.clear();
        let full_target = self.endpoint.target(target);
        write_head(
            &mut self.outbuf,
            method,
            &full_target,
            &self.authority,
            content_type,
            body.len(),
            &self.extra_headers,
        );
        self.outbuf.extend_from_slice(body);
        let Some(stream) = self.stream.as_mut() else {
            return Err(ClientError::Closed {
                addr: self.authority.clone(),
            });
        };
        stream
            .write_all(&self.outbuf)
            .map_err(|e| io_error(&self.authority, self.timeout, e))?;
        let head_only = method.eq_ignore_ascii_case("HEAD");
        let raw = read_response(stream, &mut self.inbuf, head_only, &self.limits)
            .map_err(|e| e.into_client_error(&self.authority, self.timeout))?;
        if !raw.keep_alive {
            self.disconnect();
        }
        Ok(raw.response)
    }
}

fn write_head(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    authority: &str,
    content_type: Option<&str>,
    body_len: usize,
    extra: &[(String, String)],
) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: reefdb-client\r\nAccept: application/json\r\n"
    );
    if let Some(ct) = content_type {
        let _ = write!(out, "Content-Type: {ct}\r\n");
    }
    if body_len > 0 || !matches!(method, "GET" | "HEAD") {
        let _ = write!(out, "Content-Length: {body_len}\r\n");
    }
    for (n, v) in extra {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn io_error(addr: &str, timeout: Duration, e: io::Error) -> ClientError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout {
            addr: addr.to_string(),
            timeout,
        },
        io::ErrorKind::UnexpectedEof => ClientError::Closed {
            addr: addr.to_string(),
        },
        _ => ClientError::Io {
            addr: addr.to_string(),
            source: e,
        },
    }
}

/// Why reading a response failed, before the address is attached.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// The peer closed the connection before the response was complete.
    Eof,
    Protocol(String),
    TooLarge(&'static str, usize),
}

impl ReadError {
    fn into_client_error(self, addr: &str, timeout: Duration) -> ClientError {
        match self {
            ReadError::Io(e) => io_error(addr, timeout, e),
            ReadError::Eof => ClientError::Closed {
                addr: addr.to_string(),
            },
            ReadError::Protocol(reason) => ClientError::Protocol {
                addr: addr.to_string(),
                reason,
            },
            ReadError::TooLarge(what, limit) => ClientError::TooLarge {
                addr: addr.to_string(),
                what,
                limit,
            },
        }
    }
}

pub(crate) struct RawResponse {
    pub response: Response,
    pub keep_alive: bool,
}

/// Reads more bytes into `buf`; `Ok(0)` is end of stream.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one response from `r`. `buf` holds bytes already received (and keeps any bytes
/// past this response, though the client never pipelines).
pub(crate) fn read_response<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    head_only: bool,
    limits: &Limits,
) -> Result<RawResponse, ReadError> {
    loop {
        let (head_len, status, headers, minor) = loop {
            let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = parsed.code.unwrap_or(0);
                    let minor = parsed.version.unwrap_or(1);
                    let headers: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).trim().to_string(),
                            )
                        })
                        .collect();
                    break (n, status, headers, minor);
                }
                Ok(httparse::Status::Partial) => {
                    if buf.len() > limits.max_head {
                        return Err(ReadError::TooLarge("head", limits.max_head));
                    }
                    if fill(r, buf)? == 0 {
                        return Err(ReadError::Eof);
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ReadError::TooLarge("header count", limits.max_headers))
                }
                Err(e) => return Err(ReadError::Protocol(format!("bad response head: {e}"))),
            }
        };
        buf.drain(..head_len);
        // Interim 1xx answers precede the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let find = |name: &str| {
            headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        let connection = find("connection").join(",").to_ascii_lowercase();
        let mut keep_alive = if minor == 0 {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        };
        let chunked = find("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let lengths = find("content-length");
        let framing = if head_only || status == 204 || status == 304 {
            Framing::Empty
        } else if chunked {
            Framing::Chunked
        } else if let Some(first) = lengths.first() {
            if lengths.iter().any(|l| l != first) {
                return Err(ReadError::Protocol(
                    "conflicting Content-Length headers".into(),
                ));
            }
            let n: usize = first
                .parse()
                .map_err(|_| ReadError::Protocol(format!("bad Content-Length {first:?}")))?;
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        let body = match framing {
            Framing::Empty => Vec::new(),
            Framing::Length(n) => {
                if n > limits.max_body {
                    return Err(ReadError::TooLarge("body", limits.max_body));
                }
                while buf.len() < n {
                    if fill(r, buf)? == 0 {
                        return Err(ReadError::Eof);
                    }
                }
                buf.drain(..n).collect()
            }
            Framing::Chunked => read_chunked(r, buf, limits)?,
            Framing::UntilClose => {
                keep_alive = false;
                loop {
                    if buf.len() > limits.max_body {
                        return Err(ReadError::TooLarge("body", limits.max_body));
                    }
                    if fill(r, buf)? == 0 {
                        break;
                    }
                }
                std::mem::take(buf)
            }
        };
        return Ok(RawResponse {
            response: Response {
                status,
                headers,
                body,
            },
            keep_alive,
        });
    }
}

/// Position just past the next CRLF-terminated line in `buf`, reading more as needed.
fn line_end<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
    what: &'static str,
) -> Result<usize, ReadError> {
    let mut searched = 0;
    loop {
        if let Some(i) = buf[searched..].windows(2).position(|w| w == b"\r\n") {
            return Ok(searched + i + 2);
        }
        searched = buf.len().saturating_sub(1);
        if buf.len() > limit {
            return Err(ReadError::TooLarge(what, limit));
        }
        if fill(r, buf)? == 0 {
            return Err(ReadError::Eof);
        }
    }
}

fn read_chunked<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Vec<u8>, ReadError> {
    const LINE_LIMIT: usize = 4096;
    let mut body = Vec::new();
    loop {
        let end = line_end(r, buf, LINE_LIMIT, "chunk header")?;
        let line = String::from_utf8_lossy(&buf[..end - 2]).into_owned();
        buf.drain(..end);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Protocol(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailer fields until an empty line.
            loop {
                let end = line_end(r, buf, LINE_LIMIT, "chunk trailer")?;
                buf.drain(..end);
                if end == 2 {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > limits.max_body {
            return Err(ReadError::TooLarge("body", limits.max_body));
        }
        while buf.len() < size + 2 {
            if fill(r, buf)? == 0 {
                return Err(ReadError::Eof);
            }
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ReadError::Protocol("chunk not followed by CRLF".into()));
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `step` at a time, to exercise every partial-read path.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn parse_all(data: &[u8], step: usize) -> Result<(Vec<RawResponse>, Vec<u8>), ReadError> {
        let mut r = Trickle { data, step };
        let mut buf = Vec::new();
        let first = read_response(&mut r, &mut buf, false, &Limits::default())?;
        Ok((vec![first], buf))
    }

    #[test]
    fn frames_by_content_length_at_every_read_size() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"results\":[]}";
        for step in [1, 2, 3, 7, 64, 100_000] {
            let (rs, rest) = parse_all(wire, step).unwrap();
            let r = &rs[0];
            assert_eq!(r.response.status, 200);
            assert_eq!(r.response.body, b"{\"results\":[]");
            // The byte past the declared length belongs to whatever comes next.
            assert!(rest.is_empty() || rest == b"}");
            assert!(r.keep_alive);
            assert_eq!(r.response.header("content-type"), Some("application/json"));
        }
    }

    #[test]
    fn decodes_chunked_bodies_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in [1, 4, 1000] {
            let (rs, rest) = parse_all(wire, step).unwrap();
            assert_eq!(rs[0].response.status, 503);
            assert_eq!(rs[0].response.body, b"hello, world");
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn reads_to_close_without_length_and_honours_connection_close() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        let (rs, _) = parse_all(wire, 3).unwrap();
        assert_eq!(rs[0].response.body, b"all of it");
        assert!(!rs[0].keep_alive);
        let wire = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
        let (rs, _) = parse_all(wire, 3).unwrap();
        assert!(!rs[0].keep_alive);
        let wire = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
        assert!(parse_all(wire, 3).unwrap().0[0].keep_alive);
    }

    #[test]
    fn skips_interim_responses_and_empty_statuses() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (rs, _) = parse_all(wire, 5).unwrap();
        assert_eq!(rs[0].response.status, 204);
        assert!(rs[0].response.body.is_empty());
    }

    #[test]
    fn keeps_bytes_of_a_following_response() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb";
        let mut r = Trickle {
            data: wire,
            step: 1000,
        };
        let mut buf = Vec::new();
        let a = read_response(&mut r, &mut buf, false, &Limits::default()).unwrap();
        let b = read_response(&mut r, &mut buf, false, &Limits::default()).unwrap();
        assert_eq!((a.response.status, a.response.body), (200, b"a".to_vec()));
        assert_eq!((b.response.status, b.response.body), (201, b"b".to_vec()));
    }

    #[test]
    fn refuses_truncated_malformed_and_oversized_responses() {
        let truncated: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        ];
        for wire in truncated {
            assert!(matches!(parse_all(wire, 4), Err(ReadError::Eof)));
        }
        let malformed: &[&[u8]] = &[
            b"SMTP ready\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
        ];
        for wire in malformed {
            assert!(
                matches!(parse_all(wire, 4), Err(ReadError::Protocol(_))),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        let limits = Limits {
            max_head: 64,
            max_body: 8,
            max_headers: 4,
        };
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n12345\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n0123456789abcdef",
        ];
        for wire in cases {
            let mut r = Trickle {
                data: wire,
                step: 3,
            };
            let mut buf = Vec::new();
            assert!(
                matches!(
                    read_response(&mut r, &mut buf, false, &limits),
                    Err(ReadError::TooLarge(..))
                ),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn request_head_is_well_formed() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            "POST",
            "/db/execute?timings",
            "127.0.0.1:4001",
            Some("application/json"),
            12,
            &[("Authorization".into(), "Bearer t".into())],
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /db/execute?timings HTTP/1.1\r\nHost: 127.0.0.1:4001\r\n"));
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Content-Length: 12\r\n"));
        assert!(text.ends_with("Authorization: Bearer t\r\n\r\n"));
        let mut out = Vec::new();
        write_head(&mut out, "GET", "/status", "h:1", None, 0, &[]);
        assert!(!String::from_utf8(out).unwrap().contains("Content-Length"));
    }
}
