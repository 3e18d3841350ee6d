//! Which types the API serves: the built-in kinds, and the custom resources of every
//! established CustomResourceDefinition in the store. A CRD's types are built from its
//! stored JSON once per revision, so a request pays one store read and a map lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{key, list, Registry};
use crate::resources::{self, crd, custom, ResourceType, RESOURCES};
use crate::store::Object;

/// Revisions whose types are remembered; older ones are rebuilt when asked for again.
const REMEMBERED: usize = 256;

/// The types each CRD revision serves.
#[derive(Default)]
pub struct ServedTypes(Mutex<HashMap<u64, Vec<&'static ResourceType>>>);

impl ServedTypes {
    fn of(&self, crd: &Object) -> Vec<&'static ResourceType> {
        // Nothing panics while the map is held, so a poisoned lock still holds a sound map.
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(types) = m.get(&crd.revision) {
            return types.clone();
        }
        let types = custom::served_types(&crd.value());
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(crd.revision, types.clone());
        types
    }
}

impl Registry {
    /// The type served at `group/version/plural`, if any.
    pub fn resource_type(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&'static ResourceType> {
        if let Some(rt) = resources::lookup(group, version, plural) {
            return Some(rt);
        }
        if group.is_empty() {
            return None;
        }
        let crd = self
            .store
            .get(&key(&crd::RESOURCE, "", &format!("{plural}.{group}")))?;
        self.served
            .of(&crd)
            .into_iter()
            .find(|rt| rt.version == version && rt.plural == plural)
    }

    /// Every served type: the built-in kinds, then the custom resources.
    pub fn resource_types(&self) -> Vec<&'static ResourceType> {
        let mut all = RESOURCES.to_vec();
        all.extend(self.custom_types());
        all
    }

    /// The custom resources served now.
    pub fn custom_types(&self) -> Vec<&'static ResourceType> {
        let (crds, _) = self.store.list(&list::prefix(&crd::RESOURCE, None));
        crds.iter().flat_map(|c| self.served.of(c)).collect()
    }
}

/// Shared by a registry's clones.
pub type Shared = Arc<ServedTypes>;
