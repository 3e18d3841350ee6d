//! configMap and secret volumes: where their objects come from ([`SourceLookup`]) and how
//! their keys become files (upstream's `MakePayload` in `pkg/volume/{configmap,secret}`).
//!
//! With no `items`, every key becomes a file named after it with `defaultMode` (0644 when
//! unset); with `items`, only the listed keys are projected, at `path`, with `mode` or
//! `defaultMode`. A missing key is an error unless the volume is `optional`; a missing object
//! is an error unless `optional`, which projects an empty volume.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Secret};

use super::atomic_writer::FileProjection;
use super::projected::TokenRequestKey;
use super::VolumeError;

/// Upstream's `ConfigMapVolumeSourceDefaultMode` and `SecretVolumeSourceDefaultMode` (and
/// the downwardAPI and projected ones, which are the same).
pub(crate) const DEFAULT_MODE: i32 = 0o644;

/// Gives the volume code the ConfigMaps and Secrets a pod references.
///
/// Return `None` only when the object does not exist (the API said NotFound): an optional
/// volume then becomes empty. Fetch failures should be retried by the caller before `setup`.
pub trait SourceLookup {
    /// The ConfigMap `namespace/name`, if it exists.
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap>;
    /// The Secret `namespace/name`, if it exists.
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
    /// Where the bound PersistentVolume of claim `namespace/name` is on this node; `None`
    /// when it was not resolved beforehand.
    fn claim(&self, _namespace: &str, _name: &str) -> Option<ClaimVolume> {
        None
    }
    /// The token a projected `serviceAccountToken` source asks for; `Err` says why there is
    /// none (the API's answer to the token request).
    fn service_account_token(&self, _request: &TokenRequestKey) -> Result<String, String> {
        Err("no token was requested for this pod".to_string())
    }
}

/// A resolved `persistentVolumeClaim` volume: the PV's directory on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimVolume {
    /// `spec.local.path` or `spec.hostPath.path` of the bound PV.
    pub path: std::path::PathBuf,
    /// The PV is a hostPath PV: the node's hostPath policy applies to it.
    pub host_path: bool,
}

/// A [`SourceLookup`] over objects fetched beforehand, keyed by `(namespace, name)`.
#[derive(Debug, Clone, Default)]
pub struct PrefetchedSources {
    /// ConfigMaps by `(namespace, name)`.
    pub config_maps: BTreeMap<(String, String), ConfigMap>,
    /// Secrets by `(namespace, name)`.
    pub secrets: BTreeMap<(String, String), Secret>,
    /// Resolved claims by `(namespace, claim name)`.
    pub claims: BTreeMap<(String, String), ClaimVolume>,
    /// Service account tokens by request, or why the request failed.
    pub tokens: BTreeMap<TokenRequestKey, Result<String, String>>,
}

impl PrefetchedSources {
    fn key(obj: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
        (
            obj.namespace.clone().unwrap_or_default(),
            obj.name.clone().unwrap_or_default(),
        )
    }

    /// Adds (or replaces) a ConfigMap, keyed by its metadata.
    pub fn insert_config_map(&mut self, cm: ConfigMap) {
        self.config_maps.insert(Self::key(&cm.metadata), cm);
    }

    /// Adds (or replaces) a Secret, keyed by its metadata.
    pub fn insert_secret(&mut self, secret: Secret) {
        self.secrets.insert(Self::key(&secret.metadata), secret);
    }
}

