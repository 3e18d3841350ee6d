//! The agent's end of a tunnel: dials the API server, asks for the upgrade, and serves the
//! kubelet's HTTP/2 service on the upgraded stream with the server as the client; reconnects
//! when the tunnel drops, after a capped, jittered backoff (as k3s' remotedialer client
//! does), so a cluster's boards do not all redial at the same instant after a server restart.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::{handshake, PROTOCOL, TUNNEL_PATH};
use crate::serving::body::ResponseBody;

/// The service a tunnel carries: the kubelet port's request handler.
pub type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>
        + Send
        + Sync,
>;

/// Time to connect, shake hands and be upgraded.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before redialling.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// The longest wait before redialling: a board behind a flaky uplink is reachable again
/// within half a minute of the link coming back.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A tunnel that stayed up this long was healthy: the next redial starts from the minimum.
const HEALTHY: Duration = Duration::from_secs(60);
/// The most of a refusal's body kept for the log.
const MAX_REFUSAL_BYTES: usize = 4 << 10;

/// Why a tunnel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The server URL is not `https://host[:port]`.
    #[error("server URL {0:?} is not https://HOST[:PORT]")]
    Url(String),
    /// TCP or TLS failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP/1.1 exchange failed.
    #[error("tunnel request failed: {0}")]
    Http(#[from] hyper::Error),
    /// The server answered something other than `101`.
    #[error("the server refused the tunnel ({status}): {message}")]
    Refused {
        /// The answer's status.
        status: StatusCode,
        /// Its body.
        message: String,
    },
    /// Opening took longer than [`OPEN_TIMEOUT`].
    #[error("opening the tunnel timed out")]
    Timeout,
}

/// Where and how the agent dials.
pub struct Dialer {
    /// The server's URL, `https://host[:port]`.
    pub server: String,
    /// The agent's TLS settings for the API server (cluster CA, node client certificate).
    pub tls: Arc<rustls::ClientConfig>,
    /// What the tunnel serves.
    pub handler: Handler,
}

impl Dialer {
    /// Keeps a tunnel open until `shutdown`: dials, serves until the tunnel drops, waits and
    /// dials again.
    pub async fn run(self, shutdown: CancellationToken) {
        let tls = http1_only(&self.tls);
        let mut backoff = BACKOFF_MIN;
        loop {
            let started = Instant::now();
            let opened = tokio::select! {
                r = tokio::time::timeout(OPEN_TIMEOUT, open(&self.server, tls.clone())) => r,
                _ = shutdown.cancelled() => return,
            };
            match opened {
                Ok(Ok(upgraded)) => {
                    tracing::info!(server = %self.server, "tunnel to the API server open");
                    let why = serve(upgraded, self.handler.clone(), &shutdown).await;
                    tracing::info!(server = %self.server, why, "tunnel to the API server closed");
                }
                Ok(Err(e)) => {
                    tracing::warn!(server = %self.server, error = %e, "cannot open the tunnel")
                }
                Err(_) => {
                    tracing::warn!(server = %self.server, error = %DialError::Timeout, "cannot open the tunnel")
                }
            }
            if started.elapsed() >= HEALTHY {
                backoff = BACKOFF_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(jittered(backoff)) => {}
                _ = shutdown.cancelled() => return,
            }
            backoff = backoff.saturating_mul(2).min(BACKOFF_MAX);
        }
    }
}

/// Half to all of `backoff`, at random.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::random_range(0.5..=1.0))
}

/// `tls` speaking HTTP/1.1 only: the upgrade is an HTTP/1.1 exchange.
fn http1_only(tls: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(tls)
}

/// Host and port of `https://host[:port][/...]`.
fn host_port(server: &str) -> Result<(String, u16), DialError> {
    let bad = || DialError::Url(server.to_string());
    let rest = server.strip_prefix("https://").ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.trim_matches(['[', ']']), p.parse().map_err(|_| bad())?)
        }
        _ => (authority.trim_matches(['[', ']']), 443),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Connects to the server with `tls` and asks for the upgrade.
async fn open(server: &str, tls: Arc<rustls::ClientConfig>) -> Result<Upgraded, DialError> {
    let (host, port) = host_port(server)?;
    let addr = format!("{host}:{port}");
    let connect = |source| DialError::Connect {
        addr: addr.clone(),
        source,
    };
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(connect)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.clone())
        .map_err(|e| connect(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(connect)?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        addr.clone()
    };
    upgrade(stream, &authority).await
}

/// Sends the tunnel request on `io` and waits for the server's `101`.
pub async fn upgrade<IO>(io: IO, authority: &str) -> Result<Upgraded, DialError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "tunnel connection ended");
        }
    });
    let request = Request::get(TUNNEL_PATH)
        .header(header::HOST, authority)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, PROTOCOL)
        .body(Empty::<Bytes>::new())
        .map_err(|e| DialError::Refused {
            status: StatusCode::BAD_REQUEST,
            message: e.to_string(),
        })?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REFUSAL_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|s| s["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        return Err(DialError::Refused { status, message });
    }
    Ok(hyper::upgrade::on(response).await?)
}

/// Serves `handler` over HTTP/2 on the upgraded stream until the tunnel ends or `shutdown`;
/// says why it ended.
pub async fn serve(upgraded: Upgraded, handler: Handler, shutdown: &CancellationToken) -> String {
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler(req).await) }
    });
    let conn = handshake::server_builder().serve_connection(upgraded, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => match r {
            Ok(()) => "closed by the server".to_string(),
            Err(e) => e.to_string(),
        },
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
            "shutting down".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_give_host_and_port() {
        assert_eq!(
            host_port("https://pi-1:6443").unwrap(),
            ("pi-1".into(), 6443)
        );
        assert_eq!(
            host_port("https://[fd00::1]:6443/").unwrap(),
            ("fd00::1".into(), 6443)
        );
        assert_eq!(host_port("https://pi-1").unwrap(), ("pi-1".into(), 443));
        assert!(host_port("http://pi-1:6443").is_err());
        assert!(host_port("https://:6443").is_err());
    }

    #[test]
    fn redials_wait_between_half_and_all_of_the_backoff() {
        for _ in 0..100 {
            let d = jittered(BACKOFF_MAX);
            assert!(d >= BACKOFF_MAX / 2 && d <= BACKOFF_MAX, "{d:?}");
        }
    }
}
