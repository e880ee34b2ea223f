//! HTTP/1.1 (and HTTPS) serving on a glommio shard with hyper 1.x.
//!
//! hyper is runtime-agnostic through its `rt::Read`/`rt::Write` traits; glommio's TCP stream
//! (and futures-rustls's TLS stream over it) speak futures-lite's `AsyncRead`/`AsyncWrite`, so
//! a thin adapter joins the two. Every shard binds the same address (glommio sets
//! SO_REUSEPORT), the kernel spreads connections across shards, and each connection, its TLS
//! handshake included, lives and dies on the shard that accepted it, so no request state ever
//! crosses a thread.

use super::tls::ShardAcceptor;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpListener;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A futures-io stream (TCP or TLS over TCP) seen through hyper's I/O traits. Response
/// bytes leaving count as activity on the connection (request bytes arriving do not: see
/// [`Activity::idle_for`]), so a large answer to a slow reader is not cut off mid-way.
struct HyperIo<S> {
    io: S,
    activity: Rc<Activity>,
}

thread_local! {
    /// Where reads land before they are copied into hyper's buffer: one per shard, borrowed
    /// only inside a synchronous `poll_read`, never across an await. Reading straight into
    /// hyper's buffer would mean zeroing its uninitialised part first (8 KiB, and up to
    /// 400 KiB while a large body streams in) on every read; this copies only the bytes read.
    static READ_SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 << 10]);
}

impl<S: AsyncRead + Unpin> hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut read = |scratch: &mut [u8]| {
            let n = scratch.len().min(buf.remaining());
            match Pin::new(&mut self.io).poll_read(cx, &mut scratch[..n]) {
                Poll::Ready(Ok(k)) => {
                    buf.put_slice(&scratch[..k]);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        };
        READ_SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => read(&mut scratch),
            // Only if a stream's own read ever re-entered this one: a private buffer then.
            Err(_) => read(&mut vec![0; 16 << 10]),
        })
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                self.activity.last.set(Instant::now());
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// Binds the HTTP listener of one shard.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::other(format!("bind HTTP {addr}: {e}")))
}

/// What one connection's idle watcher sees: requests in progress, and when the last one
/// started or finished or response bytes last left.
struct Activity {
    in_flight: Cell<u32>,
    last: Cell<Instant>,
}

impl Activity {
    /// Resolves once the connection has had no request in progress for `idle` since the
    /// last one started or finished (or since response bytes last left). Counting requests,
    /// not request bytes, is what closes a client that trickles its headers a byte at a time
    /// and never completes a request.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let quiet = self.last.get().elapsed();
            if self.in_flight.get() == 0 && quiet >= idle {
                return;
            }
            let wait = if self.in_flight.get() > 0 {
                idle
            } else {
                idle - quiet
            };
            glommio::timer::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client or an error ends it, or until it has
/// been idle for `idle`.
async fn serve_connection<S, H, F>(io: S, handler: Rc<H>, peer: SocketAddr, idle: Option<Duration>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Full<Bytes>>> + 'static,
{
    let activity = Rc::new(Activity {
        in_flight: Cell::new(0),
        last: Cell::new(Instant::now()),
    });
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let fut = handler(req, peer);
        let seen = seen.clone();
        seen.in_flight.set(seen.in_flight.get() + 1);
        seen.last.set(Instant::now());
        async move {
            let resp = fut.await;
            seen.in_flight.set(seen.in_flight.get() - 1);
            seen.last.set(Instant::now());
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(
            HyperIo {
                io,
                activity: activity.clone(),
            },
            service,
        );
    let served = async {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
        }
    };
    match idle {
        Some(idle) => {
            let closed = async {
                activity.idle_for(idle).await;
                tracing::debug!(%peer, "closing an idle HTTP connection");
            };
            futures_lite::future::or(served, closed).await
        }
        None => served.await,
    }
}

/// Accepts connections until `stop` resolves; each connection is served by `handler`, after
/// a TLS handshake when `tls` is given.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<Rc<ShardAcceptor>>,
    idle: Option<Duration>,
    handler: Rc<H>,
    stop: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Full<Bytes>>> + 'static,
{
    let accept = async {
        loop {
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Running out of descriptors must not kill the listener; back off briefly.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let peer = stream
                .peer_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            let (handler, tls) = (handler.clone(), tls.clone());
            glommio::spawn_local(async move {
                match tls {
                    None => serve_connection(stream, handler, peer, idle).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls_stream) => serve_connection(tls_stream, handler, peer, idle).await,
                        Err(e) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake with a client failed")
                        }
                    },
                }
            })
            .detach();
        }
    };
    futures_lite::future::or(accept, stop).await;
}
