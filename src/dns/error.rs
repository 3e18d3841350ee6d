//! Errors of the cluster DNS server that reach its caller: a listener that cannot be opened.
//! Everything that goes wrong while answering (a malformed query, an upstream that does not
//! answer) becomes a DNS response code instead, never an error of the server.

use std::net::SocketAddr;

/// Why the DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No address to listen on was given.
    #[error("the DNS server was given no address to listen on")]
    NoListenAddress,
    /// A UDP or TCP listener could not be opened.
    #[error("cannot listen for DNS over {transport} on {addr}: {source}")]
    Bind {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The zone name is not a valid domain name.
    #[error("invalid cluster domain {zone:?}")]
    InvalidZone {
        /// The configured name.
        zone: String,
    },
}
