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
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A futures-io stream (TCP or TLS over TCP) seen through hyper's I/O traits.
struct HyperIo<S>(S);

impl<S: AsyncRead + Unpin> hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the bytes are zeroed before they are exposed as `&mut [u8]`, and `advance`
        // is only called with the count the read reports as filled.
        let slice = unsafe {
            let uninit = buf.as_mut();
            for b in uninit.iter_mut() {
                b.write(0);
            }
            &mut *(uninit as *mut [std::mem::MaybeUninit<u8>] as *mut [u8])
        };
        match Pin::new(&mut self.0).poll_read(cx, slice) {
            Poll::Ready(Ok(n)) => {
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Binds the HTTP listener of one shard.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::other(format!("bind HTTP {addr}: {e}")))
}

/// Serves HTTP/1.1 on one connection until the client or an error ends it.
async fn serve_connection<S, H, F>(io: S, handler: Rc<H>, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
    H: Fn(Request<Incoming>, SocketAddr) -> F + 'static,
    F: Future<Output = Response<Full<Bytes>>> + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let fut = handler(req, peer);
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(HyperIo(io), service);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
    }
}

/// Accepts connections until `stop` resolves; each connection is served by `handler`, after
/// a TLS handshake when `tls` is given.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<Rc<ShardAcceptor>>,
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
                    None => serve_connection(stream, handler, peer).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls_stream) => serve_connection(tls_stream, handler, peer).await,
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
