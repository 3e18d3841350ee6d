//! `kubectl get roles|clusterroles|rolebindings|clusterrolebindings`: upstream's `printRole`
//! and `printClusterRole` (name, creation time as RFC 3339), `printRoleBinding` and
//! `printClusterRoleBinding` (name, `Kind/name` of the role, age; wide: users, groups and
//! service accounts as `namespace/name`, each joined with `", "`, as `rbac.SubjectsStrings`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{
    age_cell, cell, list, name_cell, text, text_column, Column, Printer, AGE, CREATED_AT, NAME,
};

/// Role and ClusterRole columns and row function.
pub static ROLE_PRINTER: Printer = Printer {
    columns: ROLE_COLUMNS,
    row: &role_row,
};

/// RoleBinding columns and row function.
pub static ROLE_BINDING_PRINTER: Printer = Printer {
    columns: ROLE_BINDING_COLUMNS,
    row: &binding_row,
};

/// ClusterRoleBinding columns and row function.
pub static CLUSTER_ROLE_BINDING_PRINTER: Printer = Printer {
    columns: CLUSTER_ROLE_BINDING_COLUMNS,
    row: &binding_row,
};

static ROLE_COLUMNS: &[Column] = &[NAME, CREATED_AT];

const ROLE_REF: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";

static ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    text_column("Role", ROLE_REF, 0),
    AGE,
    text_column("Users", "Users in the roleBinding", 1),
    text_column("Groups", "Groups in the roleBinding", 1),
    text_column("ServiceAccounts", "ServiceAccounts in the roleBinding", 1),
];

static CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    text_column("Role", ROLE_REF, 0),
    AGE,
    text_column("Users", "Users in the clusterRoleBinding", 1),
    text_column("Groups", "Groups in the clusterRoleBinding", 1),
    text_column(
        "ServiceAccounts",
        "ServiceAccounts in the clusterRoleBinding",
        1,
    ),
];

fn role_row(role: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = text(role, &["metadata", "creationTimestamp"]);
    // `metav1.Time.UTC().Format(time.RFC3339)`; Go's zero time when unset.
    let shown = DateTime::parse_from_rfc3339(created)
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string());
    vec![name_cell(role), cell(shown)]
}

fn binding_row(binding: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        text(binding, &["roleRef", "kind"]),
        text(binding, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for s in list(binding, &["subjects"]) {
        let name = text(s, &["name"]);
        match text(s, &["kind"]) {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => accounts.push(format!("{}/{name}", text(s, &["namespace"]))),
            _ => {}
        }
    }
    vec![
        name_cell(binding),
        cell(role),
        age_cell(binding, now),
        cell(users.join(", ")),
        cell(groups.join(", ")),
        cell(accounts.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn roles_show_their_creation_time() {
        let role = json!({"metadata": {"name": "pod-reader", "creationTimestamp": "2024-05-01T11:58:00Z"}});
        assert_eq!(
            (ROLE_PRINTER.row)(&role, now()),
            vec![json!("pod-reader"), json!("2024-05-01T11:58:00Z")]
        );
    }

    #[test]
    fn bindings_show_the_role_and_subjects_by_kind() {
        let binding = json!({
            "metadata": {"name": "readers", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "User", "name": "bob"},
                {"kind": "Group", "name": "ops"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
            ],
        });
        assert_eq!(
            (ROLE_BINDING_PRINTER.row)(&binding, now()),
            vec![
                json!("readers"),
                json!("ClusterRole/view"),
                json!("60m"),
                json!("alice, bob"),
                json!("ops"),
                json!("build/ci"),
            ]
        );
        assert_eq!(CLUSTER_ROLE_BINDING_PRINTER.columns.len(), 6);
    }
}
