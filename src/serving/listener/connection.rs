//! One admitted connection, from TLS handshake to close, the same on both listeners: the
//! handshake has [`ListenerLimits::tls_handshake_timeout`] (10 s, as Go's); a verified client
//! certificate authenticates the connection in its [pool](super::pool); hyper serves it with
//! Go `http.Server`'s deadlines (HTTP/1.1 `ReadHeaderTimeout`, `IdleTimeout` for both
//! protocols) and with HTTP/2 limits that bound what one connection can make the server hold.

use std::convert::Infallible;
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::activity::{Activity, Tracked};
use super::pool::Ticket;
use super::ListenerLimits;
use crate::serving::body::ResponseBody;

/// Largest HTTP/1.1 request head (and hyper's read buffer): 64 KiB holds any header a
/// Kubernetes client sends (bearer tokens are a few KiB) while a half-sent head from each of
/// 128 unauthenticated connections costs at most 8 MiB (hyper's default is ~400 KiB each).
pub const HTTP1_MAX_BUFFER: usize = 64 << 10;
/// Largest HTTP/2 header list, the same bound as for HTTP/1.1 (h2's default is 16 MiB).
pub const HTTP2_MAX_HEADER_LIST: u32 = 64 << 10;
/// Response bytes buffered per HTTP/2 stream waiting for the client's flow-control window:
/// with [`super::HTTP2_MAX_STREAMS`] streams a client that stops reading its watches makes
/// the server hold at most 16 MiB (hyper's default 400 KiB would be 100 MiB).
pub const HTTP2_SEND_BUFFER: usize = 64 << 10;
/// Request bytes a client may send on one stream before the server reads them: 256 KiB, as
/// kube-apiserver's `MaxUploadBufferPerStream`.
pub const HTTP2_STREAM_WINDOW: u32 = 256 << 10;
/// Request bytes buffered per connection across its streams (hyper's default, 1 MiB).
pub const HTTP2_CONNECTION_WINDOW: u32 = 1 << 20;
/// How often an HTTP/2 connection is pinged once quiet, so a board that lost power does not
/// hold its watches (and its place) forever; and how long the answer may take.
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// See [`HTTP2_KEEPALIVE_INTERVAL`].
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Time in-flight requests get to finish once an idle, shut-down or evicted connection is
/// closed gracefully (GOAWAY on HTTP/2); then it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Which HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// HTTP/1.1 (with upgrades, for WebSocket exec) and HTTP/2: the API server.
    Http1AndHttp2,
    /// HTTP/2 alone: the kubelet port.
    Http2Only,
}

/// What the listener knows once the TLS handshake is done.
#[derive(Debug)]
pub struct Handshake {
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's certificate chain, verified against the cluster CA (leaf first).
    pub certificates: Option<Vec<CertificateDer<'static>>>,
    /// The connection's place in the pool; [`Ticket::authenticated`] once a request
    /// authenticates.
    pub ticket: Arc<Ticket>,
}

/// How a listener serves each of its connections.
#[derive(Clone)]
pub struct TlsConnections {
    /// The TLS configuration (and client-certificate verifier).
    pub acceptor: TlsAcceptor,
    /// Timeouts and HTTP/2 limits.
    pub limits: ListenerLimits,
    /// HTTP versions spoken.
    pub protocols: Protocols,
    /// Ends every connection.
    pub shutdown: CancellationToken,
}

impl TlsConnections {
    /// Serves one TLS connection: handshake, then the service `make` returns (none closes the
    /// connection), until it ends, idles, is evicted or `shutdown` is cancelled.
    pub async fn serve<M, S>(self, tcp: TcpStream, peer: SocketAddr, ticket: Ticket, make: M)
    where
        M: FnOnce(Handshake) -> Option<S>,
        S: Service<Request<Incoming>, Response = Response<ResponseBody>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let TlsConnections {
            acceptor,
            limits,
            protocols,
            shutdown,
        } = self;
        let ticket = Arc::new(ticket);
        let handshake = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp));
        let tls = tokio::select! {
            r = handshake => match r {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            _ = ticket.evicted() => return,
            _ = shutdown.cancelled() => return,
        };
        let certificates = tls.get_ref().1.peer_certificates().map(|c| c.to_vec());
        if certificates.is_some() {
            // rustls' verifier accepted the chain: the cluster CA signed it
            ticket.authenticated();
        }
        let handshake = Handshake {
            peer,
            certificates,
            ticket: ticket.clone(),
        };
        let Some(service) = make(handshake) else {
            return;
        };
        let activity = Activity::new();
        let service = Tracked::new(service, activity.clone());
        let builder = builder(&limits, protocols);
        let io = TokioIo::new(tls);
        let watch = Watch {
            peer,
            activity: &activity,
            ticket: &ticket,
            limits: &limits,
            shutdown: &shutdown,
        };
        match protocols {
            Protocols::Http1AndHttp2 => {
                watch
                    .drive(builder.serve_connection_with_upgrades(io, service))
                    .await
            }
            Protocols::Http2Only => watch.drive(builder.serve_connection(io, service)).await,
        }
    }
}

/// hyper configured with the listener's limits.
fn builder(limits: &ListenerLimits, protocols: Protocols) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    if protocols == Protocols::Http2Only {
        b = b.http2_only();
    }
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HTTP1_MAX_BUFFER);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_header_list_size(HTTP2_MAX_HEADER_LIST)
        .max_send_buf_size(HTTP2_SEND_BUFFER)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        .keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT);
    b
}

/// What ends a served connection besides the client.
struct Watch<'a> {
    peer: SocketAddr,
    activity: &'a Activity,
    ticket: &'a Ticket,
    limits: &'a ListenerLimits,
    shutdown: &'a CancellationToken,
}

impl Watch<'_> {
    async fn drive<C>(self, conn: C)
    where
        C: GracefulConnection,
        C::Error: Display,
    {
        let peer = self.peer;
        tokio::pin!(conn);
        let idle = self
            .activity
            .idle(self.limits.header_read_timeout, self.limits.idle_timeout);
        let why = tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = idle => "idle",
            _ = self.ticket.evicted() => "evicted to admit another",
            _ = self.shutdown.cancelled() => "shutting down",
        };
        tracing::debug!(%peer, why, "closing connection");
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
    }
}
