//! Connection hygiene shared by Bramble's HTTPS listeners (the API server and a joined board's
//! kubelet port): what one client, or anyone without credentials, may hold open.
//!
//! kube-apiserver relies on Go's `http.Server` for this (`ReadHeaderTimeout` 32 s,
//! `IdleTimeout` 90 s, a 10 s TLS handshake deadline, `--http2-max-streams-per-connection`) and
//! on `--max-requests-inflight` for requests; it has no connection cap at all, because Go
//! accepts every connection the kernel hands it. A board cannot hold unbounded connections,
//! so Bramble caps them, and the cap must not become the weakness: a cap that is simply full
//! (as a semaphore waited on before `accept`) lets anyone who can reach the port lock every
//! user out with a few hundred idle sockets.
//!
//! The rule chosen here: every connection is accepted at once, then judged by [`pool`].
//! - A connection starts *unauthenticated* and moves to the authenticated share when its TLS
//!   handshake presents a client certificate the cluster CA signed (the verifier rejects any
//!   other), or when a request on it authenticates (a valid bearer token).
//! - Unauthenticated connections live in a bounded pool, a fraction of the global limit.
//!   When the pool (or the whole listener) is full, the newcomer is still admitted and the
//!   oldest unauthenticated connection of the address holding the most of them is closed.
//!   A flood therefore evicts itself: a real client, which authenticates within
//!   milliseconds of connecting, holds at most a waiter or two, so the busiest address is the
//!   flood's whenever the flood comes from fewer addresses than the pool's size. From more
//!   addresses than that, ties go to the oldest waiter, and a client's connection lasts as
//!   long as the flood takes to open a pool's worth of newer ones: longer than a handshake
//!   unless the flood opens thousands of connections a second (see the figures below).
//!   A reserved share for CA-signed certificates alone would not do: bearer-token clients
//!   (service accounts, joining boards) must not be starved either, and nobody's credentials
//!   are known before the handshake completes.
//! - Each client address holds at most [`ListenerLimits::max_per_address`] connections, so one
//!   host cannot take the authenticated share either; the excess is closed right after
//!   `accept`, which keeps the kernel's accept queue empty for everybody else.
//! - Every connection has a TLS handshake deadline, an HTTP/1.1 header-read deadline, a
//!   deadline for its first request and an idle timeout (HTTP/1.1 keep-alive and HTTP/2 alike:
//!   no request in flight), and HTTP/2 stream, header and buffer limits ([`connection`]).
//!   hyper starts the header-read clock when it starts waiting for a request head, so an
//!   HTTP/1.1 keep-alive connection waits for its next request no longer than the shorter of
//!   the two timeouts (Go starts it at the first byte).
//!   Upgraded connections (exec, attach, port-forward) leave hyper, and these limits, once
//!   upgraded: they are long-running by design and already authorized.

pub mod accept;
pub mod activity;
pub mod connection;
pub mod pool;

use std::time::Duration;

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections served at once; beyond it an unauthenticated one is evicted or the
    /// newcomer is closed.
    pub max_connections: usize,
    /// Connections one client address may hold.
    pub max_per_address: usize,
    /// Connections without an authenticated identity (handshaking, no certificate and no
    /// authenticated request yet) held at once.
    pub max_unauthenticated: usize,
    /// Time a client has to complete its TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time a client has to send a whole HTTP/1.1 request head, and to start its first request
    /// on a new connection.
    pub header_read_timeout: Duration,
    /// Time a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once.
    pub http2_max_streams: u32,
}

