//! Both ends of a tunnel's opening: which request the API server accepts on
//! [`TUNNEL_PATH`](super::TUNNEL_PATH) and from whom, the `101 Switching Protocols` answer,
//! and the HTTP/2 settings each side runs on the upgraded stream.
//!
//! Only a node may open a tunnel, and only its own: the Node authorizer's rule that a node
//! identity (`system:node:<name>` in `system:nodes`) reaches only its own node. The tunnel is
//! registered under the name in the identity, never under a name the request carries, so
//! there is nothing to check a name against. A request without credentials gets 401, any
//! other identity 403, both as `Status` objects. The API server authenticates before it
//! answers, so a client without credentials never holds an upgraded connection.
//!
//! What one tunnel may make the API server hold is bounded on both sides: the server (the
//! HTTP/2 client) takes at most [`STREAM_WINDOW`] unread bytes per stream and
//! [`CONNECTION_WINDOW`] per tunnel, buffers at most [`SEND_BUFFER`] per stream towards the
//! agent, and refuses header lists over [`MAX_HEADER_LIST`]; the agent (the HTTP/2 server)
//! accepts [`MAX_STREAMS`] streams at once. Keepalive pings every [`KEEPALIVE_INTERVAL`],
//! answered within [`KEEPALIVE_TIMEOUT`], find a dead link (a NAT router that forgot the
//! mapping, a board that lost power) within about 20 s on both ends.

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use super::{Tunnels, PROTOCOL};
use crate::client::status::ApiError;
use crate::pki::identity::{Identity, NODES_GROUP, NODE_USER_PREFIX};
use crate::serving::body::{self, ResponseBody};

/// HTTP/2 streams the agent serves at once on one tunnel: logs, exec sessions and
/// port-forward connections of one board; a board's kubelet port allows more, but a tunnel
/// shares one TCP connection (and one NAT mapping) among them.
pub const MAX_STREAMS: u32 = 64;
/// Unread response bytes the server accepts per stream (kube-apiserver's upload buffer).
pub const STREAM_WINDOW: u32 = 256 << 10;
/// Unread response bytes the server accepts per tunnel across its streams.
pub const CONNECTION_WINDOW: u32 = 1 << 20;
/// Request bytes buffered per stream towards the agent.
pub const SEND_BUFFER: usize = 64 << 10;
/// Largest header list either side accepts.
pub const MAX_HEADER_LIST: u32 = 64 << 10;
/// How often a quiet tunnel is pinged.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping's answer may take before the tunnel is taken for dead.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The node a tunnel request's identity may open a tunnel for.
///
/// `credentials` says whether the request carried any (anonymous requests get 401).
pub fn authorize(who: &Identity, credentials: bool) -> Result<String, ApiError> {
    if !credentials {
        return Err(ApiError::unauthorized());
    }
    let node = who
        .user
        .strip_prefix(NODE_USER_PREFIX)
        .filter(|n| !n.is_empty() && who.in_group(NODES_GROUP));
    match node {
        Some(n) => Ok(n.to_string()),
        None => Err(ApiError::forbidden(format!(
            "User {:?} cannot open a node tunnel: only a node ({NODE_USER_PREFIX}<name> in {NODES_GROUP}) may, for itself",
            who.user
        ))),
    }
}

/// Whether `headers` ask to upgrade to a tunnel (`Connection: Upgrade`, `Upgrade:
/// bramble-tunnel/1`).
pub fn asks_for_tunnel(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade = headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(PROTOCOL));
    connection_upgrade && upgrade
}

/// Serves a request for [`TUNNEL_PATH`](super::TUNNEL_PATH): checks who asks and what, answers
/// `101`, and once the connection is upgraded registers the tunnel in `tunnels` until it
/// closes or `shutdown`.
pub fn accept(
    tunnels: &Tunnels,
    who: &Identity,
    credentials: bool,
    shutdown: &CancellationToken,
    mut req: Request<Incoming>,
) -> Response<ResponseBody> {
    let node = match authorize(who, credentials) {
        Ok(n) => n,
        Err(e) => {
            tracing::info!(user = %who.user, code = e.code, "tunnel refused");
            return body::error(&e);
        }
    };
    if req.method() != Method::GET {
        return body::error(&ApiError::method_not_allowed());
    }
    // HTTP/2 has no Upgrade: an agent opens its tunnel over HTTP/1.1.
    if req.version() != http::Version::HTTP_11 || !asks_for_tunnel(req.headers()) {
        return body::error(&ApiError::bad_request(format!(
            "a node tunnel is opened with an HTTP/1.1 GET and `Connection: Upgrade`, `Upgrade: {PROTOCOL}`"
        )));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let (tunnels, shutdown) = (tunnels.clone(), shutdown.clone());
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => tunnels.serve(node, upgraded, shutdown).await,
            Err(e) => tracing::debug!(%node, error = %e, "tunnel upgrade failed"),
        }
    });
    switching_protocols()
}

fn switching_protocols() -> Response<ResponseBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static(PROTOCOL));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    response
}

/// The API server's HTTP/2 client settings on a tunnel.
pub fn client_builder() -> hyper::client::conn::http2::Builder<hyper_util::rt::TokioExecutor> {
    let mut b = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    b.timer(hyper_util::rt::TokioTimer::new())
        .initial_max_send_streams(MAX_STREAMS as usize)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEADER_LIST)
        .max_send_buf_size(SEND_BUFFER)
        .keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    b
}

/// The agent's HTTP/2 server settings on a tunnel.
pub fn server_builder() -> hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    b.timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST)
        .max_send_buf_size(SEND_BUFFER)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, groups: &[&str]) -> Identity {
        Identity::authenticated(
            user.to_string(),
            groups.iter().map(|g| g.to_string()).collect(),
        )
    }

    #[test]
    fn only_a_node_identity_opens_a_tunnel_and_only_under_its_own_name() {
        let node = id("system:node:pi-2", &[NODES_GROUP]);
        assert_eq!(authorize(&node, true).unwrap(), "pi-2");
        // a node name without the group is not a node
        let e = authorize(&id("system:node:pi-2", &["system:authenticated"]), true).unwrap_err();
        assert_eq!(e.code, 403);
        let e = authorize(&id("admin", &["system:masters"]), true).unwrap_err();
        assert_eq!(e.code, 403);
        let e = authorize(&id("system:node:", &[NODES_GROUP]), true).unwrap_err();
        assert_eq!(e.code, 403);
        let e = authorize(&Identity::anonymous(), false).unwrap_err();
        assert_eq!(e.code, 401);
    }

    #[test]
    fn the_upgrade_must_name_the_tunnel_protocol() {
        let mut h = HeaderMap::new();
        assert!(!asks_for_tunnel(&h));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!asks_for_tunnel(&h));
        h.insert(
            header::UPGRADE,
            HeaderValue::from_static("Bramble-Tunnel/1"),
        );
        assert!(asks_for_tunnel(&h));
        h.remove(header::CONNECTION);
        assert!(!asks_for_tunnel(&h));
    }
}
