//! The restricted check on volume types, as upstream's `check_restrictedVolumes.go`: only
//! volumes that carry no host or network storage of their own (configMap, csi, downwardAPI,
//! emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret) are allowed; claims
//! stay allowed because the cluster's admin decides what backs them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::host::volumes;
use super::violation::{join_quote, name, pluralize, Verdict, Violation};

/// Sources restricted pods may use.
const ALLOWED: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Sources named in the message, in the order upstream tests them.
const NAMED: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn has(volume: &Value, source: &str) -> bool {
    volume.get(source).is_some_and(|s| !s.is_null())
}

/// Volumes may use only the allowed sources.
pub fn restricted_volumes(_meta: &Value, spec: &Value) -> Verdict {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in volumes(spec) {
        if ALLOWED.iter().any(|s| has(v, s)) {
            continue;
        }
        bad.push(name(v));
        types.insert(
            NAMED
                .iter()
                .find(|s| has(v, s))
                .copied()
                .unwrap_or("unknown"),
        );
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        let detail = format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        );
        Violation::new("restricted volume types", detail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_allowed_sources_pass() {
        let spec = json!({"volumes": [
            {"name": "ok", "emptyDir": {}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "c"}},
            {"name": "h", "hostPath": {"path": "/x"}},
            {"name": "g", "gitRepo": {"repository": "r"}},
            {"name": "n", "nfs": {"server": "s", "path": "/"}}]});
        let v = restricted_volumes(&json!({}), &spec).unwrap();
        assert_eq!(v.reason, "restricted volume types");
        assert_eq!(
            v.detail,
            "volumes \"h\", \"g\", \"n\" use restricted volume types \"gitRepo\", \"hostPath\", \"nfs\""
        );
        let one = json!({"volumes": [{"name": "h", "hostPath": {"path": "/x"}}]});
        assert_eq!(
            restricted_volumes(&json!({}), &one).unwrap().detail,
            "volume \"h\" uses restricted volume type \"hostPath\""
        );
    }
}
