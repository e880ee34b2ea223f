//! Peer traffic: reef-net's length-prefix stream decoder, then the node's frame decoders
//! (`reefdb::replica::wire`) on every frame it yields.
//!
//! The first byte sets the frame limit, the next bytes say where QUIC would have cut the stream
//! into chunks, and the rest is the stream. The stream decoder must agree with a plain reading
//! of the length prefixes and never hold more than one frame's worth of bytes; each frame then
//! goes through every node decoder, and whatever decodes must encode back to the same bytes
//! (the wire has exactly one spelling of each message, or a peer could smuggle ambiguity).

use reef_net::fuzzing::{decode_stream, StreamEnd, FRAME_HEADER_LEN};
use reefdb::replica::wire::{
    decode_disk, decode_raft, decode_removed, decode_snapshot_header, encode_disk, encode_removed,
    ForwardedRequest, ForwardedResponse,
};

use super::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let max = 1 + input.u16() as usize % 4096;
    let mut cuts: Vec<usize> = (0..input.byte() % 8)
        .map(|_| input.u16() as usize)
        .collect();
    let stream = input.rest();
    for c in &mut cuts {
        *c %= stream.len() + 1;
    }
    cuts.push(0);
    cuts.push(stream.len());
    cuts.sort_unstable();
    let chunks = cuts.windows(2).map(|w| &stream[w[0]..w[1]]);

    let decoded = decode_stream(chunks, max);
    let (frames, end) = reference(stream, max);
    assert_eq!(decoded.end, end);
    assert_eq!(decoded.frames.len(), frames.len());
    for (got, want) in decoded.frames.iter().zip(&frames) {
        assert_eq!(&got[..], *want);
    }
    assert!(decoded.peak_partial <= FRAME_HEADER_LEN + max);

    // The node decoders see any frame a peer manages to send, so also feed the raw stream.
    for frame in frames.iter().copied().chain([stream]) {
        node_decoders(frame);
    }
}

/// Frames as the length prefixes say, read in one pass over the whole stream.
fn reference(mut s: &[u8], max: usize) -> (Vec<&[u8]>, StreamEnd) {
    let mut frames = Vec::new();
    loop {
        if s.is_empty() {
            return (frames, StreamEnd::Clean);
        }
        if s.len() < 4 {
            return (frames, StreamEnd::Truncated);
        }
        let len = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
        if len > max {
            return (frames, StreamEnd::TooLarge(len as u64));
        }
        if s.len() < 4 + len {
            return (frames, StreamEnd::Truncated);
        }
        frames.push(&s[4..4 + len]);
        s = &s[4 + len..];
    }
}

fn node_decoders(frame: &[u8]) {
    let _ = decode_raft(frame);
    let _ = decode_snapshot_header(frame);
    if let Some(Ok(index)) = decode_removed(frame) {
        assert_eq!(encode_removed(index), frame);
    }
    if let Some(Ok(report)) = decode_disk(frame) {
        assert_eq!(encode_disk(&report), frame);
    }
    if let Ok(r) = ForwardedRequest::decode(frame) {
        assert_eq!(r.encode(), frame);
    }
    if let Ok(r) = ForwardedResponse::decode(frame) {
        assert_eq!(r.encode(), frame);
    }
}
