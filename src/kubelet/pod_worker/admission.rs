//! Pod admission on this node, as the kubelet's admit handlers: a pod whose sysctls the
//! node does not allow (`kubelet::sysctl`) is rejected before anything of it is set up:
//! a `Warning` event with the reason, and the pod's status set to phase `Failed` with that
//! reason and the message `Pod was rejected: ...`, as upstream's `rejectPod`.

use serde_json::{json, Value};

use super::events::{self, PodRef};
use super::{patch_status, typed, Worker};
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::sysctl::{self, FORBIDDEN_REASON};

impl Worker {
    /// Whether the pod is rejected (nothing of it may run); rejects it on first sight.
    pub(super) async fn rejected<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) -> bool {
        if self.rejected {
            return true;
        }
        let status = p.get("status");
        if status.is_some_and(|s| s["phase"] == "Failed" && s["reason"] == FORBIDDEN_REASON) {
            self.rejected = true;
            return true;
        }
        // Admission happens once: a pod that already has containers was admitted before.
        if self.containers.values().any(|t| t.id.is_some()) {
            return false;
        }
        let Some(pod) = typed(p) else { return false };
        let Some(message) = sysctl::forbidden(&pod, &ctx.security.allowed_unsafe_sysctls) else {
            return false;
        };
        tracing::warn!(reason = FORBIDDEN_REASON, %message, "pod rejected");
        events::warning(ctx, &PodRef::of_value(p), FORBIDDEN_REASON, &message);
        let status = json!({
            "phase": "Failed",
            "reason": FORBIDDEN_REASON,
            "message": format!("Pod was rejected: {message}"),
        });
        if patch_status(ctx, p, &status).await {
            self.rejected = true;
        }
        true
    }
}
