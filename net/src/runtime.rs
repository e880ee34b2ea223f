//! A `quinn::Runtime` that runs quinn on one glommio executor (shard).
//!
//! quinn needs three things from a runtime: timers, a way to spawn its endpoint and connection
//! driver futures, and a UDP socket it can wait on. Here timers are `glommio::timer::Timer`,
//! spawning is `glommio::spawn_local(..).detach()`, and the socket is a std UDP socket whose
//! sends and receives go through quinn's own `quinn_udp::UdpSocketState` (so GSO, GRO, ECN and
//! packet-info control messages keep working). glommio has no public "wait until readable"
//! primitive, so readability is learned from a glommio UDP socket over a `dup` of the same fd:
//! an io_uring `recvmsg(MSG_PEEK)` of one byte completes when a datagram is queued, without
//! consuming it.
//!
//! # Why the `unsafe impl Send/Sync` below hold
//!
//! quinn's traits demand `Send + Sync` because its other runtimes are work-stealing. glommio
//! values (`Timer`, `glommio::net::UdpSocket`, the futures they return) hold `Rc`s into the
//! executor's reactor and must never be touched from another thread. They never are:
//!
//! - every quinn object built with a [`GlommioRuntime`] (endpoint, connections, streams) is
//!   created, polled and dropped on the executor thread that created the runtime, because this
//!   crate only hands out `!Send` handles to them (`Transport` and its types hold `Rc`s);
//! - quinn's driver futures, which own the timers and poll the socket, run as glommio local
//!   tasks (`spawn_local`), which never migrate between threads;
//! - the socket `Arc` is shared only between the endpoint driver and connection drivers,
//!   all of which are local tasks of that same executor.
//!
//! Each entry point checks the thread in debug builds, so a violation fails loudly in tests
//! instead of corrupting an `Rc` count.

use std::{
    cell::{Cell, RefCell},
    fmt,
    future::Future,
    io::{self, IoSliceMut},
    net::SocketAddr,
    os::fd::AsRawFd,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
    thread::{self, ThreadId},
    time::{Duration, Instant},
};

use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, UdpPoller};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

/// How long a sender waits before retrying after the kernel said the socket send buffer is full.
/// glommio cannot tell us when a UDP socket becomes writable again, and on Linux EAGAIN on a
/// UDP send only happens when the socket's send buffer is full, which drains in microseconds.
const WRITE_RETRY: Duration = Duration::from_micros(50);

/// Receive attempts that fail with an unexpected error before `poll_recv` yields to the
/// executor instead of spinning.
const RECV_ERROR_SPINS: usize = 16;

/// The glommio runtime for quinn. Create it on the shard that will own the endpoint.
#[derive(Debug)]
pub struct GlommioRuntime {
    owner: ThreadId,
}

impl GlommioRuntime {
    /// A runtime bound to the current thread, which must be running a glommio executor.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            owner: thread::current().id(),
        })
    }

    /// Wrap a bound std UDP socket for use with `quinn::Endpoint::new_with_abstract_socket`.
    /// This is `Runtime::wrap_udp_socket` with the concrete type kept, for tests and tools.
    pub fn wrap(&self, sock: std::net::UdpSocket) -> io::Result<Arc<GlommioUdpSocket>> {
        debug_assert_on(self.owner);
        GlommioUdpSocket::new(sock).map(Arc::new)
    }
}

impl Runtime for GlommioRuntime {
    fn new_timer(&self, i: Instant) -> Pin<Box<dyn AsyncTimer>> {
        debug_assert_on(self.owner);
        Box::pin(GlommioTimer {
            timer: glommio::timer::Timer::new(i.saturating_duration_since(Instant::now())),
            owner: self.owner,
        })
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        debug_assert_on(self.owner);
        glommio::spawn_local(future).detach();
    }

    fn wrap_udp_socket(&self, sock: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(self.wrap(sock)?)
    }
}

#[inline]
fn debug_assert_on(owner: ThreadId) {
    debug_assert_eq!(
        thread::current().id(),
        owner,
        "a quinn object of a glommio shard was used from another thread"
    );
}

/// A quinn timer backed by a glommio timer.
struct GlommioTimer {
    timer: glommio::timer::Timer,
    owner: ThreadId,
}

