//! `pods/{name}/exec` and `pods/{name}/attach`: parses upstream's `PodExecOptions` (or
//! `PodAttachOptions`), starts the command (or attaches to the container's own stdio)
//! through the node's [`PodStreams`], upgrades the HTTP/1.1 connection to a WebSocket speaking the
//! remotecommand channel protocol ([`super::remotecommand`]) and relays stdin, stdout, stderr
//! and the final exit `Status` between kubectl and the process.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::body::ResponseBody;
use super::pod_streams::{self, ExecStreams, Kubelets};
use super::remotecommand::{self as rc, ClientMessage};
use super::status::ApiError;

/// How long the client gets to acknowledge the closing handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The query of an exec request (`command` repeats, so the raw query is parsed here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// Container name; empty when not named.
    pub container: String,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client wants stdout.
    pub stdout: bool,
    /// Whether the client wants stderr.
    pub stderr: bool,
    /// Whether the client asked for a terminal.
    pub tty: bool,
}

fn truthy(v: &str) -> bool {
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
}

/// Parses and checks an exec query as upstream's `PodExecOptions` and remotecommand
/// `NewOptions` do.
pub fn parse(query: Option<&str>) -> Result<ExecRequest, ApiError> {
    parse_as(query, false)
}

/// Parses and checks an exec query, or with `attach` a `PodAttachOptions` one (no command).
pub fn parse_as(query: Option<&str>, attach: bool) -> Result<ExecRequest, ApiError> {
    let mut r = ExecRequest::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "container" => r.container = v.into_owned(),
            "command" => r.command.push(v.into_owned()),
            "stdin" => r.stdin = truthy(&v),
            "stdout" => r.stdout = truthy(&v),
            "stderr" => r.stderr = truthy(&v),
            "tty" => r.tty = truthy(&v),
            _ => {}
        }
    }
    if r.command.is_empty() && !attach {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    if !(r.stdin || r.stdout || r.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    // Upstream's remotecommand `NewOptions`: a terminal merges stderr into stdout.
    if r.tty {
        r.stderr = false;
    }
    Ok(r)
}

/// The subprotocol of a WebSocket upgrade request, or why it cannot be served.
fn upgrade_protocol(headers: &HeaderMap) -> Result<&'static str, ApiError> {
    let text = |h: &header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let websocket = text(&header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !websocket || text(&header::SEC_WEBSOCKET_KEY).is_none() {
        return Err(ApiError::bad_request(
            "exec and attach need a WebSocket upgrade (subprotocol v5.channel.k8s.io or v4.channel.k8s.io); use kubectl 1.29 or newer",
        ));
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    rc::negotiate(&offered).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unsupported remotecommand subprotocols {offered:?}: this server speaks {} and {}",
            rc::V5,
            rc::V4
        ))
    })
}

/// Serves an exec request on `pod` (the stored object), or with `attach` an attach
/// request: checks it, starts the command (or attaches to the container's stdio) and
/// answers `101 Switching Protocols`, relaying the streams on the upgraded connection.
pub async fn serve(
    kubelets: &Kubelets,
    shutdown: &CancellationToken,
    pod: &Value,
    mut req: Request<Incoming>,
    attach: bool,
) -> Result<Response<ResponseBody>, ApiError> {
    let exec = parse_as(req.uri().query(), attach)?;
    let container = pod_streams::resolve_container(pod, &exec.container)?;
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let node = pod_streams::node_name(pod);
    if node.is_empty() {
        // Upstream `ExecLocation`'s error for an unscheduled pod.
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let streams = kubelets.for_node(node)?;
    // After the pod checks, so kubectl's SPDY fallback reports the same error as its
    // WebSocket attempt.
    let protocol = upgrade_protocol(req.headers())?;
    let process = if attach {
        streams
            .attach(namespace, name, &container, exec.stdin, exec.tty)
            .await?
    } else {
        streams
            .exec(
                namespace,
                name,
                &container,
                exec.command.clone(),
                exec.stdin,
                exec.tty,
            )
            .await?
    };
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
        .unwrap_or_default();
    let upgrade = hyper::upgrade::on(&mut req);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                relay(ws, protocol, process, &exec, shutdown).await;
            }
            Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
        }
    });
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol),
    );
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(response)
}

