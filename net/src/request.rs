//! Forwarded client requests: one bidirectional stream per request, one length-prefixed
//! message each way.

use std::{marker::PhantomData, rc::Rc, time::Duration};

use bytes::Bytes;
use futures_lite::future;

use crate::{
    error::NetError,
    frame::{self, FrameReader, ReadEnd},
    inbound::{Inbound, PeerInbound},
    stats::add,
    wire,
};

/// Answers one inbound request. Dropping it without answering resets the stream, and the
/// requester gets `NetError::NoResponse` at once instead of waiting for its timeout.
pub struct Responder {
    send: Option<quinn::SendStream>,
    peer: u64,
    max_msg_bytes: usize,
    _local: PhantomData<Rc<()>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Sends the response in the background. Must be called on the shard that received the
    /// request (the type is not `Send`).
    pub fn respond(mut self, bytes: Bytes) -> Result<(), NetError> {
        let Some(mut send) = self.send.take() else {
            return Ok(());
        };
        if bytes.len() > self.max_msg_bytes {
            let _ = send.reset(wire::code(wire::STREAM_TOO_LARGE));
            return Err(NetError::TooLarge {
                peer: self.peer,
                len: bytes.len() as u64,
                max: self.max_msg_bytes,
            });
        }
        glommio::spawn_local(async move {
            let mut chunks = [Bytes::copy_from_slice(&frame::header(bytes.len())), bytes];
            if send.write_all_chunks(&mut chunks).await.is_ok() && send.finish().is_ok() {
                // Keep the stream until the peer has it all, so nothing is cut short.
                let _ = send.stopped().await;
            }
        })
        .detach();
        Ok(())
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(mut send) = self.send.take() {
            let _ = send.reset(wire::code(wire::STREAM_NO_RESPONSE));
        }
    }
}

/// Reads one inbound request and hands it to the application.
pub(crate) async fn serve(
    ctx: Rc<PeerInbound>,
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
) {
    let mut reader = FrameReader::new(recv, ctx.max_msg_bytes);
    match reader.next().await {
        Ok(bytes) => {
            add(&ctx.counters.requests_received, 1);
            let _ = send.set_priority(wire::PRIORITY_REQUESTS);
            let len = bytes.len();
            let item = Inbound::Request {
                from: ctx.from,
                bytes,
                responder: Responder {
                    send: Some(send),
                    peer: ctx.from,
                    max_msg_bytes: ctx.max_msg_bytes,
                    _local: PhantomData,
                },
            };
            // If the inbox is closed the item (and its responder) is dropped: the
            // requester is told there is no response.
            let _ = ctx.inbox.push(item, len).await;
        }
        Err(ReadEnd::TooLarge(_)) => {
            add(&ctx.counters.oversized_refused, 1);
            let _ = send.reset(wire::code(wire::STREAM_TOO_LARGE));
        }
        Err(_) => {
            let _ = send.reset(wire::code(wire::STREAM_NO_RESPONSE));
        }
    }
}

/// Sends `bytes` as a request on a new stream of `conn` and waits for the response.
pub(crate) async fn call(
    conn: &quinn::Connection,
    peer: u64,
    bytes: Bytes,
    max_msg_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, NetError> {
    let exchange = async {
        let (mut send, recv) = conn
            .open_bi()
            .await
            .map_err(|source| NetError::Connection { peer, source })?;
        let _ = send.set_priority(wire::PRIORITY_REQUESTS);
        let mut chunks = [Bytes::copy_from_slice(&frame::header(bytes.len())), bytes];
        let stream_err = |reason: String| NetError::Stream { peer, reason };
        send.write_all_chunks(&mut chunks)
            .await
            .map_err(|e| stream_err(e.to_string()))?;
        send.finish().map_err(|e| stream_err(e.to_string()))?;
        let mut reader = FrameReader::new(recv, max_msg_bytes);
        match reader.next().await {
            Ok(b) => Ok(b),
            Err(ReadEnd::TooLarge(len)) => Err(NetError::TooLarge {
                peer,
                len,
                max: max_msg_bytes,
            }),
            Err(ReadEnd::Finished) => Err(NetError::NoResponse { peer }),
            Err(ReadEnd::Reset(code)) if code == u64::from(wire::STREAM_NO_RESPONSE) => {
                Err(NetError::NoResponse { peer })
            }
            Err(ReadEnd::Reset(code)) => {
                Err(stream_err(format!("peer reset the stream (code {code})")))
            }
            Err(ReadEnd::Failed(reason)) => Err(stream_err(reason)),
        }
    };
    future::or(exchange, async {
        glommio::timer::Timer::new(timeout).await;
        Err(NetError::Timeout {
            peer,
            after: timeout,
        })
    })
    .await
}
