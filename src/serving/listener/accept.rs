//! The accept loop shared by Bramble's HTTPS listeners, after mini-redis' listener but
//! without its semaphore: every connection is accepted at once and then admitted or closed by
//! the [`ConnectionPool`](super::pool::ConnectionPool), so a flood never sits in the kernel's
//! accept queue in front of real clients (Go's `http.Server` accepts as eagerly). Each
//! connection runs in its own task, and every task ends when `shutdown` is cancelled.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::pool::{ConnectionPool, Ticket};

/// First pause after a failed `accept` (e.g. out of file descriptors), doubled up to
/// [`ACCEPT_BACKOFF_MAX`], as Go's `http.Server.Serve` does, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause after failed `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections on `listener`, admits each into `pool`, and runs `serve` on the
/// admitted ones until `shutdown`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    pool: Arc<ConnectionPool>,
    shutdown: CancellationToken,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, Ticket) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        backoff = ACCEPT_BACKOFF;
        let ticket = match pool.admit(peer.ip()) {
            Ok(t) => t,
            Err(refusal) => {
                // dropped here: the client sees the connection closed at once
                tracing::debug!(%peer, %refusal, "connection refused");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve(tcp, peer, ticket));
        // reap finished connection tasks so the set stays small
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}
