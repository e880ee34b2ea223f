//! What nodes say to each other, as bytes on reef-net's streams.
//!
//! reef-net moves opaque frames; this module gives them meaning. Every frame starts with a
//! format version byte and a kind byte so a node never misreads a frame from a newer or
//! foreign build: an unknown version or kind is a typed error, and the frame is dropped.
//! Raft messages travel as raft-rs's protobuf encoding. A forwarded client request carries
//! just enough of the original HTTP request (method, path and query, content type, body) for
//! the leader to serve it as if it had arrived there.

use bytes::{Buf, BufMut};

const VERSION: u8 = 1;

const KIND_RAFT: u8 = 1;
const KIND_REQUEST: u8 = 2;
const KIND_RESPONSE: u8 = 3;
const KIND_SNAPSHOT_HEADER: u8 = 4;
const KIND_REMOVED: u8 = 5;
const KIND_DISK: u8 = 6;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("peer frame is empty")]
    Empty,
    #[error("peer frame has format version {0}; this build speaks version {VERSION}")]
    Version(u8),
    #[error("peer frame kind {found} where {expected} was expected")]
    Kind { found: u8, expected: &'static str },
    #[error("peer frame is truncated in field {0}")]
    Truncated(&'static str),
    #[error("peer frame field {field} is not valid: {detail}")]
    Invalid { field: &'static str, detail: String },
}

fn header(kind: u8, extra: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(2 + extra);
    b.push(VERSION);
    b.push(kind);
    b
}

fn open<'a>(frame: &'a [u8], kind: u8, expected: &'static str) -> Result<&'a [u8], WireError> {
    match frame {
        [] => Err(WireError::Empty),
        [v, ..] if *v != VERSION => Err(WireError::Version(*v)),
        [_] => Err(WireError::Truncated("kind")),
        [_, k, rest @ ..] if *k == kind => Ok(rest),
        [_, k, ..] => Err(WireError::Kind {
            found: *k,
            expected,
        }),
    }
}

/// A raft-rs message as a frame.
pub fn encode_raft(msg: &raft::eraftpb::Message) -> Vec<u8> {
    use protobuf::Message as _;
    let size = msg.compute_size() as usize;
    let mut b = header(KIND_RAFT, size);
    msg.write_to_vec(&mut b)
        .expect("encoding a raft message into a Vec cannot fail");
    b
}

pub fn decode_raft(frame: &[u8]) -> Result<raft::eraftpb::Message, WireError> {
    use protobuf::Message as _;
    let body = open(frame, KIND_RAFT, "raft message")?;
    raft::eraftpb::Message::parse_from_bytes(body).map_err(|e| WireError::Invalid {
        field: "raft message",
        detail: e.to_string(),
    })
}

/// The first chunk of a snapshot stream: the MsgSnapshot that the data belongs to.
pub fn encode_snapshot_header(msg: &raft::eraftpb::Message) -> Vec<u8> {
    let mut b = encode_raft(msg);
    b[1] = KIND_SNAPSHOT_HEADER;
    b
}

pub fn decode_snapshot_header(frame: &[u8]) -> Result<raft::eraftpb::Message, WireError> {
    use protobuf::Message as _;
    let body = open(frame, KIND_SNAPSHOT_HEADER, "snapshot header")?;
    let msg = raft::eraftpb::Message::parse_from_bytes(body).map_err(|e| WireError::Invalid {
        field: "snapshot header",
        detail: e.to_string(),
    })?;
    if msg.get_msg_type() != raft::eraftpb::MessageType::MsgSnapshot {
        return Err(WireError::Invalid {
            field: "snapshot header",
            detail: format!("carries {:?}, not MsgSnapshot", msg.get_msg_type()),
        });
    }
    Ok(msg)
}

/// The leader tells a node that a committed membership change removed it. Raft itself never
/// says so: the leader simply stops talking to a node once the change applies.
pub fn encode_removed(index: u64) -> Vec<u8> {
    let mut b = header(KIND_REMOVED, 8);
    b.put_u64(index);
    b
}

/// Returns the index of the removal if `frame` is a removal notice; `None` if it is
/// another kind of frame.
pub fn decode_removed(frame: &[u8]) -> Option<Result<u64, WireError>> {
    match frame {
        [VERSION, KIND_REMOVED, rest @ ..] => Some(match <[u8; 8]>::try_from(rest) {
            Ok(b) => Ok(u64::from_be_bytes(b)),
            Err(_) => Err(WireError::Truncated("removal index")),
        }),
        _ => None,
    }
}

/// A node's disk, as it tells its peers about once a second: the leader refuses writes while
/// any member's disk is below that member's own `limits.min_free_disk_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskReport {
    pub free_bytes: u64,
    pub min_free_bytes: u64,
    /// Below the minimum (with hysteresis: see `disk_alarm.rs`).
    pub low: bool,
    /// The sender's first report to this peer since it started: answer with yours, it
    /// knows nothing yet.
    pub hello: bool,
}

pub fn encode_disk(r: &DiskReport) -> Vec<u8> {
    let mut b = header(KIND_DISK, 17);
    b.put_u64(r.free_bytes);
    b.put_u64(r.min_free_bytes);
    b.put_u8(r.low as u8 | (r.hello as u8) << 1);
    b
}

/// Returns the report if `frame` is a disk report; `None` if it is another kind of frame.
pub fn decode_disk(frame: &[u8]) -> Option<Result<DiskReport, WireError>> {
    let [VERSION, KIND_DISK, rest @ ..] = frame else {
        return None;
    };
    let mut rest: &[u8] = rest;
    if rest.len() < 17 {
        return Some(Err(WireError::Truncated("disk report")));
    }
    if rest.len() > 17 {
        return Some(Err(WireError::Invalid {
            field: "disk report",
            detail: format!("{} bytes where 17 were expected", rest.len()),
        }));
    }
    let free_bytes = rest.get_u64();
    let min_free_bytes = rest.get_u64();
    Some(match rest.get_u8() {
        flags @ 0..=3 => Ok(DiskReport {
            free_bytes,
            min_free_bytes,
            low: flags & 1 != 0,
            hello: flags & 2 != 0,
        }),
        other => Err(WireError::Invalid {
            field: "disk report flags",
            detail: format!("{other:#04x} has bits other than low (1) and hello (2)"),
        }),
    })
}

/// A client request a follower hands to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub method: String,
    pub path_and_query: String,
    pub content_type: String,
    /// Who the client authenticated as on the follower (empty when auth is off).
    pub user: String,
    /// The client's `Idempotency-Key` header (empty when absent).
    pub idempotency_key: String,
    pub body: Vec<u8>,
}

