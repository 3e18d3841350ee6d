//! Taints by condition, as upstream's node lifecycle controller does under
//! `TaintNodesByCondition` (`doNoScheduleTaintingPass`): a node whose kubelet reports
//! `MemoryPressure`, `DiskPressure`, `PIDPressure` or `NetworkUnavailable` True gets the
//! matching `node.kubernetes.io/*:NoSchedule` taint, and Bramble's board conditions
//! `bramble.io/Thermal` and `bramble.io/Power` the `bramble.io/thermal` and
//! `bramble.io/power` ones; each goes when its condition is no longer True (Unknown
//! included: a silent kubelet's node has the unreachable taints instead). A kubelet may not
//! change its own taints (NodeRestriction), so the controller does; the hysteresis is in the
//! conditions. [`node_lifecycle`](super::node_lifecycle) writes these with its own taints in
//! one update.

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::resources::node;

/// Condition type → the NoSchedule taint key it puts on the node while True.
pub const CONDITION_TAINTS: [(&str, &str); 6] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
    ("bramble.io/Thermal", "bramble.io/thermal"),
    ("bramble.io/Power", "bramble.io/power"),
];

const NO_SCHEDULE: &str = "NoSchedule";

/// `taints` with the condition taints set for `node`'s conditions: those of True
/// conditions added (NoSchedule, without `timeAdded`, as upstream), the others removed;
/// every other taint kept in place.
pub fn with_condition_taints(node: &Node, taints: Vec<Taint>) -> Vec<Taint> {
    let conditions = node::conditions(node);
    let wanted = |key: &str| {
        CONDITION_TAINTS.iter().any(|(kind, k)| {
            *k == key
                && conditions
                    .iter()
                    .any(|c| c.type_ == *kind && c.status == "True")
        })
    };
    let is_condition_taint =
        |t: &Taint| t.effect == NO_SCHEDULE && CONDITION_TAINTS.iter().any(|(_, k)| *k == t.key);
    let mut out: Vec<Taint> = taints
        .into_iter()
        .filter(|t| !is_condition_taint(t) || wanted(&t.key))
        .collect();
    for (_, key) in CONDITION_TAINTS {
        if wanted(key) && !out.iter().any(|t| t.key == key && t.effect == NO_SCHEDULE) {
            out.push(Taint {
                key: key.to_string(),
                effect: NO_SCHEDULE.to_string(),
                time_added: None,
                value: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn node(conditions: Value, taints: Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "pi-1"},
            "spec": {"taints": taints},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    fn keys(taints: &[Taint]) -> Vec<&str> {
        taints.iter().map(|t| t.key.as_str()).collect()
    }

    #[test]
    fn true_conditions_add_taints_and_others_remove_them() {
        let own = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let n = node(
            json!([
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "True"},
                {"type": "DiskPressure", "status": "False"},
                {"type": "bramble.io/Thermal", "status": "True"},
                {"type": "bramble.io/Power", "status": "Unknown"},
            ]),
            json!([own]),
        );
        let out = with_condition_taints(&n, node::own_taints(&n).to_vec());
        assert_eq!(
            keys(&out),
            [
                "dedicated",
                "node.kubernetes.io/memory-pressure",
                "bramble.io/thermal"
            ]
        );
        assert!(out
            .iter()
            .all(|t| t.effect == "NoSchedule" && t.time_added.is_none()));
        // the same again changes nothing
        assert_eq!(with_condition_taints(&n, out.clone()), out);
        // the conditions go False: only the node's own taint stays
        let cooled = node(
            json!([{"type": "MemoryPressure", "status": "False"}, {"type": "bramble.io/Thermal", "status": "False"}]),
            serde_json::to_value(&out).unwrap(),
        );
        let out = with_condition_taints(&cooled, node::own_taints(&cooled).to_vec());
        assert_eq!(keys(&out), ["dedicated"]);
        // a NoExecute taint with a condition taint's key is someone else's: kept
        let other = node(
            json!([]),
            json!([{"key": "bramble.io/power", "effect": "NoExecute"}]),
        );
        assert_eq!(
            with_condition_taints(&other, node::own_taints(&other).to_vec()).len(),
            1
        );
    }

    /// The node lifecycle controller puts the taints on as the kubelet reports the
    /// conditions and takes them off when they clear.
    #[tokio::test]
    async fn the_controller_taints_a_node_by_its_conditions() {
        use crate::client::informer::Informers;
        use crate::client::options::{PatchType, Subresource};
        use crate::client::{Client, LocalClient};
        use crate::controllers::node_lifecycle::NodeLifecycleController;
        use std::time::Duration;

        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        let (c, primary, queue) =
            NodeLifecycleController::new(&informers, Duration::from_secs(3600)).unwrap();
        let ready = c.ready();
        let task = tokio::spawn(crate::controllers::runtime::run(
            c,
            primary,
            queue,
            ready,
            shutdown.clone(),
        ));
        let conditions = |thermal: &str, memory: &str| {
            json!([
                {"type": "MemoryPressure", "status": memory},
                {"type": "bramble.io/Thermal", "status": thermal},
                {"type": "Ready", "status": "True"},
            ])
        };
        client
            .create(
                &node::RESOURCE,
                "",
                json!({"metadata": {"name": "pi-1"},
                       "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
                       "status": {"conditions": conditions("True", "False")}}),
            )
            .await
            .unwrap();
        let taint_keys = |client: LocalClient| async move {
            let n = client.get(&node::RESOURCE, "", "pi-1").await.unwrap();
            n["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["key"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<String>>()
        };
        let until = |want: Vec<&'static str>| {
            let client = client.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    let keys = taint_keys(client.clone()).await;
                    if keys == want {
                        return;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "taints {keys:?}, want {want:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        until(vec!["dedicated", "bramble.io/thermal"]).await;
        let set = |thermal: &'static str, memory: &'static str| {
            let client = client.clone();
            async move {
                client
                    .patch(
                        &node::RESOURCE,
                        "",
                        "pi-1",
                        PatchType::Merge,
                        &json!({"status": {"conditions": conditions(thermal, memory)}}),
                        Subresource::Status,
                    )
                    .await
                    .unwrap();
            }
        };
        set("True", "True").await;
        until(vec![
            "dedicated",
            "bramble.io/thermal",
            "node.kubernetes.io/memory-pressure",
        ])
        .await;
        set("False", "False").await;
        until(vec!["dedicated"]).await;
        shutdown.cancel();
        let _ = task.await;
        informers.stopped().await;
    }
}
