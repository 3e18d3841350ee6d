//! The garbage collector's view of who owns whom, as upstream's dependency graph, kept from
//! the metadata informers: for every owner uid the objects that name it in their
//! `ownerReferences`, so an owner's deletion finds its dependents without a scan.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An object: the index of its kind in the collector's kinds, its namespace and name.
pub type Item = (usize, String, String);

/// Dependents by owner uid.
#[derive(Default)]
pub struct Graph {
    dependents: HashMap<String, BTreeSet<Item>>,
}

fn owner_uids(meta: &ObjectMeta) -> impl Iterator<Item = &str> {
    meta.owner_references
        .iter()
        .flatten()
        .map(|r| r.uid.as_str())
}

impl Graph {
    /// Files `item` under the owners `now` names, and out from under those only `before`
    /// named.
    pub fn update(&mut self, item: &Item, before: Option<&ObjectMeta>, now: Option<&ObjectMeta>) {
        let keep: Vec<&str> = now.map(|m| owner_uids(m).collect()).unwrap_or_default();
        if let Some(b) = before {
            for uid in owner_uids(b).filter(|u| !keep.contains(u)) {
                if let Some(set) = self.dependents.get_mut(uid) {
                    set.remove(item);
                    if set.is_empty() {
                        self.dependents.remove(uid);
                    }
                }
            }
        }
        for uid in keep {
            self.dependents
                .entry(uid.to_string())
                .or_default()
                .insert(item.clone());
        }
    }

    /// The objects naming `owner_uid` as an owner.
    pub fn dependents(&self, owner_uid: &str) -> Vec<Item> {
        self.dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether anything names `owner_uid` as an owner.
    pub fn has_dependents(&self, owner_uid: &str) -> bool {
        self.dependents.contains_key(owner_uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(owners: &[&str]) -> ObjectMeta {
        let refs: Vec<_> = owners
            .iter()
            .map(|u| json!({"apiVersion": "v1", "kind": "X", "name": "x", "uid": u}))
            .collect();
        serde_json::from_value(json!({"ownerReferences": refs})).unwrap()
    }

    #[test]
    fn dependents_follow_owner_reference_changes() {
        let mut g = Graph::default();
        let pod: Item = (0, "ns".into(), "p".into());
        g.update(&pod, None, Some(&meta(&["a", "b"])));
        assert_eq!(g.dependents("a"), std::slice::from_ref(&pod));
        g.update(&pod, Some(&meta(&["a", "b"])), Some(&meta(&["b"])));
        assert!(!g.has_dependents("a") && g.has_dependents("b"));
        g.update(&pod, Some(&meta(&["b"])), None);
        assert!(!g.has_dependents("b"));
    }
}