/// The leader's answer, relayed verbatim to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    b.put_u32(v.len() as u32);
    b.put_slice(v);
}

fn get_bytes<'a>(buf: &mut &'a [u8], field: &'static str) -> Result<&'a [u8], WireError> {
    if buf.remaining() < 4 {
        return Err(WireError::Truncated(field));
    }
    let len = buf.get_u32() as usize;
    if buf.remaining() < len {
        return Err(WireError::Truncated(field));
    }
    let (v, rest) = buf.split_at(len);
    *buf = rest;
    Ok(v)
}

fn get_str(buf: &mut &[u8], field: &'static str) -> Result<String, WireError> {
    let v = get_bytes(buf, field)?;
    String::from_utf8(v.to_vec()).map_err(|_| WireError::Invalid {
        field,
        detail: "not UTF-8".into(),
    })
}

fn done(buf: &[u8]) -> Result<(), WireError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(WireError::Invalid {
            field: "frame",
            detail: format!("{} trailing bytes", buf.len()),
        })
    }
}

impl ForwardedRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = header(
            KIND_REQUEST,
            16 + self.method.len() + self.path_and_query.len() + self.body.len(),
        );
        put_bytes(&mut b, self.method.as_bytes());
        put_bytes(&mut b, self.path_and_query.as_bytes());
        put_bytes(&mut b, self.content_type.as_bytes());
        put_bytes(&mut b, self.user.as_bytes());
        put_bytes(&mut b, self.idempotency_key.as_bytes());
        put_bytes(&mut b, &self.body);
        b
    }

    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut buf = open(frame, KIND_REQUEST, "forwarded request")?;
        let r = ForwardedRequest {
            method: get_str(&mut buf, "method")?,
            path_and_query: get_str(&mut buf, "path")?,
            content_type: get_str(&mut buf, "content type")?,
            user: get_str(&mut buf, "user")?,
            idempotency_key: get_str(&mut buf, "idempotency key")?,
            body: get_bytes(&mut buf, "body")?.to_vec(),
        };
        done(buf)?;
        Ok(r)
    }
}

