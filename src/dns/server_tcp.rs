//! DNS over TCP (RFC 7766): each message behind a two-byte length. Connections are capped
//! (one over the cap is closed at once); a connection waits at most the idle timeout for the
//! next query and the read timeout for the rest of one, and answers its queries in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::handler::{Handler, Step, Transport};
use super::source::ClusterRecords;

/// The bounds on TCP clients.
#[derive(Debug, Clone, Copy)]
pub(super) struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub read_timeout: Duration,
}

/// Serves `listener` until `shutdown`.
pub(super) async fn run<R: ClusterRecords>(
    listener: TcpListener,
    handler: Arc<Handler<R>>,
    limits: TcpLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, most likely: give the others a moment to close.
                tracing::warn!(error = %e, "DNS accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many DNS connections: closed");
            continue;
        };
        let (handler, shutdown) = (handler.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = connection(stream, &handler, limits) => {}
            }
        });
    }
}

/// Answers one connection's queries until it closes, idles or misbehaves.
async fn connection<R: ClusterRecords>(
    mut stream: TcpStream,
    handler: &Handler<R>,
    limits: TcpLimits,
) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(limits.idle_timeout, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 {
            return;
        }
        let mut buf = vec![0u8; len];
        match tokio::time::timeout(limits.read_timeout, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let response = match handler.start(&buf, Transport::Tcp) {
            Step::Respond(bytes) => Some(bytes),
            Step::Drop => None,
            Step::Upstream(pending) => match handler.forwarder.try_permit() {
                None => handler.busy(&pending),
                Some(_permit) => handler.finish(pending).await,
            },
        };
        let Some(bytes) = response else { continue };
        let Ok(n) = u16::try_from(bytes.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&bytes);
        match tokio::time::timeout(limits.read_timeout, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}
