//! One pod on this node, from bind to removal: prepare its sandbox (volumes, network, shared
//! namespaces), run init containers in order and then the containers, restart them as the
//! restart policy says with CrashLoopBackOff, report status, and on deletion stop the
//! containers within the grace period (SIGTERM, then SIGKILL), clean up and remove the pod.
//! The upstream states are visible in [`Phase`]-driving `sync` and `terminate`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::agent::NodeContext;
use super::backoff::{self, Backoff};
use super::container_spec::etc_hosts;
use super::container_start::{self, parse_id, PodEnv, StartError};
use super::pod_status::{self, ContainerInstance, ObservedPod, Waiting};
use super::runtime::spec::PodNamespaces;
use super::runtime::{ContainerState, ContainerStatus};
use super::sandbox;
use super::volume::{PodVolumes, PrefetchedSources};
use crate::api::patch::PatchType;
use crate::api::registry::{meta, DeleteOptions, Subresource};
use crate::client::Client;
use crate::resources::{configmap, pod, secret};

/// How often a pod's containers are checked without any change to the pod.
const RESYNC: Duration = Duration::from_secs(1);
/// The cluster's DNS domain.
const CLUSTER_DOMAIN: &str = "cluster.local";
/// How soon a container whose creation failed is tried again.
const CREATE_RETRY: Duration = Duration::from_secs(10);

/// What the worker knows about one container.
#[derive(Default)]
struct Tracked {
    name: String,
    image: String,
    image_id: String,
    /// Current runtime id and its last known state.
    id: Option<String>,
    status: Option<ContainerStatus>,
    /// The previous attempt: its id and final state.
    last: Option<(String, ContainerStatus)>,
    restart_count: u32,
    waiting: Option<StartError>,
    retry_at: Option<Instant>,
}

impl Tracked {
    fn record(&self) -> pod_status::ContainerRecord {
        let instance = |id: &str, s: &ContainerStatus| ContainerInstance {
            container_id: format!("bramble://{id}"),
            status: s.clone(),
            message: None,
        };
        let running = self.waiting.is_none()
            && self
                .status
                .as_ref()
                .is_some_and(|s| s.state == ContainerState::Running);
        pod_status::ContainerRecord {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone(),
            restart_count: self.restart_count,
            current: self
                .id
                .as_deref()
                .zip(self.status.as_ref())
                .map(|(id, s)| instance(id, s)),
            last_terminated: self.last.as_ref().map(|(id, s)| instance(id, s)),
            waiting: self.waiting.as_ref().map(|w| Waiting {
                reason: w.reason.clone(),
                message: w.message.clone(),
            }),
            ready: running,
            started: running,
        }
    }
}

struct Sandbox {
    volumes: PodVolumes,
    namespaces: PodNamespaces,
    pod_ip: String,
    pod_dir: std::path::PathBuf,
    /// ConfigMaps and Secrets the pod's volumes and env refer to.
    sources: PrefetchedSources,
}

