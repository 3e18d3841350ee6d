//! Object keys. Layout `o/{group}/{plural}/{namespace}/{name}` (cluster-scoped objects have an
//! empty namespace) keeps one resource — and one namespace of it — a contiguous key range, so
//! lists are range scans.

use std::fmt;

/// Where one object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// A contiguous range of keys: one resource, optionally one namespace of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl ObjectKey {
    /// The key of `name` in `namespace` (empty for cluster-scoped) of `group/plural`.
    pub fn new(group: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self(format!("o/{group}/{plural}/{namespace}/{name}"))
    }

    /// Rebuilds a key read back from disk.
    pub(crate) fn from_raw(raw: String) -> Self {
        Self(raw)
    }

    /// The encoded key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the key lies in `prefix`.
    pub fn is_in(&self, prefix: &KeyPrefix) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl KeyPrefix {
    /// Every object of `group/plural`, in every namespace.
    pub fn resource(group: &str, plural: &str) -> Self {
        Self(format!("o/{group}/{plural}/"))
    }

    /// Objects of `group/plural` in one namespace.
    pub fn namespace(group: &str, plural: &str, namespace: &str) -> Self {
        Self(format!("o/{group}/{plural}/{namespace}/"))
    }

    /// Every object of every resource.
    pub fn all() -> Self {
        Self("o/".into())
    }

    /// The encoded prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_prefix_does_not_match_longer_namespace() {
        let k = ObjectKey::new("", "pods", "default-2", "a");
        assert!(!k.is_in(&KeyPrefix::namespace("", "pods", "default")));
        assert!(k.is_in(&KeyPrefix::resource("", "pods")));
        assert!(!k.is_in(&KeyPrefix::resource("", "pod")));
    }
}
