//! hostPath admission: a pod whose hostPath volumes, or a PersistentVolume whose
//! `spec.hostPath.path`, fall outside the server's allow-list is refused with 403 Forbidden
//! naming the volume and the rule, and nothing is stored.
//!
//! The check runs on the server's filesystem; the kubelet repeats it on the board that mounts
//! the path (`kubelet/volume`), where symlinks may point elsewhere. A pod's volumes and a PV's
//! source are immutable after creation (the kinds' validation refuses changes), so only
//! creates are checked.

use serde_json::Value;

use crate::api::status::ApiError;
use crate::host_path_policy::HostPathPolicy;
use crate::resources::ResourceType;

/// Refuses a new pod or PersistentVolume that uses a host path the policy does not allow.
pub fn validate_create(
    policy: &HostPathPolicy,
    rt: &ResourceType,
    obj: &Value,
) -> Result<(), ApiError> {
    if !rt.group.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match rt.plural {
        "pods" => {
            let volumes = obj.pointer("/spec/volumes").and_then(Value::as_array);
            for volume in volumes.into_iter().flatten() {
                let Some(path) = volume.pointer("/hostPath/path").and_then(Value::as_str) else {
                    continue;
                };
                let volume_name = volume.get("name").and_then(Value::as_str).unwrap_or("");
                policy.check(path).map_err(|denied| {
                    ApiError::forbidden_on(
                        rt,
                        name,
                        &format!(
                            "hostPath volume \"{volume_name}\" path \"{path}\" is not allowed: {denied}"
                        ),
                    )
                })?;
            }
            Ok(())
        }
        "persistentvolumes" => {
            let Some(path) = obj.pointer("/spec/hostPath/path").and_then(Value::as_str) else {
                return Ok(());
            };
            policy.check(path).map_err(|denied| {
                ApiError::forbidden_on(
                    rt,
                    name,
                    &format!("hostPath path \"{path}\" is not allowed: {denied}"),
                )
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn policy() -> HostPathPolicy {
        HostPathPolicy::new::<&str>(&[], Path::new("/var/lib/bramble"))
    }

    #[test]
    fn pod_with_a_refused_host_path_is_forbidden() {
        let pod = json!({"metadata": {"name": "x"}, "spec": {"volumes": [
            {"name": "data", "hostPath": {"path": "/mnt/data"}},
            {"name": "etc", "hostPath": {"path": "/etc/passwd"}}]}});
        let err = validate_create(&policy(), &crate::resources::pod::RESOURCE, &pod).unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "pods \"x\" is forbidden: hostPath volume \"etc\" path \"/etc/passwd\" is not allowed: \
             /etc is refused (allowed prefixes: /mnt, /media, /srv, /opt, /tmp, /dev/)"
        );
    }

    #[test]
    fn persistent_volume_under_root_home_is_forbidden() {
        let rt = &crate::resources::persistentvolume::RESOURCE;
        let pv = json!({"metadata": {"name": "pv1"}, "spec": {"hostPath": {"path": "/root"}}});
        let err = validate_create(&policy(), rt, &pv).unwrap_err();
        assert_eq!(
            err.message,
            "persistentvolumes \"pv1\" is forbidden: hostPath path \"/root\" is not allowed: \
             /root is refused (allowed prefixes: /mnt, /media, /srv, /opt, /tmp, /dev/)"
        );
        let ok = json!({"metadata": {"name": "pv2"}, "spec": {"hostPath": {"path": "/srv/pv"}}});
        validate_create(&policy(), rt, &ok).unwrap();
    }
}
