//! Upstream's `ServiceAccount` admission (`plugin/pkg/admission/serviceaccount`) on new pods:
//! the service account a pod names (`default` unless it names another) must exist; unless
//! the pod or its account turns `automountServiceAccountToken` off, the pod gets a projected
//! volume `kube-api-access-<random>` (a bound token, the cluster CA from `kube-root-ca.crt`
//! and the namespace) mounted read-only at [`TOKEN_MOUNT_PATH`] in every container that
//! mounts nothing there itself; a pod without `imagePullSecrets` takes its account's.
//! Mirror pods are left alone: a node may not tie them to an account.
//!
//! The `default` account is made by a controller soon after its namespace, so a pod created
//! right after its namespace waits for it a little, as upstream's plugin does (ten looks,
//! 100–200 ms apart). A registry without the cluster's token issuer (a store opened by
//! tools and tests, with no controllers) has no tokens to mount and runs no such admission.

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::api::registry::{token_request::PROJECTED_LIFETIME, Registry};
use crate::api::status::ApiError;
use crate::controllers::service_accounts::{ROOT_CA_CONFIGMAP, ROOT_CA_KEY};
use crate::resources::serviceaccount::DEFAULT_NAME;
use crate::resources::{meta, pod, serviceaccount, ResourceType};

/// Where containers find their account's token, CA and namespace.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Prefix of the projected volume's name.
const VOLUME_PREFIX: &str = "kube-api-access-";

/// Looks for the `default` account, which a controller is about to make.
const DEFAULT_ACCOUNT_LOOKS: u32 = 10;

/// Adds the account's token volume and pull secrets to a new pod.
pub async fn admit(
    registry: &Registry,
    rt: &ResourceType,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !(rt.group.is_empty() && rt.plural == pod::RESOURCE.plural) || registry.tokens().is_none() {
        return Ok(());
    }
    if obj
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Ok(());
    }
    let namespace = meta::meta_str(obj, "namespace").unwrap_or("").to_string();
    let name = meta::name_of(obj).to_string();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let account_name = match spec.get("serviceAccountName").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            spec.insert("serviceAccountName".into(), json!(DEFAULT_NAME));
            spec.insert("serviceAccount".into(), json!(DEFAULT_NAME));
            DEFAULT_NAME.to_string()
        }
    };
    let looks = if account_name == DEFAULT_NAME {
        DEFAULT_ACCOUNT_LOOKS
    } else {
        1
    };
    let mut found = None;
    for look in 0..looks {
        if look > 0 {
            let pause = rand::rng().random_range(100..200);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        found = registry.lookup(&serviceaccount::RESOURCE, &namespace, &account_name);
        if found.is_some() {
            break;
        }
    }
    let Some(account) = found else {
        return Err(ApiError::forbidden_on(
            &pod::RESOURCE,
            &name,
            &format!(
                "error looking up service account {namespace}/{account_name}: serviceaccount {account_name:?} not found"
            ),
        ));
    };
    let account = account.value();
    if automount(spec, &account) {
        mount_token(spec);
    }
    let has_pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_pull_secrets {
        if let Some(secrets) = account.get("imagePullSecrets").and_then(Value::as_array) {
            let refs: Vec<Value> = secrets
                .iter()
                .map(|s| json!({"name": s.get("name").cloned().unwrap_or(json!(""))}))
                .collect();
            if !refs.is_empty() {
                spec.insert("imagePullSecrets".into(), Value::Array(refs));
            }
        }
    }
    Ok(())
}

/// The pod's own `automountServiceAccountToken`, else its account's, else true.
fn automount(spec: &Map<String, Value>, account: &Value) -> bool {
    spec.get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

/// Mounts the token volume into every container that has nothing at the mount path, and
/// adds the volume if one of them needs it (upstream's `mountServiceAccountToken`).
fn mount_token(spec: &mut Map<String, Value>) {
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .find(|n| n.starts_with(VOLUME_PREFIX))
                .map(str::to_string)
        });
    let volume_name = existing.clone().unwrap_or_else(generated_name);
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if mounts.is_null() {
                *mounts = json!([]);
            }
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            let taken = mounts
                .iter()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH));
            if !taken {
                mounts.push(mount.clone());
                needed = true;
            }
        }
    }
    if existing.is_none() && needed {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if volumes.is_null() {
            *volumes = json!([]);
        }
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(token_volume(&volume_name));
        }
    }
}

/// `kube-api-access-` and five characters from upstream's `utilrand.String` alphabet.
fn generated_name() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{VOLUME_PREFIX}{suffix}")
}

/// The projected volume, defaulted as the API stores it.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": PROJECTED_LIFETIME, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": ROOT_CA_KEY, "path": ROOT_CA_KEY}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

#[cfg(test)]
mod tests;
