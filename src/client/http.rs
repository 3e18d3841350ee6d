//! A Kubernetes REST client over rustls: one HTTP/2 connection (HTTP/1.1 if the server will
//! not speak h2) built from a kubeconfig, reconnected when it drops, to one of several
//! servers (`failover.rs` chooses which). HTTP/2 pings find a server that stopped answering.
//! `bramble ctl`, joining boards and the test suite use it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use super::failover::{Endpoint, ServerList, CONNECT_TIMEOUT};
use crate::pki::kubeconfig::{Credentials, Kubeconfig};

/// How often an HTTP/2 connection is pinged (idle ones too, so the next request does not
/// wait on a dead one), and how long a ping may go unanswered before the connection counts
/// as dead (and the next request fails over).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
/// How long after a failed connection attempt requests fail without another attempt.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server URL is not `https://host:port`.
    #[error("server URL {0:?} is not https://HOST[:PORT]")]
    Url(String),
    /// TLS settings could not be built from the kubeconfig.
    #[error("TLS settings from the kubeconfig: {0}")]
    Tls(String),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP request failed: {0}")]
    Http(String),
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A request body: complete, or streamed (an exec session's stdin).
pub type RequestBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

enum Sender {
    H2(hyper::client::conn::http2::SendRequest<RequestBody>),
    H1(hyper::client::conn::http1::SendRequest<RequestBody>),
}

/// A connection to an API server, one of a list.
pub struct HttpClient {
    servers: ServerList,
    tls: TlsConnector,
    token: Option<String>,
    /// The open connection and the index of the server it goes to.
    sender: Mutex<Option<(Sender, usize)>>,
    /// The last failed connection attempt: when, where, and its error's kind and text.
    failed: std::sync::Mutex<Option<Failure>>,
}

/// A failed connection attempt, remembered briefly.
#[derive(Clone)]
struct Failure {
    at: std::time::Instant,
    addr: String,
    kind: std::io::ErrorKind,
    text: String,
}

impl HttpClient {
    /// A client for the cluster and user of `kc` (connects lazily).
    pub fn new(kc: &Kubeconfig) -> Result<Arc<HttpClient>, HttpError> {
        HttpClient::with_servers(kc, std::slice::from_ref(&kc.server))
    }

    /// A client for the user of `kc` and the cluster's CA, to `servers` in order of
    /// preference (the kubeconfig's own server is not added).
    pub fn with_servers(kc: &Kubeconfig, servers: &[String]) -> Result<Arc<HttpClient>, HttpError> {
        let (cert, token) = match &kc.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                (Some((cert_pem.as_str(), key_pem.as_str())), None)
            }
            Credentials::Token(t) => (None, Some(t.clone())),
            Credentials::None => (None, None),
        };
        let config = crate::pki::client_tls_config(&kc.ca_pem, cert)
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        HttpClient::with_tls_servers(servers, config, token)
    }

    /// A client for `server` (`https://host[:port]`) over the given TLS settings, sending
    /// `token` as a bearer credential when given.
    pub fn with_tls(
        server: &str,
        tls: Arc<rustls::ClientConfig>,
        token: Option<String>,
    ) -> Result<Arc<HttpClient>, HttpError> {
        HttpClient::with_tls_servers(std::slice::from_ref(&server.to_string()), tls, token)
    }

    /// [`HttpClient::with_tls`] to several servers, in order of preference.
    pub fn with_tls_servers(
        servers: &[String],
        tls: Arc<rustls::ClientConfig>,
        token: Option<String>,
    ) -> Result<Arc<HttpClient>, HttpError> {
        let endpoints = servers
            .iter()
            .map(|s| Endpoint::parse(s).ok_or_else(|| HttpError::Url(s.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(HttpError::Url(String::new()));
        }
        Ok(Arc::new(HttpClient {
            servers: ServerList::new(endpoints),
            tls: TlsConnector::from(tls),
            token,
            sender: Mutex::new(None),
            failed: std::sync::Mutex::new(None),
        }))
    }

    /// Makes the next request open a new connection (after the client certificate changed,
    /// as the kubelet's certificate manager closes its connections upstream). Requests
    /// already under way, watches included, finish on the old one.
    pub async fn reconnect(&self) {
        *self.sender.lock().await = None;
    }

    /// Opens the connection now unless one is open, so a caller can tell an unreachable
    /// server from a failed request before it hands over a streaming body.
    pub async fn connected(&self) -> Result<(), HttpError> {
        let mut guard = self.sender.lock().await;
        self.ensure_connected(&mut guard).await
    }

    /// Keeps the connection in `guard` usable: reconnects when it dropped, and tries the
    /// list from the top again once it has been away from the first server long enough.
    async fn ensure_connected(&self, guard: &mut Option<(Sender, usize)>) -> Result<(), HttpError> {
        let usable = match guard.as_mut() {
            Some((Sender::H2(s), _)) => s.ready().await.is_ok(),
            Some((Sender::H1(s), _)) => s.ready().await.is_ok(),
            None => false,
        };
        if usable {
            if self.servers.time_to_return() {
                // Keep the connection in use when no earlier server answers.
                if let Ok(better) = self.connect().await {
                    *guard = Some(better);
                }
            }
            return Ok(());
        }
        // Requests queued behind a failed attempt fail with it rather than each waiting out
        // its own (a board whose link is down has a dozen tasks asking).
        let recent = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .filter(|f| f.at.elapsed() < RECONNECT_PAUSE);
        if let Some(f) = recent {
            return Err(HttpError::Connect {
                addr: f.addr,
                source: std::io::Error::new(f.kind, f.text),
            });
        }
        match self.connect().await {
            Ok(s) => {
                *guard = Some(s);
                Ok(())
            }
            Err(e) => {
                if let HttpError::Connect { addr, source } = &e {
                    let failure = Failure {
                        at: std::time::Instant::now(),
                        addr: addr.clone(),
                        kind: source.kind(),
                        text: source.to_string(),
                    };
                    *self
                        .failed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failure);
                }
                Err(e)
            }
        }
    }

    /// Connects to the first server that answers, in the list's order; the error is the
    /// last server's.
    async fn connect(&self) -> Result<(Sender, usize), HttpError> {
        let mut last = HttpError::Http("no server".into());
        for index in self.servers.attempt_order() {
            let Some(endpoint) = self.servers.get(index) else {
                continue;
            };
            let addr = endpoint.authority();
            match tokio::time::timeout(CONNECT_TIMEOUT, self.connect_to(endpoint)).await {
                Ok(Ok(sender)) => {
                    self.servers.connected(index);
                    return Ok((sender, index));
                }
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = HttpError::Connect {
                        addr,
                        source: std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer within {CONNECT_TIMEOUT:?}"),
                        ),
                    }
                }
            }
            if self.servers.len() > 1 {
                tracing::warn!(server = %endpoint.authority(), error = %last,
                    "API server not answering; trying the next");
            }
        }
        Err(last)
    }

    async fn connect_to(&self, endpoint: &Endpoint) -> Result<Sender, HttpError> {
        let addr = endpoint.authority();
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|source| HttpError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|source| HttpError::Connect { addr, source })?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(KEEP_ALIVE)
                .keep_alive_timeout(KEEP_ALIVE)
                .keep_alive_while_idle(true)
                .handshake(io)
                .await
                .map_err(|e| HttpError::Http(e.to_string()))?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| HttpError::Http(e.to_string()))?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
    }

    /// Sends a request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<http::Response<Incoming>, HttpError> {
        let body = Full::new(Bytes::from(body)).boxed();
        self.send_body(method, path_and_query, headers, body).await
    }

    /// [`HttpClient::send`] with a body that may still be streaming (over HTTP/2 both
    /// directions stream at once).
    pub async fn send_body(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: RequestBody,
    ) -> Result<http::Response<Incoming>, HttpError> {
        let mut guard = self.sender.lock().await;
        self.ensure_connected(&mut guard).await?;
        let Some(endpoint) = guard.as_ref().and_then(|(_, i)| self.servers.get(*i)) else {
            return Err(HttpError::Http("no connection".into()));
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("https://{}{path_and_query}", endpoint.authority()))
            .body(body)
            .map_err(|e| HttpError::Http(e.to_string()))?;
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                req.headers_mut().insert(k, v);
            }
        }
        if let Some(t) = &self.token {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}")) {
                req.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
        }
        let fut = match guard.as_mut() {
            Some((Sender::H2(s), _)) => {
                let f = s.send_request(req);
                drop(guard);
                return f.await.map_err(|e| HttpError::Http(e.to_string()));
            }
            Some((Sender::H1(s), _)) => {
                // HTTP/1.1 carries one request at a time: keep the lock until the head arrives.
                s.send_request(req).await
            }
            None => return Err(HttpError::Http("no connection".into())),
        };
        fut.map_err(|e| HttpError::Http(e.to_string()))
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, HttpError> {
        let resp = self.send(method, path_and_query, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
