//! `pods/{name}/portforward`: checks the request as upstream's `PortForwardREST` does, then
//! upgrades the HTTP/1.1 connection to a SPDY/3.1 session and hands it to
//! [`port_forward_relay`](super::port_forward_relay), which forwards each of the session's
//! connections to the pod's node. kubectl 1.31 and newer first ask for a WebSocket with the
//! subprotocol `SPDY/3.1+portforward.k8s.io` — the same session tunnelled in binary messages
//! (client-go's `tunneling_connection.go`) — and fall back to `Upgrade: SPDY/3.1` with
//! `X-Stream-Protocol-Version: portforward.k8s.io` when that is refused; both are served.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::body::ResponseBody;
use super::pod_streams::{self, Kubelets};
use super::port_forward_relay::{self, Target};
use super::status::ApiError;

/// The port forwarding protocol (upstream's `PortForwardProtocolV1Name`).
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol that tunnels the SPDY session.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The request header naming the stream protocols a SPDY client speaks.
const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// Bytes read from the upgraded connection at a time.
const READ_CHUNK: usize = 16 << 10;
/// Chunks (frames, or WebSocket messages) queued each way between the connection and the
/// session.
const QUEUE: usize = 16;
/// The largest WebSocket message or frame accepted: a SPDY frame's limit and some room.
const MAX_MESSAGE: usize = 2 << 20;
/// How long frames still queued for the client may take to leave once the session ends.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// How the client asked for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// SPDY frames in WebSocket binary messages.
    WebSocket,
    /// SPDY frames on the upgraded connection itself.
    Spdy,
}

/// The ports a request names (`ports=8080&ports=9090`, or comma-separated), checked as
/// upstream's `PortForwardOptions`; they are optional for SPDY, whose streams name ports.
pub fn parse_ports(query: Option<&str>) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != "ports" {
            continue;
        }
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port {p:?}: ports must be between 1 and 65535"
                    )))
                }
            }
        }
    }
    Ok(ports)
}

fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Which upgrade the request asks for, or why it cannot be served.
fn transport(headers: &HeaderMap) -> Result<Transport, ApiError> {
    if has_token(headers, &header::UPGRADE, "websocket")
        && headers.contains_key(header::SEC_WEBSOCKET_KEY)
    {
        if has_token(headers, &header::SEC_WEBSOCKET_PROTOCOL, TUNNEL_PROTOCOL) {
            return Ok(Transport::WebSocket);
        }
        // kubectl falls back to SPDY on a refused WebSocket upgrade.
        return Err(ApiError::bad_request(format!(
            "port forwarding over a WebSocket needs the subprotocol {TUNNEL_PROTOCOL}"
        )));
    }
    if has_token(headers, &header::UPGRADE, "SPDY/3.1") {
        let name = header::HeaderName::from_static(PROTOCOL_HEADER);
        if has_token(headers, &name, PROTOCOL) {
            return Ok(Transport::Spdy);
        }
        // upstream's `httpstream.Handshake` wording
        return Err(ApiError::forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: server accepts [{PROTOCOL}]"
        )));
    }
    Err(ApiError::bad_request(format!(
        "port forwarding needs a connection upgrade: a WebSocket with subprotocol {TUNNEL_PROTOCOL}, or SPDY/3.1 with {PROTOCOL_HEADER}: {PROTOCOL}"
    )))
}

/// Serves a port forward request on `pod` (the stored object): answers `101 Switching
/// Protocols` and runs the session on the upgraded connection.
pub async fn serve(
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    pod: &Value,
    mut req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    parse_ports(req.uri().query())?;
    let text = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = text("/metadata/name");
    let node = pod_streams::node_name(pod);
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let target = Target {
        namespace: text("/metadata/namespace"),
        uid: text("/metadata/uid"),
        streams: kubelets.for_node(node)?,
        name,
    };
    let transport = transport(req.headers())?;
    let accept = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()));
    let upgrade = hyper::upgrade::on(&mut req);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => match transport {
                Transport::WebSocket => over_websocket(upgraded, target, shutdown).await,
                Transport::Spdy => over_spdy(upgraded, target, shutdown).await,
            },
            Err(e) => tracing::debug!(error = %e, "port forward upgrade failed"),
        }
    });
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match transport {
        Transport::WebSocket => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(TUNNEL_PROTOCOL),
            );
            if let Some(v) = accept.and_then(|a| HeaderValue::from_str(&a).ok()) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
        }
        Transport::Spdy => {
            h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            h.insert(PROTOCOL_HEADER, HeaderValue::from_static(PROTOCOL));
        }
    }
    Ok(response)
}

/// The session straight on the upgraded connection.
async fn over_spdy(upgraded: Upgraded, target: Target, shutdown: CancellationToken) {
    let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(QUEUE);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(QUEUE);
    let reading = tokio::spawn(async move {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if in_tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let writing = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    port_forward_relay::run(in_rx, out_tx, target, shutdown).await;
    reading.abort();
    finish(writing).await;
}

/// The session in the binary messages of a WebSocket.
async fn over_websocket(upgraded: Upgraded, target: Target, shutdown: CancellationToken) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (mut sink, mut stream) = ws.split();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(QUEUE);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(QUEUE);
    let reading = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Binary(chunk)) => {
                    if in_tx.send(chunk).await.is_err() {
                        return;
                    }
                }
                // client-go's tunnel sends binary messages only; a text one is a broken peer
                Ok(Message::Text(_)) | Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let writing = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if sink.send(Message::Binary(frame)).await.is_err() {
                return;
            }
        }
        // A normal closure is the tunnel's end of stream for client-go.
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(normal))).await;
    });
    port_forward_relay::run(in_rx, out_tx, target, shutdown).await;
    reading.abort();
    finish(writing).await;
}

/// Lets the writer send what is queued, for a moment at most.
async fn finish(writing: tokio::task::JoinHandle<()>) {
    let abort = writing.abort_handle();
    if tokio::time::timeout(FLUSH_GRACE, writing).await.is_err() {
        abort.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn kubectls_two_upgrades_are_recognised() {
        let ws = headers(&[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        assert_eq!(transport(&ws).unwrap(), Transport::WebSocket);
        let spdy = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("connection", "Upgrade"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]);
        assert_eq!(transport(&spdy).unwrap(), Transport::Spdy);
    }

    #[test]
    fn other_requests_are_refused_so_kubectl_can_fall_back() {
        let exec_ws = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ]);
        assert_eq!(transport(&exec_ws).unwrap_err().code, 400);
        let old = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ]);
        assert_eq!(transport(&old).unwrap_err().code, 403);
        assert_eq!(transport(&HeaderMap::new()).unwrap_err().code, 400);
    }

    #[test]
    fn ports_are_optional_but_checked() {
        assert_eq!(parse_ports(None).unwrap(), Vec::<u16>::new());
        assert_eq!(
            parse_ports(Some("ports=8080&ports=80,443")).unwrap(),
            vec![8080, 80, 443]
        );
        for bad in ["ports=0", "ports=65536", "ports=http"] {
            assert_eq!(parse_ports(Some(bad)).unwrap_err().code, 400, "{bad}");
        }
    }
}
