//! projected volumes: the files of several sources (`secret`, `configMap`, `downwardAPI`,
//! `serviceAccountToken`) in one directory, as upstream's `collectData` in
//! `pkg/volume/projected` gathers them.
//!
//! Each secret and configMap source projects as its own volume would, with the projected
//! volume's `defaultMode` (0644) for keys without `mode`; a missing object is skipped when the
//! source is `optional`. A `serviceAccountToken` source writes the token the kubelet got for
//! the pod's service account, bound to the pod, at `path` with `defaultMode`; the token is
//! asked for beforehand ([`token_requests`]) and read through
//! [`SourceLookup::service_account_token`]. `clusterTrustBundle` sources are refused.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Pod, ProjectedVolumeSource, SecretVolumeSource,
    ServiceAccountTokenProjection,
};
use serde_json::{json, Value};

use super::atomic_writer::FileProjection;
use super::projection::{self, DEFAULT_MODE};
use super::{downward_api, SourceLookup, VolumeError};
use crate::kubelet::downward_api::{namespace, Allocatable};

/// Upstream's default `serviceAccountToken.expirationSeconds` (one hour).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// One service account token a pod's projected volumes need: who it is for and what it is
/// bound to. The token manager caches tokens by this key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenRequestKey {
    /// The pod's namespace.
    pub namespace: String,
    /// `spec.serviceAccountName` (`default` when unset).
    pub service_account: String,
    /// The source's `audience`, or none: the API server's own audiences apply.
    pub audiences: Vec<String>,
    /// The lifetime asked for.
    pub expiration_seconds: i64,
    /// The pod the token is bound to.
    pub pod_name: String,
    /// That pod's uid.
    pub pod_uid: String,
}

impl TokenRequestKey {
    /// What `pod`'s `source` asks for.
    pub fn of(pod: &Pod, source: &ServiceAccountTokenProjection) -> Self {
        let service_account = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_string());
        TokenRequestKey {
            namespace: namespace(pod).to_string(),
            service_account,
            audiences: source
                .audience
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect(),
            expiration_seconds: source
                .expiration_seconds
                .unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// The `TokenRequest` to send to `serviceaccounts/<name>/token`.
    pub fn request(&self) -> Value {
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": self.audiences,
                "expirationSeconds": self.expiration_seconds,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": self.pod_name,
                    "uid": self.pod_uid,
                },
            },
        })
    }
}

/// Every token the projected volumes of `pod` need, each once.
pub fn token_requests(pod: &Pod) -> Vec<TokenRequestKey> {
    let mut out: Vec<TokenRequestKey> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.service_account_token.as_ref())
        .map(|t| TokenRequestKey::of(pod, t))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The names of the ConfigMaps and Secrets the projected volumes of `pod` read.
pub fn object_names(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let sources = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten());
    let (mut maps, mut secrets) = (Vec::new(), Vec::new());
    for s in sources {
        maps.extend(s.config_map.as_ref().map(|c| c.name.clone()));
        secrets.extend(s.secret.as_ref().map(|c| c.name.clone()));
    }
    (maps, secrets)
}

