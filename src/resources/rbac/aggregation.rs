//! The rules of an aggregated ClusterRole, as upstream's ClusterRole aggregation controller
//! computes them (`pkg/controller/clusterroleaggregation`): for each selector of its
//! `aggregationRule` in order, the selected ClusterRoles by name (itself excluded), each
//! rule appended unless an equal one is already there.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};

use crate::resources::selector::typed;

/// The rules `role` aggregates from `all`; `None` when it has no `aggregationRule`.
pub fn aggregated_rules(role: &ClusterRole, all: &[&ClusterRole]) -> Option<Vec<PolicyRule>> {
    let rule = role.aggregation_rule.as_ref()?;
    let own_name = role.metadata.name.as_deref().unwrap_or("");
    let mut sorted: Vec<&ClusterRole> = all.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in rule.cluster_role_selectors.iter().flatten() {
        for other in &sorted {
            if other.metadata.name.as_deref().unwrap_or("") == own_name
                || !typed::matches(selector, other.metadata.labels.as_ref())
            {
                continue;
            }
            for r in other.rules.iter().flatten() {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
    }
    Some(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::rbac::bootstrap_policy;

    fn parse(v: serde_json::Value) -> ClusterRole {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn view_gathers_the_labelled_roles_but_not_itself_or_others() {
        let roles: Vec<ClusterRole> = bootstrap_policy::cluster_roles()
            .into_iter()
            .map(parse)
            .collect();
        let extra = parse(serde_json::json!({
            "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}],
        }));
        let mut all: Vec<&ClusterRole> = roles.iter().collect();
        all.push(&extra);
        let view = roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("view"))
            .unwrap();
        let rules = aggregated_rules(view, &all).unwrap();
        let base = roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("system:aggregate-to-view"))
            .unwrap();
        let base_rules = base.rules.clone().unwrap();
        // the base role's rules, the resource metrics reader's, and the extra role's
        assert_eq!(rules.len(), base_rules.len() + 2);
        assert!(base_rules.iter().all(|r| rules.contains(r)));
        assert!(rules
            .iter()
            .any(|r| r.api_groups == Some(vec!["metrics.k8s.io".to_string()])));
        assert_eq!(
            rules.last().unwrap().resources,
            Some(vec!["widgets".to_string()])
        );
        let admin = roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("cluster-admin"))
            .unwrap();
        assert_eq!(aggregated_rules(admin, &all), None);
    }
}
