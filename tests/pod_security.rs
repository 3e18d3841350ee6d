//! Pod Security Admission as kubectl users meet it: a namespace labelled
//! `pod-security.kubernetes.io/enforce=restricted` refuses a plain pod with kube-apiserver's
//! exact message and accepts a hardened one, `warn` prints kube-apiserver's warning while the
//! pod is created, raising a namespace's level warns about the pods already in it, invalid
//! label values are refused, and the server's defaults and exemptions apply to unlabelled
//! namespaces.

use crate::support;

use std::process::Output;

use support::Cluster;

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

fn pod(ns: &str, name: &str, containers: &[&str], security: &str) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{security}  containers:\n"
    );
    for c in containers {
        yaml.push_str(&format!("  - name: {c}\n    image: registry.local/app:1\n"));
    }
    yaml
}

fn apply(c: &Cluster, yaml: &str) -> Output {
    c.kubectl_as(&c.kubeconfig(), &["apply", "-f", "-"], Some(yaml))
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn pod_exists(c: &Cluster, ns: &str, name: &str) -> bool {
    c.kubectl(&["get", "pod", name, "-n", ns]).status.success()
}

/// What `restricted` asks of one container "c", as kube-apiserver words it.
const PLAIN_POD_VIOLATIONS: &str = "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

#[test]
fn restricted_namespace_refuses_plain_pods_and_accepts_hardened_ones() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "locked"]);
    c.kubectl_ok(&[
        "label",
        "namespace",
        "locked",
        &format!("{ENFORCE}=restricted"),
    ]);

    let out = apply(&c, &pod("locked", "plain", &["c"], ""));
    assert!(!out.status.success(), "a plain pod was accepted");
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"plain\" is forbidden: \
             violates PodSecurity \"restricted:latest\": {PLAIN_POD_VIOLATIONS}"
        )
    );
    assert!(
        !pod_exists(&c, "locked", "plain"),
        "the refused pod was stored"
    );

    // Several containers are listed together, in the pod's order, with plural wording.
    let out = apply(&c, &pod("locked", "two", &["b", "a"], ""));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "allowPrivilegeEscalation != false (containers \"b\", \"a\" must set securityContext.allowPrivilegeEscalation=false), "
        ),
        "{stderr}"
    );

    let hardened = pod(
        "locked",
        "hardened",
        &["c"],
        "  securityContext:\n    runAsNonRoot: true\n    seccompProfile:\n      type: RuntimeDefault\n",
    )
    .replace(
        "    image: registry.local/app:1\n",
        "    image: registry.local/app:1\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities:\n        drop: [\"ALL\"]\n",
    );
    let out = apply(&c, &hardened);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pod/hardened created");
    assert_eq!(text(&out.stderr), "", "a compliant pod got warnings");
    assert!(pod_exists(&c, "locked", "hardened"));
}

#[test]
fn warn_mode_prints_the_violation_and_creates_the_pod() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "lab"]);
    c.kubectl_ok(&[
        "label",
        "namespace",
        "lab",
        "pod-security.kubernetes.io/warn=baseline",
    ]);
    let yaml = pod("lab", "loud", &["c"], "  hostNetwork: true\n").replace(
        "    image: registry.local/app:1\n",
        "    image: registry.local/app:1\n    securityContext:\n      privileged: true\n",
    );
    let out = apply(&c, &yaml);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pod/loud created");
    assert_eq!(
        text(&out.stderr).trim(),
        "Warning: would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), \
         privileged (container \"c\" must not set securityContext.privileged=true)"
    );
    assert!(pod_exists(&c, "lab", "loud"));
}

