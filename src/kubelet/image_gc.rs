//! Scheduled image garbage collection (upstream `ImageGCManager.GarbageCollect`, run every
//! five minutes): images no pod on this node uses are removed, least recently used first,
//! while the image filesystem is above the high threshold. A pod's removal also wakes it,
//! since that is when images become unused and a full SD card most needs the space back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::agent::NodeContext;
use super::image::GcPolicy;
use crate::client::options::ListOptions;
use crate::client::Client;
use crate::resources::pod;

/// Upstream's `ImageGCPeriod`.
const PERIOD: Duration = Duration::from_secs(5 * 60);

/// Collects every [`PERIOD`] and whenever `ctx.image_gc` is notified, until `shutdown`.
pub async fn run<C: Client>(
    ctx: Arc<NodeContext<C>>,
    policy: GcPolicy,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = ctx.image_gc.notified() => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(in_use) = images_in_use(&ctx).await else {
            continue; // without the pod list nothing is known to be unused
        };
        match ctx.images.garbage_collect(policy, &in_use).await {
            Ok(r) if !r.removed.is_empty() => tracing::info!(
                usage_percent = r.usage_percent,
                bytes_freed = r.bytes_freed,
                removed = ?r.removed,
                "image garbage collection"
            ),
            Ok(r) if r.bytes_freed < r.bytes_to_free => tracing::warn!(
                usage_percent = r.usage_percent,
                bytes_to_free = r.bytes_to_free,
                "image garbage collection could not free enough space: every image is in use"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "image garbage collection failed"),
        }
    }
}

/// The images of every container of every pod bound to this node (terminating ones too).
async fn images_in_use<C: Client>(ctx: &NodeContext<C>) -> Option<HashSet<String>> {
    let opts = ListOptions {
        field_selector: format!("spec.nodeName={}", ctx.node),
        ..Default::default()
    };
    let list = match ctx.client.list(&pod::RESOURCE, None, &opts).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "listing pods for image garbage collection failed");
            return None;
        }
    };
    Some(pod_images(&list.items))
}

fn pod_images(pods: &[Value]) -> HashSet<String> {
    let mut images = HashSet::new();
    for p in pods {
        for field in ["initContainers", "containers", "ephemeralContainers"] {
            for c in p["spec"][field].as_array().into_iter().flatten() {
                if let Some(image) = c["image"].as_str() {
                    images.insert(image.to_string());
                }
            }
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_container_kind_counts_as_in_use() {
        let pods = [json!({"spec": {
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [{"name": "a", "image": "redis"}, {"name": "b", "image": "redis"}],
        }})];
        let got = pod_images(&pods);
        assert_eq!(
            got,
            HashSet::from(["busybox".to_string(), "redis".to_string()])
        );
    }
}
