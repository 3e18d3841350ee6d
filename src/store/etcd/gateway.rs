//! A client of etcd's v3 JSON gateway over HTTP/1.1 (TLS through rustls when the endpoint
//! is `https://`): unary requests on pooled connections, one connection per watch stream,
//! and failover to the next endpoint when one cannot be reached or has no leader.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::wire::GatewayError;
use super::EtcdConfig;
use crate::store::StoreError;

/// How long connecting to an endpoint (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one unary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: a page of objects at the store's object limit, base64.
pub(super) const MAX_ANSWER_BYTES: usize = 128 << 20;
/// Idle connections kept per client.
const MAX_IDLE: usize = 8;

/// gRPC status codes etcd answers with that mean "try again, maybe elsewhere".
const UNAVAILABLE: i64 = 14;
const DEADLINE_EXCEEDED: i64 = 4;

/// One etcd endpoint.
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    host: String,
    port: u16,
    https: bool,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, StoreError> {
        let bad = || {
            StoreError::EtcdConfig(format!(
                "endpoint {url:?} is not http://HOST:PORT or https://HOST:PORT"
            ))
        };
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.is_empty() {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.trim_matches(['[', ']']), p.parse().map_err(|_| bad())?)
            }
            _ => (authority.trim_matches(['[', ']']), 2379),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_string(),
            host: host.to_string(),
            port,
            https,
        })
    }
}

/// An HTTP/1.1 connection to one endpoint.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// The client; shared by the follower, the writers and the compactor.
pub(super) struct Gateway {
    endpoints: Vec<Endpoint>,
    tls: Option<TlsConnector>,
    /// The endpoint requests go to first.
    current: AtomicUsize,
    idle: Mutex<Vec<(usize, SendRequest<Full<Bytes>>)>>,
}

