//! A real OCI registry (`docker-registry`) on a free loopback port and test images built
//! from busybox-static with umoci and pushed with skopeo, as RECIPES.md describes.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests must run as root (overlayfs mounts, namespaces, device nodes)"
    );
}

pub fn run(dir: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {args:?}: {e} (install umoci, skopeo, docker-registry, busybox-static)"
            )
        });
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `docker-registry` on a free loopback port, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Registry::start_on(dir, "127.0.0.1")
    }

    /// A registry listening on `host`, an address of this machine.
    pub fn start_on(dir: &Path, host: &str) -> Registry {
        let port = TcpListener::bind((host, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {host}:{port}}}\n",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start docker-registry (apt-get install docker-registry)");
        let registry = Registry { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds a busybox image whose default command is `cmd` and pushes it to the registry as
/// `repo:latest` (e.g. `library/redis`).
pub fn build_busybox_image(work: &Path, port: u16, repo: &str, cmd: &[&str]) {
    build_busybox_image_at(work, "127.0.0.1", port, repo, cmd);
}

/// [`build_busybox_image`] for a registry listening on `host`.
pub fn build_busybox_image_at(work: &Path, host: &str, port: u16, repo: &str, cmd: &[&str]) {
    let tag = repo.replace('/', "-");
    if !work.join("oci").exists() {
        run(work, &["umoci", "init", "--layout", "oci"]);
    }
    let image = format!("oci:{tag}");
    run(work, &["umoci", "new", "--image", &image]);
    let bundle = format!("b-{tag}");
    run(
        work,
        &["umoci", "unpack", "--rootless", "--image", &image, &bundle],
    );
    let rootfs = work.join(&bundle).join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("/bin/busybox (apt-get install busybox-static)");
    for c in [
        "sh", "ls", "cat", "echo", "sleep", "httpd", "dd", "id", "hostname",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(c)).unwrap();
    }
    run(work, &["umoci", "repack", "--image", &image, &bundle]);
    let mut config = vec!["umoci", "config", "--image", &image, "--os", "linux"];
    let arch = bramble::resources::node_arch();
    config.extend(["--architecture", arch]);
    for c in cmd {
        config.extend(["--config.cmd", c]);
    }
    run(work, &config);
    let dest = format!("docker://{host}:{port}/{repo}:latest");
    run(
        work,
        &[
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:oci:{tag}"),
            &dest,
        ],
    );
}
