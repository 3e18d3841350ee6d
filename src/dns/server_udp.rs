//! DNS over UDP: one receive loop per socket. A query the zone answers is answered inline;
//! one that needs an upstream runs in its own task while a forwarding place is free, and is
//! answered SERVFAIL at once when none is, so a flood cannot queue work without bound.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::handler::{Handler, Step, Transport};
use super::source::ClusterRecords;

/// Largest datagram read; a longer one is cut, fails to parse and is answered FORMERR.
const RECV_BUFFER: usize = 4096;

async fn send(sock: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    if let Err(e) = sock.send_to(bytes, peer).await {
        tracing::debug!(%peer, error = %e, "cannot send a DNS response");
    }
}

/// Serves `sock` until `shutdown`.
pub(super) async fn run<R: ClusterRecords>(
    sock: Arc<UdpSocket>,
    handler: Arc<Handler<R>>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = sock.recv_from(&mut buf) => r,
        };
        let (n, peer) = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "DNS receive failed");
                continue;
            }
        };
        let Some(packet) = buf.get(..n) else { continue };
        match handler.start(packet, Transport::Udp) {
            Step::Respond(bytes) => send(&sock, &bytes, peer).await,
            Step::Drop => {}
            Step::Upstream(pending) => match handler.forwarder.try_permit() {
                None => {
                    if let Some(bytes) = handler.busy(&pending) {
                        send(&sock, &bytes, peer).await;
                    }
                }
                Some(permit) => {
                    let (sock, handler, shutdown) =
                        (sock.clone(), handler.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
                        let bytes = tokio::select! {
                            _ = shutdown.cancelled() => None,
                            b = handler.finish(pending) => b,
                        };
                        if let Some(bytes) = bytes {
                            send(&sock, &bytes, peer).await;
                        }
                    });
                }
            },
        }
    }
}
