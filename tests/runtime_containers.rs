//! Containers run for real through both OCI runtimes (built-in libcontainer and runc):
//! lifecycle, CRI logs, exec, signals, OOM kills and log rotation. (Containers outliving the
//! server that created them is tested end to end in `kubelet_runs_pod`.) Needs root, runc and
//! busybox-static.

use std::path::Path;
use std::time::Duration;

use bramble::kubelet::runtime::cgroup::container_cgroup_path;
use bramble::kubelet::runtime::spec::{write_bundle, Resources};
use bramble::kubelet::runtime::{
    cgroup, cri_log, ContainerRuntime, ContainerSpec, ContainerState, ExecSpec, LogConfig,
    OciCliRuntime, RuntimeKind,
};
use tokio::io::AsyncReadExt;

const BRAMBLE: &str = env!("CARGO_BIN_EXE_bramble");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "runtime tests create containers and cgroups: run them as root"
    );
}

/// A temp data dir with a busybox rootfs, deleting every container it made on drop.
struct Fixture {
    dir: tempfile::TempDir,
    runtime: OciCliRuntime,
    prefix: String,
    ids: Vec<String>,
}

impl Fixture {
    fn new(kind: RuntimeKind) -> Self {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("busybox-static must be installed at /bin/busybox");
        for applet in ["sh", "echo", "sleep", "dd", "cat", "true", "head"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let runtime = OciCliRuntime::new(kind, &dir.path().join("runtime"), BRAMBLE.into());
        let prefix = format!("t{}{}", kind.name(), uuid::Uuid::new_v4().simple())[..16].to_string();
        Fixture {
            dir,
            runtime,
            prefix,
            ids: Vec::new(),
        }
    }

    fn spec(&self, name: &str, script: &str) -> ContainerSpec {
        ContainerSpec {
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            rootfs: self.dir.path().join("rootfs"),
            readonly_rootfs: true,
            hostname: Some(name.into()),
            cgroups_path: container_cgroup_path(&self.prefix, name),
            ..ContainerSpec::default()
        }
    }

    fn log(&self, name: &str) -> LogConfig {
        LogConfig::new(self.dir.path().join(format!("logs/{name}/0.log")))
    }

    /// Writes the bundle, creates and starts the container; returns its id.
    async fn run(&mut self, name: &str, spec: &ContainerSpec, log: &LogConfig) -> String {
        let id = format!("{}-{name}", self.prefix);
        let bundle = write_bundle(&self.dir.path().join("bundles").join(name), spec).unwrap();
        self.ids.push(id.clone());
        self.runtime.create(&id, &bundle, log).await.unwrap();
        self.runtime.start(&id).await.unwrap();
        id
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let runtime = self.runtime.clone();
        let ids = std::mem::take(&mut self.ids);
        let prefix = self.prefix.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for id in ids {
                let _ = rt.block_on(runtime.delete(&id));
            }
            for controller in [
                "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio", "cpuset",
                "systemd", "unified", "",
            ] {
                let pod = Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join("bramble")
                    .join(format!("pod{prefix}"));
                if let Ok(entries) = std::fs::read_dir(&pod) {
                    for e in entries.flatten().filter(|e| e.path().is_dir()) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
                let _ = std::fs::remove_dir(&pod);
            }
        })
        .join()
        .unwrap();
    }
}

async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn log_records(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            let (_, s, t, c) = (
                f.next(),
                f.next().unwrap(),
                f.next().unwrap(),
                f.next().unwrap(),
            );
            (s.to_string(), t.to_string(), c.to_string())
        })
        .collect()
}

async fn exec(runtime: &OciCliRuntime, id: &str, args: &[&str]) -> (i32, String) {
    let spec = ExecSpec {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..ExecSpec::default()
    };
    let mut session = runtime.exec(id, &spec).await.unwrap();
    drop(session.stdin.take());
    let mut out = String::new();
    session
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    (session.wait().await.unwrap(), out)
}

