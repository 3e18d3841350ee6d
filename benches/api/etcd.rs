//! etcd for comparison: a single-member etcd (the `etcd` on `PATH`, e.g. Debian's
//! `etcd-server`) started with default durability (every commit fsyncs its WAL) in its own
//! data directory on free loopback ports, and a small client for its JSON gRPC gateway
//! (`POST /v3/kv/put`, `POST /v3/kv/range`, keys and values base64). The gateway is served
//! over HTTP/1.1 only (etcd routes cleartext HTTP/2 to gRPC), so concurrent requests use a
//! pool of keep-alive connections.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::bramble_server::free_port;

/// How long etcd may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running etcd; killed when dropped.
pub struct Etcd {
    child: Child,
    client: EtcdClient,
}

impl Etcd {
    /// Starts etcd with its data in `dir/etcd` and its log in `dir/etcd.log`, and waits until
    /// it serves a read.
    pub async fn start(dir: &Path) -> anyhow::Result<Etcd> {
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.join("etcd.log")).context("etcd log")?;
        let child = Command::new("etcd")
            .args(["--name", "bench"])
            .arg("--data-dir")
            .arg(dir.join("etcd"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting etcd (is the etcd-server package installed?)")?;
        let mut etcd = Etcd {
            child,
            client: EtcdClient::new(client_url),
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("etcd exited early with {status}");
            }
            // Any well-formed answer to a read (the key need not exist) means etcd serves.
            let probe = json!({"key": BASE64.encode("bench-ready")});
            if self.client.call("/v3/kv/range", &probe).await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("etcd not ready after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client for this etcd.
    pub fn client(&self) -> EtcdClient {
        self.client.clone()
    }

    /// The client URL, as `--datastore-endpoint` takes it.
    pub fn url(&self) -> &str {
        &self.client.base
    }

    /// etcd's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client for etcd's JSON gateway. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct EtcdClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl EtcdClient {
    fn new(base: String) -> EtcdClient {
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build_http();
        EtcdClient { base, http }
    }

    /// Writes `value` at `key`.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let body = json!({"key": BASE64.encode(key), "value": BASE64.encode(value)});
        self.call("/v3/kv/put", &body).await.map(drop)
    }

    /// Reads `key`; an absent key is an error.
    pub async fn get(&self, key: &[u8]) -> Result<Vec<u8>, String> {
        let reply = self
            .call("/v3/kv/range", &json!({"key": BASE64.encode(key)}))
            .await?;
        let Some(value) = reply["kvs"][0]["value"].as_str() else {
            return Err(format!("key {} not found", String::from_utf8_lossy(key)));
        };
        BASE64.decode(value).map_err(|e| e.to_string())
    }

    async fn call(&self, path: &str, body: &Value) -> Result<Value, String> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("etcd {path} answered {status}: {text}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}
