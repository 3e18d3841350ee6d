//! gitRepo volumes on a real board: a repository served by `git daemon` on loopback is cloned
//! at a pinned revision (that revision's content, not HEAD's), and a malicious repository
//! (hook scripts, a submodule pointing at an `ext::` command, a config file, symlinks to
//! `/etc`, out of the tree and to a file outside) runs nothing and changes nothing outside
//! the volume, even with a node-wide git configuration that sets hooks, fsmonitor and an ssh
//! command. A clone that fails leaves the pod in ContainerCreating with git's error.
//! Needs root, git (with `git daemon`) and the Board's image tools.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::board::Board;
use support::{eventually, Cluster};

const IDLE: &[&str] = &["sleep", "3600"];

/// A `git daemon` serving every repository under its base path; killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs git for building the test repositories, isolated from any configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn script(path: &Path, marker: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        format!("#!/bin/sh\necho ran \"$0\" >> {}\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Builds the repository: commit 1 with `version.txt` "v1", commit 2 with "v2" and the bait.
/// Returns (commit 1, commit 2).
fn build_repo(work: &Path, marker: &Path, outside: &Path) -> (String, String) {
    let src = work.join("src");
    fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    fs::write(src.join("version.txt"), "v1\n").unwrap();
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "one"]);
    let first = git(&src, &["rev-parse", "HEAD"]);

    fs::write(src.join("version.txt"), "v2\n").unwrap();
    for hook in [
        "hooks/post-checkout",
        ".githooks/post-checkout",
        ".git-hooks/post-merge",
    ] {
        script(&src.join(hook), marker);
    }
    script(&src.join("fsmonitor.sh"), marker);
    fs::write(
        src.join("config"),
        format!(
            "[core]\n\tfsmonitor = {0}\n\thooksPath = hooks\n\tsshCommand = {0}\n",
            src.join("fsmonitor.sh").display()
        ),
    )
    .unwrap();
    fs::write(
        src.join(".gitmodules"),
        format!(
            "[submodule \"sub\"]\n\tpath = sub\n\turl = ext::sh -c touch% {}\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::write(src.join(".gitattributes"), "* filter=evil\n").unwrap();
    std::os::unix::fs::symlink("/etc", src.join("etc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../..", src.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside, src.join("outside")).unwrap();
    git(&src, &["add", "."]);
    git(
        &src,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{first},sub"),
        ],
    );
    git(&src, &["commit", "-q", "-m", "two"]);
    let second = git(&src, &["rev-parse", "HEAD"]);

    let served = work.join("served");
    fs::create_dir_all(&served).unwrap();
    git(work, &["clone", "-q", "--bare", "src", "served/repo.git"]);
    // A server-side hook never travels with a clone; put one there to prove it.
    script(&served.join("repo.git/hooks/post-checkout"), marker);
    (first, second)
}

/// A node-wide git configuration that would run the marker script if the kubelet honoured it.
fn hostile_global_config(work: &Path, marker: &Path) -> PathBuf {
    let evil = work.join("evil");
    script(&evil.join("hooks/post-checkout"), marker);
    script(&evil.join("template/hooks/post-checkout"), marker);
    script(&evil.join("run.sh"), marker);
    let cfg = evil.join("gitconfig");
    fs::write(
        &cfg,
        format!(
            "[core]\n\thooksPath = {0}/hooks\n\tfsmonitor = {0}/run.sh\n\tsshCommand = {0}/run.sh\n\
             [init]\n\ttemplateDir = {0}/template\n[submodule]\n\trecurse = true\n\
             [protocol]\n\tallow = always\n[filter \"evil\"]\n\tsmudge = {0}/run.sh\n",
            evil.display()
        ),
    )
    .unwrap();
    cfg
}

fn start_daemon(base: &Path) -> (Daemon, u16) {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    let daemon = Daemon(child);
    eventually("git daemon to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (daemon, port)
}

fn waiting_message(c: &Cluster, pod: &str) -> Option<String> {
    let out = c.kubectl(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (reason, message) = text.split_once('|')?;
    (reason == "ContainerCreating" && !message.is_empty()).then(|| message.to_string())
}

#[test]
fn git_repo_volumes_clone_a_pinned_revision_and_run_nothing_from_the_repository() {
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("marker");
    let outside = work.path().join("outside-file");
    fs::write(&outside, "untouched\n").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o600)).unwrap();
    let (first, second) = build_repo(work.path(), &marker, &outside);
    let (_daemon, port) = start_daemon(&work.path().join("served"));
    // The server inherits this; cargo-nextest runs each test in its own process, so no other
    // test sees it.
    std::env::set_var(
        "GIT_CONFIG_GLOBAL",
        hostile_global_config(work.path(), &marker),
    );

    let board = Board::start("builtin", 31, &[("library/box", IDLE)]);
    let c = &board.cluster;
    let url = format!("git://127.0.0.1:{port}/repo.git");
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: code}}
spec:
  containers:
  - name: app
    image: box
    volumeMounts:
    - {{name: pinned, mountPath: /pinned}}
    - {{name: head, mountPath: /head}}
  volumes:
  - name: pinned
    gitRepo: {{repository: "{url}", revision: "{first}"}}
  - name: head
    gitRepo: {{repository: "{url}", revision: "{second}", directory: "."}}
