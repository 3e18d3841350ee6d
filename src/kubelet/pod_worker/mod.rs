//! One pod on this node, from bind to removal: prepare its sandbox (volumes, network, shared
//! namespaces), run init containers in order and then the containers, restart them as the
//! restart policy says with CrashLoopBackOff, report status, and on deletion stop the
//! containers within the grace period (SIGTERM, then SIGKILL), clean up and remove the pod.
//! Liveness, readiness and startup probes run beside it (`probing`); a pod whose emptyDir
//! outgrows its `sizeLimit` is evicted (`eviction`). The upstream states are visible in
//! `sync`, `ensure` and `stop`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::agent::NodeContext;
use super::backoff::{self, Backoff};
use super::container_start::{self, parse_id, PodEnv, StartError};
use super::pod_status::{self, ObservedPod};
use super::prober::ProbeOutcome;
use super::runtime::spec::PodNamespaces;
use super::runtime::ContainerState;
use super::volume::{PodVolumes, PrefetchedSources};
use crate::client::options::PatchType;
use crate::client::options::{DeleteOptions, Subresource};
use crate::client::Client;
use crate::resources::meta;
use crate::resources::pod;
use events::PodRef;

mod admission;
pub mod dispatch;
mod ephemeral;
mod events;
mod eviction;
mod probing;
mod sandbox_setup;
mod stats_entry;
mod stop;
mod tracked;
mod volume_refresh;

use sandbox_setup::pull_secrets;
use tracked::Tracked;

/// How often a pod's containers are checked without any change to the pod.
const RESYNC: Duration = Duration::from_secs(1);
/// How soon a container whose creation failed is tried again.
const CREATE_RETRY: Duration = Duration::from_secs(10);

struct Sandbox {
    volumes: PodVolumes,
    namespaces: PodNamespaces,
    pod_ip: String,
    pod_dir: std::path::PathBuf,
    /// ConfigMaps and Secrets the pod's volumes and env refer to, and its tokens.
    sources: PrefetchedSources,
    /// The labels and annotations the pod's volumes were last written with.
    volume_meta: volume_refresh::VolumeMeta,
    /// When the pod's configMap, secret and projected volumes are written again.
    next_volume_refresh: Instant,
}

struct Worker {
    uid: String,
    containers: BTreeMap<String, Tracked>,
    sandbox: Option<Sandbox>,
    start_time: chrono::DateTime<chrono::Utc>,
    last_status: Option<Value>,
    /// The pod's resourceVersion when `last_status` was written.
    reported_at: Option<String>,
    backoff: Backoff,
    probe_tx: mpsc::UnboundedSender<ProbeOutcome>,
    probe_rx: mpsc::UnboundedReceiver<ProbeOutcome>,
    /// Set once the pod is evicted: the eviction message; nothing of the pod runs again.
    eviction: Option<String>,
    /// When emptyDir usage is measured next.
    next_usage_check: Instant,
    /// Set once the pod is rejected at admission; nothing of it runs.
    rejected: bool,
}

