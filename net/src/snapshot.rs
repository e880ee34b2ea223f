//! Snapshot transfers: one QUIC stream per snapshot, carrying length-prefixed chunks.
//!
//! The stream has the lowest send priority and its own flow-control window (smaller than the
//! connection's), so frames on the ordered stream keep flowing while a snapshot of any size
//! moves. `send_chunk` waits for flow control: a slow receiver slows the sender instead of
//! growing memory on either side.

use std::{marker::PhantomData, rc::Rc};

use bytes::Bytes;

use crate::{
    error::NetError,
    frame::{self, FrameReader, ReadEnd},
    stats::{add, Counters},
    wire,
};

/// Sends one snapshot. Dropping it before `finish` aborts the transfer (the receiver sees an
/// error, not a short snapshot).
pub struct SnapshotSender {
    send: quinn::SendStream,
    peer: u64,
    max_msg_bytes: usize,
    finished: bool,
    _local: PhantomData<Rc<()>>,
}

impl std::fmt::Debug for SnapshotSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSender")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl SnapshotSender {
    pub(crate) async fn open(
        conn: &quinn::Connection,
        peer: u64,
        max_msg_bytes: usize,
        counters: &Counters,
    ) -> Result<Self, NetError> {
        let mut send = conn
            .open_uni()
            .await
            .map_err(|source| NetError::Connection { peer, source })?;
        let _ = send.set_priority(wire::PRIORITY_SNAPSHOT);
        send.write_all(&[wire::KIND_SNAPSHOT])
            .await
            .map_err(|e| stream_err(peer, e))?;
        add(&counters.snapshots_sent, 1);
        Ok(Self {
            send,
            peer,
            max_msg_bytes,
            finished: false,
            _local: PhantomData,
        })
    }

    /// Sends one chunk (at most `max_msg_bytes`), waiting for flow control.
    pub async fn send_chunk(&mut self, chunk: Bytes) -> Result<(), NetError> {
        if chunk.len() > self.max_msg_bytes {
            return Err(NetError::TooLarge {
                peer: self.peer,
                len: chunk.len() as u64,
                max: self.max_msg_bytes,
            });
        }
        let mut chunks = [Bytes::copy_from_slice(&frame::header(chunk.len())), chunk];
        self.send
            .write_all_chunks(&mut chunks)
            .await
            .map_err(|e| stream_err(self.peer, e))
    }

    /// Ends the snapshot and waits until the peer has acknowledged every byte.
    pub async fn finish(mut self) -> Result<(), NetError> {
        self.finished = true;
        let peer = self.peer;
        self.send.finish().map_err(|e| NetError::Stream {
            peer,
            reason: e.to_string(),
        })?;
        match self.send.stopped().await {
            Ok(None) => Ok(()),
            Ok(Some(code)) => Err(NetError::Stream {
                peer,
                reason: format!("receiver stopped the snapshot (code {code})"),
            }),
            Err(e) => Err(NetError::Stream {
                peer,
                reason: e.to_string(),
            }),
        }
    }
}

impl Drop for SnapshotSender {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.send.reset(wire::code(wire::STREAM_ABORTED));
        }
    }
}

fn stream_err(peer: u64, e: quinn::WriteError) -> NetError {
    match e {
        quinn::WriteError::ConnectionLost(source) => NetError::Connection { peer, source },
        other => NetError::Stream {
            peer,
            reason: other.to_string(),
        },
    }
}

/// Receives one snapshot as the chunks the sender wrote. Dropping it before the end tells the
/// sender to stop.
pub struct SnapshotReceiver {
    reader: FrameReader,
    peer: u64,
    done: bool,
    counters: Rc<Counters>,
}

impl std::fmt::Debug for SnapshotReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReceiver")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl SnapshotReceiver {
    pub(crate) fn new(reader: FrameReader, peer: u64, counters: Rc<Counters>) -> Self {
        Self {
            reader,
            peer,
            done: false,
            counters,
        }
    }

    /// The next chunk; `None` after the sender finished cleanly. An aborted or broken
    /// transfer yields an error and then `None`.
    pub async fn next(&mut self) -> Option<Result<Bytes, NetError>> {
        if self.done {
            return None;
        }
        match self.reader.next().await {
            Ok(chunk) => Some(Ok(chunk)),
            Err(end) => {
                self.done = true;
                match end {
                    ReadEnd::Finished => None,
                    ReadEnd::TooLarge(len) => {
                        add(&self.counters.oversized_refused, 1);
                        Some(Err(NetError::TooLarge {
                            peer: self.peer,
                            len,
                            max: self.reader.max(),
                        }))
                    }
                    ReadEnd::Reset(code) => Some(Err(NetError::Stream {
                        peer: self.peer,
                        reason: format!("sender aborted the snapshot (code {code})"),
                    })),
                    ReadEnd::Failed(reason) => Some(Err(NetError::Stream {
                        peer: self.peer,
                        reason,
                    })),
                }
            }
        }
    }
}

impl Drop for SnapshotReceiver {
    fn drop(&mut self) {
        if !self.done {
            self.reader.stop(wire::STREAM_ABORTED);
        }
    }
}
