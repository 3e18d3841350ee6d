//! An in-cluster kube-rs client for pods: this very test binary, run inside a pod's
//! container with its dynamic loader and libraries beside it (the test image has no C
//! library), in child mode, where it acts as an application would with
//! `Client::try_default()` and prints what it may and may not read.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};

/// Set in a pod's command: the test binary runs [`child`] instead of its test.
pub const CHILD: &str = "BRAMBLE_E2E_IN_CLUSTER";

/// Where [`for_pods`]'s directory is mounted in the pod.
pub const MOUNT: &str = "/kube-rs";

/// Whether this process is the in-cluster child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A directory under /tmp (which hostPath volumes may mount) holding this test binary, its
/// libraries and its dynamic loader.
pub fn for_pods() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("bramble-kube-rs-{}-", std::process::id()))
        .tempdir_in("/tmp")
        .expect("a directory under /tmp");
    let exe = std::env::current_exe().expect("the test binary");
    place(&exe, &dir.path().join("e2e"));
    let ldd = Command::new("ldd").arg(&exe).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.map(Path::new).filter(|p| p.is_absolute()) else {
            continue;
        };
        let name = path.file_name().expect("a library's file name");
        let target = if name.to_string_lossy().starts_with("ld-linux") {
            dir.path().join("ld.so")
        } else {
            dir.path().join(name)
        };
        place(path, &target);
    }
    dir
}

/// A hard link to the real file (a symlink would not resolve in the pod), else a copy.
fn place(from: &Path, to: &Path) {
    let real: PathBuf = std::fs::canonicalize(from).expect("a real path");
    if std::fs::hard_link(&real, to).is_err() {
        std::fs::copy(&real, to).expect("copy into the pods' directory");
    }
}

/// The shell command that runs the child in a pod, as the test `test_name`.
pub fn command(test_name: &str) -> String {
    format!("{CHILD}=1 {MOUNT}/ld.so --library-path {MOUNT} {MOUNT}/e2e {test_name} --exact --nocapture")
}

/// The child: lists pods and services in its namespace with kube-rs's in-cluster
/// configuration and prints `pods: NAMES` and `services: OUTCOME` lines.
pub fn child() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(e) => {
                println!("kube-rs client: {e}");
                return;
            }
        };
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        match pods.list(&ListParams::default()).await {
            Ok(list) => {
                let names: Vec<String> = list
                    .items
                    .iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect();
                println!("kube-rs pods: {}", names.join(","));
            }
            Err(e) => println!("kube-rs pods: {e}"),
        }
        let services: Api<Service> = Api::default_namespaced(client);
        match services.list(&ListParams::default()).await {
            Ok(_) => println!("kube-rs services: allowed"),
            Err(kube::Error::Api(s)) => println!("kube-rs services: {} {}", s.code, s.reason),
            Err(e) => println!("kube-rs services: {e}"),
        }
    });
}
