//! Load through the real HTTPS API: ConfigMap creates and gets over one HTTP/2 connection
//! (the way kubectl and client-go share a connection), and watch delivery latency — the time
//! from a create's `201 Created` to the matching `ADDED` line on an open watch stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bramble::client::http::HttpClient;
use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::load::{self, percentile, KeySet, Phases, Workload};

/// Namespace every benchmark object lives in (exists in every cluster).
const NAMESPACE: &str = "default";
/// How long to wait for watch events still in flight after the last create.
const WATCH_GRACE: Duration = Duration::from_secs(5);

/// A ConfigMap carrying `payload` bytes of data, like a small application config.
pub fn config_map(name: &str, payload: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"payload": text(name.len() as u64, payload)},
    })
}

/// `len` pseudo-random base64 characters from `seed`: data that deflates no further than
/// base64 itself (to about three quarters), so a store that compresses gets no free ride.
pub fn text(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed.wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[(x >> 58) as usize])
        })
        .collect()
}

fn collection_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/configmaps")
}

/// Creates ConfigMaps (each create must answer 201), then reads them back (200).
pub async fn creates_then_gets(client: Arc<HttpClient>, workload: &Workload) -> Phases {
    let payload = workload.payload;
    let name = |set: KeySet, i: usize| format!("cm-{}-{i}", set.label());
    let creator = client.clone();
    let create = move |set, i| {
        let client = creator.clone();
        let body = serde_json::to_vec(&config_map(&name(set, i), payload));
        async move {
            let body = body.map_err(|e| e.to_string())?;
            let headers = [("content-type", "application/json")];
            let reply = client
                .request(Method::POST, &collection_path(), &headers, body)
                .await
                .map_err(|e| e.to_string())?;
            expect_status(reply.status, StatusCode::CREATED, &reply.body)
        }
    };
    let get = move |set, i| {
        let client = client.clone();
        let path = format!("{}/{}", collection_path(), name(set, i));
        async move {
            let reply = client
                .request(Method::GET, &path, &[], vec![])
                .await
                .map_err(|e| e.to_string())?;
            expect_status(reply.status, StatusCode::OK, &reply.body)
        }
    };
    load::write_then_read(workload, create, get).await
}

fn expect_status(got: StatusCode, want: StatusCode, body: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    Err(format!("expected {want}, got {got}: {body}"))
}

/// What the watch-latency phase measured.
#[derive(Debug, Default)]
pub struct WatchLatency {
    /// Creates answered 201.
    pub created: usize,
    /// Microseconds from each `201 Created` to its `ADDED` event, sorted; negative when the
    /// event arrived first (the server publishes a change once durable, then answers).
    pub after_reply_us: Vec<f64>,
    /// From sending each create to its `ADDED` event, sorted.
    pub after_request: Vec<Duration>,
    /// Created objects whose event never arrived within the grace period.
    pub missing: usize,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

impl WatchLatency {
    /// The `p`-th percentile of `201 Created` to `ADDED`, in microseconds.
    pub fn after_reply(&self, p: f64) -> f64 {
        percentile(&self.after_reply_us, p)
    }

    /// The `p`-th percentile of create sent to `ADDED`.
    pub fn after_request(&self, p: f64) -> Duration {
        percentile(&self.after_request, p)
    }

    /// Events that arrived before their create's response.
    pub fn before_reply(&self) -> usize {
        self.after_reply_us.iter().filter(|us| **us < 0.0).count()
    }
}

/// Opens a watch on the namespace's ConfigMaps from the current revision, then creates
/// `count` objects one after another (bounded by `time_limit`), pairing each `201` with its
/// `ADDED` event.
pub async fn watch_latency(
    client: Arc<HttpClient>,
    count: usize,
    payload: usize,
    time_limit: Duration,
) -> WatchLatency {
    let mut result = WatchLatency::default();
    if let Err(e) = measure_watch(&client, count, payload, time_limit, &mut result).await {
        result.error = Some(e);
    }
    result
}

async fn measure_watch(
    client: &HttpClient,
    count: usize,
    payload: usize,
    time_limit: Duration,
    result: &mut WatchLatency,
) -> Result<(), String> {
    // Watch from the revision of a list, as a reflector does, so only new objects arrive.
    let list = client
        .request(
            Method::GET,
            &format!("{}?limit=1", collection_path()),
            &[],
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    expect_status(list.status, StatusCode::OK, &list.body)?;
    let revision = list.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let path = format!(
        "{}?watch=true&resourceVersion={revision}&timeoutSeconds=300",
        collection_path()
    );
    let response = client
        .send(Method::GET, &path, &[], vec![])
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("watch answered {}", response.status()));
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_added_events(response.into_body(), events_tx));

    let mut replies = HashMap::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        if start.elapsed() >= time_limit {
            break;
        }
        let name = format!("cm-watch-{i}");
        let body = serde_json::to_vec(&config_map(&name, payload)).map_err(|e| e.to_string())?;
        let headers = [("content-type", "application/json")];
        let sent = Instant::now();
        let response = client
            .send(Method::POST, &collection_path(), &headers, body)
            .await
            .map_err(|e| e.to_string())?;
        // The clock stops when the response head arrives, before the body is read.
        let replied = Instant::now();
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        expect_status(status, StatusCode::CREATED, &body)?;
        replies.insert(name, (sent, replied));
    }
    result.created = replies.len();

    let deadline = tokio::time::Instant::now() + WATCH_GRACE;
    while !replies.is_empty() {
        let Ok(Some((name, arrived))) = tokio::time::timeout_at(deadline, events.recv()).await
        else {
            break;
        };
        let Some((sent, replied)) = replies.remove(&name) else {
            continue;
        };
        result
            .after_request
            .push(arrived.saturating_duration_since(sent));
        let after = arrived.saturating_duration_since(replied).as_secs_f64();
        let before = replied.saturating_duration_since(arrived).as_secs_f64();
        result.after_reply_us.push((after - before) * 1e6);
    }
    reader.abort();
    result.missing = replies.len();
    result.after_request.sort_unstable();
    result.after_reply_us.sort_unstable_by(f64::total_cmp);
    Ok(())
}

/// Reads newline-delimited watch events and sends `(name, arrival time)` for each `ADDED`.
async fn read_added_events(
    mut body: hyper::body::Incoming,
    events: mpsc::UnboundedSender<(String, Instant)>,
) {
    let mut buffer = BytesMut::new();
    while let Some(Ok(frame)) = body.frame().await {
        let arrived = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line = buffer.split_to(end + 1);
            let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if event["type"] != "ADDED" {
                continue;
            }
            if let Some(name) = event["object"]["metadata"]["name"].as_str() {
                if events.send((name.to_string(), arrived)).is_err() {
                    return;
                }
            }
        }
    }
}
