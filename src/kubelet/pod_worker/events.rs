//! The kubelet's events about a pod, worded as upstream's (`pkg/kubelet/events`,
//! kubelet 1.32), so `kubectl describe pod` reads the same: Pulling/Pulled, Created/Started,
//! Failed, BackOff, Killing and Unhealthy. Waiting states report an event when they are
//! entered, not on every retry, so a crash-looping container does not write once a second.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::Tracked;
use crate::client::events::EventType;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::container_start::StartError;
use crate::resources::meta;

/// A pod as an event's `involvedObject` names it.
pub(super) struct PodRef(Value);

impl PodRef {
    /// From the pod's JSON.
    pub fn of_value(p: &Value) -> PodRef {
        PodRef::new(
            meta::name_of(p),
            meta::meta_str(p, "namespace"),
            meta::meta_str(p, "uid"),
            meta::meta_str(p, "resourceVersion"),
        )
    }

    /// From the typed pod.
    pub fn of_pod(p: &Pod) -> PodRef {
        let m = &p.metadata;
        PodRef::new(
            m.name.as_deref().unwrap_or_default(),
            m.namespace.as_deref(),
            m.uid.as_deref(),
            m.resource_version.as_deref(),
        )
    }

    fn new(name: &str, namespace: Option<&str>, uid: Option<&str>, rv: Option<&str>) -> PodRef {
        PodRef(json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": rv},
        }))
    }
}

/// Records a `Normal` event.
pub(super) fn normal<C: Client>(ctx: &NodeContext<C>, pod: &PodRef, reason: &str, message: &str) {
    ctx.events
        .record(&pod.0, EventType::Normal, reason, reason, message);
}

/// Records a `Warning` event.
pub(super) fn warning<C: Client>(ctx: &NodeContext<C>, pod: &PodRef, reason: &str, message: &str) {
    ctx.events
        .record(&pod.0, EventType::Warning, reason, reason, message);
}

/// The events of a container entering a waiting state with `reason`: `Failed` with the
/// cause and `Error: <reason>`, or `BackOff` for the two back-off states.
pub(super) fn waiting<C: Client>(
    ctx: &NodeContext<C>,
    pod: &PodRef,
    container: &str,
    image: &str,
    reason: &str,
    message: &str,
) {
    match reason {
        "CrashLoopBackOff" => {
            let p = &pod.0;
            let text = format!(
                "Back-off restarting failed container {container} in pod {}_{}({})",
                meta::name_of(p),
                meta::meta_str(p, "namespace").unwrap_or_default(),
                meta::meta_str(p, "uid").unwrap_or_default()
            );
            warning(ctx, pod, "BackOff", &text);
        }
        "ImagePullBackOff" => {
            normal(
                ctx,
                pod,
                "BackOff",
                &format!("Back-off pulling image \"{image}\""),
            );
            warning(ctx, pod, "Failed", "Error: ImagePullBackOff");
        }
        "ErrImagePull" => {
            warning(ctx, pod, "Failed", message);
            warning(ctx, pod, "Failed", "Error: ErrImagePull");
        }
        _ => warning(ctx, pod, "Failed", &format!("Error: {message}")),
    }
}

/// Puts `t` in the waiting state `e`, recording its events if the state is new.
pub(super) fn enter_waiting<C: Client>(
    ctx: &NodeContext<C>,
    pod: &Pod,
    t: &mut Tracked,
    e: StartError,
) {
    let entered = t.waiting.as_ref().map(|w| w.reason.as_str()) != Some(e.reason.as_str());
    if entered {
        waiting(
            ctx,
            &PodRef::of_pod(pod),
            &t.name,
            &t.image,
            &e.reason,
            &e.message,
        );
    }
    t.waiting = Some(e);
}

/// `Pulled`: how long a pull took and the image's size, or that it was already present.
pub(super) fn pulled<C: Client>(
    ctx: &NodeContext<C>,
    pod: &PodRef,
    image: &str,
    pull: Option<(std::time::Duration, u64)>,
) {
    let text = match pull {
        Some((took, size)) => format!(
            "Successfully pulled image \"{image}\" in {took:.3?} ({took:.3?} including waiting). Image size: {size} bytes."
        ),
        None => format!("Container image \"{image}\" already present on machine"),
    };
    normal(ctx, pod, "Pulled", &text);
}
