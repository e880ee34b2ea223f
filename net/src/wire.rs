//! Protocol constants shared by both ends: what a stream carries and the error codes used to
//! stop, reset or close streams and connections.
//!
//! A unidirectional stream starts with one kind byte. Bidirectional streams are always
//! request/response exchanges. Every message on any stream is length-prefixed (see `frame`).

use quinn::VarInt;

/// The long-lived ordered stream of small frames (Raft messages), one per connection.
pub(crate) const KIND_FRAMES: u8 = 1;
/// One snapshot transfer: a sequence of length-prefixed chunks, then FIN.
pub(crate) const KIND_SNAPSHOT: u8 = 2;

/// Sent by a server on a connection once it has verified the client's certificate and node
/// id. TLS 1.3 lets a client finish its handshake before the server has judged the client's
/// certificate, so a client counts itself connected only after this arrives.
pub(crate) const KIND_ACCEPTED: u8 = 3;

/// Frames go before snapshot chunks when both have data buffered.
pub(crate) const PRIORITY_FRAMES: i32 = 10;
pub(crate) const PRIORITY_REQUESTS: i32 = 5;
pub(crate) const PRIORITY_SNAPSHOT: i32 = 0;

/// Stream codes (STOP_SENDING / RESET_STREAM).
pub(crate) const STREAM_TOO_LARGE: u32 = crate::frame::STOP_TOO_LARGE;
pub(crate) const STREAM_BAD_KIND: u32 = 0x11;
pub(crate) const STREAM_ABORTED: u32 = 0x12;
pub(crate) const STREAM_NO_RESPONSE: u32 = 0x13;
pub(crate) const STREAM_SHUTDOWN: u32 = 0x14;

/// Connection close codes.
pub(crate) const CLOSE_SHUTDOWN: VarInt = VarInt::from_u32(0x20);
pub(crate) const CLOSE_BAD_IDENTITY: VarInt = VarInt::from_u32(0x21);
pub(crate) const CLOSE_REMOVED: VarInt = VarInt::from_u32(0x22);
pub(crate) const CLOSE_READDRESSED: VarInt = VarInt::from_u32(0x23);

pub(crate) fn code(c: u32) -> VarInt {
    VarInt::from_u32(c)
}

/// True if a connection ended because TLS refused a certificate (either side) or the server
/// found no node id in ours: the cases a retry cannot fix by itself.
pub(crate) fn is_auth_failure(e: &quinn::ConnectionError) -> bool {
    use quinn::ConnectionError as E;
    let crypto = |code: quinn::TransportErrorCode| (0x100..0x200).contains(&u64::from(code));
    match e {
        E::TransportError(t) => crypto(t.code),
        E::ConnectionClosed(c) => crypto(c.error_code),
        E::ApplicationClosed(c) => c.error_code == CLOSE_BAD_IDENTITY,
        _ => false,
    }
}
