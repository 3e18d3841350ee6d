//! Service accounts end to end with real kubectl: every namespace has a `default` account
//! and the cluster CA, `kubectl create token` issues a token the API accepts as that
//! account (`kubectl auth whoami`) and allows what its bindings grant (`kubectl auth
//! can-i`), and a pod finds its own bound token, the CA and its namespace at
//! `/var/run/secrets/kubernetes.io/serviceaccount`; the pod's token stops working once the
//! pod is deleted. Needs root and the kubelet tests' Debian packages.

use base64::Engine;

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

const TAG: u8 = 74;
const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn accounts_tokens_and_the_projected_volume() {
    let board = Board::start("builtin", TAG, &[("library/box", IDLE)]);
    let c = &board.cluster;

    // a new namespace gets its default account and the cluster CA
    c.kubectl_ok(&["create", "namespace", "apps"]);
    eventually("the default account in apps", || {
        let out = c.kubectl(&["get", "serviceaccounts", "-n", "apps"]);
        let t = text(&out);
        (out.status.success() && t.contains("default")).then_some(())
    });
    let ca_file = std::fs::read_to_string(c.data_dir().join("pki/ca.crt")).unwrap();
    let published = eventually("kube-root-ca.crt in apps", || {
        let ca = c.jsonpath(
            &["configmap", "kube-root-ca.crt", "-n", "apps"],
            "{.data.ca\\.crt}",
        );
        (!ca.is_empty()).then_some(ca)
    });
    assert_eq!(published.trim(), ca_file.trim());

    // a token for an account authenticates as that account
    c.kubectl_ok(&["create", "serviceaccount", "builder", "-n", "apps"]);
    let table = c.kubectl_ok(&["get", "sa", "builder", "-n", "apps"]);
    assert!(table.starts_with("NAME      SECRETS   AGE"), "{table}");
    let token = c.kubectl_ok(&["create", "token", "builder", "-n", "apps"]);
    let as_builder = c.token_kubeconfig("builder", token.trim());
    let denied = c.kubectl_as(&as_builder, &["get", "secrets", "-n", "apps"], None);
    assert!(
        text(&denied).contains(
            "User \"system:serviceaccount:apps:builder\" cannot list resource \"secrets\""
        ),
        "{}",
        text(&denied)
    );
    let whoami = c.kubectl_as(&as_builder, &["auth", "whoami"], None);
    assert!(
        text(&whoami).contains("system:serviceaccount:apps:builder")
            && text(&whoami).contains("system:serviceaccounts:apps"),
        "{}",
        text(&whoami)
    );
    // what the account may do is what its bindings grant
    let can = |args: &[&str]| {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        String::from_utf8_lossy(&c.kubectl_as(&as_builder, &a, None).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(can(&["list", "pods", "-n", "apps"]), "no");
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "builder-views",
        "--clusterrole=view",
        "--serviceaccount=apps:builder",
        "-n",
        "apps",
    ]);
    assert_eq!(can(&["list", "pods", "-n", "apps"]), "yes");
    assert_eq!(can(&["list", "pods", "-n", "default"]), "no");
    assert_eq!(can(&["delete", "pods", "-n", "apps"]), "no");
    let listed = c.kubectl_as(
        &as_builder,
        &["auth", "can-i", "--list", "-n", "apps"],
        None,
    );
    assert!(
        text(&listed)
            .lines()
            .any(|l| l.starts_with("pods ") && l.contains("[get list watch]")),
        "{}",
        text(&listed)
    );
    let short = c.kubectl(&["create", "token", "builder", "-n", "apps", "--duration=1m"]);
    assert!(
        text(&short).contains("may not specify a duration less than 10 minutes"),
        "{}",
        text(&short)
    );
    // a long-lived token in a Secret, as the Kubernetes documentation has users make one
    c.apply(
        "apiVersion: v1
kind: Secret
metadata:
  name: builder-token
  namespace: apps
  annotations: {kubernetes.io/service-account.name: builder}
type: kubernetes.io/service-account-token
",
    );
    let stored = eventually("the token Secret to be filled", || {
        let t = c.jsonpath(&["secret", "builder-token", "-n", "apps"], "{.data.token}");
        (!t.is_empty()).then_some(t)
    });
    let long_lived = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(stored.trim())
            .unwrap(),
    )
    .unwrap();
    let as_secret = c.token_kubeconfig("builder-secret", &long_lived);
    let whoami = c.kubectl_as(&as_secret, &["auth", "whoami"], None);
    assert!(
        text(&whoami).contains("system:serviceaccount:apps:builder"),
        "{}",
        text(&whoami)
    );
    c.kubectl_ok(&["delete", "secret", "builder-token", "-n", "apps"]);
    let revoked = c.kubectl_as(&as_secret, &["auth", "whoami"], None);
    assert!(
        text(&revoked).contains("Unauthorized"),
        "{}",
        text(&revoked)
    );

    let forged = format!("{}x", token.trim());
    let forged = c.token_kubeconfig("forged", &forged);
    let refused = c.kubectl_as(&forged, &["get", "pods"], None);
    assert!(
        text(&refused).contains("Unauthorized"),
        "{}",
        text(&refused)
    );

    // a pod gets its account's bound token, the CA and its namespace
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: apps}
spec:
  serviceAccountName: builder
  containers: [{name: app, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: quiet, namespace: apps}
spec:
  automountServiceAccountToken: false
  containers: [{name: app, image: box}]
"#,
    );
    for pod in ["worker", "quiet"] {
        eventually(&format!("{pod} to be ready"), || {
            let ready = c.jsonpath(
                &["pod", pod, "-n", "apps"],
                "{.status.containerStatuses[0].ready}",
            );
            (ready == "true").then_some(())
        });
    }
    let exec =
        |pod: &str, cmd: &str| c.kubectl(&["exec", "-n", "apps", pod, "--", "sh", "-c", cmd]);
    let read = |path: &str| {
        let out = exec("worker", &format!("cat {MOUNT}/{path}"));
        assert!(out.status.success(), "{path}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(read("namespace"), "apps");
    assert_eq!(read("ca.crt").trim(), ca_file.trim());
    let pod_token = read("token");
    let writable = exec("worker", &format!("echo x > {MOUNT}/token"));
    assert!(!writable.status.success(), "the token volume is read-only");
    let env = String::from_utf8_lossy(&exec("worker", "env").stdout).into_owned();
    assert!(env.contains("KUBERNETES_SERVICE_HOST="), "{env}");
    let none = exec("quiet", &format!("ls {MOUNT}"));
    assert!(!none.status.success(), "automount off mounts nothing");

    let as_pod = c.token_kubeconfig("worker", pod_token.trim());
    let denied = c.kubectl_as(&as_pod, &["get", "secrets", "-n", "apps"], None);
    assert!(
        text(&denied).contains("system:serviceaccount:apps:builder"),
        "{}",
        text(&denied)
    );

    // the pod's token dies with the pod
    c.kubectl_ok(&["delete", "pod", "worker", "-n", "apps", "--grace-period=1"]);
    let after = c.kubectl_as(&as_pod, &["get", "secrets", "-n", "apps"], None);
    assert!(text(&after).contains("Unauthorized"), "{}", text(&after));
    // an account's token outlives pods, not its account
    c.kubectl_ok(&["delete", "serviceaccount", "builder", "-n", "apps"]);
    let gone = c.kubectl_as(&as_builder, &["get", "secrets", "-n", "apps"], None);
    assert!(text(&gone).contains("Unauthorized"), "{}", text(&gone));
}