/// The API server's global connection limit: 512 connections cost a board ~40 MB at most
/// (TLS state plus hyper's buffers, measured ~60-80 KB per busy connection), while a
/// cluster of boards needs a few per kubelet and per controller client.
pub const API_MAX_CONNECTIONS: usize = 512;
/// One address (a board, an administrator's laptop) needs a handful; 64 leaves room for
/// scripts running kubectl in parallel and for addresses shared behind NAT.
pub const API_MAX_PER_ADDRESS: usize = 64;
/// A quarter of the global limit may wait to authenticate, so at least three quarters always
/// remain for clients that did; a flood would have to open 128 connections within one
/// client handshake (~5 ms on a Pi: 25,000 connections/s) to evict that client.
pub const API_MAX_UNAUTHENTICATED: usize = API_MAX_CONNECTIONS / 4;
/// As Go's `tls.Conn` handshake deadline that kube-apiserver's clients and servers use.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// kube-apiserver's `ReadHeaderTimeout` ("just shy of requestTimeoutUpperBound").
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);
/// kube-apiserver's `IdleTimeout`, matching Go's `DefaultTransport` keep-alive.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Go's HTTP/2 default (kube-apiserver raises it to 1000 for large clusters): one client's
/// informers and watches fit, and `max_streams` × [`connection::HTTP2_SEND_BUFFER`] bounds what
/// one connection can make the server buffer (250 × 64 KiB = 16 MiB).
pub const HTTP2_MAX_STREAMS: u32 = 250;

/// The kubelet port serves the API server (a few connections per API server) and
/// administrators: 64 connections are plenty, and a quarter of them may be waiting for a
/// handshake. That share is what a flood churns through: a client's connection survives as
/// long as the flood needs to open 16 newer ones, which must take longer than the client's
/// handshake (a few ms on a Pi), so 16 keeps floods below ~3,000 connections/s harmless.
pub const KUBELET_LIMITS: ListenerLimits = ListenerLimits {
    max_connections: 64,
    max_per_address: 32,
    max_unauthenticated: 16,
    tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
    header_read_timeout: HEADER_READ_TIMEOUT,
    // upstream's `--streaming-connection-idle-timeout` is 4 h, for streams; an idle
    // connection between them is the API server's pooled client and may be reopened.
    idle_timeout: IDLE_TIMEOUT,
    http2_max_streams: HTTP2_MAX_STREAMS,
};

// Each cap leaves room inside the global limit (checked when compiling).
const _: () = assert!(
    API_MAX_PER_ADDRESS < API_MAX_CONNECTIONS && API_MAX_UNAUTHENTICATED < API_MAX_CONNECTIONS
);
const _: () = assert!(
    KUBELET_LIMITS.max_per_address < KUBELET_LIMITS.max_connections
        && KUBELET_LIMITS.max_unauthenticated < KUBELET_LIMITS.max_connections
);

impl Default for ListenerLimits {
    /// The API server's limits.
    fn default() -> Self {
        ListenerLimits {
            max_connections: API_MAX_CONNECTIONS,
            max_per_address: API_MAX_PER_ADDRESS,
            max_unauthenticated: API_MAX_UNAUTHENTICATED,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            http2_max_streams: HTTP2_MAX_STREAMS,
        }
    }
}

impl ListenerLimits {
    /// The limits made consistent: at least one connection of each kind, the per-address and
    /// unauthenticated caps no larger than the global one, and nothing zero that would
    /// refuse everybody.
    pub fn normalized(mut self) -> Self {
        self.max_connections = self.max_connections.max(1);
        self.max_per_address = self.max_per_address.clamp(1, self.max_connections);
        self.max_unauthenticated = self.max_unauthenticated.clamp(1, self.max_connections);
        self.http2_max_streams = self.http2_max_streams.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_keeps_caps_inside_the_global_limit() {
        let l = ListenerLimits {
            max_connections: 10,
            max_per_address: 0,
            max_unauthenticated: 50,
            ..ListenerLimits::default()
        }
        .normalized();
        assert_eq!((l.max_per_address, l.max_unauthenticated), (1, 10));
        let d = ListenerLimits::default();
        assert!(d.max_per_address < d.max_connections);
        assert!(d.max_unauthenticated < d.max_connections);
    }
}
