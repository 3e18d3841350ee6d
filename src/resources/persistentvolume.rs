//! The `PersistentVolume` kind: upstream's `ValidatePersistentVolume`, PV defaults and the
//! PV strategy (status through the subresource, a source fixed after creation).

use serde_json::{json, Map, Value};

use super::quantity::Quantity;
use super::validation::fields::{at, default_field, keep_old, list_at, map_at, object_mut, str_at};
use super::validation::{
    is_dns1123_subdomain, validate_immutable, validate_object_meta, validate_object_meta_update,
    NameRule,
};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `persistentvolumes` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    short_names: &["pv"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status"],
    categories: &[],
    strategy: &PersistentVolumeStrategy,
    printer: &printers::persistentvolume::PRINTER,
    patch_schema: &patch_schema::PERSISTENT_VOLUME,
};

/// Write behaviour of `PersistentVolume`.
pub struct PersistentVolumeStrategy;

/// Upstream `supportedAccessModes`, sorted as its messages list them.
pub const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// Upstream `supportedVolumeModes`.
pub const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

/// Upstream `isNotPositiveErrorMsg`.
pub const NOT_POSITIVE: &str = "must be greater than zero";

/// PV sources in the order upstream's `ValidatePersistentVolumeSpec` visits them.
const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

/// Access modes of a PV or PVC spec: known values, and ReadWriteOncePod alone.
pub fn validate_access_modes(modes: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(path, &json!(m), ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

/// A `storageClassName` is a class name (upstream `ValidateClassName`).
pub fn validate_class_name(name: &str, path: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return Vec::new();
    }
    is_dns1123_subdomain(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, &json!(name), &m))
        .collect()
}

/// Parses a quantity that must be positive (upstream `ValidatePositiveQuantityValue`).
pub fn positive_quantity(v: &Value, path: &str) -> Vec<FieldError> {
    let text = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    match Quantity::parse(&text) {
        Ok(q) if q <= Quantity::default() => vec![FieldError::invalid(
            path,
            &json!(q.to_string()),
            NOT_POSITIVE,
        )],
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(path, v, &e.to_string())],
    }
}

fn source_of(spec: &Value) -> Map<String, Value> {
    PV_SOURCES
        .iter()
        .filter_map(|s| {
            spec.get(*s)
                .filter(|v| !v.is_null())
                .map(|v| (s.to_string(), v.clone()))
        })
        .collect()
}

fn validate_pv_spec(pv: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = at(pv, &["spec"]).unwrap_or(&null);
    let modes = list_at(spec, &["accessModes"]);
    if modes.is_empty() {
        errs.push(FieldError::required("spec.accessModes", ""));
    }
    errs.extend(validate_access_modes(modes, "spec.accessModes"));
    let capacity = map_at(spec, &["capacity"]);
    if capacity.is_empty() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    if !capacity.contains_key("storage") || capacity.len() > 1 {
        errs.push(FieldError::not_supported(
            "spec.capacity",
            &Value::Object(capacity.clone()),
            &["storage"],
        ));
    }
    for (name, q) in capacity {
        errs.extend(positive_quantity(q, &format!("spec.capacity[{name}]")));
    }
    errs.extend(validate_class_name(
        str_at(spec, &["storageClassName"]),
        "spec.storageClassName",
    ));
    let mode = str_at(spec, &["volumeMode"]);
    if !mode.is_empty() && !VOLUME_MODES.contains(&mode) {
        errs.push(FieldError::not_supported(
            "spec.volumeMode",
            &json!(mode),
            VOLUME_MODES,
        ));
    }
    let reclaim = str_at(spec, &["persistentVolumeReclaimPolicy"]);
    if !reclaim.is_empty() && !["Delete", "Recycle", "Retain"].contains(&reclaim) {
        errs.push(FieldError::not_supported(
            "spec.persistentVolumeReclaimPolicy",
            &json!(reclaim),
            &["Delete", "Recycle", "Retain"],
        ));
    }
    let sources = source_of(spec);
    let mut present = PV_SOURCES.iter().filter(|s| sources.contains_key(**s));
    match present.next() {
        None => errs.push(FieldError::required("spec", "must specify a volume type")),
        Some(first) => {
            let src = &sources[*first];
            if matches!(*first, "hostPath" | "local") {
                let p = str_at(src, &["path"]);
                if p.is_empty() {
                    errs.push(FieldError::required(format!("spec.{first}.path"), ""));
                } else if p.split('/').any(|s| s == "..") {
                    errs.push(FieldError::invalid(
                        format!("spec.{first}.path"),
                        &json!(p),
                        "must not contain '..'",
                    ));
                }
            }
            if *first == "local" && at(spec, &["nodeAffinity"]).map_or(true, Value::is_null) {
                errs.push(FieldError::required(
                    "spec.nodeAffinity",
                    "Local volume requires node affinity",
                ));
            }
            if *first == "hostPath"
                && str_at(src, &["path"]).trim_end_matches('/').is_empty()
                && reclaim == "Recycle"
            {
                errs.push(FieldError::forbidden(
                    "spec.persistentVolumeReclaimPolicy",
                    "may not be 'recycle' for a hostPath mount of '/'",
                ));
            }
        }
    }
    for extra in present {
        errs.push(FieldError::forbidden(
            format!("spec.{extra}"),
            "may not specify more than 1 volume type",
        ));
    }
    errs
}