/// Relays one exec session until the process has ended and its output is drained, then
/// writes the exit `Status` on the error channel and closes the connection.
pub async fn relay<S>(
    mut ws: WebSocketStream<S>,
    protocol: &'static str,
    process: ExecStreams,
    exec: &ExecRequest,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ExecStreams {
        stdin,
        resize,
        mut stdout,
        mut stderr,
        mut exit,
    } = process;
    let mut stdin = stdin.filter(|_| exec.stdin);
    // One stdin chunk at a time: the client is not read while the process is not reading.
    let mut pending: Option<Bytes> = None;
    let (mut out_open, mut err_open, mut client_open) = (true, true, true);
    let status = loop {
        tokio::select! {
            permit = reserve(stdin.clone()), if pending.is_some() => {
                match permit {
                    Some(p) => { p.send(pending.take().unwrap_or_default()); }
                    None => { pending = None; stdin = None; }
                }
            }
            m = ws.next(), if client_open && pending.is_none() => match m {
                Some(Ok(Message::Binary(data))) => match rc::client_message(protocol, &data) {
                    ClientMessage::Stdin(b) if stdin.is_some() && !b.is_empty() => pending = Some(b),
                    ClientMessage::CloseStdin => stdin = None,
                    // A size the process has no time to apply is superseded by the next.
                    ClientMessage::Resize(size) => {
                        if let Some(tx) = &resize {
                            let _ = tx.try_send(size);
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    client_open = false;
                    stdin = None;
                }
                Some(Ok(_)) => {}
            },
            c = stdout.recv(), if out_open => match c {
                Some(b) if exec.stdout => {
                    if ws.send(Message::Binary(rc::frame(rc::STDOUT, &b))).await.is_err() { return; }
                }
                Some(_) => {}
                None => out_open = false,
            },
            c = stderr.recv(), if err_open => match c {
                Some(b) if exec.stderr => {
                    if ws.send(Message::Binary(rc::frame(rc::STDERR, &b))).await.is_err() { return; }
                }
                Some(_) => {}
                None => err_open = false,
            },
            code = &mut exit, if !out_open && !err_open => break match code {
                Ok(code) => rc::exit_status(code, &exec.command),
                Err(_) => rc::failure_status("the process's exit code was lost"),
            },
            _ = shutdown.cancelled() => break rc::failure_status("the server is shutting down"),
        }
    };
    let json = serde_json::to_vec(&status).unwrap_or_default();
    if ws
        .send(Message::Binary(rc::frame(rc::ERROR, &json)))
        .await
        .is_err()
    {
        return;
    }
    // A normal closure is how kubectl's client tells the end of the streams from a failure.
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = ws.close(Some(normal)).await;
    // Wait (briefly) for the client's close so the connection ends cleanly.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Room for one chunk in the process's stdin; `None` once stdin is closed.
async fn reserve(stdin: Option<mpsc::Sender<Bytes>>) -> Option<mpsc::OwnedPermit<Bytes>> {
    stdin?.reserve_owned().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_exec_query() {
        let r = parse(Some(
            "command=sh&command=-c&command=echo+out%3B+exit+3&container=web&stdin=true&stdout=true&stderr=true",
        ))
        .unwrap();
        assert_eq!(r.command, ["sh", "-c", "echo out; exit 3"]);
        assert_eq!(r.container, "web");
        assert!(r.stdin && r.stdout && r.stderr && !r.tty);
    }

    #[test]
    fn unusable_exec_queries_are_rejected() {
        assert_eq!(parse(Some("stdout=true")).unwrap_err().code, 400);
        let e = parse(Some("command=ls")).unwrap_err();
        assert_eq!(
            e.message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        let tty = parse(Some("command=sh&stdin=1&stdout=1&stderr=1&tty=true")).unwrap();
        assert!(tty.tty && tty.stdin && tty.stdout);
        assert!(!tty.stderr, "a terminal carries stderr on stdout");
    }

    #[test]
    fn only_websocket_upgrades_with_a_known_protocol_are_served() {
        let mut h = HeaderMap::new();
        assert!(upgrade_protocol(&h).is_err());
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert!(upgrade_protocol(&h).is_err());
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        assert_eq!(upgrade_protocol(&h).unwrap(), rc::V4);
        h.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        assert_eq!(upgrade_protocol(&h).unwrap(), rc::V5);
    }

    /// Runs `relay` against an in-memory client: `cat`-like process fed by the client's
    /// stdin, then exiting with `code`; returns every message the client received.
    async fn session(protocol: &'static str, code: i32) -> Vec<Vec<u8>> {
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let (in_tx, mut in_rx) = mpsc::channel::<Bytes>(1);
        let (out_tx, stdout) = mpsc::channel(4);
        let (err_tx, stderr) = mpsc::channel(4);
        let (exit_tx, exit) = tokio::sync::oneshot::channel();
        // The process echoes its stdin to stdout and exits at EOF.
        tokio::spawn(async move {
            while let Some(b) = in_rx.recv().await {
                let _ = out_tx.send(b).await;
            }
            drop(out_tx);
            let _ = exit_tx.send(code);
        });
        let process = ExecStreams {
            stdin: Some(in_tx),
            resize: None,
            stdout,
            stderr,
            exit,
        };
        let exec = parse(Some("command=cat&stdin=1&stdout=1&stderr=1")).unwrap();
        drop(err_tx);
        let relay = tokio::spawn(async move {
            relay(server, protocol, process, &exec, CancellationToken::new()).await;
        });
        client
            .send(Message::Binary(rc::frame(rc::STDIN, b"ping")))
            .await
            .unwrap();
        if protocol == rc::V5 {
            client
                .send(Message::Binary(Bytes::from_static(&[rc::CLOSE, rc::STDIN])))
                .await
                .unwrap();
        } else {
            // v4 cannot close stdin alone; the process ends when the client's stdin does
            // here through a close of the whole connection.
            client.send(Message::Close(None)).await.unwrap();
        }
        let mut got = Vec::new();
        while let Some(Ok(m)) = client.next().await {
            if let Message::Binary(b) = m {
                got.push(b.to_vec());
            }
        }
        relay.await.unwrap();
        got
    }

    #[tokio::test]
    async fn v5_relays_stdin_stdout_and_the_exit_status() {
        let got = session(rc::V5, 3).await;
        assert_eq!(got[0], b"\x01ping");
        let status: Value = serde_json::from_slice(&got[1][1..]).unwrap();
        assert_eq!(got[1][0], rc::ERROR);
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");
        assert_eq!(got.len(), 2);
    }

    #[tokio::test]
    async fn v4_ends_stdin_when_the_client_closes() {
        // Without v5's close channel, only closing the connection ends the process's stdin;
        // the session must then end instead of waiting for the process forever.
        let got = tokio::time::timeout(Duration::from_secs(10), session(rc::V4, 0))
            .await
            .expect("the session ends once the client has gone");
        assert!(got.iter().all(|m| m[0] == rc::STDOUT), "{got:?}");
    }
}
