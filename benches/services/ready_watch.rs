//! One watch on the pods of `default`, read on its own task: each event is stamped with the
//! moment its frame arrived, and says whether the pod's Ready condition is True and its
//! container running, so a Ready transition is timed by when a client could see it (the
//! condition's `lastTransitionTime` has whole seconds only).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What one event said about one pod.
#[derive(Debug, Clone)]
pub struct ReadyEvent {
    /// The pod's name.
    pub name: String,
    /// Its Ready condition is True.
    pub ready: bool,
    /// Every container is running.
    pub running: bool,
    /// When the event's frame arrived.
    pub at: Instant,
}

/// An open watch; the reader task ends when this is dropped.
pub struct ReadyWatch {
    events: mpsc::UnboundedReceiver<ReadyEvent>,
    reader: JoinHandle<()>,
}

impl ReadyWatch {
    /// Lists the pods of `default` for a revision, then watches from it.
    pub async fn open(client: &HttpClient) -> anyhow::Result<ReadyWatch> {
        let list = client
            .request(Method::GET, "/api/v1/namespaces/default/pods", &[], vec![])
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
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion={revision}\
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
        Ok(ReadyWatch { events, reader })
    }

    /// The first event for which `want` holds, or `None` once `limit` has passed or the
    /// watch closed. Events before it are consumed.
    pub async fn until(
        &mut self,
        limit: Duration,
        mut want: impl FnMut(&ReadyEvent) -> bool,
    ) -> Option<ReadyEvent> {
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

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_events(mut body: hyper::body::Incoming, events: mpsc::UnboundedSender<ReadyEvent>) {
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
            if let Some(e) = ready_event(&event["object"], at) {
                if events.send(e).is_err() {
                    return;
                }
            }
        }
    }
}

fn ready_event(pod: &Value, at: Instant) -> Option<ReadyEvent> {
    let name = pod["metadata"]["name"].as_str()?.to_string();
    let ready = pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .is_some_and(|c| !c.is_empty() && c.iter().all(|s| s["state"]["running"].is_object()));
    Some(ReadyEvent {
        name,
        ready,
        running,
        at,
    })
}