// SAFETY: see the module docs. quinn creates timers inside its driver futures, which run as
// local tasks of the owning executor, and drops them there; the `Rc`s inside `Timer` are
// therefore only ever touched by that executor's thread.
unsafe impl Send for GlommioTimer {}

impl fmt::Debug for GlommioTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioTimer").finish_non_exhaustive()
    }
}

impl AsyncTimer for GlommioTimer {
    fn reset(self: Pin<&mut Self>, i: Instant) {
        let this = self.get_mut();
        debug_assert_on(this.owner);
        this.timer
            .reset(i.saturating_duration_since(Instant::now()));
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        debug_assert_on(this.owner);
        Pin::new(&mut this.timer).poll(cx).map(|_| ())
    }
}

type Readable = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// A UDP socket for quinn: I/O through `quinn_udp`, readiness through glommio's io_uring.
pub struct GlommioUdpSocket {
    io: std::net::UdpSocket,
    state: UdpSocketState,
    /// A second fd for the same socket, owned by glommio; only ever used to peek.
    readiness: Rc<glommio::net::UdpSocket>,
    /// The pending "wait until a datagram is queued" operation. Only the endpoint driver
    /// calls `poll_recv`, so one slot suffices; never borrowed across an await.
    readable: RefCell<Option<Readable>>,
    /// Set when the last send hit a full send buffer; `poll_writable` then waits a little.
    write_blocked: Cell<bool>,
    /// The last receive returned less than a full batch, so the queue was empty a moment
    /// ago: go straight to the readiness peek, whose first non-blocking attempt also
    /// answers "is anything queued?", instead of spending a `recvmmsg` to hear EAGAIN.
    drained: Cell<bool>,
    owner: ThreadId,
}

// SAFETY: see the module docs. The socket is shared (through `Arc`) only by quinn's endpoint
// and connection driver futures, which are all local tasks of the executor that created it, so
// the `Rc`, `RefCell` and `Cell` fields are never accessed from two threads.
unsafe impl Send for GlommioUdpSocket {}
// SAFETY: as for `Send`: every `&self` access happens on the owning executor's thread.
unsafe impl Sync for GlommioUdpSocket {}