#[test]
fn raising_the_enforce_level_warns_about_existing_pods_and_guards_their_updates() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "legacy"]);
    for name in ["web-b", "web-a"] {
        let out = apply(&c, &pod("legacy", name, &["c"], ""));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = c.kubectl(&[
        "label",
        "namespace",
        "legacy",
        &format!("{ENFORCE}=restricted"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "namespace/legacy labeled");
    assert_eq!(
        text(&out.stderr).trim(),
        "Warning: existing pods in namespace \"legacy\" violate the new PodSecurity enforce level \"restricted:latest\"\n\
         Warning: web-a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
    );
    // The pods stay, but changing one's image is checked as a new pod would be.
    assert!(pod_exists(&c, "legacy", "web-b"));
    let out = c.kubectl(&[
        "set",
        "image",
        "pod/web-b",
        "-n",
        "legacy",
        "c=registry.local/app:2",
    ]);
    assert!(!out.status.success(), "the image change was accepted");
    assert!(
        text(&out.stderr).contains(&format!(
            "pods \"web-b\" is forbidden: violates PodSecurity \"restricted:latest\": {PLAIN_POD_VIOLATIONS}"
        )),
        "{}",
        text(&out.stderr)
    );
    // Relaxing the level needs no check and prints nothing.
    let out = c.kubectl(&[
        "label",
        "--overwrite",
        "namespace",
        "legacy",
        &format!("{ENFORCE}=baseline"),
    ]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn invalid_levels_and_versions_are_refused() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "typo"]);
    let out = c.kubectl(&["label", "namespace", "typo", &format!("{ENFORCE}=strict")]);
    assert!(!out.status.success(), "an invalid level was stored");
    assert_eq!(
        text(&out.stderr).trim(),
        "The Namespace \"typo\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: \
         Invalid value: \"strict\": must be one of privileged, baseline, restricted"
    );
    assert!(!c
        .jsonpath(&["namespace", "typo"], "{.metadata.labels}")
        .contains(ENFORCE));

    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: future\n  labels:\n    pod-security.kubernetes.io/warn-version: \"1.30\"\n";
    let out = apply(&c, ns);
    assert!(!out.status.success(), "an invalid version was stored");
    assert!(
        text(&out.stderr).contains(
            "The Namespace \"future\" is invalid: metadata.labels[pod-security.kubernetes.io/warn-version]: \
             Invalid value: \"1.30\": must be \"latest\" or \"v1.x\""
        ),
        "{}",
        text(&out.stderr)
    );
    assert!(!c.kubectl(&["get", "namespace", "future"]).status.success());
    // A pinned version is accepted and named in messages.
    c.kubectl_ok(&[
        "label",
        "namespace",
        "typo",
        &format!("{ENFORCE}=baseline"),
        &format!("{ENFORCE}-version=v1.30"),
    ]);
    let out = apply(&c, &pod("typo", "host", &["c"], "  hostPID: true\n"));
    assert!(
        text(&out.stderr)
            .contains("violates PodSecurity \"baseline:v1.30\": host namespaces (hostPID=true)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn server_defaults_apply_to_unlabelled_namespaces_except_exempt_ones() {
    let c = Cluster::start_with(&[
        "--pod-security-defaults=enforce=baseline",
        "--pod-security-exempt-namespace=infra",
    ]);
    c.kubectl_ok(&["create", "namespace", "apps"]);
    c.kubectl_ok(&["create", "namespace", "infra"]);
    let privileged = |ns: &str| {
        pod(ns, "root", &["c"], "").replace(
            "    image: registry.local/app:1\n",
            "    image: registry.local/app:1\n    securityContext:\n      privileged: true\n",
        )
    };
    let out = apply(&c, &privileged("apps"));
    assert!(
        text(&out.stderr).contains(
            "pods \"root\" is forbidden: violates PodSecurity \"baseline:latest\": \
             privileged (container \"c\" must not set securityContext.privileged=true)"
        ),
        "{}",
        text(&out.stderr)
    );
    // kube-system is not exempt unless configured, as upstream.
    let out = apply(&c, &privileged("kube-system"));
    assert!(!out.status.success(), "kube-system was exempt");
    let out = apply(&c, &privileged("infra"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Labels on an exempt namespace are kept but said to be ignored.
    let out = c.kubectl(&[
        "label",
        "namespace",
        "infra",
        &format!("{ENFORCE}=restricted"),
    ]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "Warning: namespace \"infra\" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"
    );
}
