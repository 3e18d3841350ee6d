//! Which way the API server reaches a node's kubelet: straight to its kubelet port, the fast
//! path wherever the server can dial the board, or through the node's tunnel when it cannot
//! (the board sits behind NAT, or a firewall drops inbound connections).
//!
//! The direct dial is tried first, within [`DIRECT_DIAL_TIMEOUT`]. When it fails and the node
//! has a tunnel, the tunnel carries the request, and the node is remembered for
//! [`REMEMBER_TUNNEL`]: its later requests go straight to the tunnel instead of waiting for a
//! dial that will fail again. After that the direct path is tried once more, so a board
//! that became reachable (moved onto the server's LAN) gets the direct path back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Method, Request, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;

use super::Tunnels;
use crate::client::http::{HttpClient, HttpError, RequestBody};

/// How long a direct dial of a kubelet may take before the tunnel is used: a board on the
/// server's LAN answers within milliseconds; an address behind NAT never answers, and a
/// kubectl user should not wait long for that to be found out.
pub const DIRECT_DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node whose direct dial failed is reached through its tunnel without trying.
pub const REMEMBER_TUNNEL: Duration = Duration::from_secs(300);

/// Why neither way reaches a node's kubelet.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The direct dial failed and the node has no tunnel.
    #[error("{0}")]
    Direct(#[from] HttpError),
    /// The direct dial did not answer in time and the node has no tunnel.
    #[error("no answer within {0:?}, and the node has no tunnel")]
    Timeout(Duration),
    /// The node reports no kubelet address and has no tunnel.
    #[error("the node reports no kubelet address and has no tunnel")]
    NoRoute,
    /// Sending over the chosen way failed.
    #[error("{0}")]
    Send(String),
}

/// One way to a kubelet, chosen for one request.
pub enum Link {
    /// The kubelet port, over the API server's own TLS connection to it.
    Direct(Arc<HttpClient>),
    /// The node's tunnel.
    Tunnel(SendRequest<RequestBody>),
}

impl Link {
    /// Sends `method path_and_query` with `body` (which may still be streaming) to `node`'s
    /// kubelet this way.
    pub async fn send(
        self,
        node: &str,
        method: Method,
        path_and_query: &str,
        body: RequestBody,
    ) -> Result<http::Response<Incoming>, RouteError> {
        match self {
            Link::Direct(http) => http
                .send_body(method, path_and_query, &[], body)
                .await
                .map_err(RouteError::Direct),
            Link::Tunnel(mut sender) => {
                let uri = Uri::builder()
                    .scheme("https")
                    .authority(node)
                    .path_and_query(path_and_query)
                    .build()
                    .map_err(|e| RouteError::Send(e.to_string()))?;
                let request = Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(body)
                    .map_err(|e| RouteError::Send(e.to_string()))?;
                sender
                    .ready()
                    .await
                    .map_err(|e| RouteError::Send(format!("tunnel: {e}")))?;
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| RouteError::Send(format!("tunnel: {e}")))
            }
        }
    }
}

/// The tunnels, and the nodes lately reached through them.
#[derive(Clone, Default)]
pub struct Routes {
    tunnels: Tunnels,
    via_tunnel: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Routes {
    /// Routes over `tunnels` (the table the tunnel endpoint fills).
    pub fn new(tunnels: Tunnels) -> Self {
        Routes {
            tunnels,
            via_tunnel: Arc::default(),
        }
    }

    fn memory(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        // Never poisoned: a panic while holding it aborts the process (`panic = "abort"`).
        self.via_tunnel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `node` has an open tunnel.
    pub fn has_tunnel(&self, node: &str) -> bool {
        self.tunnels.sender(node).is_some()
    }

    /// Whether `node` was lately found unreachable directly (and so goes to its tunnel).
    pub fn prefers_tunnel(&self, node: &str) -> bool {
        let mut memory = self.memory();
        let now = Instant::now();
        memory.retain(|_, until| *until > now);
        memory.contains_key(node)
    }

    /// The way to `node`'s kubelet for one request; `direct` is its kubelet port's client
    /// when the node reports an address.
    pub async fn link(
        &self,
        node: &str,
        direct: Option<Arc<HttpClient>>,
    ) -> Result<Link, RouteError> {
        let tunnel = self.tunnels.sender(node);
        if let Some(t) = &tunnel {
            if self.prefers_tunnel(node) {
                return Ok(Link::Tunnel(t.clone()));
            }
        }
        let Some(http) = direct else {
            return tunnel.map(Link::Tunnel).ok_or(RouteError::NoRoute);
        };
        let failure = match tokio::time::timeout(DIRECT_DIAL_TIMEOUT, http.connected()).await {
            Ok(Ok(())) => return Ok(Link::Direct(http)),
            Ok(Err(e)) => RouteError::Direct(e),
            Err(_) => RouteError::Timeout(DIRECT_DIAL_TIMEOUT),
        };
        match tunnel {
            Some(t) => {
                tracing::info!(%node, direct = %failure, "kubelet port unreachable: using the node's tunnel");
                self.memory()
                    .insert(node.to_string(), Instant::now() + REMEMBER_TUNNEL);
                Ok(Link::Tunnel(t))
            }
            None => Err(failure),
        }
    }
}
