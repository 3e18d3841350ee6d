//! The RBAC objects read from the store's in-memory objects, for [`super::rbac`].
//!
//! Upstream reads informer caches; Bramble's store already holds every object in memory
//! (`store/hub.rs`), so each request takes one in-memory prefix scan of the
//! ClusterRoleBindings and one of its namespace's RoleBindings (shared pointers, no copy of
//! the objects), then parses only the bindings that may apply and only their `subjects` and
//! `roleRef`: a binding names a subject by its exact name, so one whose text holds neither
//! the user's name, nor a group's, nor the user's service account name is passed over
//! unread. The stored JSON comes from serde_json, which writes a string the same way each
//! time, so the quoted name is found whenever a subject carries it. Each applying binding
//! costs one read of its role, of which only `rules` are parsed. The walk is upstream's;
//! what is added is the parsing, bounded by the bindings of the user.

use serde::Deserialize;

use super::rbac::{service_account_of, Binding, PolicyRule, RbacObjects};
use crate::api::registry::{list, Registry};
use crate::pki::identity::Identity;
use crate::resources::rbac::{cluster_role, cluster_role_binding, role, role_binding};

impl RbacObjects for Registry {
    fn bindings(&self, namespace: Option<&str>, who: &Identity) -> Vec<Binding> {
        let rt = match namespace {
            Some(_) => &role_binding::RESOURCE,
            None => &cluster_role_binding::RESOURCE,
        };
        let (objects, _) = self.store().list(&list::prefix(rt, namespace));
        let names = subject_names(who);
        objects
            .iter()
            .filter(|o| names.iter().any(|n| o.json().contains(n.as_str())))
            .filter_map(|o| match o.read::<Binding>() {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::warn!(error = %e, "a stored binding does not parse; it grants nothing");
                    None
                }
            })
            .collect()
    }

    fn role_rules(&self, namespace: Option<&str>, name: &str) -> Option<Vec<PolicyRule>> {
        #[derive(Deserialize)]
        struct Rules {
            #[serde(default)]
            rules: Option<Vec<PolicyRule>>,
        }
        let object = match namespace {
            Some(ns) => self.lookup(&role::RESOURCE, ns, name),
            None => self.lookup(&cluster_role::RESOURCE, "", name),
        }?;
        match object.read::<Rules>() {
            Ok(r) => Some(r.rules.unwrap_or_default()),
            Err(e) => {
                tracing::warn!(error = %e, role = name, "a stored role does not parse; it grants nothing");
                Some(Vec::new())
            }
        }
    }
}

/// The JSON strings a subject that applies to `who` holds as its name.
fn subject_names(who: &Identity) -> Vec<String> {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut names: Vec<String> = std::iter::once(who.user.as_str())
        .chain(who.groups.iter().map(String::as_str))
        .map(quoted)
        .collect();
    if let Some((_, account)) = service_account_of(&who.user) {
        names.push(quoted(account));
    }
    names
}