impl SourceLookup for PrefetchedSources {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<ClaimVolume> {
        self.claims
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn service_account_token(&self, request: &TokenRequestKey) -> Result<String, String> {
        self.tokens
            .get(request)
            .cloned()
            .unwrap_or_else(|| Err("no token was requested for this pod".to_string()))
    }
}

/// Builds the files of one volume from `data` (key -> bytes).
fn make_payload(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let default_mode = default_mode.unwrap_or(DEFAULT_MODE) as u32;
    let mut payload = BTreeMap::new();
    match items {
        None | Some([]) => {
            for (key, bytes) in data {
                let file = FileProjection {
                    data: bytes.clone(),
                    mode: default_mode,
                };
                payload.insert(key.clone(), file);
            }
        }
        Some(items) => {
            for item in items {
                let Some(bytes) = data.get(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(VolumeError::MissingKey(missing_key(&item.key)));
                };
                let mode = item.mode.map_or(default_mode, |m| m as u32);
                let file = FileProjection {
                    data: bytes.clone(),
                    mode,
                };
                payload.insert(item.path.clone(), file);
            }
        }
    }
    Ok(payload)
}

/// The files of a configMap volume in `namespace`.
pub(crate) fn config_map_payload(
    source: &k8s_openapi::api::core::v1::ConfigMapVolumeSource,
    namespace: &str,
    lookups: &dyn SourceLookup,
) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let optional = source.optional.unwrap_or(false);
    let Some(cm) = lookups.config_map(namespace, &source.name) else {
        if optional {
            return Ok(BTreeMap::new());
        }
        return Err(VolumeError::SourceNotFound {
            resource: "configmaps",
            name: source.name.clone(),
        });
    };
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // String data wins over binary data for the same key, as in upstream's lookup order.
    for (k, v) in cm.binary_data.unwrap_or_default() {
        data.insert(k, v.0);
    }
    for (k, v) in cm.data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    make_payload(
        &data,
        source.items.as_deref(),
        source.default_mode,
        optional,
        |k| format!("configmap references non-existent config key: {k}"),
    )
}

/// The files of a secret volume in `namespace`.
pub(crate) fn secret_payload(
    source: &k8s_openapi::api::core::v1::SecretVolumeSource,
    namespace: &str,
    lookups: &dyn SourceLookup,
) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let optional = source.optional.unwrap_or(false);
    let name = source.secret_name.clone().unwrap_or_default();
    let Some(secret) = lookups.secret(namespace, &name) else {
        if optional {
            return Ok(BTreeMap::new());
        }
        return Err(VolumeError::SourceNotFound {
            resource: "secrets",
            name,
        });
    };
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.data.unwrap_or_default() {
        data.insert(k, v.0);
    }
    // `stringData` is write-only and merged into `data` by the API server; honour it if a
    // stored object still carries it.
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    make_payload(
        &data,
        source.items.as_deref(),
        source.default_mode,
        optional,
        |k| format!("references non-existent secret key: {k}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, SecretVolumeSource};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn sources() -> PrefetchedSources {
        let mut s = PrefetchedSources::default();
        s.insert_config_map(ConfigMap {
            metadata: ObjectMeta {
                name: Some("cfg".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            data: Some([("a".into(), "1".into()), ("b".into(), "2".into())].into()),
            ..Default::default()
        });
        s
    }

    #[test]
    fn all_keys_with_default_mode_or_selected_items() {
        let src = ConfigMapVolumeSource {
            name: "cfg".into(),
            ..Default::default()
        };
        let p = config_map_payload(&src, "ns", &sources()).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(p["a"].mode, 0o644);
        let src = ConfigMapVolumeSource {
            name: "cfg".into(),
            default_mode: Some(0o600),
            items: Some(vec![KeyToPath {
                key: "b".into(),
                path: "sub/b.txt".into(),
                mode: Some(0o400),
            }]),
            ..Default::default()
        };
        let p = config_map_payload(&src, "ns", &sources()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p["sub/b.txt"].mode, 0o400);
        assert_eq!(p["sub/b.txt"].data, b"2");
    }

    #[test]
    fn missing_objects_and_keys() {
        let mut src = ConfigMapVolumeSource {
            name: "cfg".into(),
            items: Some(vec![KeyToPath {
                key: "zz".into(),
                path: "zz".into(),
                mode: None,
            }]),
            ..Default::default()
        };
        let err = config_map_payload(&src, "ns", &sources()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configmap references non-existent config key: zz"
        );
        src.optional = Some(true);
        assert!(config_map_payload(&src, "ns", &sources())
            .unwrap()
            .is_empty());
        let missing = SecretVolumeSource {
            secret_name: Some("s".into()),
            ..Default::default()
        };
        let err = secret_payload(&missing, "ns", &sources()).unwrap_err();
        assert_eq!(err.to_string(), "secrets \"s\" not found");
        let optional = SecretVolumeSource {
            optional: Some(true),
            ..missing
        };
        assert!(secret_payload(&optional, "ns", &sources())
            .unwrap()
            .is_empty());
    }
}