struct Worker {
    uid: String,
    containers: BTreeMap<String, Tracked>,
    sandbox: Option<Sandbox>,
    start_time: chrono::DateTime<chrono::Utc>,
    last_status: Option<Value>,
    backoff: Backoff,
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
                    return;
                }
                Some(p) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                    w.terminate(&ctx, &p).await;
                    w.teardown(&ctx).await;
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
                    return;
                }
                Some(p) => {
                    w.sync(&ctx, &p).await;
                    w.report(&ctx, &p).await;
                }
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RESYNC) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
    .instrument(span)
    .await
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
        Worker {
            uid: uid.into(),
            containers,
            sandbox: None,
            start_time: chrono::Utc::now(),
            last_status: None,
            backoff: Backoff::default(),
        }
    }

    async fn prepare<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        pod: &Pod,
    ) -> Result<(), StartError> {
        if self.sandbox.is_some() {
            return Ok(());
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let sources = prefetch(ctx, &ns, pod).await;
        let (vm, typed_pod, lookup) = (ctx.volumes.clone(), pod.clone(), sources.clone());
        let volumes = tokio::task::spawn_blocking(move || vm.setup(&typed_pod, &lookup))
            .await
            .map_err(creating)?
            .map_err(creating)?;
        let host_network = spec.host_network.unwrap_or(false);
        let (network, pod_ip) = if host_network {
            (None, ctx.host_ip.clone())
        } else {
            let info = ctx
                .network
                .setup(&self.uid, &name)
                .await
                .map_err(creating)?;
            (Some(info.netns_path), info.ip.to_string())
        };
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let (root, uid) = (
            std::path::PathBuf::from(sandbox::SANDBOX_DIR),
            self.uid.clone(),
        );
        let sb = tokio::task::spawn_blocking(move || sandbox::ensure(&root, &uid, &hostname))
            .await
            .map_err(creating)?
            .map_err(creating)?;
        let pod_dir = ctx.volumes.pod_dir(&self.uid);
        // a pod without volumes has no directory yet
        std::fs::create_dir_all(&pod_dir).map_err(|e| StartError {
            reason: "ContainerCreating".into(),
            message: format!("creating {}: {e}", pod_dir.display()),
        })?;
        let hosts = etc_hosts::etc_hosts(pod, std::slice::from_ref(&pod_ip), CLUSTER_DOMAIN);
        std::fs::write(pod_dir.join("etc-hosts"), hosts).map_err(creating)?;
        let (host, _) = etc_hosts::pod_hostname_and_domain(pod, CLUSTER_DOMAIN);
        std::fs::write(pod_dir.join("etc-hostname"), etc_hosts::etc_hostname(&host))
            .map_err(creating)?;
        // the node's resolver until cluster DNS exists
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(pod_dir.join("resolv.conf"), resolv).map_err(creating)?;
        self.sandbox = Some(Sandbox {
            volumes,
            namespaces: PodNamespaces {
                network,
                ipc: Some(sb.ipc),
                uts: Some(sb.uts),
            },
            pod_ip,
            pod_dir,
            sources,
        });
        Ok(())
    }

    async fn sync<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let Some(pod) = typed(p) else { return };
        let spec = pod.spec.clone().unwrap_or_default();
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
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
        self.refresh(ctx).await;
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
            self.ensure(ctx, &pod, c, init_policy).await;
            return;
        }
        for c in &spec.containers {
            self.ensure(ctx, &pod, c, &policy).await;
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
    /// backoff allow.
    async fn ensure<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        pod: &Pod,
        c: &Container,
        policy: &str,
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
                    t.waiting = Some(StartError {
                        reason: delay.reason.into(),
                        message: delay.message,
                    });
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
                t.waiting = Some(StartError {
                    reason: delay.reason.into(),
                    message: delay.message,
                });
                return;
            }
        }
        let secrets = pull_secrets(ctx, pod).await;
        let image = match container_start::pull(ctx, c, &secrets).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(container = %c.name, reason = %e.reason, message = %e.message, "image not available");
                if e.reason == "ErrImagePull" {
                    backoff::image_pull_failed(&mut self.backoff, &image_key, now);
                }
                t.waiting = Some(e);
                return;
            }
        };
        t.image_id = image.repo_digest();
        let env = PodEnv {
            pod,
            volumes: &sb.volumes,
            namespaces: sb.namespaces.clone(),
            pod_dir: sb.pod_dir.clone(),
            pod_ip: sb.pod_ip.clone(),
            host_ip: ctx.host_ip.clone(),
            node_hostname: ctx.node.clone(),
            sources: &sb.sources,
            allocatable: ctx.allocatable,
        };
        match container_start::start(ctx, &env, c, &image, attempt).await {
            Ok(id) => {
                tracing::info!(container = %c.name, attempt, "started container");
                t.id = Some(id);
                t.restart_count = attempt;
                t.waiting = None;
                t.retry_at = None;
                if let Some(id) = &t.id {
                    t.status = ctx.runtime.state(id).await.ok().flatten();
                }
            }
            Err(e) => {
                tracing::warn!(container = %c.name, reason = %e.reason, message = %e.message, "container did not start");
                t.waiting = Some(e);
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
        let observed = ObservedPod {
            init_containers: &init,
            containers: &main,
            pod_ip: self.sandbox.as_ref().map(|s| s.pod_ip.as_str()),
            host_ip: &ctx.host_ip,
            start_time: Some(self.start_time),
            sandbox_ready: self.sandbox.is_some(),
            pod_is_terminal: false,
        };
        let status = pod_status::pod_status(p, &observed, chrono::Utc::now());
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let patch = serde_json::json!({"status": status});
        match ctx
            .client
            .patch(
                &pod::RESOURCE,
                &ns,
                meta::name_of(p),
                PatchType::Merge,
                &patch,
                Subresource::Status,
            )
            .await
        {
            Ok(_) => self.last_status = Some(status),
            Err(e) => tracing::debug!(error = %e, "status update failed"),
        }
    }

    /// Stops every container within the pod's grace period: SIGTERM, then SIGKILL.
    async fn terminate<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let grace = p
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        let ids: Vec<String> = self
            .containers
            .values()
            .filter_map(|t| t.id.clone())
            .collect();
        for id in &ids {
            let _ = ctx.runtime.kill(id, libc::SIGTERM).await;
        }
        let deadline = Instant::now() + Duration::from_secs(grace);
        loop {
            let mut running = Vec::new();
            for id in &ids {
                if let Ok(Some(ContainerStatus {
                    state: ContainerState::Running | ContainerState::Created,
                    ..
                })) = ctx.runtime.state(id).await
                {
                    running.push(id.clone());
                }
            }
            if running.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                tracing::info!(containers = running.len(), "grace period over; killing");
                for id in &running {
                    let _ = ctx.runtime.kill(id, libc::SIGKILL).await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes containers, mounts, volumes, network and namespaces of the pod.
    async fn teardown<C: Client>(&mut self, ctx: &NodeContext<C>) {
        let mut ids: Vec<String> = ctx
            .runtime
            .list()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|id| parse_id(id).is_some_and(|(u, _, _)| u == self.uid))
            .collect();
        ids.sort();
        for id in &ids {
            let _ = ctx.runtime.kill(id, libc::SIGKILL).await;
            container_start::remove(ctx, &self.uid, id).await;
        }
        crate::kubelet::runtime::cgroup::remove_pod(&self.uid);
        let (vm, uid) = (ctx.volumes.clone(), self.uid.clone());
        match tokio::task::spawn_blocking(move || vm.teardown(&uid)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "volume teardown failed"),
            Err(e) => tracing::warn!(error = %e, "volume teardown panicked"),
        }
        if let Err(e) = ctx.network.teardown(&self.uid).await {
            tracing::warn!(error = %e, "network teardown failed");
        }
        let uid = self.uid.clone();
        let _ = tokio::task::spawn_blocking(move || {
            sandbox::remove(std::path::Path::new(sandbox::SANDBOX_DIR), &uid)
        })
        .await;
        let _ = std::fs::remove_dir_all(ctx.volumes.pod_dir(&self.uid));
        self.sandbox = None;
    }
}

