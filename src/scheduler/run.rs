//! The scheduling loop, as kube-scheduler's `scheduleOne`: take the next pod from the
//! [`SchedulingQueue`](super::queue), decide on the shared informers' snapshot, *assume* the
//! pod on its node at once so the next decision sees it, and bind it in the background — up
//! to [`MAX_IN_FLIGHT`] bindings and failure reports at a time. A failed binding forgets the
//! assumption and backs the pod off; a pod that fits nowhere gets upstream's
//! `FailedScheduling` event and `PodScheduled=False` condition and waits until a change could
//! help.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::snapshot::PodKey;
use super::state::{is_pending, State};
use super::volume_binding::VolumeSnapshot;
use super::{outcome, schedule_from, volume_prebind, PlacedPod};
use crate::client::events::EventRecorder;
use crate::client::informer::{Change, Informer, Informers, Unserved};
use crate::client::Client;

pub use super::state::SCHEDULER_NAME;

/// Bindings (and failure reports) under way at once.
pub const MAX_IN_FLIGHT: usize = 256;
/// How often waiting pods are checked for the end of their wait.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// An informer change the loop has not applied yet.
enum Inbound {
    Pod(Change<Pod>),
    Node(Change<Node>),
}

/// What the loop and the informer handlers share.
struct Shared {
    state: Mutex<State>,
    /// Changes the handlers queued: a handler only queues, so an informer (and every other
    /// handler on it) never waits for a decision to finish; the loop applies them before
    /// each decision, as upstream's scheduler updates its snapshot once per cycle.
    inbox: Mutex<Vec<Inbound>>,
    wake: Notify,
}

impl Shared {
    // A handler panicking while holding the lock would abort the process
    // (`panic = "abort"`), so a poisoned lock cannot be observed.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue_change(&self, change: Inbound) {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(change);
        self.wake.notify_one();
    }

    /// Applies the queued changes, in the order they came.
    fn apply_inbox(&self) {
        let changes =
            std::mem::take(&mut *self.inbox.lock().unwrap_or_else(PoisonError::into_inner));
        if changes.is_empty() {
            return;
        }
        let mut st = self.lock();
        for change in &changes {
            match change {
                Inbound::Pod(c) => st.on_pod(c),
                Inbound::Node(c) => st.on_node(c),
            }
        }
    }
}

/// The scheduler, on the process's shared informers.
pub struct Scheduler<C: Client> {
    client: C,
    recorder: EventRecorder<C>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    shared: Arc<Shared>,
}

impl<C: Client> Scheduler<C> {
    /// Registers the scheduler's handlers on the pod and node informers.
    pub fn new(informers: &Informers<C>) -> Result<Self, Unserved> {
        let pods = informers.get::<Pod>()?;
        let nodes = informers.get::<Node>()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            inbox: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let s = shared.clone();
        nodes.on_change(move |c| s.queue_change(Inbound::Node(c.clone())));
        let s = shared.clone();
        pods.on_change(move |c| s.queue_change(Inbound::Pod(c.clone())));
        let client = informers.client().clone();
        Ok(Scheduler {
            recorder: EventRecorder::new(client.clone(), SCHEDULER_NAME),
            client,
            pods,
            nodes,
            shared,
        })
    }

