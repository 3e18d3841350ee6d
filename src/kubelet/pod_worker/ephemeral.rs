//! A pod's ephemeral containers, as upstream's `computePodActions` and `SyncPod` (step 5,
//! `pkg/kubelet/kuberuntime/kuberuntime_manager.go`) run them: each is started once the
//! pod's sandbox exists, even while init containers still run, and never restarted once it
//! was created; one with `targetContainerName` joins that container's PID namespace
//! (upstream's `containerStartSpec.target`, the runtime's `NamespaceMode_TARGET`), and waits
//! with `CreateContainerConfigError` while the target is not running.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod};

use super::{events, Worker};
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::container_start::StartError;
use crate::kubelet::runtime::ContainerState;

impl Worker {
    /// Starts the pod's ephemeral containers that never ran.
    pub(super) async fn start_ephemeral<C: Client>(&mut self, ctx: &NodeContext<C>, pod: &Pod) {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return; // a finished pod starts nothing again
        }
        let list = pod
            .spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.as_deref())
            .unwrap_or_default();
        for ec in list {
            let created = self
                .containers
                .get(&ec.name)
                .is_some_and(|t| t.id.is_some());
            if created {
                continue;
            }
            let target = ec
                .target_container_name
                .as_deref()
                .filter(|t| !t.is_empty());
            let pid_namespace = match target {
                None => None,
                Some(target) => match self.running_pid(target) {
                    Some(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/pid"))),
                    None => {
                        if let Some(t) = self.containers.get_mut(&ec.name) {
                            let e = StartError {
                                reason: "CreateContainerConfigError".into(),
                                message: format!("unable to find target container {target}"),
                            };
                            events::enter_waiting(ctx, pod, t, e);
                        }
                        continue;
                    }
                },
            };
            self.ensure(ctx, pod, &as_container(ec), "Never", pid_namespace)
                .await;
        }
    }

    /// The host pid of container `name`'s init while it runs.
    fn running_pid(&self, name: &str) -> Option<i32> {
        self.containers
            .get(name)?
            .status
            .as_ref()
            .filter(|s| s.state == ContainerState::Running)?
            .pid
    }
}

/// The container an ephemeral container runs as (upstream converts
/// `EphemeralContainerCommon` to `Container` the same way; the target is the only extra).
pub(super) fn as_container(ec: &EphemeralContainer) -> Container {
    let ec = ec.clone();
    Container {
        args: ec.args,
        command: ec.command,
        env: ec.env,
        env_from: ec.env_from,
        image: ec.image,
        image_pull_policy: ec.image_pull_policy,
        lifecycle: ec.lifecycle,
        liveness_probe: ec.liveness_probe,
        name: ec.name,
        ports: ec.ports,
        readiness_probe: ec.readiness_probe,
        resize_policy: ec.resize_policy,
        resources: ec.resources,
        restart_policy: ec.restart_policy,
        security_context: ec.security_context,
        startup_probe: ec.startup_probe,
        stdin: ec.stdin,
        stdin_once: ec.stdin_once,
        termination_message_path: ec.termination_message_path,
        termination_message_policy: ec.termination_message_policy,
        tty: ec.tty,
        volume_devices: ec.volume_devices,
        volume_mounts: ec.volume_mounts,
        working_dir: ec.working_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ephemeral_container_runs_as_the_same_container() {
        let ec: EphemeralContainer = serde_json::from_value(serde_json::json!({
            "name": "dbg", "image": "busybox", "command": ["sh"], "stdin": true, "tty": true,
            "targetContainerName": "app", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}))
        .unwrap();
        let c = serde_json::to_value(as_container(&ec)).unwrap();
        assert_eq!(
            c,
            serde_json::json!({"name": "dbg", "image": "busybox", "command": ["sh"],
                "stdin": true, "tty": true, "volumeMounts": [{"name": "v", "mountPath": "/v"}]})
        );
    }
}
