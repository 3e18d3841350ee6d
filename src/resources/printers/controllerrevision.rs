//! `kubectl get controllerrevisions`: upstream's `printControllerRevision` (CONTROLLER as
//! `kind.group/name` of the controlling owner, or `<none>`; REVISION).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::count;
use super::{age_cell, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// ControllerRevision columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Controller", "Controller of the object", 0),
    text_column(
        "Revision",
        "Revision indicates the revision of the state represented by Data.",
        0,
    ),
    AGE,
];

/// Upstream's `formatResourceName` of the controller reference: lower-cased `Kind.group`
/// (just `kind` for the core group), a slash, the name.
fn controller(rev: &Value) -> String {
    let Some(owner) = list(rev, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".to_string();
    };
    let api_version = text(owner, &["apiVersion"]);
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = text(owner, &["kind"]);
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{}", group_kind.to_lowercase(), text(owner, &["name"]))
}

fn row(rev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(rev),
        cell(controller(rev)),
        Value::from(count(rev, &["revision"])),
        age_cell(rev, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controller_is_kind_group_and_name() {
        let rev = json!({"metadata": {"name": "agent-5d8f", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u", "controller": true}]},
            "revision": 2});
        assert_eq!(
            (PRINTER.row)(&rev, Utc::now())[..3],
            [json!("agent-5d8f"), json!("daemonset.apps/agent"), json!(2)]
        );
        let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
        assert_eq!((PRINTER.row)(&orphan, Utc::now())[1], json!("<none>"));
    }
}
