//! Parsing of the `http://host:port[/prefix]` base URLs the client tools accept.
//!
//! The tools only speak plain HTTP/1.1 to a node (or to etcd's gateway), so this is a
//! deliberately small parser: it accepts exactly what a person types on the command line
//! (`http://127.0.0.1:4001`, `localhost:4001`, `[::1]:4001/prefix`) and refuses anything
//! it would otherwise have to guess about (https, user info, fragments).

use super::ClientError;

/// Where a node's HTTP API lives: the socket address to dial and the path prefix every
/// request path is appended to (empty for a node served at the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host as written (a name, an IPv4 literal, or an IPv6 literal without brackets).
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash ("" or "/something").
    pub prefix: String,
}

/// Port used when a URL names none: rqlite's (and so ReefDB's) HTTP default.
pub const DEFAULT_PORT: u16 = 4001;

impl Endpoint {
    /// Parses `http://host[:port][/prefix]`; the scheme may be left out.
    pub fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(bad("empty URL"));
        }
        let rest = if let Some((scheme, rest)) = trimmed.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "http" => rest,
                "https" => return Err(bad("https is not supported; use http://")),
                _ => return Err(bad("only http:// URLs are supported")),
            }
        } else {
            trimmed
        };
        if rest.contains('#') {
            return Err(bad("a fragment (#) has no meaning here"));
        }
        if rest.contains('?') {
            return Err(bad("give the base URL without a query string"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user info (user@host) is not supported"));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| bad("unterminated IPv6 literal"))?;
            let host = &after[..end];
            let tail = &after[end + 1..];
            let port = match tail.strip_prefix(':') {
                Some(p) => parse_port(p).ok_or_else(|| bad("bad port"))?,
                None if tail.is_empty() => DEFAULT_PORT,
                None => return Err(bad("unexpected text after IPv6 literal")),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p).ok_or_else(|| bad("bad port"))?),
                None => (authority, DEFAULT_PORT),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("host contains whitespace"));
        }
        let prefix = path.trim_end_matches('/').to_string();
        Ok(Endpoint {
            host: host.to_string(),
            port,
            prefix,
        })
    }

    /// `host:port` as dialled, with brackets around IPv6 literals.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The base URL in canonical form, for messages and reports.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority(), self.prefix)
    }

    /// The request target for `path` (which starts with '/').
    pub fn target(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|p| *p != 0)
}

/// Percent-encodes a query-string component (RFC 3986 unreserved characters pass through).
pub fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_type() {
        let cases = [
            ("http://127.0.0.1:4001", "127.0.0.1", 4001, ""),
            ("127.0.0.1:4002", "127.0.0.1", 4002, ""),
            ("localhost", "localhost", DEFAULT_PORT, ""),
            ("http://node1:80/db/", "node1", 80, "/db"),
            ("HTTP://[::1]:4003", "::1", 4003, ""),
            ("[::1]", "::1", DEFAULT_PORT, ""),
        ];
        for (url, host, port, prefix) in cases {
            let e = Endpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (e.host.as_str(), e.port, e.prefix.as_str()),
                (host, port, prefix),
                "{url}"
            );
        }
        assert_eq!(Endpoint::parse("[::1]:5").unwrap().authority(), "[::1]:5");
        assert_eq!(
            Endpoint::parse("h:1/p").unwrap().target("/status"),
            "/p/status"
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for url in [
            "",
            "https://x:1",
            "ftp://x",
            "x:notaport",
            "x:0",
            "x:70000",
            "u@x:1",
            "[::1",
            "http://:4001",
            "x:1?q=1",
            "x:1#f",
        ] {
            assert!(Endpoint::parse(url).is_err(), "{url:?} should be refused");
        }
    }

    #[test]
    fn query_encoding_escapes_reserved_bytes() {
        assert_eq!(
            encode_query_component("SELECT * FROM t WHERE a='x&y'"),
            "SELECT%20%2A%20FROM%20t%20WHERE%20a%3D%27x%26y%27"
        );
        assert_eq!(encode_query_component("é"), "%C3%A9");
    }
}
