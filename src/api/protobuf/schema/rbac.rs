//! Protobuf tables for rbac.authorization.k8s.io/v1 `Role`, `ClusterRole`, `RoleBinding` and
//! `ClusterRoleBinding`. Field numbers and JSON names are those of Kubernetes v1.32; see
//! `schema` for the notation.

/// Messages of `k8s.io/api/rbac/v1/generated.proto`.
pub const TABLE: &str = "
Role 1 metadata ObjectMeta; 2 rules *PolicyRule
ClusterRole 1 metadata ObjectMeta; 2 rules *PolicyRule; 3 aggregationRule AggregationRule
AggregationRule 1 clusterRoleSelectors *LabelSelector
PolicyRule 1 verbs *s; 2 apiGroups *s; 3 resources *s; 4 resourceNames *s; 5 nonResourceURLs *s
RoleBinding 1 metadata ObjectMeta; 2 subjects *Subject; 3 roleRef RoleRef
ClusterRoleBinding 1 metadata ObjectMeta; 2 subjects *Subject; 3 roleRef RoleRef
RoleRef 1 apiGroup s!; 2 kind s!; 3 name s!
Subject 1 kind s!; 2 apiGroup s; 3 name s!; 4 namespace s
";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::api::protobuf::decode;
    use crate::api::protobuf::test_encoder::*;

    #[test]
    fn role_binding_and_aggregated_cluster_role_as_client_go_sends_them() {
        let binding = Msg::new()
            .msg(1, object_meta("readers", "dev", 0))
            .msg(
                2,
                Msg::new()
                    .str(1, "User")
                    .str(2, "rbac.authorization.k8s.io")
                    .str(3, "alice"),
            )
            .msg(
                2,
                Msg::new()
                    .str(1, "ServiceAccount")
                    .str(3, "ci")
                    .str(4, "dev"),
            )
            .msg(
                3,
                Msg::new()
                    .str(1, "rbac.authorization.k8s.io")
                    .str(2, "ClusterRole")
                    .str(3, "view"),
            );
        let got = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            binding,
        ))
        .unwrap();
        assert_eq!(
            got["subjects"],
            json!([
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"},
            ])
        );
        assert_eq!(
            got["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
        );

        let role = Msg::new()
            .msg(1, object_meta("monitoring", "", 0))
            .msg(2, Msg::new().str(1, "get").str(5, "/metrics"))
            .msg(3, Msg::new().msg(1, Msg::new().entry(1, "team", "ops")));
        let got = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            role,
        ))
        .unwrap();
        assert_eq!(
            got["rules"],
            json!([{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])
        );
        assert_eq!(
            got["aggregationRule"],
            json!({"clusterRoleSelectors": [{"matchLabels": {"team": "ops"}}]})
        );
    }
}
