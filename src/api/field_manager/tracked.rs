//! The part of an object a write's managers hold: every member but `apiVersion`, `kind`
//! and the metadata the server keeps (upstream's `stripMetaManager`); a kind's `status`
//! only through its `status` subresource, which holds nothing else (the strategies' reset
//! fields).
//!
//! The walks read that part in place, leaving the other members out as they go, instead of
//! copying it into a new object first: every create, update and apply goes through here,
//! with the stored object and the new one.

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::managed::Request;
use super::path::Element;
use super::structure::{compare_members, compare_objects, fields_of_members, fields_of_object};

/// Metadata fields the server keeps: no manager holds them.
const SERVER_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The member of an object holding its metadata.
const METADATA: &str = "metadata";

/// Whether a member of `metadata` is one a manager may hold.
fn managed_metadata(name: &str) -> bool {
    !SERVER_METADATA.contains(&name)
}

/// An object's members, `none` for a value that is no object.
fn members<'v>(obj: &'v Value, none: &'v Map<String, Value>) -> &'v Map<String, Value> {
    obj.as_object().unwrap_or(none)
}

impl Request<'_> {
    /// Whether a top-level member other than `metadata` is held in this request's scope.
    fn holds(&self, name: &str) -> bool {
        match name {
            "apiVersion" | "kind" | METADATA => false,
            "status" if self.has_status && self.subresource != "status" => false,
            _ if self.subresource == "status" && name != "status" => false,
            _ => true,
        }
    }

    /// `obj`'s metadata when this request's scope holds some of it: through the main
    /// resource only, and only when it has a member a manager may hold.
    fn held_metadata<'v>(&self, obj: &'v Value) -> Option<&'v Map<String, Value>> {
        if !self.subresource.is_empty() {
            return None;
        }
        let meta = obj.get(METADATA)?.as_object()?;
        meta.keys().any(|k| managed_metadata(k)).then_some(meta)
    }

    /// The fields of `obj` held in this request's scope, below the object's own node
    /// (which is a member only when nothing is held): `structure::fields_of` the held part.
    pub(super) fn tracked_fields(&self, obj: &Value) -> FieldSet {
        let none = Map::new();
        let mut set = fields_of_members(members(obj, &none), |k| self.holds(k), self.schema);
        if let Some(meta) = self.held_metadata(obj) {
            let field = self.schema.field(METADATA);
            set.insert_set(
                Element::Field(METADATA.into()),
                fields_of_object(meta, managed_metadata, field),
            );
        }
        if set.is_empty() {
            set.mark();
        }
        set
    }

    /// What changed in this request's scope from `old` to `new`: the fields set or changed,
    /// and the fields removed (`structure::compare` of the held parts).
    pub(super) fn compare_tracked(&self, old: &Value, new: &Value) -> (FieldSet, FieldSet) {
        let none = Map::new();
        let (old_members, new_members) = (members(old, &none), members(new, &none));
        let holds = |k: &str| self.holds(k);
        let (mut changed, mut removed) =
            compare_members(old_members, new_members, holds, self.schema);
        let field = self.schema.field(METADATA);
        let step = || Element::Field(METADATA.into());
        match (self.held_metadata(old), self.held_metadata(new)) {
            (Some(a), Some(b)) => {
                let (c, r) = compare_objects(a, b, managed_metadata, field);
                changed.insert_set(step(), c);
                removed.insert_set(step(), r);
            }
            (None, Some(b)) => {
                let mut added = fields_of_object(b, managed_metadata, field);
                added.mark();
                changed.insert_set(step(), added);
            }
            (Some(a), None) => {
                let mut gone = fields_of_object(a, managed_metadata, field);
                gone.mark();
                removed.insert_set(step(), gone);
            }
            (None, None) => {}
        }
        (changed, removed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::patch_schema::WORKLOAD;

    fn req(subresource: &str) -> Request<'_> {
        Request {
            manager: "m",
            api_version: "apps/v1".into(),
            subresource,
            has_status: true,
            schema: &WORKLOAD,
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn each_scope_holds_its_part_only() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"replicas": 1},
            "status": {"replicas": 0}
        });
        assert_eq!(
            req("").tracked_fields(&obj).to_fields_v1(),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            req("status").tracked_fields(&obj).to_fields_v1(),
            json!({"f:status": {"f:replicas": {}}})
        );
    }

    #[test]
    fn metadata_with_nothing_held_left_counts_as_removed() {
        let old =
            json!({"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 1}});
        let new =
            json!({"metadata": {"name": "web", "resourceVersion": "7"}, "spec": {"replicas": 1}});
        let (changed, removed) = req("").compare_tracked(&old, &new);
        assert!(changed.is_empty(), "server metadata is no one's change");
        assert_eq!(
            removed.to_fields_v1(),
            json!({"f:metadata": {".": {}, "f:labels": {"f:app": {}}}})
        );
        let (changed, _) = req("").compare_tracked(&new, &old);
        assert_eq!(
            changed.to_fields_v1(),
            json!({"f:metadata": {".": {}, "f:labels": {"f:app": {}}}})
        );
    }
}
