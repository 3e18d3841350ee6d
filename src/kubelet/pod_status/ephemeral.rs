//! `status.ephemeralContainerStatuses`, as upstream's `generateAPIPodStatus` builds them:
//! `convertToAPIContainerStatuses` over the ephemeral containers as regular containers
//! (sorted by name), never ready, and without `started`, which only the prober sets and
//! only for regular and init containers. They count for neither phase nor conditions.

use serde_json::Value;

use super::container_status::{api_status, container_json};
use super::{list, ContainerRecord};

/// The statuses of `spec`'s ephemeral containers; `None` when it has none.
pub(super) fn ephemeral_statuses(
    spec: &Value,
    records: &[ContainerRecord],
    has_init: bool,
) -> Option<Value> {
    let specs = list(&spec["ephemeralContainers"]);
    if specs.is_empty() {
        return None;
    }
    let mut statuses: Vec<(_, &Value)> = specs
        .iter()
        .map(|c| {
            let rec = records.iter().find(|r| c["name"] == r.name.as_str());
            (api_status(c, rec, has_init, false), c)
        })
        .collect();
    statuses.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let out = statuses
        .into_iter()
        .map(|(s, c)| {
            let mut v = container_json(&s, c);
            if let Some(m) = v.as_object_mut() {
                m.insert("ready".into(), Value::Bool(false));
                m.remove("started");
            }
            v
        })
        .collect();
    Some(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::kubelet::pod_status::ContainerInstance;
    use crate::kubelet::runtime::{ContainerState, ContainerStatus};

    fn record(name: &str, state: ContainerState, exit_code: Option<i32>) -> ContainerRecord {
        let t = |s| Utc.timestamp_opt(s, 0).single();
        ContainerRecord {
            name: name.into(),
            image: "busybox".into(),
            image_id: "docker.io/library/busybox@sha256:ab".into(),
            current: Some(ContainerInstance {
                container_id: format!("bramble://u_{name}_0"),
                status: ContainerStatus {
                    state,
                    pid: None,
                    exit_code,
                    signal: None,
                    started_at: t(1_700_000_000),
                    finished_at: exit_code.and(t(1_700_000_060)),
                    oom_killed: false,
                },
                message: None,
            }),
            ready: true,
            started: true,
            ..ContainerRecord::default()
        }
    }

    #[test]
    fn running_and_exited_ephemeral_containers_sorted_by_name() {
        let spec = json!({"containers": [{"name": "app"}],
            "ephemeralContainers": [{"name": "zz", "image": "busybox"},
                                    {"name": "dbg", "image": "busybox"},
                                    {"name": "new", "image": "alpine"}]});
        let recs = [
            record("zz", ContainerState::Exited, Some(130)),
            record("dbg", ContainerState::Running, None),
        ];
        let v = ephemeral_statuses(&spec, &recs, false).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["dbg", "new", "zz"]);
        assert_eq!(
            v[0],
            json!({"name": "dbg", "image": "busybox",
                "imageID": "docker.io/library/busybox@sha256:ab",
                "containerID": "bramble://u_dbg_0", "ready": false, "restartCount": 0,
                "state": {"running": {"startedAt": "2023-11-14T22:13:20Z"}}, "lastState": {}})
        );
        assert_eq!(
            v[1]["state"],
            json!({"waiting": {"reason": "ContainerCreating"}})
        );
        assert_eq!(v[2]["state"]["terminated"]["exitCode"], 130);
        assert_eq!(v[2]["state"]["terminated"]["reason"], "Error");
        assert!(ephemeral_statuses(&json!({"containers": []}), &[], false).is_none());
    }
}
