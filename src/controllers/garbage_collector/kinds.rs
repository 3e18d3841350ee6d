//! The kinds the collector watches: every built-in kind from the start, and each custom
//! resource (at its storage version) once its definition is established. The list only
//! grows, so an index names the same kind for the life of the collector.

use std::sync::{Arc, PoisonError, RwLock};

use crate::client::informer::{Informer, PartialObject};
use crate::resources::ResourceType;

/// One watched kind.
pub(crate) struct Kind {
    pub(crate) rt: &'static ResourceType,
    pub(crate) informer: Informer<PartialObject>,
}

/// The watched kinds, shared by the collector and its informers' handlers.
#[derive(Clone, Default)]
pub(crate) struct Kinds(Arc<RwLock<Vec<Arc<Kind>>>>);

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl Kinds {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Kind>>> {
        // Nothing panics while the list is held, so a poisoned lock still holds a sound list.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kind at index `i`.
    pub(crate) fn get(&self, i: usize) -> Option<Arc<Kind>> {
        self.read().get(i).cloned()
    }

    /// The index of the kind an owner reference names (any version of its group).
    pub(crate) fn position(&self, api_version: &str, kind: &str) -> Option<usize> {
        let group = group_of(api_version);
        self.read()
            .iter()
            .position(|k| k.rt.group == group && k.rt.kind == kind)
    }

    /// Every kind, in index order.
    pub(crate) fn all(&self) -> Vec<Arc<Kind>> {
        self.read().clone()
    }

    /// Adds a kind unless one of its group and resource is watched already; returns its index.
    pub(crate) fn add(&self, kind: Kind) -> Option<usize> {
        let mut list = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if list
            .iter()
            .any(|k| k.rt.group == kind.rt.group && k.rt.plural == kind.rt.plural)
        {
            return None;
        }
        list.push(Arc::new(kind));
        Some(list.len() - 1)
    }

    /// Whether a kind of `group` and `plural` is watched.
    pub(crate) fn has(&self, group: &str, plural: &str) -> bool {
        self.read()
            .iter()
            .any(|k| k.rt.group == group && k.rt.plural == plural)
    }
}
