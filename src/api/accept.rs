//! The accept loop shared by Bramble's HTTPS listeners (the API server and a joined board's
//! kubelet port), after mini-redis' listener: at most `max` connections are served at once
//! (the rest wait in the kernel's accept queue), each in its own task, and every task is
//! ended when `shutdown` is cancelled.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Accepts connections on `listener` and runs `serve` on each until `shutdown`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max: usize,
    shutdown: CancellationToken,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = tcp.set_nodelay(true);
        let connection = serve(tcp, peer);
        connections.spawn(async move {
            let _permit = permit;
            connection.await;
        });
        // reap finished connection tasks so the set stays small
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}
