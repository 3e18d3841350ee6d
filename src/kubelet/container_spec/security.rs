//! A container's `securityContext` beyond user and capabilities, as the kubelet and
//! containerd's CRI plugin apply it: the seccomp profile (`RuntimeDefault` also when none is
//! given, as the kubelet's `--seccomp-default`; `Localhost` files from the kubelet's seccomp
//! directory, with upstream's wording when one cannot be read), `procMount` (only `Default`:
//! `Unmasked` needs a user namespace, which this node does not give pods), `runAsNonRoot`
//! (the kubelet's `verifyRunAsNonRoot` messages), AppArmor (no profile is loaded on boards:
//! a `Localhost` one is refused), and the pod's sysctls (checked at admission, see
//! `kubelet::sysctl`). `seLinuxOptions` and `windowsOptions` are left to hosts that have
//! them, as containerd does on a host without SELinux.

use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{Container, Pod, SeccompProfile, SecurityContext};

use super::ContainerConfigError;
use crate::kubelet::runtime::seccomp::Seccomp;

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The container's seccomp profile, the container's setting over the pod's.
pub fn seccomp(
    pod: &Pod,
    container: &Container,
    seccomp_root: &Path,
) -> Result<Seccomp, ContainerConfigError> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let profile: Option<&SeccompProfile> = container
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .or(psc.and_then(|p| p.seccomp_profile.as_ref()));
    let Some(profile) = profile else {
        return Ok(Seccomp::RuntimeDefault);
    };
    match profile.type_.as_str() {
        "RuntimeDefault" => Ok(Seccomp::RuntimeDefault),
        "Unconfined" => Ok(Seccomp::Unconfined),
        "Localhost" => {
            let name = profile.localhost_profile.as_deref().unwrap_or_default();
            let relative = Path::new(name);
            let inside = !name.is_empty()
                && relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
            if !inside {
                return Err(ContainerConfigError::Security(format!(
                    "localhostProfile {name:?} must be a relative path without \"..\" inside \
                     the kubelet's seccomp directory {}",
                    seccomp_root.display()
                )));
            }
            let path = seccomp_root.join(relative);
            // containerd's `WithProfile` wording for a file it cannot read.
            let json = std::fs::read_to_string(&path).map_err(|e| {
                ContainerConfigError::Seccomp(format!(
                    "failed to generate seccomp spec opts: cannot load seccomp profile {:?}: \
                     open {}: {}",
                    path.display().to_string(),
                    path.display(),
                    os_message(&e)
                ))
            })?;
            Ok(Seccomp::Profile {
                path: path.display().to_string(),
                json,
            })
        }
        other => Err(ContainerConfigError::Security(format!(
            "unsupported seccomp profile type {other:?}"
        ))),
    }
}

/// Go's wording of an OS error (`no such file or directory`), without Rust's "(os error 2)".
pub fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Refuses what this node cannot honour in the security context.
pub fn check(pod: &Pod, container: &Container) -> Result<(), ContainerConfigError> {
    let sc: Option<&SecurityContext> = container.security_context.as_ref();
    match sc.and_then(|s| s.proc_mount.as_deref()) {
        None | Some("Default") => {}
        Some("Unmasked") => {
            return Err(ContainerConfigError::Security(format!(
                "container {:?} of pod {:?}: procMount Unmasked needs a user namespace \
                 (hostUsers: false), which this node does not support; remove procMount",
                container.name,
                pod_name(pod)
            )))
        }
        Some(other) => {
            return Err(ContainerConfigError::Security(format!(
                "unsupported procMount {other:?}"
            )))
        }
    }
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let apparmor = sc
        .and_then(|s| s.app_armor_profile.as_ref())
        .or(psc.and_then(|p| p.app_armor_profile.as_ref()));
    if let Some(profile) = apparmor.filter(|p| p.type_ == "Localhost") {
        return Err(ContainerConfigError::Security(format!(
            "AppArmor profile {:?} cannot be applied: this node loads no AppArmor profiles",
            profile.localhost_profile.as_deref().unwrap_or_default()
        )));
    }
    if pod.spec.as_ref().and_then(|s| s.host_users) == Some(false) {
        return Err(ContainerConfigError::Security(
            "hostUsers: false (user namespaces) is not supported on this node".into(),
        ));
    }
    Ok(())
}

