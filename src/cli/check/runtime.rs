//! The OCI runtime: the built-in one needs only this binary and the kernel's namespaces;
//! `--runtime runc` needs a working runc on `PATH`.

use std::path::Path;
use std::process::{Command, Output};

use super::Outcome;
use crate::kubelet::runtime::RuntimeKind;

const NAME: &str = "OCI runtime";

/// The namespaces every pod's containers are created in.
const NAMESPACES: [&str; 5] = ["mnt", "uts", "ipc", "pid", "net"];

/// Checks the runtime the server is configured with.
pub fn check(kind: RuntimeKind) -> Outcome {
    match kind {
        RuntimeKind::Builtin if cfg!(not(target_pointer_width = "64")) => Outcome::fail(
            NAME,
            "the built-in runtime exists only in 64-bit builds",
            "sudo apt install runc and run the server with --runtime runc (the default here)",
        ),
        RuntimeKind::Builtin => {
            let missing: Vec<&str> = NAMESPACES
                .into_iter()
                .filter(|ns| !Path::new("/proc/self/ns").join(ns).exists())
                .collect();
            let exe = std::env::current_exe().ok().filter(|p| p.exists());
            builtin_from(exe.is_some(), &missing)
        }
        RuntimeKind::Runc => runc_from(Command::new("runc").arg("--version").output()),
    }
}

/// The built-in runtime is this binary re-executed (`bramble runtime`): it needs the binary
/// to be re-executable and the kernel to offer every namespace a container gets.
pub fn builtin_from(exe_found: bool, missing_namespaces: &[&str]) -> Outcome {
    if !exe_found {
        return Outcome::fail(
            NAME,
            "cannot find this binary to re-execute as the runtime helper",
            "run bramble from a path that exists (e.g. /usr/local/bin/bramble), not a deleted file",
        );
    }
    if !missing_namespaces.is_empty() {
        return Outcome::fail(
            NAME,
            format!("kernel lacks namespaces: {}", missing_namespaces.join(", ")),
            "use a kernel with CONFIG_NAMESPACES, UTS_NS, IPC_NS, PID_NS and NET_NS (Raspberry Pi OS kernels have them)",
        );
    }
    Outcome::ok(NAME, "built-in (libcontainer), namespaces available")
}

/// Judges `runc --version`.
pub fn runc_from(result: std::io::Result<Output>) -> Outcome {
    match result {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text.lines().next().unwrap_or("runc").trim().to_string();
            Outcome::ok(NAME, version)
        }
        Ok(out) => Outcome::fail(
            NAME,
            format!(
                "runc --version failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "sudo apt install --reinstall runc, or use the built-in runtime (--runtime builtin)",
        ),
        Err(_) => Outcome::fail(
            NAME,
            "runc is not installed",
            "sudo apt install runc, or use the built-in runtime (--runtime builtin)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    #[test]
    fn builtin_needs_the_binary_and_every_namespace() {
        assert_eq!(builtin_from(true, &[]).status, Status::Ok);
        let o = builtin_from(true, &["pid"]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.detail.contains("pid"));
        assert_eq!(builtin_from(false, &[]).status, Status::Fail);
    }

    #[test]
    fn runc_absent_names_the_package() {
        let o = runc_from(Err(std::io::ErrorKind::NotFound.into()));
        assert_eq!(o.status, Status::Fail);
        assert!(o.fix.unwrap().contains("apt install runc"));
    }
}
