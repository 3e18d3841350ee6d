//! The elector against an in-process store: one leader among several candidates, takeover
//! after a silent leader's lease runs out, at once after a release, and conflicts that do
//! not end leadership before the renew deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::client::options::{DeleteOptions, ListOptions, ListResult, WatchOptions};
use crate::client::LocalClient;
use crate::resources::{namespace, ResourceType};

const LEASE: &str = "test-lease";

/// A client whose writes to Leases fail with a conflict while `conflicting` is set.
#[derive(Clone)]
struct ConflictingClient {
    inner: LocalClient,
    conflicting: Arc<AtomicBool>,
}

impl Client for ConflictingClient {
    type Watch = <LocalClient as Client>::Watch;

    async fn get(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.inner.get(rt, ns, name).await
    }
    async fn list(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        self.inner.list(rt, ns, opts).await
    }
    async fn watch(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        opts: &WatchOptions,
    ) -> Result<Self::Watch, ApiError> {
        self.inner.watch(rt, ns, opts).await
    }
    async fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.inner.create(rt, ns, obj).await
    }
    async fn patch(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        sub: Subresource,
    ) -> Result<Value, ApiError> {
        if self.conflicting.load(Ordering::SeqCst) {
            return Err(ApiError::stale(rt, name));
        }
        self.inner.patch(rt, ns, name, patch_type, patch, sub).await
    }
    async fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(), ApiError> {
        self.inner.delete(rt, ns, name, opts).await
    }
    async fn create_token(&self, ns: &str, sa: &str, request: &Value) -> Result<Value, ApiError> {
        self.inner.create_token(ns, sa, request).await
    }
    async fn bind(&self, ns: &str, pod: &str, node: &str) -> Result<(), ApiError> {
        self.inner.bind(ns, pod, node).await
    }
}

async fn store() -> (tempfile::TempDir, LocalClient) {
    let dir = tempfile::tempdir().unwrap();
    let client = LocalClient::open(dir.path(), 100).unwrap();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": LEASE_NAMESPACE}});
    client.create(&namespace::RESOURCE, "", ns).await.unwrap();
    (dir, client)
}

fn timings(lease_secs: u64) -> ElectionTimings {
    ElectionTimings {
        lease_duration: Duration::from_secs(lease_secs),
        renew_deadline: Duration::from_millis(700),
        retry_period: Duration::from_millis(100),
    }
}

fn elector<C: Client>(client: C, who: &str, t: ElectionTimings) -> LeaderElector<C> {
    LeaderElector::new(client, LEASE_NAMESPACE, LEASE, who.to_string(), t)
}

async fn lease_spec(client: &LocalClient) -> LeaseRecord {
    let obj = client
        .get(&lease::RESOURCE, LEASE_NAMESPACE, LEASE)
        .await
        .unwrap();
    LeaseRecord::from_spec(&obj["spec"])
}

/// Polls `check` every 20 ms until it holds, failing after `within`.
async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Who is running its leader's work now, and the most that ever ran at once.
#[derive(Default)]
struct Leaders {
    running: Mutex<Vec<String>>,
    most_at_once: AtomicUsize,
    terms: AtomicUsize,
}

