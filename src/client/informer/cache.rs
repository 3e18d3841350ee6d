//! An informer's in-memory copy of one kind, as client-go's thread-safe store with its
//! indexers: objects by namespace and name, plus named indexes (pods by node, objects by
//! owner) kept up to date on every change, so a reader finds what it needs without
//! scanning the kind.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{key_of, Key, Kind};

/// What an index files an object under (its node, its owner's uid, ...).
pub type IndexFn<K> = fn(&K) -> Vec<String>;

/// One named index: per value, the objects filed under it (held here too, so reading an
/// index costs no lookups in the objects).
struct Index<K> {
    name: &'static str,
    values_of: IndexFn<K>,
    entries: HashMap<String, BTreeMap<Key, Arc<K>>>,
}

impl<K> Index<K> {
    /// Takes the object at `key` out of what is filed under `value`.
    fn unfile(&mut self, value: &str, key: &Key) {
        if let Some(filed) = self.entries.get_mut(value) {
            filed.remove(key);
            if filed.is_empty() {
                self.entries.remove(value);
            }
        }
    }
}

/// Objects of one kind and their indexes.
pub(super) struct Cache<K> {
    objects: BTreeMap<Key, Arc<K>>,
    indexes: Vec<Index<K>>,
}

impl<K: Kind> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            objects: BTreeMap::new(),
            indexes: Vec::new(),
        }
    }
}

impl<K: Kind> Cache<K> {
    /// Adds an index, filing every object already held.
    pub(super) fn add_index(&mut self, name: &'static str, values_of: IndexFn<K>) {
        if self.indexes.iter().any(|i| i.name == name) {
            return;
        }
        let mut index = Index {
            name,
            values_of,
            entries: HashMap::new(),
        };
        for (key, obj) in &self.objects {
            for v in values_of(obj) {
                index
                    .entries
                    .entry(v)
                    .or_default()
                    .insert(key.clone(), obj.clone());
            }
        }
        self.indexes.push(index);
    }

    /// Stores `obj`, answering the state it replaces.
    pub(super) fn put(&mut self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = key_of(&*obj);
        let old = self.objects.insert(key.clone(), obj.clone());
        for index in &mut self.indexes {
            let now = (index.values_of)(&obj);
            if let Some(old) = &old {
                for v in (index.values_of)(old) {
                    if !now.contains(&v) {
                        index.unfile(&v, &key);
                    }
                }
            }
            for v in now {
                index
                    .entries
                    .entry(v)
                    .or_default()
                    .insert(key.clone(), obj.clone());
            }
        }
        old
    }

    /// Forgets the object at `key`, answering its last state.
    pub(super) fn remove(&mut self, key: &Key) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        for index in &mut self.indexes {
            for v in (index.values_of)(&old) {
                index.unfile(&v, key);
            }
        }
        Some(old)
    }

    pub(super) fn get(&self, key: &Key) -> Option<Arc<K>> {
        self.objects.get(key).cloned()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.objects.keys()
    }

    pub(super) fn len(&self) -> usize {
        self.objects.len()
    }

    /// Every object, in key order.
    pub(super) fn all(&self) -> Vec<Arc<K>> {
        self.objects.values().cloned().collect()
    }

    /// The objects of one namespace, found by range rather than by scanning the kind.
    pub(super) fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let start = (namespace.to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(|((ns, _), _)| ns == namespace)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// The objects an index files under `value`; empty for an unknown index.
    pub(super) fn by_index(&self, name: &str, value: &str) -> Vec<Arc<K>> {
        let Some(index) = self.indexes.iter().find(|i| i.name == name) else {
            return Vec::new();
        };
        index
            .entries
            .get(value)
            .map(|filed| filed.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Pod, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str, node: &str) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()).filter(|n: &String| !n.is_empty()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn by_node(p: &Pod) -> Vec<String> {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .into_iter()
            .collect()
    }

    fn names(v: Vec<Arc<Pod>>) -> Vec<String> {
        v.iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn indexes_follow_objects_that_move_and_go() {
        let mut c = Cache::<Pod>::default();
        c.put(pod("a", "web", "pi-1"));
        c.add_index("node", by_node);
        c.put(pod("a", "db", ""));
        assert_eq!(names(c.by_index("node", "pi-1")), ["web"]);
        c.put(pod("a", "db", "pi-1"));
        assert_eq!(names(c.by_index("node", "pi-1")), ["db", "web"]);
        c.put(pod("a", "web", "pi-2"));
        assert_eq!(names(c.by_index("node", "pi-1")), ["db"]);
        assert_eq!(names(c.by_index("node", "pi-2")), ["web"]);
        c.remove(&("a".into(), "db".into()));
        assert!(c.by_index("node", "pi-1").is_empty());
        assert!(c.by_index("missing", "pi-2").is_empty());
    }

    #[test]
    fn a_namespace_lists_only_its_own_objects() {
        let mut c = Cache::<Pod>::default();
        for (ns, n) in [("a", "x"), ("ab", "y"), ("b", "z"), ("a", "w")] {
            c.put(pod(ns, n, ""));
        }
        assert_eq!(names(c.in_namespace("a")), ["w", "x"]);
        assert_eq!(names(c.in_namespace("ab")), ["y"]);
        assert!(c.in_namespace("c").is_empty());
        assert_eq!(c.len(), 4);
    }
}