/// Runs the worker for the pod in `rx` until the pod is gone; `None` in `rx` means the API
/// no longer has the pod. On `shutdown` containers keep running.
pub async fn run<C: Client>(
    ctx: Arc<NodeContext<C>>,
    mut rx: watch::Receiver<Option<Value>>,
    shutdown: CancellationToken,
) {
    let Some(first) = rx.borrow().clone() else {
        return;
    };
    let uid = meta::meta_str(&first, "uid").unwrap_or("").to_string();
    let label = format!(
        "{}/{}",
        meta::meta_str(&first, "namespace").unwrap_or(""),
        meta::name_of(&first)
    );
    let span = tracing::info_span!("pod", pod = %label, uid = %uid);
    async move {
        let mut w = Worker::adopt(&ctx, &uid).await;
        loop {
            let current = rx.borrow_and_update().clone();
            match current {
                None => {
                    w.teardown(&ctx).await;
                    ctx.devices.release(&uid);
                    ctx.image_gc.notify_one(); // its images may be unused now
                    ctx.storage_wake.notify_one(); // a pending volume resize may finish now
                    return;
                }
                Some(p) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                    w.terminate(&ctx, &p).await;
                    w.teardown(&ctx).await;
                    ctx.devices.release(&uid);
                    let opts = DeleteOptions {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    };
                    let ns = meta::meta_str(&p, "namespace")
                        .unwrap_or("default")
                        .to_string();
                    match ctx
                        .client
                        .delete(&pod::RESOURCE, &ns, meta::name_of(&p), &opts)
                        .await
                    {
                        Ok(()) => tracing::info!("pod removed"),
                        Err(e) if e.code == 404 => {}
                        Err(e) => tracing::warn!(error = %e, "final delete failed"),
                    }
                    ctx.image_gc.notify_one(); // its images may be unused now
                    ctx.storage_wake.notify_one(); // a pending volume resize may finish now
                    return;
                }
                Some(p) => {
                    if !w.rejected(&ctx, &p).await && !w.evicted(&ctx, &p).await {
                        w.sync(&ctx, &p).await;
                        w.schedule_probes(&ctx, &p).await;
                        w.report(&ctx, &p).await;
                    }
                }
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RESYNC) => {}
                Some(outcome) = w.probe_rx.recv() => {
                    let current = rx.borrow().clone();
                    if let Some(p) = current {
                        w.on_probe(&ctx, &p, outcome).await;
                    }
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }
    .instrument(span)
    .await
}

/// Writes `status` to pod `p`'s status subresource; whether the server took it (a failure
/// is retried with the next status computed).
async fn patch_status<C: Client>(ctx: &NodeContext<C>, p: &Value, status: &Value) -> bool {
    let ns = meta::meta_str(p, "namespace").unwrap_or("default");
    let patch = serde_json::json!({ "status": status });
    let written = ctx
        .client
        .patch(
            &pod::RESOURCE,
            ns,
            meta::name_of(p),
            PatchType::Merge,
            &patch,
            Subresource::Status,
        )
        .await;
    match written {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "status update failed");
            false
        }
    }
}

fn typed(p: &Value) -> Option<Pod> {
    serde_json::from_value(p.clone()).ok()
}

impl Worker {
    /// Picks up containers a previous kubelet started (restart safety).
    async fn adopt<C: Client>(ctx: &NodeContext<C>, uid: &str) -> Worker {
        let mut containers: BTreeMap<String, Tracked> = BTreeMap::new();
        for id in ctx.runtime.list().await.unwrap_or_default() {
            let Some((pod_uid, name, attempt)) = parse_id(&id) else {
                continue;
            };
            if pod_uid != uid {
                continue;
            }
            let t = containers.entry(name.to_string()).or_default();
            if t.id.is_none() || attempt >= t.restart_count {
                t.id = Some(id.clone());
                t.restart_count = attempt;
                tracing::info!(container = name, attempt, "adopted running container");
            }
        }
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        Worker {
            probe_tx,
            probe_rx,
            uid: uid.into(),
            containers,
            sandbox: None,
            start_time: chrono::Utc::now(),
            last_status: None,
            reported_at: None,
            backoff: Backoff::default(),
            eviction: None,
            rejected: false,
            next_usage_check: Instant::now() + eviction::USAGE_CHECK,
        }
    }