impl Leaders {
    fn work(
        self: &Arc<Self>,
        who: &str,
    ) -> impl FnMut(CancellationToken) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let leaders = self.clone();
        let who = who.to_string();
        move |term: CancellationToken| {
            let leaders = leaders.clone();
            let who = who.clone();
            Box::pin(async move {
                let n = {
                    let mut running = leaders.running.lock().unwrap();
                    running.push(who.clone());
                    running.len()
                };
                leaders.terms.fetch_add(1, Ordering::SeqCst);
                leaders.most_at_once.fetch_max(n, Ordering::SeqCst);
                term.cancelled().await;
                leaders.running.lock().unwrap().retain(|w| *w != who);
            })
        }
    }

    fn running(&self) -> Vec<String> {
        self.running.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn of_three_candidates_exactly_one_leads() {
    let (_dir, client) = store().await;
    let leaders = Arc::new(Leaders::default());
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for who in ["a", "b", "c"] {
        tasks.push(tokio::spawn(run_while_leading(
            elector(client.clone(), who, timings(2)),
            stop.clone(),
            leaders.work(who),
        )));
    }
    eventually(Duration::from_secs(5), "a leader", || {
        leaders.running().len() == 1
    })
    .await;
    // Several renewals later it is still the one leader, and the Lease names it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let running = leaders.running();
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(leaders.most_at_once.load(Ordering::SeqCst), 1);
    assert_eq!(leaders.terms.load(Ordering::SeqCst), 1);
    let record = lease_spec(&client).await;
    assert_eq!(record.holder, running[0]);
    assert_eq!(record.lease_duration_seconds, 2);
    assert_eq!(record.lease_transitions, 0);
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(lease_spec(&client).await.holder.is_empty());
}

#[tokio::test]
async fn a_silent_leader_is_replaced_after_the_lease_duration() {
    let (_dir, client) = store().await;
    let mut first = elector(client.clone(), "first", timings(1));
    assert!(first.try_acquire_or_renew().await.unwrap());
    let acquired = lease_spec(&client).await;
    // `first` now stops renewing, as a server that hung or lost its network would.
    let mut second = elector(client.clone(), "second", timings(1));
    let started = Instant::now();
    assert!(!second.try_acquire_or_renew().await.unwrap());
    let stop = CancellationToken::new();
    let took = tokio::time::timeout(Duration::from_secs(5), second.acquire(&stop))
        .await
        .expect("the lease is taken over within 5 s");
    assert!(took);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "taken over after {waited:?}, before the lease duration"
    );
    let record = lease_spec(&client).await;
    assert_eq!(record.holder, "second");
    assert_eq!(record.lease_transitions, acquired.lease_transitions + 1);
    assert_ne!(record.acquire_time, acquired.acquire_time);
    // The old leader, renewing late, learns that it lost.
    assert!(!first.try_acquire_or_renew().await.unwrap());
    assert!(!first.is_leader());
}

#[tokio::test]
async fn a_released_lease_is_taken_over_at_once() {
    let (_dir, client) = store().await;
    let leaders = Arc::new(Leaders::default());
    // A long lease: only the release lets the second candidate in quickly.
    let long = ElectionTimings {
        lease_duration: Duration::from_secs(30),
        ..timings(30)
    };
    let stop_first = CancellationToken::new();
    let first = tokio::spawn(run_while_leading(
        elector(client.clone(), "first", long),
        stop_first.clone(),
        leaders.work("first"),
    ));
    eventually(Duration::from_secs(5), "the first candidate leads", || {
        leaders.running() == ["first"]
    })
    .await;
    let stop_second = CancellationToken::new();
    let second = tokio::spawn(run_while_leading(
        elector(client.clone(), "second", long),
        stop_second.clone(),
        leaders.work("second"),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(leaders.running(), ["first"]);
    stop_first.cancel();
    first.await.unwrap();
    let released = Instant::now();
    eventually(Duration::from_secs(3), "the second candidate leads", || {
        leaders.running() == ["second"]
    })
    .await;
    assert!(released.elapsed() < Duration::from_secs(3));
    assert_eq!(leaders.most_at_once.load(Ordering::SeqCst), 1);
    let record = lease_spec(&client).await;
    assert_eq!(record.holder, "second");
    assert_eq!(record.lease_transitions, 1);
    stop_second.cancel();
    second.await.unwrap();
}

#[tokio::test]
async fn conflicts_end_leadership_only_past_the_renew_deadline() {
    let (_dir, local) = store().await;
    let conflicting = Arc::new(AtomicBool::new(false));
    let client = ConflictingClient {
        inner: local.clone(),
        conflicting: conflicting.clone(),
    };
    let leaders = Arc::new(Leaders::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_while_leading(
        elector(client, "leader", timings(5)),
        stop.clone(),
        leaders.work("leader"),
    ));
    eventually(Duration::from_secs(5), "a leader", || {
        leaders.running() == ["leader"]
    })
    .await;
    // Conflicts for less than the renew deadline (700 ms): still leading, same term.
    conflicting.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    conflicting.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(leaders.running(), ["leader"]);
    assert_eq!(leaders.terms.load(Ordering::SeqCst), 1);
    // Conflicts past the deadline: the work is stopped.
    conflicting.store(true, Ordering::SeqCst);
    let lost_from = Instant::now();
    eventually(Duration::from_secs(3), "leadership lost", || {
        leaders.running().is_empty()
    })
    .await;
    assert!(lost_from.elapsed() >= Duration::from_millis(500));
    // Once writes succeed again it leads again (the Lease still names it).
    conflicting.store(false, Ordering::SeqCst);
    eventually(Duration::from_secs(5), "leading again", || {
        leaders.running() == ["leader"]
    })
    .await;
    assert_eq!(leaders.terms.load(Ordering::SeqCst), 2);
    stop.cancel();
    task.await.unwrap();
}
