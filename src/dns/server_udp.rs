//! DNS over UDP: a few receive loops share each socket (one per core, up to
//! [`MAX_LOOPS`]), each reading whatever datagrams are waiting before it waits again. A query
//! the zone or a replayed answer settles is answered inline; one that needs an upstream runs
//! in its own task while a forwarding place is free, and is answered SERVFAIL at once when
//! none is, so a flood cannot queue work without bound.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::handler::{Handler, Step, Transport};
use super::source::ClusterRecords;

/// Largest datagram read; a longer one is cut, fails to parse and is answered FORMERR.
const RECV_BUFFER: usize = 4096;

/// Receive loops per socket at most.
const MAX_LOOPS: usize = 4;
/// Datagrams one loop handles in a row before it lets other tasks run.
const BURST: usize = 64;

/// How many receive loops each UDP socket gets: one per core, at least one.
pub fn receive_loops() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, MAX_LOOPS)
}

async fn send(sock: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    let sent = match sock.try_send_to(bytes, peer) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => sock.send_to(bytes, peer).await,
        other => other,
    };
    if let Err(e) = sent {
        tracing::debug!(%peer, error = %e, "cannot send a DNS response");
    }
}

/// Serves `sock` until `shutdown`; several may serve one socket.
pub(super) async fn run<R: ClusterRecords>(
    sock: Arc<UdpSocket>,
    handler: Arc<Handler<R>>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = sock.readable() => if let Err(e) = r {
                tracing::debug!(error = %e, "DNS socket not readable");
                continue;
            },
        }
        for _ in 0..BURST {
            let (n, peer) = match sock.try_recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "DNS receive failed");
                    break;
                }
            };
            let Some(packet) = buf.get(..n) else { continue };
            answer(&sock, &handler, &shutdown, packet, peer).await;
        }
        tokio::task::yield_now().await;
    }
}

async fn answer<R: ClusterRecords>(
    sock: &Arc<UdpSocket>,
    handler: &Arc<Handler<R>>,
    shutdown: &CancellationToken,
    packet: &[u8],
    peer: SocketAddr,
) {
    match handler.start(packet, Transport::Udp) {
        Step::Respond(bytes) => send(sock, &bytes, peer).await,
        Step::Drop => {}
        Step::Upstream(pending) => match handler.forwarder.try_permit() {
            None => {
                if let Some(bytes) = handler.busy(&pending) {
                    send(sock, &bytes, peer).await;
                }
            }
            Some(permit) => {
                let (sock, handler, shutdown) = (sock.clone(), handler.clone(), shutdown.clone());
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
