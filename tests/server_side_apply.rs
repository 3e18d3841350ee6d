//! Server-side apply with real kubectl: `kubectl apply --server-side` creates and updates,
//! a field another manager changed is a conflict answered with upstream's message until
//! `--force-conflicts`, a field dropped from the manifest goes, `kubectl diff
//! --server-side` shows what an apply would change, and an object made by client-side
//! apply moves to server-side apply without conflicts, as kubectl migrates it.

use crate::support;

use support::Cluster;

const MANIFEST: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web, tier: front}
data:
  replicas: '2'
  mode: fast
";

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn apply(c: &Cluster, yaml: &str, extra: &[&str]) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), yaml).unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let mut args = vec!["apply", "--server-side", "-f", path.as_str()];
    args.extend_from_slice(extra);
    c.kubectl(&args)
}

fn managers(c: &Cluster, name: &str) -> String {
    c.kubectl_ok(&[
        "get",
        "configmap",
        name,
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}",
    ])
}

#[test]
fn apply_conflicts_force_and_removal() {
    let c = Cluster::start();
    let created = apply(&c, MANIFEST, &[]);
    assert!(
        text(&created).contains("configmap/settings serverside-applied"),
        "{}",
        text(&created)
    );
    assert_eq!(managers(&c, "settings").trim(), "kubectl/Apply");

    // another manager changes a field kubectl applied
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"replicas":"5"}}"#,
        "--field-manager=autoscaler",
    ]);
    let conflict = apply(&c, MANIFEST, &[]);
    assert!(!conflict.status.success());
    let t = text(&conflict);
    assert!(
        t.contains("Apply failed with 1 conflict: conflict with \"autoscaler\" using v1 at ")
            && t.contains(": .data.replicas"),
        "{t}"
    );
    // the same value is shared, not a conflict; the unchanged value stays
    let shared = MANIFEST.replace("replicas: '2'", "replicas: '5'");
    assert!(apply(&c, &shared, &[]).status.success());
    let forced = apply(&c, MANIFEST, &["--force-conflicts"]);
    assert!(forced.status.success(), "{}", text(&forced));
    let data = c.jsonpath(&["configmap", "settings"], "{.data.replicas}");
    assert_eq!(data, "2");

    // a dropped label and key go
    let smaller = MANIFEST
        .replace(", tier: front", "")
        .replace("  mode: fast\n", "");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &smaller).unwrap();
    let diffed = c.kubectl(&["diff", "--server-side", "-f", file.path().to_str().unwrap()]);
    assert_eq!(diffed.status.code(), Some(1), "{}", text(&diffed));
    assert!(text(&diffed).contains("-  mode: fast"), "{}", text(&diffed));
    assert_eq!(
        c.jsonpath(&["configmap", "settings"], "{.data.mode}"),
        "fast",
        "diff changed nothing"
    );
    assert!(apply(&c, &smaller, &[]).status.success());
    assert_eq!(c.jsonpath(&["configmap", "settings"], "{.data.mode}"), "");
    assert_eq!(
        c.jsonpath(&["configmap", "settings"], "{.metadata.labels}"),
        r#"{"app":"web"}"#
    );
}

#[test]
fn client_side_apply_moves_to_server_side_apply() {
    let c = Cluster::start();
    let yaml = MANIFEST.replace("settings", "legacy");
    assert!(c.apply(&yaml).contains("configmap/legacy created"));
    assert!(managers(&c, "legacy").contains("kubectl-client-side-apply/Update"));
    // a changed value: no conflict with the client-side apply that set the old one
    let changed = yaml.replace("mode: fast", "mode: safe");
    let moved = apply(&c, &changed, &[]);
    assert!(moved.status.success(), "{}", text(&moved));
    assert_eq!(c.jsonpath(&["configmap", "legacy"], "{.data.mode}"), "safe");
    let now = managers(&c, "legacy");
    assert!(now.contains("kubectl/Apply"), "{now}");
    assert!(!now.contains("kubectl-client-side-apply"), "{now}");
}

#[tokio::test]
async fn an_apply_without_a_manager_is_refused() {
    let c = Cluster::start();
    let reply = c
        .api()
        .request(
            http::Method::PATCH,
            "/api/v1/namespaces/default/configmaps/settings",
            &[("content-type", "application/apply-patch+yaml")],
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let forced_merge = c
        .api()
        .request(
            http::Method::PATCH,
            "/api/v1/namespaces/default/configmaps/settings?force=true",
            &[("content-type", "application/merge-patch+json")],
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(forced_merge.status, http::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(forced_merge.json()["message"]
        .as_str()
        .unwrap()
        .ends_with("force: Forbidden: may not be specified for non-apply patch"));
}
