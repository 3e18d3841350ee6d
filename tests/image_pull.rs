//! A node pulls images from a registry mirror as the kubelet would: `redis` through a
//! `registries.yaml` mirror, a multi-arch image for this machine's platform, a missing tag
//! with the registry's reason, an air-gapped import of an OCI archive, and image GC.
//! Needs root (overlayfs, device-node whiteouts) and the Debian packages docker-registry,
//! skopeo, umoci and busybox-static.

use crate::support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::registry::{require_root, run, Registry};

use bramble::kubelet::image::{
    GcPolicy, ImageService, Platform, PullError, PullPolicy, RegistryConfig,
};

/// Unmounts a container rootfs on drop, even when an assertion failed.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = bramble::kubelet::image::rootfs::unmount_rootfs(&self.0);
    }
}

/// Builds (umoci) and pushes (skopeo) the test images: `library/redis:latest` with a lower
/// layer holding `etc/lowerfile` and an upper layer deleting it, and `library/multi:latest`,
/// an index of amd64 and arm64 images whose `/arch` file names their architecture.
fn build_and_push(work: &Path, port: u16) -> PathBuf {
    run(work, &["umoci", "init", "--layout", "oci"]);
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox missing (apt-get install busybox-static)"
    );
    // redis: two layers, the second whiting out a file of the first.
    run(work, &["umoci", "new", "--image", "oci:redis"]);
    run(
        work,
        &[
            "umoci",
            "unpack",
            "--rootless",
            "--image",
            "oci:redis",
            "b1",
        ],
    );
    let rootfs = work.join("b1/rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/lowerfile"), "low").unwrap();
    std::fs::write(rootfs.join("etc/kept"), "kept").unwrap();
    run(work, &["umoci", "repack", "--image", "oci:redis", "b1"]);
    run(
        work,
        &[
            "umoci",
            "unpack",
            "--rootless",
            "--image",
            "oci:redis",
            "b2",
        ],
    );
    std::fs::remove_file(work.join("b2/rootfs/etc/lowerfile")).unwrap();
    run(work, &["umoci", "repack", "--image", "oci:redis", "b2"]);
    run(
        work,
        &[
            "umoci",
            "config",
            "--image",
            "oci:redis",
            "--architecture",
            "amd64",
            "--os",
            "linux",
            "--config.cmd",
            "/bin/sh",
            "--config.env",
            "GREETING=hi",
            "--config.workingdir",
            "/etc",
            "--config.exposedports",
            "6379/tcp",
            "--config.stopsignal",
            "SIGQUIT",
        ],
    );
    // multi: one image per architecture, combined into an index by hand.
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let tag = format!("m-{arch}");
        let image = format!("oci:{tag}");
        let bundle = format!("b-{arch}");
        run(work, &["umoci", "new", "--image", &image]);
        run(
            work,
            &["umoci", "unpack", "--rootless", "--image", &image, &bundle],
        );
        let rootfs = work.join(&bundle).join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        std::fs::write(rootfs.join("arch"), arch).unwrap();
        run(work, &["umoci", "repack", "--image", &image, &bundle]);
        run(
            work,
            &[
                "umoci",
                "config",
                "--image",
                &image,
                "--architecture",
                arch,
                "--os",
                "linux",
            ],
        );
        entries.push((tag, arch));
    }
    let index_path = work.join("oci/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(tag, arch)| {
            let m = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
                .unwrap();
            serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                "platform": {"architecture": arch, "os": "linux"}})
        })
        .collect();
    let blob = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}))
    .unwrap();
    let digest = bramble::kubelet::image::store::sha256_digest(&blob);
    std::fs::write(work.join("oci/blobs/sha256").join(&digest[7..]), &blob).unwrap();
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": blob.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let dest = |repo: &str| format!("docker://127.0.0.1:{port}/library/{repo}:latest");
    run(
        work,
        &[
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "oci:oci:redis",
            &dest("redis"),
        ],
    );
    run(
        work,
        &[
            "skopeo",
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "oci:oci:multi",
            &dest("multi"),
        ],
    );
    work.join("oci")
}