"#
    ));
    eventually("pod code to run", || {
        let phase = c.kubectl_ok(&["get", "pod", "code", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(())
    });
    let cat = |path: &str| c.kubectl_ok(&["exec", "code", "--", "cat", path]);
    assert_eq!(cat("/pinned/repo/version.txt"), "v1\n");
    assert_eq!(cat("/head/version.txt"), "v2\n");

    let uid = c.kubectl_ok(&["get", "pod", "code", "-o", "jsonpath={.metadata.uid}"]);
    let head = c
        .data_dir()
        .join("pods")
        .join(&uid)
        .join("volumes/kubernetes.io~git-repo/head");
    for (link, target) in [
        ("etc", PathBuf::from("/etc")),
        ("escape", PathBuf::from("../../../../../../../../..")),
        ("outside", outside.clone()),
    ] {
        let meta = fs::symlink_metadata(head.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} is not a symlink");
        assert_eq!(fs::read_link(head.join(link)).unwrap(), target);
    }
    let sub: Vec<_> = fs::read_dir(head.join("sub")).unwrap().collect();
    assert!(sub.is_empty(), "the submodule was cloned");
    assert!(
        !marker.exists(),
        "something ran: {}",
        fs::read_to_string(&marker).unwrap_or_default()
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched\n");
    assert_eq!(
        fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A clone that fails: the pod waits in ContainerCreating with git's own words.
    let missing = format!("git://127.0.0.1:{port}/missing.git");
    let ext = format!("ext::sh -c touch% {}", marker.display());
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: missing}}
spec:
  containers:
  - {{name: app, image: box}}
  volumes:
  - name: src
    gitRepo: {{repository: "{missing}"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: ext}}
spec:
  containers:
  - {{name: app, image: box}}
  volumes:
  - name: src
    gitRepo: {{repository: "{ext}"}}
"#
    ));
    let msg = eventually("pod missing to report the failed clone", || {
        waiting_message(c, "missing")
    });
    assert!(
        msg.starts_with(&format!(
            "MountVolume.SetUp failed for volume \"src\" : failed to exec 'git clone -- {missing}': "
        )),
        "{msg}"
    );
    assert!(msg.ends_with("exit status 128"), "{msg}");
    let msg = eventually("pod ext to report the refused transport", || {
        waiting_message(c, "ext")
    });
    assert!(msg.contains("transport 'ext' not allowed"), "{msg}");
    assert!(!marker.exists(), "the ext:: command ran");
}
