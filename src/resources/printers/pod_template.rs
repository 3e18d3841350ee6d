//! Cells every workload printer shares: upstream's `layoutContainerCells` (the template's
//! container names and images, comma-separated), the AGE/CONTAINERS/IMAGES run that ends
//! their rows, the READY `ready/desired` cell, the DESIRED/CURRENT/READY row of
//! `printReplicaSet` and `printReplicationController`, and integer columns.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, at, cell, name_cell, text, Column};

/// An integer column.
pub(crate) const fn int_column(
    name: &'static str,
    description: &'static str,
    priority: i32,
) -> Column {
    Column {
        name,
        type_: "integer",
        format: "",
        description,
        priority,
    }
}

/// The `Containers` wide column.
pub(crate) const CONTAINERS: Column =
    super::text_column("Containers", "Names of each container in the template.", 1);

/// The `Images` wide column.
pub(crate) const IMAGES: Column = super::text_column(
    "Images",
    "Images referenced by each container in the template.",
    1,
);

/// Upstream `layoutContainerCells`: the names and images of a pod spec's containers, each
/// joined by commas.
pub(crate) fn container_cells(pod_spec: Option<&Value>) -> (Value, Value) {
    let containers = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let join = |key: &str| {
        containers
            .iter()
            .map(|c| text(c, &[key]))
            .collect::<Vec<_>>()
            .join(",")
    };
    (cell(join("name")), cell(join("image")))
}

/// The AGE, CONTAINERS and IMAGES cells (of `spec.template.spec`) of a workload row.
pub(crate) fn age_and_template_cells(obj: &Value, now: DateTime<Utc>) -> [Value; 3] {
    let (containers, images) = container_cells(at(obj, &["spec", "template", "spec"]));
    [age_cell(obj, now), containers, images]
}

/// The READY cell of Deployments and StatefulSets: `status.readyReplicas/spec.replicas`.
pub(crate) fn ready_of_desired(obj: &Value) -> Value {
    let ready = count(obj, &["status", "readyReplicas"]);
    let desired = count(obj, &["spec", "replicas"]);
    cell(format!("{ready}/{desired}"))
}

/// The row of upstream's `printReplicaSet` and `printReplicationController`, which differ
/// only in how the (wide) `selector` cell is written.
pub(crate) fn replica_row(obj: &Value, now: DateTime<Utc>, selector: String) -> Vec<Value> {
    let mut row = vec![
        name_cell(obj),
        Value::from(count(obj, &["spec", "replicas"])),
        Value::from(count(obj, &["status", "replicas"])),
        Value::from(count(obj, &["status", "readyReplicas"])),
    ];
    row.extend(age_and_template_cells(obj, now));
    row.push(cell(selector));
    row
}

/// The integer at `path` (Go's zero when absent).
pub(crate) fn count(obj: &Value, path: &[&str]) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_joined() {
        let d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx"}, {"name": "b", "image": "redis:7"}]}}}});
        assert_eq!(
            container_cells(at(&d, &["spec", "template", "spec"])),
            (json!("a,b"), json!("nginx,redis:7"))
        );
        assert_eq!(container_cells(None), (json!(""), json!("")));
        assert_eq!(count(&d, &["status", "replicas"]), 0);
    }
}
