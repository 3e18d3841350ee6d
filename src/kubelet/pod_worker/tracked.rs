//! What a pod worker knows about one container: its current and previous runtime
//! instances, restart count, waiting reason and probes, and how that becomes the
//! [`pod_status::ContainerRecord`] the status is computed from.

use std::time::Instant;

use crate::kubelet::container_start::StartError;
use crate::kubelet::pod_status::{self, ContainerInstance, Waiting};
use crate::kubelet::prober::ContainerProbes;
use crate::kubelet::runtime::{ContainerState, ContainerStatus};

/// What the worker knows about one container.
#[derive(Default)]
pub(super) struct Tracked {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) image_id: String,
    /// Current runtime id and its last known state.
    pub(super) id: Option<String>,
    pub(super) status: Option<ContainerStatus>,
    /// The previous attempt: its id and final state.
    pub(super) last: Option<(String, ContainerStatus)>,
    pub(super) restart_count: u32,
    pub(super) waiting: Option<StartError>,
    pub(super) retry_at: Option<Instant>,
    /// The probes of the current instance while it runs.
    pub(super) probes: Option<ContainerProbes>,
    /// When a failed liveness/startup probe's SIGTERM turns into SIGKILL.
    pub(super) kill_after: Option<Instant>,
}

impl Tracked {
    pub(super) fn record(&self) -> pod_status::ContainerRecord {
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
            ready: running && self.probes.as_ref().map_or(true, ContainerProbes::ready),
            started: running && self.probes.as_ref().map_or(true, ContainerProbes::started),
        }
    }
}