/// The files of the projected volume `volume` of `pod`.
pub(crate) fn payload(
    volume: &str,
    source: &ProjectedVolumeSource,
    pod: &Pod,
    allocatable: Allocatable,
    lookups: &dyn SourceLookup,
) -> Result<BTreeMap<String, FileProjection>, VolumeError> {
    let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
    let ns = namespace(pod);
    let mut out = BTreeMap::new();
    for s in source.sources.iter().flatten() {
        let files = if let Some(cm) = &s.config_map {
            let as_volume = ConfigMapVolumeSource {
                name: cm.name.clone(),
                items: cm.items.clone(),
                optional: cm.optional,
                default_mode: Some(default_mode),
            };
            projection::config_map_payload(&as_volume, ns, lookups)?
        } else if let Some(secret) = &s.secret {
            let as_volume = SecretVolumeSource {
                secret_name: Some(secret.name.clone()),
                items: secret.items.clone(),
                optional: secret.optional,
                default_mode: Some(default_mode),
            };
            projection::secret_payload(&as_volume, ns, lookups)?
        } else if let Some(d) = &s.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            downward_api::payload(items, pod, allocatable, Some(default_mode))?
        } else if let Some(t) = &s.service_account_token {
            let key = TokenRequestKey::of(pod, t);
            let token =
                lookups
                    .service_account_token(&key)
                    .map_err(|message| VolumeError::TokenFetch {
                        volume: volume.to_string(),
                        message,
                    })?;
            let file = FileProjection {
                data: token.into_bytes(),
                mode: default_mode as u32,
            };
            BTreeMap::from([(t.path.clone(), file)])
        } else if s.cluster_trust_bundle.is_some() {
            return Err(VolumeError::ClusterTrustBundle(volume.to_string()));
        } else {
            BTreeMap::new()
        };
        out.extend(files);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::volume::PrefetchedSources;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};

    fn pod(volume: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u-1",
                         "labels": {"app": "web"}},
            "spec": {"serviceAccountName": "robot", "containers": [{"name": "main"}],
                     "volumes": [{"name": "all", "projected": volume}]}
        }))
        .unwrap()
    }

    fn sources() -> PrefetchedSources {
        let mut s = PrefetchedSources::default();
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg", "namespace": "ns"},
            "data": {"a": "1", "b": "2"}
        }))
        .unwrap();
        s.insert_config_map(cm);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds", "namespace": "ns"},
            "data": {"password": "aHVudGVyMg=="}
        }))
        .unwrap();
        s.insert_secret(secret);
        s
    }

    fn projected(p: &Pod) -> &ProjectedVolumeSource {
        let spec = p.spec.as_ref().unwrap();
        spec.volumes.as_ref().unwrap()[0]
            .projected
            .as_ref()
            .unwrap()
    }

    fn text(p: &BTreeMap<String, FileProjection>, k: &str) -> String {
        String::from_utf8(p[k].data.clone()).unwrap()
    }

    #[test]
    fn all_sources_land_in_one_directory_with_their_modes() {
        let p = pod(json!({"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "cfg/a", "mode": 0o600}]}},
            {"secret": {"name": "creds"}},
            {"downwardAPI": {"items": [{"path": "labels",
                "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"serviceAccountToken": {"path": "token", "audience": "vault"}}
        ]}));
        let mut src = sources();
        let key = TokenRequestKey::of(
            &p,
            &ServiceAccountTokenProjection {
                path: "token".into(),
                audience: Some("vault".into()),
                expiration_seconds: None,
            },
        );
        src.tokens.insert(key, Ok("jwt-1".into()));
        let files = payload("all", projected(&p), &p, Allocatable::default(), &src).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["cfg/a", "labels", "password", "token"]
        );
        assert_eq!(text(&files, "cfg/a"), "1");
        assert_eq!(files["cfg/a"].mode, 0o600);
        assert_eq!(text(&files, "password"), "hunter2");
        assert_eq!(files["password"].mode, 0o440);
        assert_eq!(text(&files, "labels"), "app=\"web\"");
        assert_eq!(text(&files, "token"), "jwt-1");
        assert_eq!(files["token"].mode, 0o440);
    }

    #[test]
    fn optional_sources_may_be_missing_and_required_ones_may_not() {
        let p = pod(json!({"sources": [
            {"configMap": {"name": "absent", "optional": true}},
            {"secret": {"name": "creds", "optional": true,
                        "items": [{"key": "nokey", "path": "x"}]}},
            {"configMap": {"name": "cfg"}}
        ]}));
        let files = payload("all", projected(&p), &p, Allocatable::default(), &sources()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(files["a"].mode, 0o644);
        let p = pod(json!({"sources": [{"secret": {"name": "absent"}}]}));
        let err = payload("all", projected(&p), &p, Allocatable::default(), &sources());
        assert_eq!(err.unwrap_err().to_string(), "secrets \"absent\" not found");
    }

    #[test]
    fn token_failures_and_trust_bundles_are_clear_errors() {
        let p = pod(json!({"sources": [{"serviceAccountToken": {"path": "token"}}]}));
        let mut src = sources();
        let key = token_requests(&p).remove(0);
        src.tokens.insert(
            key,
            Err("failed to fetch token: serviceaccounts \"robot\" not found".into()),
        );
        let err = payload("all", projected(&p), &p, Allocatable::default(), &src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"all\" : failed to fetch token: \
             serviceaccounts \"robot\" not found"
        );
        let p = pod(json!({"sources": [{"clusterTrustBundle": {"path": "ca.pem",
            "signerName": "example.com/ca"}}]}));
        let err = payload("all", projected(&p), &p, Allocatable::default(), &src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "volume \"all\": clusterTrustBundle projections are not supported on this node"
        );
    }

    #[test]
    fn token_requests_are_bound_to_the_pod_and_deduplicated() {
        let p = pod(json!({"sources": [
            {"serviceAccountToken": {"path": "t1"}},
            {"serviceAccountToken": {"path": "t2", "expirationSeconds": 3600}},
            {"serviceAccountToken": {"path": "t3", "audience": "vault",
                                     "expirationSeconds": 600}}
        ]}));
        let keys = token_requests(&p);
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0].request(),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"audiences": [], "expirationSeconds": 3600,
                            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                               "name": "web", "uid": "u-1"}}})
        );
        assert_eq!(keys[0].service_account, "robot");
        assert_eq!(keys[1].audiences, ["vault"]);
        assert_eq!(keys[1].expiration_seconds, 600);
    }
}