impl Strategy for PersistentVolumeStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::PersistentVolume>(obj)
    }

    /// Upstream `SetDefaults_PersistentVolume`.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default_field(spec, "volumeMode", json!("Filesystem"));
            if let Some(Value::Object(h)) = spec.get_mut("hostPath") {
                h.entry("type").or_insert(json!(""));
            }
        }
        if let Some(status) = object_mut(obj, &["status"]) {
            default_field(status, "phase", json!("Pending"));
        }
    }

    /// Upstream `persistentvolumeStrategy.PrepareForCreate`: Pending, stamped now.
    fn prepare_for_create(&self, obj: &mut Value) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "lastPhaseTransitionTime": now}),
            );
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::Dns1123Subdomain);
        errs.extend(validate_pv_spec(obj));
        errs
    }

    /// Upstream `ValidatePersistentVolumeUpdate`: the source, volume mode and a set node
    /// affinity stay as created.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(validate_object_meta_update(new, old));
        let null = Value::Null;
        let (ns, os) = (
            at(new, &["spec"]).unwrap_or(&null),
            at(old, &["spec"]).unwrap_or(&null),
        );
        let (new_src, old_src) = (source_of(ns), source_of(os));
        if new_src != old_src {
            errs.push(FieldError::forbidden(
                "spec.persistentvolumesource",
                &format!(
                    "spec.persistentvolumesource is immutable after creation\n- {}\n+ {}",
                    Value::Object(old_src),
                    Value::Object(new_src)
                ),
            ));
        }
        errs.extend(validate_immutable(
            ns.get("volumeMode"),
            os.get("volumeMode"),
            "volumeMode",
        ));
        if os.get("nodeAffinity").is_some_and(|a| !a.is_null()) {
            errs.extend(validate_immutable(
                ns.get("nodeAffinity"),
                os.get("nodeAffinity"),
                "nodeAffinity",
            ));
        }
        errs
    }

    /// Upstream `PersistentVolumeToSelectableFields` (the legacy `name`).
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "name").then(|| str_at(obj, &["metadata", "name"]).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn pv() -> Value {
        let mut pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/srv/pv1"}}});
        PersistentVolumeStrategy.default(&mut pv);
        PersistentVolumeStrategy.prepare_for_create(&mut pv);
        pv
    }

    #[test]
    fn defaults_and_valid_pv() {
        let pv = pv();
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["status"]["phase"], "Pending");
        assert_eq!(
            messages(&PersistentVolumeStrategy.validate(&pv)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn invalid_pvs() {
        let mut bad = pv();
        bad["spec"] = json!({"accessModes": ["ReadWriteSometimes"], "capacity": {"storage": "0"},
            "persistentVolumeReclaimPolicy": "Recycle", "hostPath": {"path": "/"}, "nfs": {"server": "x", "path": "/"}});
        let errs = messages(&PersistentVolumeStrategy.validate(&bad));
        for want in [
            "spec.accessModes: Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.capacity[storage]: Invalid value: \"0\": must be greater than zero",
            "spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'",
            "spec.nfs: Forbidden: may not specify more than 1 volume type",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
        let mut none = pv();
        none["spec"] = json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}});
        assert_eq!(
            messages(&PersistentVolumeStrategy.validate(&none)),
            vec!["spec: Required value: must specify a volume type"]
        );
    }

    #[test]
    fn source_is_immutable() {
        let old = pv();
        let mut new = pv();
        new["spec"]["hostPath"]["path"] = json!("/srv/other");
        new["status"] = old["status"].clone();
        let errs = PersistentVolumeStrategy.validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert!(errs[0]
            .detail
            .starts_with("Forbidden: spec.persistentvolumesource is immutable after creation\n"));
    }
}
