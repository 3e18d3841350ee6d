//! Reverse tunnels: a board with no inbound reachability keeps one connection open to the API server, over which the server reaches its kubelet.
//!
//! The role k3s' remotedialer and Kubernetes' Konnectivity agent play upstream. The agent
//! dials out ([`dialer`]): mutual TLS with its node client certificate to the API server, an
//! HTTP/1.1 `GET` of [`TUNNEL_PATH`] asking to upgrade to [`PROTOCOL`]; once the server
//! answers `101 Switching Protocols` the roles turn round and the agent serves its kubelet's
//! HTTP/2 service ([`crate::pod_streams::wire`]) on the upgraded stream, with the server as
//! the HTTP/2 client. The server checks the request ([`handshake`]), runs the HTTP/2 client
//! handshake and keeps the sender under the node's name ([`registry`]), where the kubelet
//! client finds it when the node's kubelet port cannot be dialled directly.

pub mod dialer;
pub mod handshake;
pub mod registry;
pub mod route;

#[cfg(test)]
mod tests;

/// The Bramble endpoint an agent opens its tunnel on.
pub const TUNNEL_PATH: &str = "/bramble/v1/tunnel";
/// The `Upgrade` token of a tunnel: the agent serves HTTP/2 on the upgraded stream.
pub const PROTOCOL: &str = "bramble-tunnel/1";

pub use registry::Tunnels;
pub use route::Routes;