async fn lifecycle(kind: RuntimeKind) {
    let mut fx = Fixture::new(kind);
    let spec = fx.spec(
        "app",
        "trap 'exit 143' TERM; echo hello; echo oops >&2; sleep 1000 & wait",
    );
    let log = fx.log("app");
    let id = fx.run("app", &spec, &log).await;
    let status = fx.runtime.state(&id).await.unwrap().unwrap();
    assert_eq!(status.state, ContainerState::Running);
    assert!(status.pid.is_some() && status.started_at.is_some());
    assert_eq!(fx.runtime.list().await.unwrap(), vec![id.clone()]);

    wait_for("both log lines", || log_records(&log.path).len() >= 2).await;
    let mut records = log_records(&log.path);
    records.sort();
    assert_eq!(
        records,
        vec![
            ("stderr".into(), "F".into(), "oops".into()),
            ("stdout".into(), "F".into(), "hello".into())
        ]
    );

    assert_eq!(
        exec(&fx.runtime, &id, &["echo", "hi"]).await,
        (0, "hi\n".into())
    );
    assert_eq!(exec(&fx.runtime, &id, &["sh", "-c", "exit 3"]).await.0, 3);
    let stats = fx.runtime.stats(&id).await.unwrap();
    assert!(stats.memory_working_set_bytes > 0);

    fx.runtime.kill(&id, libc::SIGTERM).await.unwrap();
    let rt = &fx.runtime;
    let mut status = rt.state(&id).await.unwrap().unwrap();
    for _ in 0..100 {
        if status.state == ContainerState::Exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = rt.state(&id).await.unwrap().unwrap();
    }
    assert_eq!(status.state, ContainerState::Exited);
    assert_eq!(
        (status.exit_code, status.signal, status.oom_killed),
        (Some(143), None, false)
    );
    assert!(status.finished_at.is_some());

    let cgroups_path = spec.cgroups_path.clone();
    assert!(cgroup::exists(&cgroups_path));
    fx.runtime.delete(&id).await.unwrap();
    assert!(
        !cgroup::exists(&cgroups_path),
        "delete must remove the container's cgroup"
    );
    assert_eq!(fx.runtime.state(&id).await.unwrap(), None);
    assert!(fx.runtime.list().await.unwrap().is_empty());
}

async fn killed_by_signal_and_oom(kind: RuntimeKind) {
    let mut fx = Fixture::new(kind);
    let plain = fx.spec("plain", "echo hello; echo oops >&2; sleep 1000");
    let id = fx.run("plain", &plain, &fx.log("plain")).await;
    fx.runtime.kill(&id, libc::SIGKILL).await.unwrap();
    let mut status = fx.runtime.state(&id).await.unwrap().unwrap();
    for _ in 0..100 {
        if status.state == ContainerState::Exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = fx.runtime.state(&id).await.unwrap().unwrap();
    }
    assert_eq!(
        (status.state, status.exit_code, status.signal),
        (ContainerState::Exited, Some(137), Some(9))
    );
    assert!(!status.oom_killed);

    let mut hog = fx.spec("hog", "dd if=/dev/zero of=/dev/null bs=64M count=1");
    hog.resources = Resources {
        memory_limit_bytes: Some(16 * 1024 * 1024),
        ..Resources::default()
    };
    let id = fx.run("hog", &hog, &fx.log("hog")).await;
    let mut status = fx.runtime.state(&id).await.unwrap().unwrap();
    for _ in 0..100 {
        if status.state == ContainerState::Exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = fx.runtime.state(&id).await.unwrap().unwrap();
    }
    assert_eq!(status.state, ContainerState::Exited);
    assert!(status.oom_killed, "{status:?}");
    assert_ne!(status.exit_code, Some(0));
}

async fn rotation(kind: RuntimeKind) {
    let mut fx = Fixture::new(kind);
    let spec = fx.spec(
        "chatty",
        "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done",
    );
    let log = LogConfig {
        max_size: 1024,
        max_files: 3,
        ..fx.log("chatty")
    };
    let id = fx.run("chatty", &spec, &log).await;
    let rt = &fx.runtime;
    for _ in 0..100 {
        if rt.state(&id).await.unwrap().unwrap().state == ContainerState::Exited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = rt.state(&id).await.unwrap().unwrap();
    assert_eq!(
        (status.state, status.exit_code),
        (ContainerState::Exited, Some(0))
    );
    let rotated = cri_log::rotated_files(&log.path);
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    assert!(std::fs::metadata(&log.path).unwrap().len() <= 1024);
    let last = log_records(&log.path).pop().unwrap();
    assert_eq!(last, ("stdout".into(), "F".into(), "line 499".into()));
}

#[tokio::test]
async fn builtin_lifecycle_logs_exec_and_signals() {
    lifecycle(RuntimeKind::Builtin).await;
}

#[tokio::test]
async fn runc_lifecycle_logs_exec_and_signals() {
    lifecycle(RuntimeKind::Runc).await;
}

#[tokio::test]
async fn builtin_reports_kill_signal_and_oom() {
    killed_by_signal_and_oom(RuntimeKind::Builtin).await;
}

#[tokio::test]
async fn runc_reports_kill_signal_and_oom() {
    killed_by_signal_and_oom(RuntimeKind::Runc).await;
}

#[tokio::test]
async fn builtin_rotates_logs() {
    rotation(RuntimeKind::Builtin).await;
}

#[tokio::test]
async fn runc_rotates_logs() {
    rotation(RuntimeKind::Runc).await;
}
