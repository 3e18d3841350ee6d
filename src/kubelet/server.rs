//! The kubelet's HTTPS port on a joined board (10250, as upstream's): the API server comes
//! here for `kubectl logs`, `exec`, `attach` and `port-forward` of this board's pods, speaking
//! [`kubelet_wire`](crate::pod_streams::wire). TLS requires a client certificate from the
//! cluster CA, and only `system:masters` identities (the API server's own
//! `kube-apiserver-kubelet-client`, or an administrator) are served, as upstream's kubelet
//! with webhook authorization grants `nodes/proxy` to the API server alone by default.
//! The read-only endpoints (`/healthz`, `/stats/summary`, `/metrics`, `/metrics/resource`,
//! `/metrics/cadvisor`) are served under the same rule, through [`PodStreams::node_get`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::client::status::ApiError;
use crate::pki::identity::{identity_from_certificate, MASTERS_GROUP};
use crate::pod_streams::wire::{
    self, Channel, Frame, FrameDecoder, ATTACH_PREFIX, EXEC_FRAMES, EXEC_PREFIX, LOGS_PREFIX,
    PORT_FORWARD_PREFIX,
};
use crate::pod_streams::{ExecStreams, PodStreams, PortStreams, TerminalSize};
use crate::serving::body::{self, ChannelBody, ResponseBody};
use crate::serving::listener::accept::accept_loop;
use crate::serving::listener::connection::{Handshake, Protocols, TlsConnections};
use crate::serving::listener::pool::ConnectionPool;
use crate::serving::listener::KUBELET_LIMITS;

/// Chunks buffered per response stream.
const CHUNKS: usize = 16;

/// Serves the kubelet port on `listener` until `shutdown`, with the connection limits of
/// [`KUBELET_LIMITS`] (the same accept loop and connection handling as the API server's).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    streams: Arc<dyn PodStreams>,
    shutdown: CancellationToken,
) {
    let connections = TlsConnections {
        acceptor: TlsAcceptor::from(tls),
        limits: KUBELET_LIMITS,
        protocols: Protocols::Http2Only,
        shutdown: shutdown.clone(),
    };
    let pool = ConnectionPool::new(&KUBELET_LIMITS);
    accept_loop(listener, pool, shutdown, |tcp, peer, ticket| {
        let streams = streams.clone();
        let make = move |handshake: Handshake| service(streams, handshake);
        connections.clone().serve(tcp, peer, ticket, make)
    })
    .await;
}

/// The service of one connection, or none for a client outside `system:masters`.
fn service(
    streams: Arc<dyn PodStreams>,
    handshake: Handshake,
) -> Option<
    impl Service<
            Request<Incoming>,
            Response = Response<ResponseBody>,
            Error = Infallible,
            Future = impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send,
        > + Send
        + 'static,
> {
    let peer = handshake.peer;
    // The verifier required a certificate chaining to the cluster CA; who is it?
    let allowed = handshake
        .certificates
        .as_deref()
        .and_then(|c| c.first())
        .and_then(|c| identity_from_certificate(c).ok())
        .filter(|who| who.in_group(MASTERS_GROUP));
    let Some(who) = allowed else {
        tracing::info!(%peer, "kubelet port: refused a client outside system:masters");
        return None;
    };
    let user = Arc::new(who.user);
    Some(service_fn(move |req| {
        let (streams, user) = (streams.clone(), user.clone());
        let span = tracing::info_span!("kubelet request", method = %req.method(), path = %req.uri().path(), user = %user);
        async move { Ok::<_, Infallible>(route(streams.as_ref(), req).await) }.instrument(span)
    }))
}

/// Answers one request of the API server (on the kubelet port, or through the board's
/// tunnel, whose peer is the API server by construction).
pub async fn route(streams: &dyn PodStreams, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_string();
    let result = match *req.method() {
        Method::GET if is_read_only(&path) => node_get(streams, &req).await,
        Method::GET if path.starts_with(LOGS_PREFIX) => logs(streams, &path, req).await,
        Method::POST if path.starts_with(EXEC_PREFIX) => exec(streams, &path, req, false).await,
        Method::POST if path.starts_with(ATTACH_PREFIX) => exec(streams, &path, req, true).await,
        Method::POST if path.starts_with(PORT_FORWARD_PREFIX) => port_forward(streams, req).await,
        _ => Err(ApiError::path_not_found()),
    };
    result.unwrap_or_else(|e| body::error(&e))
}

/// The kubelet's read-only endpoints.
fn is_read_only(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/healthz" | "/stats/summary" | "/metrics" | "/metrics/resource" | "/metrics/cadvisor"
    )
}