impl fmt::Debug for GlommioUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioUdpSocket")
            .field("local_addr", &self.io.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl GlommioUdpSocket {
    fn new(io: std::net::UdpSocket) -> io::Result<Self> {
        // Sets O_NONBLOCK on the shared open file description (both fds); io_uring still
        // arms a poll for sockets, so the peek below waits instead of failing with EAGAIN.
        let state = UdpSocketState::new((&io).into())?;
        let dup = io.try_clone()?;
        // SAFETY: `dup` is a fresh fd that we own; ownership moves into the glommio socket.
        let readiness = unsafe {
            use std::os::fd::{FromRawFd, IntoRawFd};
            let fd = dup.into_raw_fd();
            debug_assert!(fd != io.as_raw_fd());
            glommio::net::UdpSocket::from_raw_fd(fd)
        };
        Ok(Self {
            io,
            state,
            readiness: Rc::new(readiness),
            readable: RefCell::new(None),
            write_blocked: Cell::new(false),
            drained: Cell::new(false),
            owner: thread::current().id(),
        })
    }

    fn wait_readable(&self) -> Readable {
        let sock = self.readiness.clone();
        Box::pin(async move {
            let mut byte = [0u8; 1];
            sock.peek_from(&mut byte)
                .await
                .map(|_| ())
                .map_err(io::Error::from)
        })
    }
}

impl AsyncUdpSocket for GlommioUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        debug_assert_on(self.owner);
        Box::pin(GlommioUdpPoller {
            socket: self,
            retry: None,
        })
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        debug_assert_on(self.owner);
        let res = self.state.send((&self.io).into(), transmit);
        if let Err(e) = &res {
            if e.kind() == io::ErrorKind::WouldBlock {
                self.write_blocked.set(true);
            }
        }
        res
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        debug_assert_on(self.owner);
        let mut errors = 0;
        loop {
            let drained = self.drained.replace(false);
            match if drained {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                self.state.recv((&self.io).into(), bufs, meta)
            } {
                Ok(n) => {
                    self.drained.set(n < meta.len().min(bufs.len()));
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // quinn ignores ConnectionReset; anything else would stop the endpoint, and
                // a queued ICMP error or a transient ENOMEM must not do that.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Poll::Ready(Err(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "udp recv failed; retrying");
                    errors += 1;
                    if errors >= RECV_ERROR_SPINS {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
            }
            let mut slot = self.readable.borrow_mut();
            let wait = slot.get_or_insert_with(|| self.wait_readable());
            match wait.as_mut().poll(cx) {
                Poll::Pending => {
                    // The next poll is most likely this peek's wake-up: look at the peek
                    // before spending a receive.
                    self.drained.set(true);
                    return Poll::Pending;
                }
                Poll::Ready(res) => {
                    *slot = None;
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "udp readiness peek failed");
                        errors += 1;
                        if errors >= RECV_ERROR_SPINS {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.state.gro_segments()
    }

    fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }
}

/// Write readiness for one quinn connection driver.
struct GlommioUdpPoller {
    socket: Arc<GlommioUdpSocket>,
    retry: Option<glommio::timer::Timer>,
}

// SAFETY: see the module docs; a poller lives inside one connection driver, a local task.
unsafe impl Send for GlommioUdpPoller {}
// SAFETY: as for `Send`.
unsafe impl Sync for GlommioUdpPoller {}

impl fmt::Debug for GlommioUdpPoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioUdpPoller").finish_non_exhaustive()
    }
}

impl UdpPoller for GlommioUdpPoller {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        debug_assert_on(this.socket.owner);
        // Answer "writable" unless the last send really found the buffer full: asking the
        // kernel first would cost a syscall per datagram and gain nothing.
        if !this.socket.write_blocked.get() {
            this.retry = None;
            return Poll::Ready(Ok(()));
        }
        let timer = this
            .retry
            .get_or_insert_with(|| glommio::timer::Timer::new(WRITE_RETRY));
        match Pin::new(timer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                this.retry = None;
                this.socket.write_blocked.set(false);
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_at_the_reset_deadline() {
        glommio::LocalExecutor::default().run(async {
            let rt = GlommioRuntime::new();
            let start = Instant::now();
            let mut t = rt.new_timer(start + Duration::from_secs(60));
            t.as_mut().reset(start + Duration::from_millis(20));
            futures_lite::future::poll_fn(|cx| t.as_mut().poll(cx)).await;
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(20) && took < Duration::from_secs(5),
                "{took:?}"
            );
            // A deadline in the past is ready at once.
            let mut t = rt.new_timer(start);
            assert!(
                futures_lite::future::poll_fn(|cx| Poll::Ready(t.as_mut().poll(cx)))
                    .await
                    .is_ready()
            );
        });
    }

    #[test]
    fn the_socket_waits_for_datagrams_and_reports_writable() {
        glommio::LocalExecutor::default().run(async {
            let rt = GlommioRuntime::new();
            let sock = rt
                .wrap(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
                .unwrap();
            let addr = sock.local_addr().unwrap();
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut poller = sock.clone().create_io_poller();
            let ready =
                futures_lite::future::poll_fn(|cx| Poll::Ready(poller.as_mut().poll_writable(cx)));
            assert!(matches!(ready.await, Poll::Ready(Ok(()))));

            // Nothing queued: poll_recv must park, then wake when a datagram lands.
            let sender = glommio::spawn_local(async move {
                glommio::timer::Timer::new(Duration::from_millis(20)).await;
                peer.send_to(b"hello", addr).unwrap();
                peer
            });
            let mut buf = vec![0u8; 64 * 1024];
            let mut meta = [RecvMeta::default()];
            let n = futures_lite::future::poll_fn(|cx| {
                let mut bufs = [IoSliceMut::new(&mut buf)];
                sock.poll_recv(cx, &mut bufs, &mut meta)
            })
            .await
            .unwrap();
            let peer = sender.await;
            assert_eq!(n, 1);
            assert_eq!(&buf[..meta[0].len], b"hello");
            assert_eq!(meta[0].addr, peer.local_addr().unwrap());
        });
    }
}
