//! Installing Bramble on a board and removing it again: `bramble install` writes the unit,
//! settings, binary and data directory; after a server has run, `bramble uninstall` leaves
//! no process, mount, bridge, nftables table, cgroup or file behind. Everything happens
//! under a scratch `--root`, with the test's own bridge and cgroup parent, so live pods on
//! this machine are never touched.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use bramble::kubelet::runtime::cgroup;
use support::{agent_flags, eventually, Cluster};

const BRAMBLE: &str = env!("CARGO_BIN_EXE_bramble");

fn bramble(args: &[&str]) -> Output {
    Command::new(BRAMBLE)
        .args(args)
        .output()
        .expect("run bramble")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn nft_has_table(name: &str) -> bool {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == format!("table ip {name}"))
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn mount_tmpfs(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mount point");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .expect("mount");
    assert!(status.success(), "mount tmpfs on {}", dir.display());
}

fn mounted_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&dir))
        .map(str::to_string)
        .collect()
}

#[test]
fn install_then_uninstall_after_the_server_ran_leaves_nothing_behind() {
    let flags = agent_flags(7);
    let bridge = flags[1].clone();
    let mut cluster = Cluster::start_with_agent(flags);
    let root = cluster.dir.path().to_path_buf();
    // the kubelet made the node's bridge and Bramble's nftables tables, named after it: the
    // pod network's and the Service proxy's
    let proxy_table = format!("{bridge}-proxy");
    eventually("the node bridge and nftables tables", || {
        (link_exists(&bridge) && nft_has_table(&bridge) && nft_has_table(&proxy_table))
            .then_some(())
    });
    // a crash leaves everything in place, as a power cut on a board would
    cluster.kill9();

    let out = bramble(&[
        "install",
        "--root",
        root.to_str().unwrap(),
        "--data-dir",
        "/data",
        "--bridge",
        &bridge,
        "--node-name",
        "pi-1",
    ]);
    assert!(out.status.success(), "install: {}", text(&out));
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/bramble.service"))
        .expect("unit written");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/bramble server\n"),
        "{unit}"
    );
    assert!(
        unit.contains("EnvironmentFile=-/etc/bramble/bramble.env\n"),
        "{unit}"
    );
    let env = std::fs::read_to_string(root.join("etc/bramble/bramble.env")).expect("settings");
    assert!(env.contains("BRAMBLE_DATA_DIR=/data\n"), "{env}");
    assert!(env.contains(&format!("BRAMBLE_BRIDGE={bridge}\n")), "{env}");
    assert!(env.contains("BRAMBLE_NODE_NAME=pi-1\n"), "{env}");
    let wants = root.join("etc/systemd/system/multi-user.target.wants/bramble.service");
    assert_eq!(
        std::fs::read_link(&wants).expect("enabled"),
        Path::new("/etc/systemd/system/bramble.service")
    );
    let binary = root.join("usr/local/bin/bramble");
    let mode = std::fs::metadata(&binary)
        .expect("binary")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run copy");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("bramble "));
    assert!(
        text(&out).contains("installed under"),
        "a --root install leaves systemd alone: {}",
        text(&out)
    );

    // what running pods leave: volume and namespace mounts, processes in pod cgroups
    let data = root.join("data");
    mount_tmpfs(&data.join("pods/u1/volumes/kubernetes.io~empty-dir/cache"));
    mount_tmpfs(&root.join("run/bramble/netns/u1"));
    let parent = format!("/bramble-uninstall-test-{}", std::process::id());
    let pod_cgroup = cgroup::controller_dir(&format!("{parent}/podu1/app"), "pids");
    std::fs::create_dir_all(&pod_cgroup).expect("create a pod cgroup");
    let mut sleeper = Command::new("sleep").arg("600").spawn().expect("sleep");
    std::fs::write(pod_cgroup.join("cgroup.procs"), sleeper.id().to_string())
        .expect("move into the pod cgroup");

    let out = bramble(&[
        "uninstall",
        "--root",
        root.to_str().unwrap(),
        "--cgroup-parent",
        &parent,
    ]);
    let said = text(&out);
    assert!(out.status.success(), "uninstall: {said}");
    assert!(said.contains("unmounted 2 mount(s)"), "{said}");

    let status = sleeper.wait().expect("reap");
    assert_eq!(status.signal(), Some(9), "the pod's process was killed");
    assert!(!pod_cgroup.exists(), "pod cgroup removed");
    assert!(
        !cgroup::controller_dir(&parent, "pids").exists(),
        "parent removed"
    );
    assert!(
        mounted_under(&root).is_empty(),
        "{:?}",
        mounted_under(&root)
    );
    assert!(!link_exists(&bridge), "bridge {bridge} removed");
    assert!(!nft_has_table(&bridge), "nftables table {bridge} removed");
    assert!(
        !nft_has_table(&proxy_table),
        "nftables table {proxy_table} removed"
    );
    for gone in [
        "data",
        "run/bramble",
        "etc/bramble",
        "etc/systemd/system/bramble.service",
        "etc/systemd/system/multi-user.target.wants/bramble.service",
        "usr/local/bin/bramble",
    ] {
        assert!(!root.join(gone).exists(), "{gone} still there: {said}");
    }

    // a second run finds nothing to do and still succeeds
    let again = bramble(&[
        "uninstall",
        "--root",
        root.to_str().unwrap(),
        "--cgroup-parent",
        &parent,
    ]);
    assert!(again.status.success(), "{}", text(&again));
}

