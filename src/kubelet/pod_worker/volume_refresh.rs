//! Keeping a running pod's kubelet-written volumes current, as upstream's periodic pod sync
//! does: configMap, secret and projected volumes are written again from fresh objects and
//! tokens every [`VOLUME_REFRESH`] (a token the token manager renewed lands in its file
//! then), and downwardAPI files at once when the pod's labels or annotations change. A
//! volume that cannot be written keeps its old content and is tried again soon.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::sandbox_setup::prefetch;
use super::Worker;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;

/// How often a running pod's volumes are written again. Tokens live at least ten minutes
/// and are renewed at 80% of their lifetime, so a minute keeps every file valid.
pub(super) const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// How soon a refresh that failed is tried again.
const REFRESH_RETRY: Duration = Duration::from_secs(10);

/// The pod metadata downwardAPI files may show and that changes while the pod runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct VolumeMeta {
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

impl VolumeMeta {
    /// `pod`'s labels and annotations.
    pub(super) fn of(pod: &Pod) -> Self {
        VolumeMeta {
            labels: pod.metadata.labels.clone(),
            annotations: pod.metadata.annotations.clone(),
        }
    }
}

impl Worker {
    /// Writes the pod's kubelet-written volumes again when the period is up or the pod's
    /// labels or annotations changed.
    pub(super) async fn refresh_volumes<C: Client>(&mut self, ctx: &NodeContext<C>, pod: &Pod) {
        let written_by_kubelet = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .any(|v| {
                v.config_map.is_some()
                    || v.secret.is_some()
                    || v.downward_api.is_some()
                    || v.projected.is_some()
            });
        if !written_by_kubelet {
            return;
        }
        let meta = VolumeMeta::of(pod);
        let previous = match &self.sandbox {
            Some(sb) if Instant::now() >= sb.next_volume_refresh || sb.volume_meta != meta => {
                sb.sources.clone()
            }
            _ => return,
        };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut sources = prefetch(ctx, &ns, pod, Some(&previous)).await;
        sources.claims = previous.claims;
        let (vm, typed_pod, lookup) = (ctx.volumes.clone(), pod.clone(), sources.clone());
        let written = tokio::task::spawn_blocking(move || vm.refresh(&typed_pod, &lookup)).await;
        let next = match written {
            Ok(Ok(())) => VOLUME_REFRESH,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "refreshing the pod's volumes failed");
                REFRESH_RETRY
            }
            Err(e) => {
                tracing::warn!(error = %e, "refreshing the pod's volumes panicked");
                REFRESH_RETRY
            }
        };
        if let Some(sb) = &mut self.sandbox {
            sb.sources = sources;
            sb.volume_meta = meta;
            sb.next_volume_refresh = Instant::now() + next;
        }
    }
}