impl ForwardedResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = header(KIND_RESPONSE, 6 + self.body.len());
        b.put_u16(self.status);
        put_bytes(&mut b, &self.body);
        b
    }

    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let mut buf = open(frame, KIND_RESPONSE, "forwarded response")?;
        if buf.remaining() < 2 {
            return Err(WireError::Truncated("status"));
        }
        let status = buf.get_u16();
        if !(100..=599).contains(&status) {
            return Err(WireError::Invalid {
                field: "status",
                detail: status.to_string(),
            });
        }
        let body = get_bytes(&mut buf, "body")?.to_vec();
        done(buf)?;
        Ok(ForwardedResponse { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use raft::eraftpb::{Entry, Message, MessageType};

    fn sample_msg() -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.from = 1;
        m.to = 2;
        m.term = 7;
        let e = Entry {
            index: 10,
            term: 7,
            data: b"INSERT".to_vec().into(),
            ..Default::default()
        };
        m.entries = vec![e].into();
        m
    }

    #[test]
    fn raft_message_round_trips() {
        let m = sample_msg();
        assert_eq!(decode_raft(&encode_raft(&m)).unwrap(), m);
    }

    #[test]
    fn snapshot_header_must_carry_a_snapshot_message() {
        let m = sample_msg();
        let e = decode_snapshot_header(&encode_snapshot_header(&m)).unwrap_err();
        assert!(e.to_string().contains("not MsgSnapshot"), "{e}");
        let mut s = sample_msg();
        s.set_msg_type(MessageType::MsgSnapshot);
        assert_eq!(
            decode_snapshot_header(&encode_snapshot_header(&s)).unwrap(),
            s
        );
        assert!(matches!(
            decode_raft(&encode_snapshot_header(&s)),
            Err(WireError::Kind { found: 4, .. })
        ));
    }

    #[test]
    fn removal_notice_round_trips_and_is_told_apart() {
        assert_eq!(decode_removed(&encode_removed(42)), Some(Ok(42)));
        assert_eq!(decode_removed(&encode_raft(&sample_msg())), None);
        assert!(matches!(decode_removed(&[1, 5, 0]), Some(Err(_))));
    }

    #[test]
    fn disk_report_round_trips_and_is_told_apart() {
        let r = DiskReport {
            free_bytes: 1 << 40,
            min_free_bytes: 256 << 20,
            low: true,
            hello: false,
        };
        assert_eq!(decode_disk(&encode_disk(&r)), Some(Ok(r)));
        let hello = DiskReport {
            low: false,
            hello: true,
            ..r
        };
        assert_eq!(decode_disk(&encode_disk(&hello)), Some(Ok(hello)));
        assert_eq!(decode_disk(&encode_removed(3)), None);
        assert_eq!(decode_removed(&encode_disk(&r)), None);
        let mut short = encode_disk(&r);
        short.pop();
        assert!(matches!(
            decode_disk(&short),
            Some(Err(WireError::Truncated(_)))
        ));
        let mut bad = encode_disk(&r);
        *bad.last_mut().unwrap() = 4;
        assert!(matches!(
            decode_disk(&bad),
            Some(Err(WireError::Invalid { .. }))
        ));
    }

    #[test]
    fn refuses_bad_headers() {
        assert_eq!(decode_raft(&[]), Err(WireError::Empty));
        assert_eq!(decode_raft(&[9, 1]), Err(WireError::Version(9)));
        assert_eq!(decode_raft(&[1]), Err(WireError::Truncated("kind")));
        assert!(ForwardedResponse::decode(&[1, 3, 0]).is_err());
        assert!(ForwardedResponse::decode(&[1, 3, 0x03, 0xe8, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn forwarded_request_round_trips(
            method in "[A-Z]{1,7}", path in ".{0,40}", ct in ".{0,20}", user in ".{0,10}",
            key in ".{0,10}", body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let r = ForwardedRequest { method, path_and_query: path, content_type: ct, user, idempotency_key: key, body };
            prop_assert_eq!(ForwardedRequest::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn forwarded_response_round_trips(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let r = ForwardedResponse { status, body };
            prop_assert_eq!(ForwardedResponse::decode(&r.encode()).unwrap(), r);
        }

        /// Hostile bytes give an error or a value, never a panic; and no truncation of a
        /// valid frame decodes.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_raft(&bytes);
            let _ = decode_snapshot_header(&bytes);
            let _ = ForwardedRequest::decode(&bytes);
            let _ = ForwardedResponse::decode(&bytes);
        }

        #[test]
        fn truncated_requests_are_refused(cut in 0usize..60) {
            let r = ForwardedRequest { method: "POST".into(), path_and_query: "/db/execute?x".into(),
                content_type: "application/json".into(), user: "".into(), idempotency_key: "k".into(), body: b"[\"SELECT 1\"]".to_vec() };
            let bytes = r.encode();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(ForwardedRequest::decode(&bytes[..cut]).is_err());
        }
    }
}