/// A sandbox step failed: the containers wait in `ContainerCreating` with the cause.
fn creating(e: impl std::fmt::Display) -> StartError {
    StartError {
        reason: "ContainerCreating".into(),
        message: e.to_string(),
    }
}

/// The ConfigMaps and Secrets the pod's volumes and containers' env name.
async fn prefetch<C: Client>(ctx: &NodeContext<C>, ns: &str, pod: &Pod) -> PrefetchedSources {
    let mut maps: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    if let Some(spec) = &pod.spec {
        for v in spec.volumes.iter().flatten() {
            maps.extend(v.config_map.as_ref().map(|c| c.name.clone()));
            secrets.extend(v.secret.as_ref().and_then(|s| s.secret_name.clone()));
        }
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            for e in c.env_from.iter().flatten() {
                maps.extend(e.config_map_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(e.secret_ref.as_ref().map(|r| r.name.clone()));
            }
            for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
                maps.extend(e.config_map_key_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(e.secret_key_ref.as_ref().map(|r| r.name.clone()));
            }
        }
    }
    maps.sort();
    maps.dedup();
    secrets.sort();
    secrets.dedup();
    let mut out = PrefetchedSources::default();
    for name in maps {
        if let Ok(obj) = ctx.client.get(&configmap::RESOURCE, ns, &name).await {
            if let Ok(t) = serde_json::from_value(obj) {
                out.insert_config_map(t);
            }
        }
    }
    for name in secrets {
        if let Ok(obj) = ctx.client.get(&secret::RESOURCE, ns, &name).await {
            if let Ok(t) = serde_json::from_value(obj) {
                out.insert_secret(t);
            }
        }
    }
    out
}

/// The `.dockerconfigjson` payloads of the pod's `imagePullSecrets`.
async fn pull_secrets<C: Client>(ctx: &NodeContext<C>, pod: &Pod) -> Vec<Vec<u8>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Vec::new();
    for r in pod
        .spec
        .iter()
        .flat_map(|s| s.image_pull_secrets.iter().flatten())
    {
        let Ok(obj) = ctx.client.get(&secret::RESOURCE, ns, &r.name).await else {
            continue;
        };
        let data = obj
            .pointer("/data/.dockerconfigjson")
            .and_then(Value::as_str)
            .unwrap_or("");
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
            out.push(bytes);
        }
    }
    out
}
