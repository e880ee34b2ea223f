//! Length-prefixed framing: a 4-byte big-endian length, then that many bytes.
//!
//! The decoder is fed whatever chunks QUIC hands over and yields whole frames. It checks a
//! length against the limit as soon as the 4 header bytes are in, before buffering any of the
//! body, so an oversized frame is refused without being allocated. Frames that arrive whole in
//! one chunk are sliced out of it without copying.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub(crate) const HEADER_LEN: usize = 4;

/// A frame's declared length exceeds the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge {
    pub len: u64,
}

pub(crate) fn header(len: usize) -> [u8; HEADER_LEN] {
    debug_assert!(len <= u32::MAX as usize);
    (len as u32).to_be_bytes()
}

/// Appends `frames` (each at most `u32::MAX` bytes) to `chunks` ready for a stream write:
/// small frames are copied together with their headers into shared buffers, large ones are
/// passed by reference after their header.
pub(crate) fn encode_batch(frames: &[Bytes], chunks: &mut Vec<Bytes>) {
    const COPY_BELOW: usize = 4096;
    const COALESCE: usize = 64 * 1024;
    let mut buf = BytesMut::new();
    for f in frames {
        if f.len() < COPY_BELOW {
            if buf.capacity() - buf.len() < HEADER_LEN + f.len() {
                if !buf.is_empty() {
                    chunks.push(buf.split().freeze());
                }
                buf.reserve(COALESCE.max(HEADER_LEN + f.len()));
            }
            buf.put_slice(&header(f.len()));
            buf.put_slice(f);
        } else {
            buf.put_slice(&header(f.len()));
            chunks.push(buf.split().freeze());
            chunks.push(f.clone());
        }
    }
    if !buf.is_empty() {
        chunks.push(buf.freeze());
    }
}

pub(crate) struct Decoder {
    max: usize,
    /// Unconsumed rest of the last chunk pushed.
    pending: Bytes,
    /// A frame whose header or body spans chunks, header included.
    partial: BytesMut,
}

impl Decoder {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            pending: Bytes::new(),
            partial: BytesMut::new(),
        }
    }

    /// Hands over the next chunk; call only once `next_frame` has returned `Ok(None)`.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        debug_assert!(self.pending.is_empty());
        self.pending = chunk;
    }

    /// True if bytes of an unfinished frame are buffered (a stream ending now is truncated).
    pub(crate) fn has_partial(&self) -> bool {
        !self.partial.is_empty() || !self.pending.is_empty()
    }

    /// Bytes of an unfinished frame held (the fuzz harness checks this stays bounded).
    pub(crate) fn partial_len(&self) -> usize {
        self.partial.len()
    }

    fn check(&self, len: usize) -> Result<usize, TooLarge> {
        if len > self.max {
            Err(TooLarge { len: len as u64 })
        } else {
            Ok(len)
        }
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Bytes>, TooLarge> {
        if self.partial.is_empty() {
            if self.pending.len() >= HEADER_LEN {
                let len = self.check(peek_len(&self.pending))?;
                if self.pending.len() >= HEADER_LEN + len {
                    let mut frame = self.pending.split_to(HEADER_LEN + len);
                    frame.advance(HEADER_LEN);
                    return Ok(Some(frame));
                }
            }
            // Incomplete: keep what we have (at most the header plus a checked body).
            self.partial.extend_from_slice(&self.pending);
            self.pending.clear();
            return Ok(None);
        }
        loop {
            let need = if self.partial.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                HEADER_LEN + self.check(peek_len(&self.partial))?
            };
            if self.partial.len() >= need {
                let mut frame = self.partial.split_to(need).freeze();
                frame.advance(HEADER_LEN);
                return Ok(Some(frame));
            }
            let take = (need - self.partial.len()).min(self.pending.len());
            if take == 0 {
                return Ok(None);
            }
            self.partial.extend_from_slice(&self.pending[..take]);
            self.pending.advance(take);
        }
    }
}

fn peek_len(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Reads frames from a QUIC receive stream.
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    decoder: Decoder,
}

/// Why a frame stream ended.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer finished the stream at a frame boundary.
    Finished,
    /// The stream or connection failed, or ended inside a frame.
    Failed(String),
    /// A frame declared more than the limit; the stream has been stopped.
    TooLarge(u64),
    /// The peer reset the stream with this code.
    Reset(u64),
}

/// Stream error code sent when a frame exceeds `max_msg_bytes`.
pub(crate) const STOP_TOO_LARGE: u32 = 0x10;

impl FrameReader {
    pub(crate) fn new(recv: quinn::RecvStream, max: usize) -> Self {
        Self {
            recv,
            decoder: Decoder::new(max),
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Bytes, ReadEnd> {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(TooLarge { len }) => {
                    let _ = self.recv.stop(quinn::VarInt::from_u32(STOP_TOO_LARGE));
                    return Err(ReadEnd::TooLarge(len));
                }
            }
            match self.recv.read_chunk(256 * 1024, true).await {
                Ok(Some(chunk)) => self.decoder.push(chunk.bytes),
                Ok(None) if self.decoder.has_partial() => {
                    return Err(ReadEnd::Failed("stream ended inside a frame".into()))
                }
                Ok(None) => return Err(ReadEnd::Finished),
                Err(quinn::ReadError::Reset(code)) => {
                    return Err(ReadEnd::Reset(code.into_inner()))
                }
                Err(e) => return Err(ReadEnd::Failed(e.to_string())),
            }
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.decoder.max
    }

    pub(crate) fn stop(&mut self, code: u32) {
        let _ = self.recv.stop(quinn::VarInt::from_u32(code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: Vec<Bytes>, max: usize) -> Result<Vec<Bytes>, TooLarge> {
        let mut d = Decoder::new(max);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        assert!(!d.has_partial());
        Ok(out)
    }

    proptest! {
        #[test]
        fn frames_survive_any_chunking(
            frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..9000), 0..20),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
            let mut chunks = Vec::new();
            encode_batch(&frames, &mut chunks);
            let wire: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            let mut cut_at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            cut_at.push(0);
            cut_at.push(wire.len());
            cut_at.sort_unstable();
            cut_at.dedup();
            let pieces: Vec<Bytes> = cut_at
                .windows(2)
                .map(|w| Bytes::copy_from_slice(&wire[w[0]..w[1]]))
                .collect();
            prop_assert_eq!(decode_all(pieces, 9000).unwrap(), frames);
        }

        #[test]
        fn oversized_is_refused_at_the_header(len in 101u32.., split in 0usize..4) {
            let h = len.to_be_bytes();
            let mut d = Decoder::new(100);
            d.push(Bytes::copy_from_slice(&h[..split]));
            prop_assert_eq!(d.next_frame(), Ok(None));
            d.push(Bytes::copy_from_slice(&h[split..]));
            prop_assert_eq!(d.next_frame(), Err(TooLarge { len: len as u64 }));
            // Nothing beyond the header was buffered.
            prop_assert!(d.partial.capacity() < 64);
        }
    }

    #[test]
    fn exact_limit_passes_and_empty_frames_work() {
        let frames = vec![
            Bytes::from(vec![7u8; 100]),
            Bytes::new(),
            Bytes::from_static(b"x"),
        ];
        let mut chunks = Vec::new();
        encode_batch(&frames, &mut chunks);
        assert_eq!(decode_all(chunks, 100).unwrap(), frames);
    }
}