/// The kubelet's `verifyRunAsNonRoot`, given the user the container will run as.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    uid: u32,
    image_user: Option<&str>,
) -> Result<(), ContainerConfigError> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let non_root = sc
        .and_then(|s| s.run_as_non_root)
        .or(psc.and_then(|p| p.run_as_non_root))
        .unwrap_or(false);
    if !non_root || uid != 0 {
        return Ok(());
    }
    let explicit = sc
        .and_then(|s| s.run_as_user)
        .or(psc.and_then(|p| p.run_as_user))
        .is_some();
    // The kubelet's `format.Pod`: name_namespace(uid).
    let pod_ref = format!(
        "{}_{}({})",
        pod_name(pod),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    if explicit {
        return Err(ContainerConfigError::Security(format!(
            "container's runAsUser breaks non-root policy (pod: {pod_ref:?}, container: {})",
            container.name
        )));
    }
    let user = image_user.unwrap_or_default();
    let numeric = user.split(':').next().unwrap_or_default();
    if !numeric.is_empty() && numeric.parse::<u32>().is_err() {
        return Err(ContainerConfigError::Security(format!(
            "container has runAsNonRoot and image has non-numeric user ({numeric}), cannot \
             verify user is non-root (pod: {pod_ref:?}, container: {})",
            container.name
        )));
    }
    Err(ContainerConfigError::Security(format!(
        "container has runAsNonRoot and image will run as root (pod: {pod_ref:?}, container: {})",
        container.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec};

    fn pod(psc: PodSecurityContext) -> Pod {
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                security_context: Some(psc),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn localhost(name: &str) -> SeccompProfile {
        SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: Some(name.into()),
        }
    }

    #[test]
    fn seccomp_defaults_to_runtime_default_and_container_wins() {
        let root = tempfile::tempdir().unwrap();
        let c = Container::default();
        let p = pod(PodSecurityContext::default());
        assert_eq!(
            seccomp(&p, &c, root.path()).unwrap(),
            Seccomp::RuntimeDefault
        );
        let p = pod(PodSecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_: "Unconfined".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(seccomp(&p, &c, root.path()).unwrap(), Seccomp::Unconfined);
        let c = Container {
            security_context: Some(SecurityContext {
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            seccomp(&p, &c, root.path()).unwrap(),
            Seccomp::RuntimeDefault
        );
    }

    #[test]
    fn localhost_profiles_stay_inside_the_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("profiles")).unwrap();
        std::fs::write(root.path().join("profiles/a.json"), "{}").unwrap();
        let c = Container::default();
        let with = |name: &str| {
            let p = pod(PodSecurityContext {
                seccomp_profile: Some(localhost(name)),
                ..Default::default()
            });
            seccomp(&p, &c, root.path())
        };
        assert!(matches!(
            with("profiles/a.json").unwrap(),
            Seccomp::Profile { .. }
        ));
        for bad in ["../etc/passwd", "/etc/passwd", "profiles/../../x", ""] {
            assert!(with(bad).is_err(), "{bad}");
        }
        let e = with("missing.json").unwrap_err().to_string();
        assert!(
            e.contains("cannot load seccomp profile") && e.ends_with("no such file or directory"),
            "{e}"
        );
    }

    #[test]
    fn unmasked_proc_and_root_under_run_as_non_root_are_refused() {
        let p = pod(PodSecurityContext::default());
        let c = Container {
            name: "c".into(),
            security_context: Some(SecurityContext {
                proc_mount: Some("Unmasked".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check(&p, &c)
            .unwrap_err()
            .to_string()
            .contains("procMount Unmasked"));
        let p = pod(PodSecurityContext {
            run_as_non_root: Some(true),
            ..Default::default()
        });
        let e = verify_run_as_non_root(&p, &c, 0, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("container has runAsNonRoot and image will run as root"),
            "{e}"
        );
        let e = verify_run_as_non_root(&p, &c, 0, Some("nobody"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-numeric user (nobody)"), "{e}");
        assert!(verify_run_as_non_root(&p, &c, 1000, None).is_ok());
    }
}
