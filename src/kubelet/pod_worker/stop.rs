//! Stopping a pod: its containers within the grace period (SIGTERM, then SIGKILL), then
//! everything the sandbox holds: containers, mounts, volumes, network and namespaces.
//! Teardown is keyed by the pod uid alone, never by what the worker saw start, so a pod
//! whose containers never ran (image pull, config, create or start failed) or whose kubelet
//! restarted leaves nothing behind, as upstream's `killPodWithSyncResult` plus the
//! container GC and orphaned-pod cleanup achieve together.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::{self, PodRef};
use super::Worker;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::container_start::{self, parse_id};
use crate::kubelet::runtime::{cgroup, ContainerState, ContainerStatus};
use crate::kubelet::sandbox;
use crate::resources::seconds;

impl Worker {
    /// Stops every container within the pod's grace period: SIGTERM, then SIGKILL.
    pub(super) async fn terminate<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) {
        let grace = p
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        self.terminate_within(ctx, p, grace).await;
    }

    /// Stops every container within `grace` seconds: SIGTERM, then SIGKILL.
    pub(super) async fn terminate_within<C: Client>(
        &mut self,
        ctx: &NodeContext<C>,
        p: &Value,
        grace: u64,
    ) {
        let running: Vec<(String, String)> = self
            .containers
            .values()
            .filter(|t| {
                t.status
                    .as_ref()
                    .map_or(true, |s| s.state != ContainerState::Exited)
            })
            .filter_map(|t| Some((t.name.clone(), t.id.clone()?)))
            .collect();
        let pod = PodRef::of_value(p);
        for (name, id) in &running {
            events::normal(ctx, &pod, "Killing", &format!("Stopping container {name}"));
            let _ = ctx.runtime.kill(id, libc::SIGTERM).await;
        }
        let ids: Vec<String> = running.into_iter().map(|(_, id)| id).collect();
        let deadline = seconds::instant_after(Instant::now(), seconds::wait_unsigned(grace));
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
    pub(super) async fn teardown<C: Client>(&mut self, ctx: &NodeContext<C>) {
        ctx.stats.inventory().remove(&self.uid);
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
        // Containers the runtime never created (pull, config or create failed, or the kubelet
        // crashed in between) are known only by their directory, which may hold a mounted
        // root filesystem.
        for id in container_start::container_dirs(ctx, &self.uid) {
            if !ids.contains(&id) {
                let dir = container_start::container_dir(ctx, &self.uid, &id);
                if let Err(e) = ctx.images.unmount_rootfs(&dir).await {
                    tracing::warn!(container = %id, error = %e, "could not remove container rootfs");
                }
            }
        }
        let uid = self.uid.clone();
        match tokio::task::spawn_blocking(move || cgroup::remove_pod(&uid)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "removing the pod cgroup failed"),
            Err(e) => tracing::warn!(error = %e, "removing the pod cgroup panicked"),
        }
        let (vm, uid) = (ctx.volumes.clone(), self.uid.clone());
        match tokio::task::spawn_blocking(move || vm.teardown(&uid)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "volume teardown failed"),
            Err(e) => tracing::warn!(error = %e, "volume teardown panicked"),
        }
        ctx.tokens.forget_pod(&self.uid);
        if let Err(e) = ctx.network.teardown(&self.uid).await {
            tracing::warn!(error = %e, "network teardown failed");
        }
        let (root, uid) = (ctx.sandbox_dir.clone(), self.uid.clone());
        let _ = tokio::task::spawn_blocking(move || sandbox::remove(&root, &uid)).await;
        let (vm, uid) = (ctx.volumes.clone(), self.uid.clone());
        match tokio::task::spawn_blocking(move || vm.remove_pod_dir(&uid)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "removing the pod directory failed"),
            Err(e) => tracing::warn!(error = %e, "removing the pod directory panicked"),
        }
        // Upstream's container GC removes a deleted pod's log directory as well.
        for dir in container_start::pod_log_dirs(ctx, &self.uid) {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "removing pod logs failed");
            }
        }
        self.sandbox = None;
    }
}
