//! The kubelet's HTTPS port on a joined board (10250, as upstream's): the API server comes
//! here for `kubectl logs` and `kubectl exec` of this board's pods, speaking
//! [`kubelet_wire`](crate::api::kubelet_wire). TLS requires a client certificate from the
//! cluster CA, and only `system:masters` identities (the API server's own
//! `kube-apiserver-kubelet-client`, or an administrator) are served, as upstream's kubelet
//! with webhook authorization grants `nodes/proxy` to the API server alone by default.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::accept::accept_loop;
use crate::api::auth::{identity_from_certificate, MASTERS_GROUP};
use crate::api::body::{self, ChannelBody, ResponseBody};
use crate::api::kubelet_wire::{self, Channel, EXEC_FRAMES, EXEC_PREFIX, LOGS_PREFIX};
use crate::api::pod_log;
use crate::api::pod_streams::{ExecStreams, PodStreams};
use crate::api::status::ApiError;

/// Most connections served at once (the API server keeps one per kubelet).
const MAX_CONNECTIONS: usize = 32;
/// Chunks buffered per response stream.
const CHUNKS: usize = 16;

/// Serves the kubelet port on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    streams: Arc<dyn PodStreams>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let stop = shutdown.clone();
    accept_loop(listener, MAX_CONNECTIONS, shutdown, |tcp, peer| {
        connection(acceptor.clone(), tcp, peer, streams.clone(), stop.clone())
    })
    .await;
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    streams: Arc<dyn PodStreams>,
    shutdown: CancellationToken,
) {
    let tls = match acceptor.accept(tcp).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "kubelet port: TLS handshake failed");
            return;
        }
    };
    // The verifier required a certificate chaining to the cluster CA; who is it?
    let allowed = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| identity_from_certificate(c).ok())
        .filter(|who| who.in_group(MASTERS_GROUP));
    let Some(who) = allowed else {
        tracing::info!(%peer, "kubelet port: refused a client outside system:masters");
        return;
    };
    let user = Arc::new(who.user);
    let service = service_fn(move |req| {
        let (streams, user) = (streams.clone(), user.clone());
        let span = tracing::info_span!("kubelet request", method = %req.method(), path = %req.uri().path(), user = %user);
        async move { Ok::<_, Infallible>(route(streams.as_ref(), req).await) }.instrument(span)
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r { tracing::debug!(%peer, error = %e, "kubelet connection ended") },
        _ = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
    }
}

async fn route(streams: &dyn PodStreams, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_string();
    let result = match *req.method() {
        Method::GET if path == "/healthz" => Ok(body::full(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok",
        )),
        Method::GET if path.starts_with(LOGS_PREFIX) => logs(streams, &path, req).await,
        Method::POST if path.starts_with(EXEC_PREFIX) => exec(streams, &path, req).await,
        _ => Err(ApiError::path_not_found()),
    };
    result.unwrap_or_else(|e| body::error(&e))
}

fn target(path: &str, prefix: &str) -> Result<(String, String, String), ApiError> {
    kubelet_wire::parse_target(path, prefix).ok_or_else(|| {
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
    let (_, request) = pod_log::parse(&query, &pod)?;
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

async fn exec(
    streams: &dyn PodStreams,
    path: &str,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let (namespace, pod, container) = target(path, EXEC_PREFIX)?;
    let (command, stdin) = kubelet_wire::parse_exec_query(req.uri().query());
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let process = streams
        .exec(&namespace, &pod, &container, command, stdin)
        .await?;
    let ExecStreams {
        stdin,
        stdout,
        stderr,
        exit,
    } = process;
    if let Some(tx) = stdin {
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
            let _ = tx.send(kubelet_wire::exit_frame(code)).await;
        }
    });
    Ok(body::streaming(StatusCode::OK, EXEC_FRAMES, out))
}

/// Copies the request body into the process's stdin; its end closes stdin.
async fn feed_stdin(mut body: Incoming, tx: mpsc::Sender<Bytes>) {
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            if tx.send(data).await.is_err() {
                return;
            }
        }
    }
}

/// Frames everything `rx` yields onto `tx`; false when the API server went away.
async fn relay(mut rx: mpsc::Receiver<Bytes>, channel: Channel, tx: mpsc::Sender<Bytes>) -> bool {
    while let Some(chunk) = rx.recv().await {
        if tx
            .send(kubelet_wire::encode_frame(channel, &chunk))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}
