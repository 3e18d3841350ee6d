//! Reads each node's `/stats/summary` from its kubelet, as metrics-server scrapes them, and
//! keeps the last answer of each node for a short while: `kubectl top` run repeatedly, or by
//! several users, costs a board one summary per interval, not one per request. The cache
//! holds one summary per node and forgets nodes that are gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tracing::Instrument;

use super::summary::Summary;
use crate::pod_streams::Kubelets;

/// How long a node's summary is reused: the kubelet samples every 10 s.
const FRESH: Duration = Duration::from_secs(10);
/// How long one node may take to answer before it is left out.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a failed scrape is remembered, so an unreachable node does not slow every
/// request down by the timeout.
const FAILED_FOR: Duration = Duration::from_secs(5);

/// The summaries of the cluster's nodes.
pub struct Scraper {
    kubelets: Kubelets,
    cache: Mutex<HashMap<String, Scraped>>,
}

struct Scraped {
    at: Instant,
    summary: Option<Arc<Summary>>,
}

impl Scraper {
    /// A scraper reaching nodes through `kubelets`.
    pub fn new(kubelets: Kubelets) -> Self {
        Self {
            kubelets,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The summaries of `nodes` that could be read, by node, each at most [`FRESH`] old.
    /// When `all_nodes` is true, `nodes` is every node, and the cache forgets the others.
    pub async fn summaries(
        &self,
        nodes: &[String],
        all_nodes: bool,
    ) -> HashMap<String, Arc<Summary>> {
        let now = Instant::now();
        let mut found = HashMap::new();
        let mut wanted = Vec::new();
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if all_nodes {
                cache.retain(|name, _| nodes.contains(name));
            }
            for node in nodes {
                match cache.get(node) {
                    Some(Scraped {
                        at,
                        summary: Some(summary),
                    }) if now.duration_since(*at) < FRESH => {
                        found.insert(node.clone(), summary.clone());
                    }
                    Some(s) if s.summary.is_none() && now.duration_since(s.at) < FAILED_FOR => {}
                    _ => wanted.push(node.as_str()),
                }
            }
        }
        let scraped = join_all(wanted.iter().map(|node| self.scrape(node))).await;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        for (node, summary) in wanted.into_iter().zip(scraped) {
            if let Some(summary) = &summary {
                found.insert(node.to_string(), summary.clone());
            }
            cache.insert(
                node.to_string(),
                Scraped {
                    at: Instant::now(),
                    summary,
                },
            );
        }
        found
    }

    async fn scrape(&self, node: &str) -> Option<Arc<Summary>> {
        self.read(node)
            .instrument(tracing::debug_span!("scrape", node))
            .await
    }

    async fn read(&self, node: &str) -> Option<Arc<Summary>> {
        let streams = match self.kubelets.for_node(node) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e.message, "no kubelet to scrape");
                return None;
            }
        };
        let answer = tokio::time::timeout(TIMEOUT, streams.node_get("/stats/summary")).await;
        let response = match answer {
            Ok(Ok(r)) if r.status == 200 => r,
            Ok(Ok(r)) => {
                tracing::debug!(status = r.status, "summary refused");
                return None;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e.message, "summary unavailable");
                return None;
            }
            Err(_) => {
                tracing::debug!("summary timed out");
                return None;
            }
        };
        match serde_json::from_slice::<Summary>(&response.body) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable summary");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::status::ApiError;
    use crate::pod_streams::{ExecStreams, LogRequest, NodeResponse, PodStreams, StreamFuture};
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::mpsc;

    /// A kubelet that counts the summaries it is asked for.
    struct Counting(AtomicUsize);

    impl PodStreams for Counting {
        fn logs<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: LogRequest,
        ) -> StreamFuture<'a, mpsc::Receiver<Bytes>> {
            Box::pin(async { Err(ApiError::internal("no logs")) })
        }
        fn exec<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: Vec<String>,
            _: bool,
            _: bool,
        ) -> StreamFuture<'a, ExecStreams> {
            Box::pin(async { Err(ApiError::internal("no exec")) })
        }
        fn attach<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: bool,
            _: bool,
        ) -> StreamFuture<'a, ExecStreams> {
            Box::pin(async { Err(ApiError::internal("no attach")) })
        }
        fn node_get<'a>(&'a self, path: &'a str) -> StreamFuture<'a, NodeResponse> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let body = format!(r#"{{"node": {{"nodeName": "pi"}}, "path": "{path}"}}"#);
            Box::pin(async move {
                Ok(NodeResponse {
                    status: 200,
                    content_type: "application/json".into(),
                    body: Bytes::from(body),
                })
            })
        }
    }

    #[tokio::test]
    async fn a_node_is_scraped_once_per_interval_and_unknown_nodes_are_left_out() {
        let kubelet = Arc::new(Counting(AtomicUsize::new(0)));
        let kubelets = Kubelets {
            local: Some(("pi".into(), kubelet.clone() as Arc<dyn PodStreams>)),
            remote: None,
        };
        let scraper = Scraper::new(kubelets);
        let nodes = vec!["pi".to_string(), "gone".to_string()];
        for _ in 0..3 {
            let found = scraper.summaries(&nodes, true).await;
            assert_eq!(found.len(), 1);
            assert_eq!(found["pi"].node.node_name, "pi");
        }
        assert_eq!(kubelet.0.load(Ordering::SeqCst), 1);
        // a node no longer listed is forgotten
        scraper.summaries(&[], true).await;
        assert!(scraper.cache.lock().unwrap().is_empty());
    }
}