const TOKEN: &str =
    "abcdef.0123456789abcdef::sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn install_with_server_and_token_makes_an_agent_whose_token_only_root_reads() {
    let root = tempfile::tempdir().expect("temp dir");
    let r = root.path().to_str().unwrap();
    let out = bramble(&[
        "install",
        "--root",
        r,
        "--server",
        "https://10.0.0.1:6443/",
        "--token",
        TOKEN,
        "--node-name",
        "pi-2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let unit = std::fs::read_to_string(root.path().join("etc/systemd/system/bramble.service"))
        .expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/bramble agent\n"),
        "{unit}"
    );
    let env_path = root.path().join("etc/bramble/bramble.env");
    let env = std::fs::read_to_string(&env_path).expect("settings");
    assert!(
        env.contains("BRAMBLE_SERVER=https://10.0.0.1:6443\n"),
        "{env}"
    );
    assert!(env.contains(&format!("BRAMBLE_TOKEN={TOKEN}\n")), "{env}");
    assert!(env.contains("BRAMBLE_NODE_NAME=pi-2\n"), "{env}");
    let mode = std::fs::metadata(&env_path)
        .expect("settings")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the join token is a secret");
    // Every setting is a flag `bramble agent` accepts: parsing them must not fail on an
    // unknown variable or value (it stops at joining an unreachable server instead).
    let parse = Command::new(BRAMBLE)
        .args(["agent", "--help"])
        .output()
        .expect("agent --help");
    let help = String::from_utf8_lossy(&parse.stdout);
    for key in [
        "BRAMBLE_SERVER",
        "BRAMBLE_TOKEN",
        "BRAMBLE_NODE_NAME",
        "BRAMBLE_DATA_DIR",
        "BRAMBLE_BRIDGE",
    ] {
        assert!(help.contains(key), "bramble agent --help lacks {key}");
    }
}

#[test]
fn the_token_from_a_file_or_the_environment_reaches_only_the_root_only_settings() {
    let token_file = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(token_file.path(), format!("{TOKEN}\n")).expect("write token");
    let file_arg = token_file.path().to_str().unwrap().to_string();
    let from_file: &[&str] = &["--token-file", &file_arg];
    for (how, extra, env) in [
        ("--token-file", from_file, None),
        ("BRAMBLE_TOKEN", &[][..], Some(TOKEN)),
    ] {
        let root = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(BRAMBLE);
        cmd.args(["install", "--root", root.path().to_str().unwrap()])
            .args(["--server", "https://10.0.0.1:6443"])
            .args(extra)
            .env_remove("BRAMBLE_TOKEN")
            .env_remove("BRAMBLE_TOKEN_FILE");
        if let Some(t) = env {
            cmd.env("BRAMBLE_TOKEN", t);
        }
        let out = cmd.output().expect("bramble install");
        assert!(out.status.success(), "{how}: {}", text(&out));
        assert!(!text(&out).contains(TOKEN), "{how}: the token was printed");
        let unit = std::fs::read_to_string(root.path().join("etc/systemd/system/bramble.service"))
            .expect("unit");
        assert!(
            !unit.contains(TOKEN) && !unit.contains("abcdef.0123456789abcdef"),
            "{how}: the unit names the token:\n{unit}"
        );
        assert!(
            unit.contains("ExecStart=/usr/local/bin/bramble agent\n"),
            "{how}: {unit}"
        );
        let env_path = root.path().join("etc/bramble/bramble.env");
        let settings = std::fs::read_to_string(&env_path).expect("settings");
        assert!(
            settings.contains(&format!("BRAMBLE_TOKEN={TOKEN}\n")),
            "{how}: {settings}"
        );
        let mode = std::fs::metadata(&env_path)
            .expect("settings")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{how}: the join token is a secret");
    }

    // `bramble agent` reads BRAMBLE_TOKEN too: a malformed one is refused before any
    // connection is tried.
    let data = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BRAMBLE)
        .args(["agent", "--server", "https://127.0.0.1:9", "--data-dir"])
        .arg(data.path())
        .env("BRAMBLE_TOKEN", "abc")
        .env_remove("BRAMBLE_TOKEN_FILE")
        .output()
        .expect("bramble agent");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("a join token looks like"),
        "{}",
        text(&out)
    );

    // Without any token an agent install says where to put it.
    let root = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BRAMBLE)
        .args(["install", "--root", root.path().to_str().unwrap()])
        .args(["--server", "https://10.0.0.1:6443"])
        .env_remove("BRAMBLE_TOKEN")
        .env_remove("BRAMBLE_TOKEN_FILE")
        .output()
        .expect("bramble install");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--token-file") && err.contains("BRAMBLE_TOKEN"),
        "{err}"
    );
}

#[test]
fn a_malformed_token_or_url_is_refused_in_one_line_and_nothing_is_written() {
    for (server, token, expect) in [
        ("https://10.0.0.1:6443", "abc", "a join token looks like"),
        ("10.0.0.1:6443", TOKEN, "give the server's URL"),
    ] {
        let root = tempfile::tempdir().expect("temp dir");
        let out = bramble(&[
            "install",
            "--root",
            root.path().to_str().unwrap(),
            "--server",
            server,
            "--token",
            token,
        ]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{err}");
        assert!(
            std::fs::read_dir(root.path())
                .expect("root")
                .next()
                .is_none(),
            "nothing was written"
        );
    }
}

#[test]
fn uninstalling_from_an_image_root_leaves_this_machines_network_and_cgroups_alone() {
    // no settings under the root name a bridge, and no cgroup parent is given: a machine
    // preparing an SD card image keeps its own pods, bridge and nftables rules
    let root = tempfile::tempdir().expect("temp dir");
    let out = bramble(&["uninstall", "--root", root.path().to_str().unwrap()]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("killed 0 process(es), unmounted 0 mount(s)"),
        "{said}"
    );
    assert!(!said.contains("bridge"), "{said}");
    assert!(!said.contains("cgroup"), "{said}");
}
