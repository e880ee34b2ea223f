//! Entry points for the fuzz targets in `fuzz/` and their corpus replay tests; not API.
//!
//! The length-prefix decoder is private because only the transport drives it. Fuzzing it
//! needs the exact loop `FrameReader` runs (push a chunk, drain frames, repeat), without a
//! QUIC stream, so that loop is reproduced here over in-memory chunks.

use bytes::Bytes;

use crate::frame::{Decoder, HEADER_LEN};

/// How a stream fed to [`decode_stream`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every byte belonged to a whole frame.
    Clean,
    /// The stream stopped inside a frame (the transport reports "stream ended inside a frame").
    Truncated,
    /// A header declared this length, over the limit; the transport stops the stream.
    TooLarge(u64),
}

/// What the decoder produced from a stream.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub frames: Vec<Bytes>,
    pub end: StreamEnd,
    /// Most bytes of an unfinished frame the decoder held at once (bounded by `max` + header).
    pub peak_partial: usize,
}

/// The frame header length in bytes.
pub const FRAME_HEADER_LEN: usize = HEADER_LEN;

/// Feeds `chunks` to a frame decoder with limit `max`, as `FrameReader` does.
pub fn decode_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Decoded {
    let mut d = Decoder::new(max);
    let mut frames = Vec::new();
    let mut peak_partial = 0;
    for chunk in chunks {
        d.push(Bytes::copy_from_slice(chunk));
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    return Decoded {
                        frames,
                        end: StreamEnd::TooLarge(e.len),
                        peak_partial,
                    }
                }
            }
            peak_partial = peak_partial.max(d.partial_len());
        }
        peak_partial = peak_partial.max(d.partial_len());
    }
    let end = if d.has_partial() {
        StreamEnd::Truncated
    } else {
        StreamEnd::Clean
    };
    Decoded {
        frames,
        end,
        peak_partial,
    }
}
