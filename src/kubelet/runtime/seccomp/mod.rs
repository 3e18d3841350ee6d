//! Seccomp profiles for containers, as containerd's CRI plugin builds them.
//!
//! `RuntimeDefault` is containerd's default profile (`contrib/seccomp/seccomp_default.go`):
//! an allow list with default action `SCMP_ACT_ERRNO` (EPERM), the native architecture plus
//! its 32-bit companions, and syscall groups that depend on the container's bounding
//! capabilities (`mount`, `unshare`, namespace-creating `clone` only with `CAP_SYS_ADMIN`,
//! `clone3` answered ENOSYS without it so libcs fall back to `clone`). It lives in
//! `default.json` in the format of Docker's profile files (`includes`/`excludes` by
//! architecture, capability and kernel version), which is also what `Localhost` profiles
//! may use; plain OCI `linux.seccomp` JSON is that format without the conditions.
//! [`resolve`] turns either into the OCI `linux.seccomp` runc reads from `config.json`;
//! the built-in runtime compiles the same structure to BPF ([`bpf`]).

pub mod bpf;

use oci_spec::runtime::{Capabilities, LinuxSeccomp};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Result, RuntimeError};

/// containerd's default profile (see the module docs).
const RUNTIME_DEFAULT: &str = include_str!("default.json");

/// Which seccomp profile a container runs under.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seccomp {
    /// No filter (`Unconfined`, and every privileged container).
    Unconfined,
    /// containerd's default profile (`RuntimeDefault`, also when nothing is asked for).
    #[default]
    RuntimeDefault,
    /// A profile file's JSON (`Localhost`), read by the kubelet from its seccomp directory.
    Profile {
        /// The file, for messages.
        path: String,
        /// Its content.
        json: String,
    },
}

/// A profile file: Docker's format, of which the OCI `linux.seccomp` object is a subset.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileFile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<SyscallGroup>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallGroup {
    #[serde(default)]
    names: Vec<String>,
    /// Docker's older single-name form.
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Condition,
    #[serde(default)]
    excludes: Condition,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// This build's architecture as Go names it (the names `includes.arches` uses).
fn go_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "x86") {
        "386"
    } else {
        "unknown"
    }
}

/// This build's libseccomp architecture name.
fn scmp_arch() -> &'static str {
    match go_arch() {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "386" => "SCMP_ARCH_X86",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The running kernel's `(major, minor)`, as containerd's `kernelversion` reads it.
fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_version(release.trim())
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn applies(group: &SyscallGroup, caps: &[String], kernel: Option<(u32, u32)>) -> bool {
    let inc = &group.includes;
    let exc = &group.excludes;
    let arch_ok = inc.arches.is_empty() || inc.arches.iter().any(|a| a == go_arch());
    let caps_ok = inc.caps.iter().all(|c| caps.contains(c));
    let kernel_ok = match inc.min_kernel.as_deref().and_then(parse_version) {
        Some(min) => kernel.is_some_and(|k| k >= min),
        None => true,
    };
    let excluded =
        exc.arches.iter().any(|a| a == go_arch()) || exc.caps.iter().any(|c| caps.contains(c));
    arch_ok && caps_ok && kernel_ok && !excluded
}

/// The OCI `linux.seccomp` for `profile` given the container's bounding capabilities, or
/// `None` for `Unconfined`.
pub fn resolve(profile: &Seccomp, bounding: &Capabilities) -> Result<Option<LinuxSeccomp>> {
    let (source, text) = match profile {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::RuntimeDefault => ("the runtime default profile", RUNTIME_DEFAULT),
        Seccomp::Profile { path, json } => (path.as_str(), json.as_str()),
    };
    let bad = |message: String| {
        RuntimeError::Spec(format!("cannot load seccomp profile {source:?}: {message}"))
    };
    let file: ProfileFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let caps: Vec<String> = bounding.iter().map(|c| format!("CAP_{c}")).collect();
    let kernel = kernel_version();
    // Docker's archMap: the entry for this architecture and its sub-architectures.
    let architectures = match (&file.arch_map, &file.architectures) {
        (Some(map), _) => map
            .iter()
            .filter(|m| m.architecture == scmp_arch())
            .flat_map(|m| {
                std::iter::once(m.architecture.clone()).chain(m.sub_architectures.clone())
            })
            .collect(),
        (None, Some(list)) => list.clone(),
        (None, None) => Vec::new(),
    };
    let mut syscalls = Vec::new();
    for group in file.syscalls.iter().flatten() {
        if !applies(group, &caps, kernel) {
            continue;
        }
        let mut names = group.names.clone();
        names.extend(group.name.clone());
        if names.is_empty() {
            return Err(bad("a syscall rule names no syscall".into()));
        }
        let mut rule = json!({"names": names, "action": group.action});
        if let Some(errno) = group.errno_ret {
            rule["errnoRet"] = errno.into();
        }
        if let Some(args) = group.args.as_ref().filter(|a| !a.is_empty()) {
            rule["args"] = args.clone().into();
        }
        syscalls.push(rule);
    }
    let mut seccomp = json!({
        "defaultAction": file.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(errno) = file.default_errno_ret {
        seccomp["defaultErrnoRet"] = errno.into();
    }
    if let Some(flags) = file.flags {
        seccomp["flags"] = flags.into();
    }
    let seccomp: LinuxSeccomp = serde_json::from_value(seccomp).map_err(|e| bad(e.to_string()))?;
    // Fail here, not in the container, on what the built-in runtime cannot compile.
    bpf::check(&seccomp).map_err(|e| bad(e.to_string()))?;
    Ok(Some(seccomp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|g| g.names().clone())
            .collect()
    }

    #[test]
    fn runtime_default_depends_on_capabilities() {
        let plain: Capabilities = [Capability::Chown, Capability::Kill].into_iter().collect();
        let s = resolve(&Seccomp::RuntimeDefault, &plain).unwrap().unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        let all = names(&s);
        assert!(all.contains(&"mkdir".to_string()) && all.contains(&"read".to_string()));
        assert!(!all.contains(&"mount".to_string()) && !all.contains(&"unshare".to_string()));
        assert!(!all.contains(&"chroot".to_string()));
        let clone3 = s
            .syscalls()
            .iter()
            .flatten()
            .find(|g| g.names().contains(&"clone3".to_string()))
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                json["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }

        let admin: Capabilities = [Capability::SysAdmin, Capability::SysChroot]
            .into_iter()
            .collect();
        let s = resolve(&Seccomp::RuntimeDefault, &admin).unwrap().unwrap();
        let all = names(&s);
        assert!(all.contains(&"mount".to_string()) && all.contains(&"chroot".to_string()));
        assert!(s
            .syscalls()
            .iter()
            .flatten()
            .all(|g| g.errno_ret().is_none()));
    }

    #[test]
    fn unconfined_has_no_filter_and_bad_profiles_are_refused() {
        let caps = Capabilities::new();
        assert!(resolve(&Seccomp::Unconfined, &caps).unwrap().is_none());
        let bad = Seccomp::Profile {
            path: "/p.json".into(),
            json: "{\"defaultAction\": \"SCMP_ACT_NOPE\"}".into(),
        };
        let e = resolve(&bad, &caps).unwrap_err().to_string();
        assert!(e.contains("cannot load seccomp profile \"/p.json\""), "{e}");
        let oci = Seccomp::Profile {
            path: "/p.json".into(),
            json: r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#
                .into(),
        };
        let s = resolve(&oci, &caps).unwrap().unwrap();
        assert_eq!(names(&s), vec!["mkdir", "mkdirat"]);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
        assert_eq!(parse_version("x"), None);
    }
}
