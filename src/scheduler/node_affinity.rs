//! The NodeAffinity plugin: `nodeSelector`, required node affinity (a filter) and preferred
//! node affinity (a score), with node selector terms matched as upstream's
//! `component-helpers/scheduling/corev1/nodeaffinity` matches them.
//!
//! Terms are ORed, requirements inside a term ANDed. An empty term matches nothing, and a term
//! that does not parse (an unknown operator, `Gt` without exactly one integer) is skipped
//! rather than failing the pod, for compatibility with objects stored before validation
//! tightened.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod};

use super::status::NodeStatus;

/// Reason given when a node fails the pod's nodeSelector or required node affinity.
pub(crate) const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// PreFilter message when every required term pins the pod to no node name at all.
pub(crate) const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";
/// The only field a `matchFields` requirement can name.
const OBJECT_NAME_FIELD: &str = "metadata.name";

/// Outcome of the PreFilter step (upstream's `NodeAffinity.PreFilter`).
pub(crate) enum PreFilter {
    /// Every node is a candidate.
    AllNodes,
    /// Only these node names can match (`matchFields metadata.name In` in every term).
    Only(BTreeSet<String>),
    /// No node can match; the message goes into the FitError as is.
    Conflict,
}

fn required_terms(pod: &Pod) -> Option<&[NodeSelectorTerm]> {
    pod.spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|s| s.node_selector_terms.as_slice())
}

/// Narrows the candidate nodes when every required term names nodes by `metadata.name`, as a
/// DaemonSet's pods do.
pub(crate) fn pre_filter(pod: &Pod) -> PreFilter {
    let Some(terms) = required_terms(pod).filter(|t| !t.is_empty()) else {
        return PreFilter::AllNodes;
    };
    let mut names = BTreeSet::new();
    for term in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in term.match_fields.iter().flatten() {
            if r.key == OBJECT_NAME_FIELD && r.operator == "In" {
                let values: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => values,
                    Some(prev) => prev.intersection(&values).cloned().collect(),
                });
            }
        }
        match term_names {
            None => return PreFilter::AllNodes,
            Some(t) => names.extend(t),
        }
    }
    if names.is_empty() {
        PreFilter::Conflict
    } else {
        PreFilter::Only(names)
    }
}

/// The Filter step: the nodeSelector must match and, if required affinity is set, one of its
/// terms must.
pub(crate) fn filter(pod: &Pod, node: &Node) -> Option<NodeStatus> {
    // The node is read only for a pod that asks something of it: this runs for every node
    // of every decision.
    let selector_ok = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .map_or(true, |sel| {
            let labels = node_labels(node);
            sel.iter().all(|(k, v)| labels.get(k) == Some(v))
        });
    let affinity_ok = required_terms(pod).map_or(true, |terms| {
        terms
            .iter()
            .any(|t| term_matches(t, node_labels(node), node_name(node)) == Some(true))
    });
    (!(selector_ok && affinity_ok)).then(|| NodeStatus::unresolvable(ERR_REASON_POD))
}

/// The raw Score: the summed weights of preferred terms the node matches.
pub(crate) fn preferred_score(pod: &Pod, node: &Node) -> i64 {
    let terms = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        });
    terms
        .into_iter()
        .flatten()
        .filter(|t| t.weight != 0)
        .filter(|t| term_matches(&t.preference, node_labels(node), node_name(node)) == Some(true))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// Whether `node` satisfies a required `NodeSelector` (terms ORed), as upstream's
/// `corev1.MatchNodeSelectorTerms`; used for PersistentVolume node affinity too.
pub(crate) fn node_selector_matches(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    let labels = node_labels(node);
    let name = node_name(node);
    terms
        .iter()
        .any(|t| term_matches(t, labels, name).unwrap_or(false))
}

fn node_labels(node: &Node) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    node.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

/// Whether a term matches; `None` when the term is empty or does not parse (matches nothing).
fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> Option<bool> {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return None;
    }
    let mut all = true;
    for r in exprs {
        all &= label_requirement_matches(r, labels)?;
    }
    for r in fields {
        all &= field_requirement_matches(r, name)?;
    }
    Some(all)
}

/// One `matchExpressions` requirement, as upstream's `labels.Requirement.Matches`; `None`
/// when the requirement is malformed.
fn label_requirement_matches(
    r: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    let values = r.values.as_deref().unwrap_or_default();
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => None,
        "In" => Some(value.is_some_and(|v| values.contains(v))),
        "NotIn" => Some(value.map_or(true, |v| !values.contains(v))),
        "Exists" | "DoesNotExist" if !values.is_empty() => None,
        "Exists" => Some(value.is_some()),
        "DoesNotExist" => Some(value.is_none()),
        "Gt" | "Lt" => {
            let [bound] = values else { return None };
            let bound: i64 = bound.parse().ok()?;
            let Some(actual) = value.and_then(|v| v.parse::<i64>().ok()) else {
                return Some(false);
            };
            Some(if r.operator == "Gt" {
                actual > bound
            } else {
                actual < bound
            })
        }
        _ => None,
    }
}

/// One `matchFields` requirement: only `In`/`NotIn` with exactly one value are valid.
fn field_requirement_matches(r: &NodeSelectorRequirement, name: &str) -> Option<bool> {
    let [value] = r.values.as_deref().unwrap_or_default() else {
        return None;
    };
    let actual = if r.key == OBJECT_NAME_FIELD { name } else { "" };
    match r.operator.as_str() {
        "In" => Some(actual == value),
        "NotIn" => Some(actual != value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        serde_json::from_value(json!({"key": key, "operator": op, "values": values})).unwrap()
    }

    #[test]
    fn label_operators() {
        let labels: BTreeMap<String, String> =
            [("zone".into(), "a".into()), ("cores".into(), "4".into())].into();
        let m = |r| label_requirement_matches(&r, &labels);
        assert_eq!(m(req("zone", "In", &["a", "b"])), Some(true));
        assert_eq!(m(req("zone", "In", &["b"])), Some(false));
        assert_eq!(m(req("zone", "NotIn", &["b"])), Some(true));
        assert_eq!(m(req("missing", "NotIn", &["b"])), Some(true));
        assert_eq!(m(req("zone", "Exists", &[])), Some(true));
        assert_eq!(m(req("zone", "DoesNotExist", &[])), Some(false));
        assert_eq!(m(req("cores", "Gt", &["3"])), Some(true));
        assert_eq!(m(req("cores", "Lt", &["4"])), Some(false));
        assert_eq!(
            m(req("zone", "Gt", &["1"])),
            Some(false),
            "non-integer label"
        );
        assert_eq!(m(req("cores", "Gt", &["x"])), None, "malformed bound");
        assert_eq!(m(req("zone", "In", &[])), None);
        assert_eq!(m(req("zone", "Near", &["a"])), None);
    }

    #[test]
    fn match_fields_pin_names_and_conflicts_are_detected() {
        let pod = |terms: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}))
            .unwrap()
        };
        let pinned = pod(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]),
        );
        assert!(
            matches!(pre_filter(&pinned), PreFilter::Only(s) if s.len() == 1 && s.contains("n2"))
        );
        let conflict = pod(json!([{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]},
            {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]));
        assert!(matches!(pre_filter(&conflict), PreFilter::Conflict));
        let mixed = pod(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]));
        assert!(matches!(pre_filter(&mixed), PreFilter::AllNodes));
    }
}