async fn node_get(
    streams: &dyn PodStreams,
    req: &Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let answer = streams.node_get(path_and_query).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    Ok(body::full(status, &answer.content_type, answer.body))
}

fn target(path: &str, prefix: &str) -> Result<(String, String, String), ApiError> {
    wire::parse_target(path, prefix).ok_or_else(|| {
        ApiError::bad_request(format!(
            "expected {prefix}<namespace>/<pod>/<container>, got {path}"
        ))
    })
}

async fn logs(
    streams: &dyn PodStreams,
    path: &str,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let (namespace, pod, container) = target(path, LOGS_PREFIX)?;
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let (_, request) = crate::pod_streams::log_options::parse(&query, &pod)?;
    let mut rx = streams.logs(&namespace, &pod, &container, request).await?;
    let (tx, out) = ChannelBody::channel(CHUNKS);
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(body::streaming(StatusCode::OK, "text/plain", out))
}

/// An exec, or with `attach` an attach (the same exchange without a command).
async fn exec(
    streams: &dyn PodStreams,
    path: &str,
    req: Request<Incoming>,
    attach: bool,
) -> Result<Response<ResponseBody>, ApiError> {
    let prefix = if attach { ATTACH_PREFIX } else { EXEC_PREFIX };
    let (namespace, pod, container) = target(path, prefix)?;
    let (command, stdin, tty) = wire::parse_exec_query(req.uri().query());
    let process = if attach {
        streams
            .attach(&namespace, &pod, &container, stdin, tty)
            .await?
    } else {
        if command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least 1 command"));
        }
        streams
            .exec(&namespace, &pod, &container, command, stdin, tty)
            .await?
    };
    let ExecStreams {
        stdin,
        resize,
        stdout,
        stderr,
        exit,
    } = process;
    if tty {
        tokio::spawn(feed_terminal(req.into_body(), stdin, resize));
    } else if let Some(tx) = stdin {
        tokio::spawn(feed_stdin(req.into_body(), tx));
    }
    let (tx, out) = ChannelBody::channel(CHUNKS);
    tokio::spawn(async move {
        let (out_done, err_done) = tokio::join!(
            relay(stdout, Channel::Stdout, tx.clone()),
            relay(stderr, Channel::Stderr, tx.clone()),
        );
        if out_done && err_done {
            let code = exit.await.unwrap_or(1);
            let _ = tx.send(wire::exit_frame(code)).await;
        }
    });
    Ok(body::streaming(StatusCode::OK, EXEC_FRAMES, out))
}

/// One connection to a pod's port: the request body goes to the pod, the response body is
/// what the pod's port answers.
async fn port_forward(
    streams: &dyn PodStreams,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let (namespace, pod, port) = wire::parse_port_forward(req.uri().path(), req.uri().query())
        .ok_or_else(|| {
            ApiError::bad_request("expected /portForward/<namespace>/<pod>?port=<1-65535>")
        })?;
    let PortStreams {
        to_pod,
        mut from_pod,
    } = streams.port_forward(&namespace, &pod, port).await?;
    tokio::spawn(feed_stdin(req.into_body(), to_pod));
    let (tx, out) = ChannelBody::channel(CHUNKS);
    tokio::spawn(async move {
        while let Some(chunk) = from_pod.recv().await {
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(body::streaming(
        StatusCode::OK,
        "application/octet-stream",
        out,
    ))
}

/// Copies the request body into the process's stdin (or a pod's port); its end closes it.
async fn feed_stdin(mut body: Incoming, tx: mpsc::Sender<Bytes>) {
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            if tx.send(data).await.is_err() {
                return;
            }
        }
    }
}

/// Decodes a terminal's framed request body: typed input to `stdin`, sizes to `resize`;
/// its end closes stdin.
async fn feed_terminal(
    mut body: Incoming,
    mut stdin: Option<mpsc::Sender<Bytes>>,
    resize: Option<mpsc::Sender<TerminalSize>>,
) {
    let mut decoder = FrameDecoder::default();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        decoder.push(&data);
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Stdin(b))) => {
                    if let Some(tx) = &stdin {
                        if tx.send(b).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Ok(Some(Frame::Resize(size))) => {
                    if let Some(tx) = &resize {
                        let _ = tx.try_send(size);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad terminal input from the API server");
                    return;
                }
            }
        }
    }
}

/// Frames everything `rx` yields onto `tx`; false when the API server went away.
async fn relay(mut rx: mpsc::Receiver<Bytes>, channel: Channel, tx: mpsc::Sender<Bytes>) -> bool {
    while let Some(chunk) = rx.recv().await {
        if tx.send(wire::encode_frame(channel, &chunk)).await.is_err() {
            return false;
        }
    }
    true
}