    async fn sync<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let Some(pod) = typed(p) else { return };
        let spec = pod.spec.clone().unwrap_or_default();
        let ephemeral: Vec<Container> = spec
            .ephemeral_containers
            .iter()
            .flatten()
            .map(ephemeral::as_container)
            .collect();
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .chain(ephemeral.iter())
        {
            let t = self.containers.entry(c.name.clone()).or_default();
            t.name.clone_from(&c.name);
            t.image = c.image.clone().unwrap_or_default();
        }
        if let Err(e) = self.prepare(ctx, &pod).await {
            tracing::warn!(reason = %e.reason, message = %e.message, "pod sandbox not ready");
            for t in self.containers.values_mut() {
                t.waiting = Some(e.clone());
            }
            return;
        }
        self.refresh_volumes(ctx, &pod).await;
        self.refresh(ctx).await;
        self.start_ephemeral(ctx, &pod).await;
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        for c in spec.init_containers.iter().flatten() {
            let done = self
                .containers
                .get(&c.name)
                .and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.state == ContainerState::Exited && s.exit_code == Some(0));
            if done {
                continue;
            }
            // init containers restart on failure unless the policy is Never
            let init_policy = if policy == "Never" {
                "Never"
            } else {
                "OnFailure"
            };
            self.ensure(ctx, &pod, c, init_policy, None).await;
            return;
        }
        for c in &spec.containers {
            self.ensure(ctx, &pod, c, &policy, None).await;
        }
    }

    /// Reads every current container's runtime state.
    async fn refresh<C: Client>(&mut self, ctx: &NodeContext<C>) {
        for t in self.containers.values_mut() {
            if let Some(id) = &t.id {
                t.status = ctx.runtime.state(id).await.ok().flatten();
            }
        }
    }

    /// Starts `c` if it has no container, or restarts it when it exited and the policy and
    /// backoff allow; `pid_namespace` is another container's PID namespace to join.
    async fn ensure<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        pod: &Pod,
        c: &Container,
        policy: &str,
        pid_namespace: Option<std::path::PathBuf>,
    ) {
        let Some(sb) = &self.sandbox else { return };
        let Some(t) = self.containers.get_mut(&c.name) else {
            return;
        };
        let now = chrono::Utc::now();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let attempt = match (&t.id, &t.status) {
            (None, _) => t.restart_count,
            (Some(_), Some(s)) if s.state == ContainerState::Exited => {
                if !backoff::should_restart(policy, s.exit_code.unwrap_or(1)) {
                    return;
                }
                let key = backoff::container_key(&pod_name, &ns, &self.uid, &c.name, "0");
                let desc = format!("{pod_name}_{ns}({})", self.uid);
                let finished = s.finished_at.unwrap_or(now);
                if let Some(delay) =
                    backoff::crash_loop(&mut self.backoff, &key, &c.name, &desc, finished, now)
                {
                    let e = StartError {
                        reason: delay.reason.into(),
                        message: delay.message,
                    };
                    events::enter_waiting(ctx, pod, t, e);
                    return;
                }
                if let (Some(old), Some(st)) = (t.id.take(), t.status.take()) {
                    container_start::remove(ctx, &self.uid, &old).await;
                    t.last = Some((old, st));
                }
                t.restart_count + 1
            }
            _ => return, // created or running
        };
        if t.retry_at.is_some_and(|at| at > Instant::now()) {
            return;
        }
        let image_key = backoff::image_key(&self.uid, &t.image);
        if let Some(delay) = backoff::image_pull_delay(&self.backoff, &image_key, &t.image, now) {
            if t.waiting
                .as_ref()
                .is_some_and(|w| w.reason == "ErrImagePull" || w.reason == delay.reason)
            {
                let e = StartError {
                    reason: delay.reason.into(),
                    message: delay.message,
                };
                events::enter_waiting(ctx, pod, t, e);
                return;
            }
        }
        let secrets = pull_secrets(ctx, pod).await;
        let pulling = container_start::will_pull(ctx, c);
        let pod_ref = PodRef::of_pod(pod);
        if pulling {
            let text = format!("Pulling image \"{}\"", t.image);
            events::normal(ctx, &pod_ref, "Pulling", &text);
        }
        let pull_started = Instant::now();
        let image = match container_start::pull(ctx, c, &secrets).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(container = %c.name, reason = %e.reason, message = %e.message, "image not available");
                if e.reason == "ErrImagePull" {
                    backoff::image_pull_failed(&mut self.backoff, &image_key, now);
                }
                events::enter_waiting(ctx, pod, t, e);
                return;
            }
        };
        events::pulled(
            ctx,
            &pod_ref,
            &t.image,
            pulling.then(|| (pull_started.elapsed(), image.size)),
        );
        t.image_id = image.repo_digest();
        let env = PodEnv {
            pod,
            volumes: &sb.volumes,
            namespaces: PodNamespaces {
                pid: pid_namespace,
                ..sb.namespaces.clone()
            },
            pod_dir: sb.pod_dir.clone(),
            pod_ip: sb.pod_ip.clone(),
            host_ip: ctx.host_ip.clone(),
            node_hostname: ctx.node.clone(),
            sources: &sb.sources,
            service_env: ctx.service_env(pod),
            allocatable: ctx.allocatable,
        };
        match container_start::start(ctx, &env, c, &image, attempt).await {
            Ok(id) => {
                tracing::info!(container = %c.name, attempt, "started container");
                let created = format!("Created container {}", c.name);
                events::normal(ctx, &pod_ref, "Created", &created);
                let started = format!("Started container {}", c.name);
                events::normal(ctx, &pod_ref, "Started", &started);
                t.id = Some(id);
                t.restart_count = attempt;
                t.waiting = None;
                t.retry_at = None;
                t.probes = None;
                t.kill_after = None;
                if let Some(id) = &t.id {
                    t.status = ctx.runtime.state(id).await.ok().flatten();
                }
            }
            Err(e) => {
                tracing::warn!(container = %c.name, reason = %e.reason, message = %e.message, "container did not start");
                events::enter_waiting(ctx, pod, t, e);
                t.retry_at = Some(Instant::now() + CREATE_RETRY);
            }
        }
    }

    /// Patches the pod's status when it changed.
    async fn report<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let Some(pod) = typed(p) else { return };
        let spec = pod.spec.clone().unwrap_or_default();
        let records = |list: &[Container]| -> Vec<pod_status::ContainerRecord> {
            list.iter()
                .filter_map(|c| self.containers.get(&c.name).map(Tracked::record))
                .collect()
        };
        let init = records(spec.init_containers.as_deref().unwrap_or(&[]));
        let main = records(&spec.containers);
        let ephemeral: Vec<pod_status::ContainerRecord> = spec
            .ephemeral_containers
            .iter()
            .flatten()
            .filter_map(|c| self.containers.get(&c.name).map(Tracked::record))
            .collect();
        let observed = ObservedPod {
            init_containers: &init,
            containers: &main,
            ephemeral_containers: &ephemeral,
            pod_ip: self.sandbox.as_ref().map(|s| s.pod_ip.as_str()),
            host_ip: &ctx.host_ip,
            start_time: Some(self.start_time),
            sandbox_ready: self.sandbox.is_some(),
            pod_is_terminal: self.eviction.is_some(),
        };
        let mut status = pod_status::pod_status(p, &observed, chrono::Utc::now());
        if let Some(message) = &self.eviction {
            eviction::mark_evicted(&mut status, message);
        }
        if self.last_status.as_ref() == Some(&status) && !status_lost(p, &status, &self.reported_at)
        {
            return;
        }
        // A changed status is a changed container instance, pid or start: tell the sampler.
        self.publish_stats(ctx, &pod);
        if patch_status(ctx, p, &status).await {
            self.last_status = Some(status);
            self.reported_at = meta::meta_str(p, "resourceVersion").map(str::to_string);
        }
    }
}

