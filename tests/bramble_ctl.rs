//! A user drives a cluster from a laptop with `bramble ctl`: applies a node and the
//! two-container pod, lists it as a table, wide and as JSON, re-applies it unchanged and
//! edited, describes it with its Scheduled event, deletes it; bad input fails with one line.

use crate::support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{eventually, node_yaml, Cluster, SHARED_VOLUMES};

/// Runs `bramble ctl --kubeconfig KC ARGS`, feeding `stdin` if given.
fn ctl_with(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bramble"))
        .arg("ctl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bramble ctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("bramble ctl output")
}

fn ctl(c: &Cluster, args: &[&str]) -> Output {
    ctl_with(&c.kubeconfig(), args, None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(c: &Cluster, args: &[&str]) -> String {
    let out = ctl(c, args);
    assert!(
        out.status.success(),
        "bramble ctl {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

fn apply(c: &Cluster, yaml: &str) -> String {
    let out = ctl_with(&c.kubeconfig(), &["apply", "-f", "-"], Some(yaml));
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    stdout(&out)
}

/// Asserts exit code 1 and exactly one line on stderr; returns that line.
fn fails_with_one_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line expected, got:\n{err}");
    err.trim_end().to_string()
}

#[test]
fn seed_pod_lifecycle_through_bramble_ctl() {
    let c = Cluster::start();
    assert_eq!(
        apply(&c, &node_yaml("pi-1", "4", "4Gi")),
        "node/pi-1 created\n"
    );
    let file = c.dir.path().join("pod.yaml");
    std::fs::write(&file, SHARED_VOLUMES).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(
        ok(&c, &["apply", "-f", file]),
        "pod/shared-volumes created\n"
    );

    let table = ok(&c, &["get", "pods"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("NAME             READY   STATUS    RESTARTS   AGE"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("shared-volumes   0/2     "), "{table}");
    assert!(!header.contains("NODE"), "wide columns hidden: {header}");

    let wide = eventually("the pod to be scheduled", || {
        let w = ok(&c, &["get", "po", "-o", "wide"]);
        w.lines()
            .any(|l| l.starts_with("shared-volumes") && l.contains("pi-1"))
            .then_some(w)
    });
    assert!(
        wide.lines().next().unwrap().contains("   NODE   "),
        "{wide}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&c, &["get", "pod", "shared-volumes", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "Pod");
    assert_eq!(json["metadata"]["name"], "shared-volumes");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&c, &["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["metadata"]["name"], "shared-volumes");
    assert_eq!(
        ok(&c, &["get", "pods", "-o", "name"]),
        "pod/shared-volumes\n"
    );
    assert!(ok(&c, &["get", "no", "pi-1"]).contains("pi-1"));
    let all = ok(&c, &["get", "pods", "-A"]);
    assert!(all.starts_with("NAMESPACE   NAME "), "{all}");
    assert!(all.contains("\ndefault     shared-volumes   "), "{all}");
    let yaml = ok(&c, &["get", "pod/shared-volumes", "-o", "yaml"]);
    assert!(yaml.starts_with("apiVersion: v1\nkind: Pod\n"), "{yaml}");
    assert!(yaml.contains("  name: shared-volumes\n"), "{yaml}");

    // the scheduler's nodeName and the server's defaults are not in the file: still unchanged
    assert_eq!(
        ok(&c, &["apply", "-f", file]),
        "pod/shared-volumes unchanged\n"
    );
    let edited = SHARED_VOLUMES.replace("image: nginx", "image: nginx:1.27");
    assert_eq!(apply(&c, &edited), "pod/shared-volumes configured\n");
    let live = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.spec.containers[*].image} {.spec.containers[1].volumeMounts[0].mountPath} {.spec.nodeName} {.spec.containers[0].terminationMessagePath}",
    ]);
    assert_eq!(
        live, "redis nginx:1.27 /data/shared pi-1 /dev/termination-log",
        "only the image changed"
    );
    // kubectl reads the same last-applied annotation: it changes nothing either (it says
    // "configured", as upstream, for the service account volume the server added)
    let version = || c.pod_jsonpath("shared-volumes", "{.metadata.resourceVersion}");
    let before = version();
    assert!(c.apply(&edited).contains("pod/shared-volumes "));
    assert_eq!(version(), before, "kubectl's re-apply changed the pod");

    let described = eventually("the Scheduled event", || {
        let d = ok(&c, &["describe", "pod", "shared-volumes"]);
        d.contains("Successfully assigned default/shared-volumes to pi-1")
            .then_some(d)
    });
    assert!(described.starts_with("Name:"), "{described}");
    assert!(described.contains("Node:         pi-1"), "{described}");
    assert!(
        described.contains("Type    Reason     Age"),
        "events table: {described}"
    );
    assert!(
        described.contains("Normal  Scheduled  "),
        "events table: {described}"
    );

    assert_eq!(
        ok(&c, &["delete", "pod", "shared-volumes"]),
        "pod \"shared-volumes\" deleted\n"
    );
    let gone = eventually("the pod to be gone", || {
        let out = ctl(&c, &["get", "pod", "shared-volumes"]);
        (!out.status.success()).then_some(out)
    });
    assert_eq!(
        fails_with_one_line(&gone),
        "Error from server (NotFound): pods \"shared-volumes\" not found"
    );
    let empty = ctl(&c, &["get", "pods"]);
    assert!(empty.status.success());
    assert_eq!(stdout(&empty), "");
    assert_eq!(stderr(&empty), "No resources found in default namespace.\n");

    let out = ctl_with(
        &c.kubeconfig(),
        &["delete", "-f", "-"],
        Some(&node_yaml("pi-1", "4", "4Gi")),
    );
    assert_eq!(stdout(&out), "node \"pi-1\" deleted\n", "{}", stderr(&out));
}

#[test]
fn bad_input_fails_with_one_actionable_line() {
    let c = Cluster::start();

    let line = fails_with_one_line(&ctl(&c, &["get", "widgets"]));
    assert_eq!(
        line,
        "error: the server doesn't have a resource type \"widgets\""
    );

    let out = ctl_with(
        &c.kubeconfig(),
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n"),
    );
    let line = fails_with_one_line(&out);
    assert!(line.starts_with("error: error parsing STDIN: "), "{line}");

    let line = fails_with_one_line(&ctl(&c, &["describe", "pod", "nope"]));
    assert_eq!(
        line,
        "Error from server (NotFound): pods \"nope\" not found"
    );
    let line = fails_with_one_line(&ctl(&c, &["delete", "pod", "nope"]));
    assert_eq!(
        line,
        "Error from server (NotFound): pods \"nope\" not found"
    );

    let missing = c.dir.path().join("no-such.kubeconfig");
    let line = fails_with_one_line(&ctl_with(&missing, &["get", "pods"], None));
    assert!(line.contains(missing.to_str().unwrap()), "{line}");
    assert!(line.contains("admin.kubeconfig"), "{line}");

    // KUBECONFIG is honoured (first entry) when --kubeconfig is absent
    let out = Command::new(env!("CARGO_BIN_EXE_bramble"))
        .args(["ctl", "get", "nodes"])
        .env(
            "KUBECONFIG",
            format!("{}:/nonexistent", c.kubeconfig().display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ctl_with(
        &c.kubeconfig(),
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n"),
    );
    let line = fails_with_one_line(&out);
    assert!(
        line.starts_with("Error from server (Invalid): Pod \"bad\" is invalid"),
        "{line}"
    );
}

/// `bramble kubeconfig` run where the host has an address the server's certificate does not
/// name (a network namespace with one more interface, as on a laptop holding a copy of the
/// data dir or after a new interface came up) issues a working kubeconfig and leaves the
/// server's own certificate exactly as it was.
#[test]
fn issuing_a_kubeconfig_leaves_the_server_certificate_alone() {
    support::registry::require_root();
    let c = Cluster::start();
    let server_crt = c.data_dir().join("pki").join("server.crt");
    let before = std::fs::read(&server_crt).expect("server.crt");
    let out_path = c.data_dir().join("alice.kubeconfig");
    let script = format!(
        "ip link add d0 type veth peer name d1 && ip addr add 10.251.7.7/32 dev d0 && ip link set d0 up && \
         exec {} kubeconfig --data-dir {} --user alice --group bramble:viewers \
         --server https://127.0.0.1:{} --out {}",
        env!("CARGO_BIN_EXE_bramble"),
        c.data_dir().display(),
        c.port,
        out_path.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "bramble kubeconfig: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&server_crt).expect("server.crt") == before,
        "bramble kubeconfig rewrote the server certificate"
    );
    let out = c.kubectl_as(&out_path, &["get", "namespaces", "-o", "name"], None);
    assert!(
        out.status.success(),
        "the issued kubeconfig works: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
}