    /// Places pods until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::select! {
            _ = async { self.nodes.wait_synced().await; self.pods.wait_synced().await } => {}
            _ = shutdown.cancelled() => return,
        }
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let mut flushed = Instant::now();
        loop {
            while tasks.try_join_next().is_some() {}
            self.shared.apply_inbox();
            if flushed.elapsed() >= FLUSH_EVERY {
                self.shared.lock().flush();
                flushed = Instant::now();
            }
            let next = self.shared.lock().queue.pop();
            match next {
                Some(key) => {
                    tokio::select! {
                        _ = self.schedule_one(key, &permits, &mut tasks) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
                None => tokio::select! {
                    _ = self.shared.wake.notified() => {}
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = shutdown.cancelled() => return,
                },
            }
        }
    }

    /// Decides on one pod and starts its binding.
    async fn schedule_one(&self, key: PodKey, permits: &Arc<Semaphore>, tasks: &mut JoinSet<()>) {
        let Some(pod) = self.pods.get(&key.0, &key.1) else {
            self.shared.lock().queue.delete(&key);
            return;
        };
        if !is_pending(&pod) {
            self.shared.lock().queue.done(&key);
            return;
        }
        let storage = if volume_prebind::uses_claims(&pod) {
            match volume_prebind::snapshot(&self.client).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "reading claims and volumes failed");
                    self.shared.lock().queue.backoff(key, Instant::now());
                    return;
                }
            }
        } else {
            None
        };
        let empty = VolumeSnapshot::default();
        let volumes = storage.as_ref().unwrap_or(&empty);
        let decision = {
            let mut guard = self.shared.lock();
            let st = &mut *guard;
            if st.snapshot.is_counted(&key) {
                st.queue.done(&key);
                return;
            }
            let decision = schedule_from(&pod, &st.snapshot.infos(), volumes, &mut st.next_start);
            match &decision {
                Ok(node) if storage.is_none() => {
                    st.snapshot.assume(key.clone(), node, PlacedPod::of(&pod));
                    st.queue.done(&key);
                }
                Ok(_) => {}
                Err(_) => st.queue.unschedulable(key.clone(), Instant::now()),
            }
            decision.map(|node| {
                let at = st.snapshot.node(&node).cloned();
                (node, at)
            })
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match decision {
            Ok((node, at)) => {
                if let (Some(storage), Some(at)) = (&storage, at) {
                    // Claims are settled before the pod is counted, as before its binding.
                    if let Err(e) = volume_prebind::pre_bind(&self.client, storage, &pod, &at).await
                    {
                        tracing::warn!(error = %e, pod = %format!("{}/{}", key.0, key.1), "recording volume decisions failed");
                        self.shared.lock().queue.backoff(key, Instant::now());
                        return;
                    }
                    let mut st = self.shared.lock();
                    st.snapshot.assume(key.clone(), &node, PlacedPod::of(&pod));
                    st.queue.done(&key);
                }
                let (client, recorder, shared) = (
                    self.client.clone(),
                    self.recorder.clone(),
                    self.shared.clone(),
                );
                tasks.spawn(async move {
                    bind(&client, &recorder, &shared, key, &pod, &node).await;
                    drop(permit);
                });
            }
            Err(fit) => {
                let msg = fit.to_string();
                tracing::info!(pod = %format!("{}/{}", key.0, key.1), reason = %msg, "unschedulable");
                let (client, recorder) = (self.client.clone(), self.recorder.clone());
                tasks.spawn(async move {
                    outcome::failed(&client, &recorder, &pod, &msg).await;
                    drop(permit);
                });
            }
        }
    }
}

/// Binds an assumed pod; on failure forgets the assumption and backs the pod off.
async fn bind<C: Client>(
    client: &C,
    recorder: &EventRecorder<C>,
    shared: &Shared,
    key: PodKey,
    pod: &Pod,
    node: &str,
) {
    match client.bind(&key.0, &key.1, node).await {
        Ok(()) => {
            tracing::debug!(pod = %format!("{}/{}", key.0, key.1), node, "bound");
            outcome::scheduled(recorder, pod, node);
        }
        Err(e) => {
            tracing::warn!(error = %e, pod = %format!("{}/{}", key.0, key.1), node, "binding failed");
            {
                let mut st = shared.lock();
                st.snapshot.forget(&key);
                if e.code == 404 {
                    st.queue.delete(&key);
                } else {
                    st.queue.backoff(key, Instant::now());
                }
                // The forgotten room may let a parked pod fit.
                st.queue.move_all();
            }
            shared.wake.notify_one();
            if e.code != 404 {
                let msg = format!("Binding rejected: {}", e.message);
                outcome::failed(client, recorder, pod, &msg).await;
            }
        }
    }
}