fn service(data: &Path, port: u16) -> ImageService {
    std::fs::create_dir_all(data).unwrap();
    let registries = data.join("registries.yaml");
    std::fs::write(
        &registries,
        format!("mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    ImageService::new(data, RegistryConfig::load(&registries).unwrap()).unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    data: PathBuf,
    registry: Registry,
}

fn fixture() -> Fixture {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let registry = Registry::start(tmp.path());
    build_and_push(&work, registry.port);
    Fixture {
        _tmp: tmp,
        work,
        data,
        registry,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_mirror_mounts_rootfs_with_whiteouts() {
    let f = fixture();
    let svc = service(&f.data, f.registry.port);

    let never = svc
        .ensure_image("redis", PullPolicy::Never, &[])
        .await
        .unwrap_err();
    assert!(matches!(never, PullError::NeverPull { .. }));
    assert_eq!(never.reason(), "ErrImageNeverPull");
    assert_eq!(
        never.to_string(),
        "Container image \"redis\" is not present with pull policy of Never"
    );

    let info = svc
        .ensure_image("redis", PullPolicy::IfNotPresent, &[])
        .await
        .unwrap();
    assert_eq!(info.reference, "docker.io/library/redis:latest");
    assert_eq!(info.layers.len(), 2);
    assert!(
        info.repo_digest()
            .starts_with("docker.io/library/redis@sha256:"),
        "{}",
        info.repo_digest()
    );
    assert_eq!(
        info.config.cmd.as_deref(),
        Some(&["/bin/sh".to_string()][..])
    );
    assert!(info
        .config
        .env
        .as_ref()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hi"));
    assert_eq!(info.config.working_dir.as_deref(), Some("/etc"));
    assert_eq!(info.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert!(info
        .config
        .exposed_ports
        .as_ref()
        .unwrap()
        .contains_key("6379/tcp"));

    // Every stored blob hashes to its name.
    let blobs = f.data.join("images/blobs/sha256");
    let mut count = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let digest =
            bramble::kubelet::image::store::sha256_digest(&std::fs::read(entry.path()).unwrap());
        assert_eq!(digest[7..], *entry.file_name().to_string_lossy());
        count += 1;
    }
    assert_eq!(count, 4, "manifest, config and two layers");

    // Policy Never now finds it; the registry need not be asked.
    let again = svc
        .ensure_image("docker.io/library/redis:latest", PullPolicy::Never, &[])
        .await
        .unwrap();
    assert_eq!(again.id, info.id);

    let container = f.data.join("pods/uid-1/containers/app");
    let _guard = Mounted(container.clone());
    let rootfs = svc.mount_rootfs(&info, &container).await.unwrap();
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/kept")).unwrap(),
        "kept"
    );
    assert!(
        !rootfs.join("etc/lowerfile").exists(),
        "the upper layer's whiteout hides the lower file"
    );
    std::fs::write(rootfs.join("written"), "x").unwrap();
    assert!(
        container.join("upper/written").is_file(),
        "writes land in the container's upper dir"
    );
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/busybox", "echo", "ok"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    svc.unmount_rootfs(&container).await.unwrap();
    assert!(!container.join("rootfs").exists());
    assert!(!container.join("upper").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_pull_chooses_this_platform_and_missing_tag_gives_reason() {
    let f = fixture();
    let svc = service(&f.data, f.registry.port);
    let info = svc
        .ensure_image("multi", PullPolicy::Always, &[])
        .await
        .unwrap();
    let host = Platform::host();
    let arch_file = info
        .layers
        .iter()
        .map(|l| l.join("arch"))
        .find(|p| p.exists())
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(arch_file).unwrap(),
        host.architecture
    );

    // The other architecture is chosen when the node says so.
    let other = if host.architecture == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let data2 = f.data.join("other-node");
    let svc2 = service(&data2, f.registry.port).with_platform(Platform::linux(other, None));
    let info2 = svc2
        .ensure_image("multi", PullPolicy::Always, &[])
        .await
        .unwrap();
    let arch_file = info2
        .layers
        .iter()
        .map(|l| l.join("arch"))
        .find(|p| p.exists())
        .unwrap();
    assert_eq!(std::fs::read_to_string(arch_file).unwrap(), other);

    let svc3 = service(&f.data.join("riscv"), f.registry.port)
        .with_platform(Platform::linux("riscv64", None));
    let e = svc3
        .ensure_image("multi", PullPolicy::Always, &[])
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no match for platform linux/riscv64"),
        "{e}"
    );

    let e = svc
        .ensure_image("redis:nope", PullPolicy::IfNotPresent, &[])
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "ErrImagePull");
    let msg = e.to_string();
    assert!(msg.contains("404 Not Found: manifest unknown"), "{msg}");
    assert!(msg.contains("docker.io/library/redis:nope"), "{msg}");

    let e = svc
        .ensure_image("Redis", PullPolicy::Always, &[])
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "InvalidImageName");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_oci_archive_and_gc_unused_image() {
    let f = fixture();
    let archive = f.work.join("redis.tar");
    run(
        &f.work,
        &[
            "skopeo",
            "copy",
            "oci:oci:redis",
            &format!(
                "oci-archive:{}:docker.io/library/airgap:1",
                archive.display()
            ),
        ],
    );
    // No mirror reachable: the import alone must make the image available.
    let svc = ImageService::new(&f.data, RegistryConfig::default()).unwrap();
    let imported = svc.import_oci_archive(&archive, None).await.unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].reference, "docker.io/library/airgap:1");
    let info = svc
        .ensure_image("airgap:1", PullPolicy::Never, &[])
        .await
        .unwrap();
    assert!(info.layers[0].join("bin/busybox").is_file());

    let named = svc
        .import_oci_archive(&archive, Some("localhost/renamed:v2"))
        .await
        .unwrap();
    assert_eq!(named[0].reference, "localhost/renamed:v2");

    let svc = service(&f.data, f.registry.port);
    let multi = svc
        .ensure_image("multi", PullPolicy::Always, &[])
        .await
        .unwrap();

    // Under the high threshold nothing happens.
    let untouched = svc
        .garbage_collect(
            GcPolicy {
                high_threshold_percent: 100,
                low_threshold_percent: 100,
            },
            &HashSet::new(),
        )
        .await
        .unwrap();
    assert!(untouched.removed.is_empty());

    let in_use: HashSet<String> =
        ["airgap:1".to_string(), "localhost/renamed:v2".to_string()].into();
    let report = svc
        .garbage_collect(
            GcPolicy {
                high_threshold_percent: 0,
                low_threshold_percent: 0,
            },
            &in_use,
        )
        .await
        .unwrap();
    assert_eq!(report.removed, ["docker.io/library/multi:latest"]);
    assert!(report.bytes_freed > 0);
    assert!(svc
        .ensure_image("multi", PullPolicy::Never, &[])
        .await
        .is_err());
    for l in &multi.layers {
        assert!(!l.exists(), "unused layer {} removed", l.display());
    }
    assert!(!svc.store().has_blob(&multi.id));
    assert!(svc
        .ensure_image("airgap:1", PullPolicy::Never, &[])
        .await
        .unwrap()
        .layers[0]
        .is_dir());
}
