//! Cells every workload printer shares: upstream's `layoutContainerCells` (the template's
//! container names and images, comma-separated) and its integer columns.

use serde_json::Value;

use super::{at, list, text, Column};

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

/// The names and images of `spec.template.spec.containers`, each joined by commas.
pub(crate) fn containers_and_images(obj: &Value) -> (Value, Value) {
    let containers = list(obj, &["spec", "template", "spec", "containers"]);
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    )
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
            containers_and_images(&d),
            (json!("a,b"), json!("nginx,redis:7"))
        );
        assert_eq!(count(&d, &["status", "replicas"]), 0);
    }
}
