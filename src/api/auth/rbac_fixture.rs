//! An in-memory [`RbacObjects`] for tests: the bootstrap policy (aggregated roles filled as
//! the controller would) plus whatever a test adds.

use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;

use super::node::{NodeGraph, Vertex};
use super::rbac::{Binding, PolicyRule, RbacObjects};
use crate::pki::identity::Identity;
use crate::resources::rbac::aggregation::aggregated_rules;
use crate::resources::rbac::bootstrap_policy;

/// Roles and bindings by namespace (`""` for the cluster-scoped kinds). It relates no object
/// to any node.
#[derive(Default)]
pub struct Policy {
    roles: Vec<(String, String, Vec<PolicyRule>)>,
    bindings: Vec<(String, Binding)>,
}

impl Policy {
    /// The bootstrap policy, aggregated.
    pub fn bootstrap() -> Policy {
        let mut roles: Vec<ClusterRole> = bootstrap_policy::cluster_roles()
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        // admin aggregates edit, which aggregates view: a few rounds reach the fixed point.
        for _ in 0..3 {
            let snapshot = roles.clone();
            let all: Vec<&ClusterRole> = snapshot.iter().collect();
            for role in roles.iter_mut() {
                if let Some(rules) = aggregated_rules(role, &all) {
                    role.rules = Some(rules);
                }
            }
        }
        let mut policy = Policy::default();
        for role in roles {
            policy.add_role("", serde_json::to_value(role).unwrap());
        }
        for b in bootstrap_policy::cluster_role_bindings() {
            policy.add_binding("", b);
        }
        policy
    }

    /// Adds a Role (`namespace` set) or ClusterRole.
    pub fn add_role(&mut self, namespace: &str, role: Value) {
        let name = role["metadata"]["name"].as_str().unwrap().to_string();
        let rules = serde_json::from_value(role["rules"].clone()).unwrap_or_default();
        self.roles.push((namespace.to_string(), name, rules));
    }

    /// Adds a RoleBinding (`namespace` set) or ClusterRoleBinding.
    pub fn add_binding(&mut self, namespace: &str, binding: Value) {
        self.bindings.push((
            namespace.to_string(),
            serde_json::from_value(binding).unwrap(),
        ));
    }
}

impl RbacObjects for Policy {
    fn bindings(&self, namespace: Option<&str>, _who: &Identity) -> Vec<Binding> {
        let ns = namespace.unwrap_or("");
        self.bindings
            .iter()
            .filter(|(n, _)| n == ns)
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn role_rules(&self, namespace: Option<&str>, name: &str) -> Option<Vec<PolicyRule>> {
        let ns = namespace.unwrap_or("");
        self.roles
            .iter()
            .find(|(n, r, _)| n == ns && r == name)
            .map(|(_, _, rules)| rules.clone())
    }
}

impl NodeGraph for Policy {
    fn related(&self, _: &str, _: Vertex, _: &str, _: &str) -> bool {
        false
    }
}
