//! A Kubernetes REST client over rustls: one HTTP/2 connection (HTTP/1.1 if the server will
//! not speak h2) built from a kubeconfig, reconnected when it drops. `bramble ctl`, joining
//! boards and the test suite use it.

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

use crate::pki::kubeconfig::{Credentials, Kubeconfig};

/// How long opening a connection to the API server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long after a failed connection attempt requests fail without another attempt.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);
/// How often an HTTP/2 connection is pinged, and how long an answer may take.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

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

/// A connection to one API server.
pub struct HttpClient {
    host: String,
    port: u16,
    tls: TlsConnector,
    token: Option<String>,
    sender: Mutex<Option<Sender>>,
    /// The last failed connection attempt: when, and its error's kind and text.
    failed: std::sync::Mutex<Option<(std::time::Instant, std::io::ErrorKind, String)>>,
}

impl HttpClient {
    /// A client for the cluster and user of `kc` (connects lazily).
    pub fn new(kc: &Kubeconfig) -> Result<Arc<HttpClient>, HttpError> {
        let (cert, token) = match &kc.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                (Some((cert_pem.as_str(), key_pem.as_str())), None)
            }
            Credentials::Token(t) => (None, Some(t.clone())),
            Credentials::None => (None, None),
        };
        let config = crate::pki::client_tls_config(&kc.ca_pem, cert)
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        HttpClient::with_tls(&kc.server, config, token)
    }

    /// A client for `server` (`https://host[:port]`) over the given TLS settings, sending
    /// `token` as a bearer credential when given.
    pub fn with_tls(
        server: &str,
        tls: Arc<rustls::ClientConfig>,
        token: Option<String>,
    ) -> Result<Arc<HttpClient>, HttpError> {
        let bad_url = || HttpError::Url(server.to_string());
        let rest = server.strip_prefix("https://").ok_or_else(bad_url)?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_matches(['[', ']']).to_string(),
                p.parse().map_err(|_| bad_url())?,
            ),
            _ => (authority.trim_matches(['[', ']']).to_string(), 443),
        };
        if host.is_empty() {
            return Err(bad_url());
        }
        Ok(Arc::new(HttpClient {
            host,
            port,
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

    async fn connect(&self) -> Result<Sender, HttpError> {
        let addr = format!("{}:{}", self.host, self.port);
        // a cut link answers nothing: give up and let the caller retry, instead of the
        // kernel's minutes of SYN retries
        let connecting = TcpStream::connect((self.host.as_str(), self.port));
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
            .map_err(|source| HttpError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let name =
            ServerName::try_from(self.host.clone()).map_err(|e| HttpError::Tls(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|source| HttpError::Connect { addr, source })?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            // pings find a connection whose link was cut, failing its requests and watches
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(KEEPALIVE)
                .keep_alive_timeout(KEEPALIVE)
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

    /// Opens the connection now unless one is open, so a caller can tell an unreachable
    /// server from a failed request before it hands over a streaming body.
    pub async fn connected(&self) -> Result<(), HttpError> {
        let mut guard = self.sender.lock().await;
        let usable = match guard.as_mut() {
            Some(Sender::H2(s)) => s.ready().await.is_ok(),
            Some(Sender::H1(s)) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            *guard = Some(self.connect().await?);
        }
        Ok(())
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
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("https://{host}:{}{path_and_query}", self.port))
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
        let mut guard = self.sender.lock().await;
        let usable = match guard.as_mut() {
            Some(Sender::H2(s)) => s.ready().await.is_ok(),
            Some(Sender::H1(s)) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            // Requests queued behind a failed attempt fail with it rather than each waiting
            // out its own (a board whose link is down has a dozen tasks asking).
            let recent = self
                .failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .filter(|(at, _, _)| at.elapsed() < RECONNECT_PAUSE);
            if let Some((_, kind, text)) = recent {
                return Err(HttpError::Connect {
                    addr: format!("{}:{}", self.host, self.port),
                    source: std::io::Error::new(kind, text),
                });
            }
            match self.connect().await {
                Ok(s) => *guard = Some(s),
                Err(e) => {
                    if let HttpError::Connect { source, .. } = &e {
                        let failure =
                            (std::time::Instant::now(), source.kind(), source.to_string());
                        *self
                            .failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failure);
                    }
                    return Err(e);
                }
            }
        }
        let fut = match guard.as_mut() {
            Some(Sender::H2(s)) => {
                let f = s.send_request(req);
                drop(guard);
                return f.await.map_err(|e| HttpError::Http(e.to_string()));
            }
            Some(Sender::H1(s)) => {
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
