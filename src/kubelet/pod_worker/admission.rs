//! Pod admission on this node, as the kubelet's admit handlers in upstream's order: a pod
//! whose sysctls the node does not allow (`kubelet::sysctl`) is rejected as
//! `SysctlForbidden`, then one whose host devices cannot be allocated (`kubelet::devices`:
//! the device manager's resource allocation) as `UnexpectedAdmissionError`. A rejected pod
//! gets nothing set up: a `Warning` event with the reason, and its status set to phase
//! `Failed` with that reason and the message `Pod was rejected: ...`, as upstream's
//! `rejectPod`. A finished pod gives its devices back.

use serde_json::{json, Value};

use super::events::{self, PodRef};
use super::{patch_status, typed, Worker};
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::devices::restore::is_finished;
use crate::kubelet::devices::UNEXPECTED_ADMISSION_ERROR;
use crate::kubelet::sysctl::{self, FORBIDDEN_REASON};

impl Worker {
    /// Whether the pod is rejected (nothing of it may run); rejects it on first sight.
    pub(super) async fn rejected<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) -> bool {
        if self.rejected {
            return true;
        }
        let status = p.get("status");
        if status.is_some_and(|s| {
            s["phase"] == "Failed"
                && (s["reason"] == FORBIDDEN_REASON || s["reason"] == UNEXPECTED_ADMISSION_ERROR)
        }) {
            self.rejected = true;
            return true;
        }
        if is_finished(p) {
            // upstream frees the devices of pods that are no longer active
            ctx.devices.release(&self.uid);
        }
        // Admission happens once: a pod that already has containers was admitted before.
        if self.containers.values().any(|t| t.id.is_some()) {
            return false;
        }
        let Some(pod) = typed(p) else { return false };
        let refusal = match sysctl::forbidden(&pod, &ctx.security.allowed_unsafe_sysctls) {
            Some(message) => Some((FORBIDDEN_REASON, message)),
            None if is_finished(p) => None,
            None => ctx
                .devices
                .admit(&self.uid, &pod)
                .err()
                .map(|e| (UNEXPECTED_ADMISSION_ERROR, e.to_string())),
        };
        let Some((reason, message)) = refusal else {
            return false;
        };
        tracing::warn!(reason, %message, "pod rejected");
        events::warning(ctx, &PodRef::of_value(p), reason, &message);
        let status = json!({
            "phase": "Failed",
            "reason": reason,
            "message": format!("Pod was rejected: {message}"),
        });
        if patch_status(ctx, p, &status).await {
            self.rejected = true;
        }
        true
    }
}
