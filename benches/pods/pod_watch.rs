//! One watch on a namespace's pods, opened from the current revision as a reflector does,
//! and read on its own task: every event is stamped with its arrival time the moment its
//! frame arrives, so the time a pod is seen Running does not depend on when the bench gets
//! round to looking. Shared by the benches that time pods (`#[path]`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What one watch event said about one pod.
#[derive(Debug, Clone)]
pub struct PodEvent {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: String,
    /// The pod's name.
    pub name: String,
    /// `spec.nodeName` is set: the scheduler has bound it.
    pub bound: bool,
    /// `status.phase` is `Running` and every container's state is `running`.
    pub running: bool,
    /// Its Ready condition is True.
    pub ready: bool,
    /// When the event's frame arrived.
    pub at: Instant,
}

/// An open watch; the reader task ends when this is dropped.
pub struct PodWatch {
    events: mpsc::UnboundedReceiver<PodEvent>,
    reader: JoinHandle<()>,
}

impl PodWatch {
    /// Lists `namespace`'s pods for a revision, then watches from it.
    pub async fn open(client: &HttpClient, namespace: &str) -> anyhow::Result<PodWatch> {
        let list = client
            .request(
                Method::GET,
                &format!("/api/v1/namespaces/{namespace}/pods"),
                &[],
                vec![],
            )
            .await
            .context("listing pods")?;
        if list.status != StatusCode::OK {
            bail!("listing pods answered {}", list.status);
        }
        let revision = list.json()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion={revision}\
             &timeoutSeconds=3600"
        );
        let response = client
            .send(Method::GET, &path, &[], vec![])
            .await
            .context("opening a pod watch")?;
        if response.status() != StatusCode::OK {
            bail!("the pod watch answered {}", response.status());
        }
        let (tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_events(response.into_body(), tx));
        Ok(PodWatch { events, reader })
    }

    /// The first event for which `want` holds, or `None` once `limit` has passed or the
    /// watch closed. Events before it are consumed.
    pub async fn until(
        &mut self,
        limit: Duration,
        mut want: impl FnMut(&PodEvent) -> bool,
    ) -> Option<PodEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if want(&event) {
                return Some(event);
            }
        }
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads newline-delimited watch events until the stream ends.
async fn read_events(mut body: hyper::body::Incoming, events: mpsc::UnboundedSender<PodEvent>) {
    let mut buffer = BytesMut::new();
    while let Some(Ok(frame)) = body.frame().await {
        let at = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line = buffer.split_to(end + 1);
            let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if let Some(e) = pod_event(&event, at) {
                if events.send(e).is_err() {
                    return;
                }
            }
        }
    }
}

fn pod_event(event: &Value, at: Instant) -> Option<PodEvent> {
    let pod = &event["object"];
    let name = pod["metadata"]["name"].as_str()?.to_string();
    let containers = pod["status"]["containerStatuses"].as_array();
    let all_running = containers
        .is_some_and(|c| !c.is_empty() && c.iter().all(|s| s["state"]["running"].is_object()));
    Some(PodEvent {
        kind: event["type"].as_str()?.to_string(),
        name,
        bound: pod["spec"]["nodeName"].is_string(),
        running: pod["status"]["phase"] == "Running" && all_running,
        ready: pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        }),
        at,
    })
}