/// Whether the pod as the API shows it lost the status this kubelet reported: a newer
/// version of it is back at the phase a pod is created with (a mirror pod made again), so
/// the status is sent again, as upstream's status manager does when the API differs from
/// its cache. Any other difference is the API's own word (a pod it marked Failed) and is
/// not argued with.
fn status_lost(p: &Value, reported: &Value, reported_at: &Option<String>) -> bool {
    let newer = meta::meta_str(p, "resourceVersion") != reported_at.as_deref();
    let shown = p.pointer("/status/phase").and_then(Value::as_str);
    newer
        && matches!(shown, None | Some("Pending"))
        && reported.get("phase").and_then(Value::as_str) != shown
}

#[cfg(test)]
mod status_lost_tests {
    use super::status_lost;
    use serde_json::json;

    #[test]
    fn a_reset_status_is_sent_again_and_nothing_else() {
        let ours = json!({"phase": "Running"});
        let at = Some("5".to_string());
        let pod = |rv: &str, phase: &str| json!({"metadata": {"resourceVersion": rv}, "status": {"phase": phase}});
        assert!(
            status_lost(&pod("9", "Pending"), &ours, &at),
            "a mirror made again"
        );
        assert!(
            !status_lost(&pod("5", "Pending"), &ours, &at),
            "the pod before our patch"
        );
        assert!(
            !status_lost(&pod("6", "Running"), &ours, &at),
            "our patch's echo"
        );
        assert!(
            !status_lost(&pod("7", "Failed"), &ours, &at),
            "the API's own word"
        );
    }
}
