//! The hostPath allow-list: pods and PersistentVolumes whose host paths fall outside the
//! server's allowed prefixes, or inside the refused ones (also through `..` or a symlink),
//! are refused by kubectl apply with a 403 that names the volume and the rule; nothing is
//! stored.

use crate::support;

use support::Cluster;

const DEFAULT_RULES: &str = "(allowed prefixes: /mnt, /media, /srv, /opt, /tmp, /dev/)";

fn pod(name: &str, volume: &str, path: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  \
         - {{name: c, image: busybox}}\n  volumes:\n  - name: {volume}\n    hostPath: {{path: \"{path}\"}}\n"
    )
}

fn pv(name: &str, path: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  \
         capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: \"{path}\"}}\n"
    )
}

/// Applies `yaml`, expecting kubectl to fail; returns its stderr.
fn refused(cluster: &Cluster, yaml: &str) -> String {
    let out = cluster.kubectl_as(&cluster.kubeconfig(), &["apply", "-f", "-"], Some(yaml));
    assert_eq!(out.status.code(), Some(1), "kubectl apply should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn absent(cluster: &Cluster, kind: &str, name: &str) {
    let out = cluster.kubectl(&["get", kind, name]);
    assert!(!out.status.success(), "{kind} {name} was stored");
}

#[test]
fn host_paths_outside_the_allow_list_are_forbidden() {
    let cluster = Cluster::start();

    let err = refused(&cluster, &pod("etc", "etc", "/etc/passwd"));
    assert!(
        err.contains(&format!(
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"etc\" is forbidden: \
             hostPath volume \"etc\" path \"/etc/passwd\" is not allowed: /etc is refused {DEFAULT_RULES}"
        )),
        "{err}"
    );
    absent(&cluster, "pod", "etc");

    // `..` is refused by validation before admission sees it, as upstream does.
    let err = refused(&cluster, &pod("dots", "v", "/tmp/../etc"));
    assert!(err.contains("must not contain '..'"), "{err}");
    absent(&cluster, "pod", "dots");

    let links = tempfile::tempdir_in("/tmp").unwrap();
    let link = links.path().join("to-etc");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let through = format!("{}/shadow", link.display());
    let err = refused(&cluster, &pod("link", "l", &through));
    assert!(
        err.contains(&format!(
            "hostPath volume \"l\" path \"{through}\" is not allowed: it resolves through symlinks \
             to /etc/shadow; /etc is refused {DEFAULT_RULES}"
        )),
        "{err}"
    );
    absent(&cluster, "pod", "link");

    let data = cluster.data_dir().join("pki");
    let err = refused(&cluster, &pod("data", "d", &data.display().to_string()));
    assert!(err.contains("is refused"), "{err}");
    assert!(
        err.contains(&cluster.data_dir().display().to_string()),
        "{err}"
    );

    let err = refused(&cluster, &pod("var", "v", "/var/log"));
    assert!(
        err.contains(&format!(
            "/var/log is not under an allowed prefix {DEFAULT_RULES}"
        )),
        "{err}"
    );

    cluster.apply(&pod("mnt", "data", "/mnt/x"));
    cluster.kubectl_ok(&["get", "pod", "mnt"]);
    cluster.apply(&pod("dev", "devnull", "/dev/null"));

    let err = refused(&cluster, &pv("root", "/root"));
    assert!(
        err.contains(&format!(
            "persistentvolumes \"root\" is forbidden: hostPath path \"/root\" is not allowed: \
             /root is refused {DEFAULT_RULES}"
        )),
        "{err}"
    );
    absent(&cluster, "pv", "root");
    cluster.apply(&pv("srv", "/srv/pv1"));
}

#[test]
fn the_allow_list_is_configurable_but_refusals_stay() {
    let cluster =
        Cluster::start_with(&["--host-path-allow", "/srv/data", "--host-path-allow", "/"]);
    cluster.apply(&pod("srv", "s", "/srv/data/x"));
    cluster.apply(&pod("var", "v", "/var/log"));
    let err = refused(&cluster, &pod("etc", "e", "/etc"));
    assert!(
        err.contains("/etc is refused (allowed prefixes: /srv/data, /)"),
        "{err}"
    );
    let err = refused(&cluster, &pod("root", "r", "/"));
    assert!(
        err.contains("path \"/\" is not allowed: / is refused"),
        "{err}"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_bramble"))
        .args(["server", "--host-path-allow", "mnt"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("\"mnt\" is not an absolute path"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