impl Gateway {
    pub(super) fn new(config: &EtcdConfig) -> Result<Gateway, StoreError> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| Endpoint::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(StoreError::EtcdConfig("no etcd endpoint given".into()));
        }
        let tls = match (&config.tls, endpoints.iter().any(|e| e.https)) {
            (Some(tls), _) => Some(TlsConnector::from(tls.client_config()?)),
            (None, true) => {
                return Err(StoreError::EtcdConfig(
                    "https:// endpoints need a CA file (--datastore-cafile)".into(),
                ))
            }
            (None, false) => None,
        };
        Ok(Gateway {
            endpoints,
            tls,
            current: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The URL of endpoint `i`.
    pub(super) fn url(&self, i: usize) -> &str {
        self.endpoints.get(i).map_or("", |e| e.url.as_str())
    }

    /// The endpoint to try first.
    pub(super) fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.endpoints.len()
    }

    /// Moves on from endpoint `failed` to the next (unless someone already did).
    pub(super) fn fail_over(&self, failed: usize) {
        let next = (failed + 1) % self.endpoints.len();
        let _ = self
            .current
            .compare_exchange(failed, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Posts `body` to `path`, trying each endpoint once from the current one, and decodes
    /// the answer.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, StoreError> {
        self.call_noting_failures(path, body)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Gateway::call`], also saying whether a try at another endpoint failed first (a
    /// write that failed that way may have been applied all the same).
    pub(super) async fn call_noting_failures<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(T, bool), StoreError> {
        let body = Bytes::from(body.to_string());
        let mut last = None;
        for _ in 0..self.endpoints.len() {
            let i = self.current();
            match self.call_at(i, path, body.clone()).await {
                Ok(answer) => {
                    return serde_json::from_slice(&answer)
                        .map(|decoded| (decoded, last.is_some()))
                        .map_err(|e| StoreError::EtcdMalformed {
                            endpoint: self.url(i).to_string(),
                            reason: e.to_string(),
                        })
                }
                Err(e) if is_transient(&e) => {
                    tracing::debug!(error = %e, "etcd request failed; trying the next endpoint");
                    self.fail_over(i);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::EtcdConfig("no etcd endpoint given".into())))
    }

    /// One request to endpoint `i`; the answer's body when etcd accepted it.
    async fn call_at(&self, i: usize, path: &str, body: Bytes) -> Result<Bytes, StoreError> {
        let endpoint = self.url(i).to_string();
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.iter()
                .position(|(e, s)| *e == i && !s.is_closed())
                .map(|at| idle.swap_remove(at).1)
        };
        let mut sender = match pooled {
            Some(s) => s,
            None => self.connect(i).await?,
        };
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|e| unreachable(&endpoint, e))?;
            let response = sender
                .send_request(self.request(i, path, body)?)
                .await
                .map_err(|e| unreachable(&endpoint, e))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(&endpoint, e))?
                .to_bytes();
            Ok::<_, StoreError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| StoreError::EtcdUnreachable {
                endpoint: endpoint.clone(),
                reason: format!("no answer within {REQUEST_TIMEOUT:?}"),
            })??;
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push((i, sender));
            }
        }
        if status == StatusCode::OK {
            return Ok(bytes);
        }
        Err(refusal(&endpoint, status, &bytes))
    }

    /// Opens a watch stream on endpoint `i` with `create_request` as its only request;
    /// the answer's body streams the watch's messages.
    pub(super) async fn watch(&self, i: usize, body: &Value) -> Result<Incoming, StoreError> {
        let endpoint = self.url(i).to_string();
        let mut sender = self.connect(i).await?;
        let open = async {
            sender
                .ready()
                .await
                .map_err(|e| unreachable(&endpoint, e))?;
            let request = self.request(i, "/v3/watch", Bytes::from(body.to_string()))?;
            sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(&endpoint, e))
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, open)
            .await
            .map_err(|_| StoreError::EtcdUnreachable {
                endpoint: endpoint.clone(),
                reason: format!("no answer within {REQUEST_TIMEOUT:?}"),
            })??;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let bytes = Limited::new(response.into_body(), 1 << 16)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(refusal(&endpoint, status, &bytes));
        }
        Ok(response.into_body())
    }

    fn request(
        &self,
        i: usize,
        path: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, StoreError> {
        let e = &self.endpoints[i % self.endpoints.len()];
        let host = if e.host.contains(':') {
            format!("[{}]:{}", e.host, e.port)
        } else {
            format!("{}:{}", e.host, e.port)
        };
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(http::header::HOST, host)
            .header(http::header::CONTENT_TYPE, "application/json")
            // Served only by a member that has a leader (clientv3's WithRequireLeader):
            // a member cut off from the others cancels its watches instead of going quiet.
            .header("grpc-metadata-hasleader", "true")
            .body(Full::new(body))
            .map_err(|e| StoreError::EtcdConfig(format!("building a request: {e}")))
    }

    async fn connect(&self, i: usize) -> Result<SendRequest<Full<Bytes>>, StoreError> {
        let e = &self.endpoints[i % self.endpoints.len()];
        let connecting = async {
            let tcp = TcpStream::connect((e.host.as_str(), e.port))
                .await
                .map_err(|err| unreachable(&e.url, err))?;
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn Io> =
                match (&self.tls, e.https) {
                    (Some(tls), true) => {
                        let name = ServerName::try_from(e.host.clone()).map_err(|err| {
                            StoreError::EtcdTls {
                                endpoint: e.url.clone(),
                                reason: err.to_string(),
                            }
                        })?;
                        Box::new(tls.connect(name, tcp).await.map_err(|err| {
                            StoreError::EtcdTls {
                                endpoint: e.url.clone(),
                                reason: err.to_string(),
                            }
                        })?)
                    }
                    _ => Box::new(tcp),
                };
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|err| unreachable(&e.url, err))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| StoreError::EtcdUnreachable {
                endpoint: e.url.clone(),
                reason: format!("no connection within {CONNECT_TIMEOUT:?}"),
            })?
    }
}

fn unreachable(endpoint: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::EtcdUnreachable {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    }
}

/// The error for an answer other than 200: etcd's own text when the body carries it.
fn refusal(endpoint: &str, status: StatusCode, body: &[u8]) -> StoreError {
    match serde_json::from_slice::<GatewayError>(body) {
        Ok(e) if !e.text().is_empty() => StoreError::Etcd {
            endpoint: endpoint.to_string(),
            code: e.code,
            message: e.text(),
        },
        _ => StoreError::Etcd {
            endpoint: endpoint.to_string(),
            code: if status == StatusCode::SERVICE_UNAVAILABLE {
                UNAVAILABLE
            } else {
                0
            },
            message: format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        },
    }
}

/// Whether another endpoint, or the same one a little later, may well succeed: it could
/// not be reached, or it has no leader now.
pub(super) fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::EtcdUnreachable { .. } => true,
        StoreError::Etcd { code, message, .. } => {
            *code == UNAVAILABLE
                || *code == DEADLINE_EXCEEDED
                || message.contains("leader")
                || message.contains("timed out")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_or_https_urls() {
        let e = Endpoint::parse("https://10.0.0.1:2379/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.https), ("10.0.0.1", 2379, true));
        let e = Endpoint::parse("http://[::1]:12379").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.https), ("::1", 12379, false));
        assert_eq!(Endpoint::parse("http://etcd").unwrap().port, 2379);
        for bad in [
            "etcd:2379",
            "http://",
            "http://a:b",
            "https://a/x",
            "unix:///x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_carry_etcds_text() {
        let e = refusal(
            "http://a:1",
            StatusCode::BAD_REQUEST,
            br#"{"error":"etcdserver: mvcc: required revision has been compacted","code":11}"#,
        );
        assert!(e.to_string().contains("http://a:1"));
        assert!(e.to_string().contains("compacted"));
        assert!(!is_transient(&e));
        let e = refusal(
            "http://a:1",
            StatusCode::SERVICE_UNAVAILABLE,
            b"\xff garbage",
        );
        assert!(is_transient(&e));
    }
}
