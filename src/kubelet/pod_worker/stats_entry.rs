//! What the worker tells the node's stats sampler about its pod (`monitor::Inventory`): the
//! pod's identity and cgroup, each current container instance's runtime id, image, start,
//! init pid, cgroup, writable layer and log directory, and the directories of the pod's
//! volumes other than hostPath ones (upstream reports no usage for those).

use k8s_openapi::api::core::v1::Pod;

use super::Worker;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::container_start;
use crate::kubelet::image::rootfs;
use crate::kubelet::runtime::{cgroup, ContainerState};
use crate::monitor::{ContainerEntry, PodEntry, VolumeEntry};

impl Worker {
    /// Publishes the pod as the worker now sees it.
    pub(super) fn publish_stats<C: Client>(&self, ctx: &NodeContext<C>, pod: &Pod) {
        ctx.stats.inventory().publish(self.stats_entry(ctx, pod));
    }

    fn stats_entry<C: Client>(&self, ctx: &NodeContext<C>, pod: &Pod) -> PodEntry {
        let containers = self
            .containers
            .values()
            .filter_map(|t| {
                let id = t.id.as_ref()?;
                let status = t.status.as_ref()?;
                if status.state == ContainerState::Exited {
                    return None;
                }
                let log = container_start::log_path(ctx, pod, &t.name, t.restart_count);
                Some(ContainerEntry {
                    name: t.name.clone(),
                    id: id.clone(),
                    image: t.image.clone(),
                    start_time: status.started_at,
                    pid: status
                        .pid
                        .filter(|_| status.state == ContainerState::Running),
                    cgroup: cgroup::container_cgroup_path(&self.uid, &t.name),
                    upper_dir: rootfs::upper_dir(&container_start::container_dir(
                        ctx, &self.uid, id,
                    )),
                    log_dir: log.parent().map(|p| p.to_path_buf()).unwrap_or(log),
                })
            })
            .collect();
        let volumes = match &self.sandbox {
            Some(sb) => pod
                .spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter(|v| v.host_path.is_none())
                .filter_map(|v| {
                    Some(VolumeEntry {
                        name: v.name.clone(),
                        path: sb.volumes.host_path(&v.name)?.to_path_buf(),
                        claim: v
                            .persistent_volume_claim
                            .as_ref()
                            .map(|c| c.claim_name.clone()),
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        PodEntry {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            uid: self.uid.clone(),
            start_time: self.start_time,
            cgroup: cgroup::pod_cgroup_path(&self.uid),
            containers,
            volumes,
        }
    }
}
