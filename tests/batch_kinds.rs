//! Jobs, CronJobs and PodDisruptionBudgets with real kubectl against a control plane, and the
//! `pods/eviction` subresource a drain uses: refused while the budget allows no disruption,
//! done (and the budget decremented) once it allows one.

use crate::support;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{eventually, node_yaml, Cluster};

fn header(out: &str) -> Vec<String> {
    out.lines()
        .next()
        .unwrap_or_default()
        .split("   ")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The cells of the row of `name` in a table kubectl printed.
fn row(out: &str, name: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{out}"));
    line.split("  ")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn stderr_of(c: &Cluster, args: &[&str], stdin: Option<&str>) -> String {
    let out = c.kubectl_as(&c.kubeconfig(), args, stdin);
    assert!(!out.status.success(), "kubectl {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn jobs_and_cron_jobs_through_kubectl() {
    let c = Cluster::start();
    let resources = c.kubectl_ok(&["api-resources", "--api-group=batch", "--no-headers"]);
    let lines: Vec<Vec<&str>> = resources
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["cronjobs", "cj", "batch/v1", "true", "CronJob"],
            vec!["jobs", "batch/v1", "true", "Job"],
        ]
    );
    let policy = c.kubectl_ok(&["api-resources", "--api-group=policy", "--no-headers"]);
    assert_eq!(
        policy.split_whitespace().collect::<Vec<_>>(),
        [
            "poddisruptionbudgets",
            "pdb",
            "policy/v1",
            "true",
            "PodDisruptionBudget"
        ]
    );
    // `kubectl create` sends protobuf; the generated selector and labels come back.
    c.kubectl_ok(&[
        "create",
        "job",
        "pi",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        "echo hi",
    ]);
    let job: Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "job", "pi", "-o", "json"])).unwrap();
    let uid = job["metadata"]["uid"].as_str().unwrap();
    let spec = &job["spec"];
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("controller-uid", uid),
        ("batch.kubernetes.io/job-name", "pi"),
        ("job-name", "pi"),
    ] {
        assert_eq!(labels[k], v, "{labels}");
    }
    assert_eq!(
        (
            &spec["backoffLimit"],
            &spec["completions"],
            &spec["parallelism"],
            &spec["completionMode"]
        ),
        (&json!(6), &json!(1), &json!(1), &json!("NonIndexed"))
    );
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(job["metadata"]["generation"], 1);

    let jobs = c.kubectl_ok(&["get", "jobs"]);
    assert_eq!(
        header(&jobs),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(&row(&jobs, "pi")[..3], ["pi", "Running", "0/1"]);

    c.kubectl_ok(&[
        "create",
        "cronjob",
        "hello",
        "--image=busybox",
        "--schedule=0 0 1 1 *",
        "--",
        "date",
    ]);
    let cron_jobs = c.kubectl_ok(&["get", "cj"]);
    assert_eq!(
        header(&cron_jobs),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    assert_eq!(
        &row(&cron_jobs, "hello")[..6],
        ["hello", "0 0 1 1 *", "<none>", "False", "0", "<none>"]
    );
    assert_eq!(
        c.jsonpath(&["cronjob", "hello"], "{.spec.concurrencyPolicy}"),
        "Allow"
    );
    assert_eq!(
        c.jsonpath(&["cronjob", "hello"], "{.spec.successfulJobsHistoryLimit}"),
        "3"
    );

    let described = c.kubectl_ok(&["describe", "job", "pi"]);
    assert!(
        described.contains("Completion Mode:  NonIndexed") && described.contains("Pods Statuses:"),
        "{described}"
    );
    // A Job made by hand from the CronJob's template, as the CronJob controller makes them.
    c.kubectl_ok(&["create", "job", "manual", "--from=cronjob/hello"]);
    assert_eq!(
        c.jsonpath(&["job", "manual"], "{.metadata.ownerReferences[0].name}"),
        "hello"
    );
    assert_eq!(
        c.jsonpath(
            &["job", "manual"],
            "{.spec.template.metadata.labels.job-name}"
        ),
        "manual"
    );
    c.kubectl_ok(&["delete", "job", "manual"]);
    let described = c.kubectl_ok(&["describe", "cronjob", "hello"]);
    assert!(
        described.contains("Schedule:") && described.contains("0 0 1 1 *"),
        "{described}"
    );

    // Both are in the `all` category.
    let all = c.kubectl_ok(&["get", "all"]);
    assert!(
        all.contains("job.batch/pi") && all.contains("cronjob.batch/hello"),
        "{all}"
    );

    // Upstream's validation messages, and nothing stored.
    let bad = stderr_of(
        &c,
        &[
            "create",
            "cronjob",
            "bad",
            "--image=busybox",
            "--schedule=61 * * * *",
        ],
        None,
    );
    assert!(
        bad.contains("CronJob.batch \"bad\" is invalid: spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"),
        "{bad}"
    );
    let always = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: always}\nspec:\n  template:\n    spec:\n      restartPolicy: Always\n      containers: [{name: c, image: busybox}]\n";
    let err = stderr_of(&c, &["apply", "-f", "-"], Some(always));
    assert!(
        err.contains("The Job \"always\" is invalid: spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""),
        "{err}"
    );
    let zoned = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: zoned}\nspec:\n  schedule: '@hourly'\n  timeZone: Mars/Olympus\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: c, image: busybox}]\n";
    let err = stderr_of(&c, &["apply", "-f", "-"], Some(zoned));
    assert!(
        err.contains(
            "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"
        ),
        "{err}"
    );
    let names = c.kubectl_ok(&["get", "jobs,cronjobs", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["job.batch/pi", "cronjob.batch/hello"]
    );

    // `kubectl apply` needs no flags, and a second apply of the same manifest changes nothing.
    let good = zoned.replace("Mars/Olympus", "Europe/Berlin");
    c.apply(&good);
    assert!(c.apply(&good).contains("cronjob.batch/zoned unchanged"));
    assert_eq!(
        &row(&c.kubectl_ok(&["get", "cronjobs"]), "zoned")[..3],
        ["zoned", "@hourly", "Europe/Berlin"]
    );

    // A Job's template is fixed after creation; suspending it is not.
    let err = stderr_of(&c, &["set", "image", "job/pi", "pi=busybox:2"], None);
    assert!(
        err.contains("spec.template: Invalid value:") && err.contains("field is immutable"),
        "{err}"
    );
    c.kubectl_ok(&[
        "patch",
        "job",
        "pi",
        "--type=merge",
        "-p",
        "{\"spec\":{\"suspend\":true}}",
    ]);
    assert_eq!(c.jsonpath(&["job", "pi"], "{.metadata.generation}"), "2");
    // Status goes only through its subresource.
    c.kubectl_ok(&[
        "patch",
        "job",
        "pi",
        "--subresource=status",
        "--type=merge",
        "-p",
        "{\"status\":{\"succeeded\":1}}",
    ]);
    assert_eq!(
        &row(&c.kubectl_ok(&["get", "jobs"]), "pi")[..3],
        ["pi", "Complete", "1/1"]
    );
    c.kubectl_ok(&[
        "patch",
        "job",
        "pi",
        "--type=merge",
        "-p",
        "{\"status\":{\"succeeded\":0}}",
    ]);
    assert_eq!(c.jsonpath(&["job", "pi"], "{.status.succeeded}"), "1");
}

async fn evict(c: &Cluster, pod: &str) -> (StatusCode, Value) {
    let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "default"}});
    let r = c
        .api()
        .request(
            Method::POST,
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    (r.status, r.json())
}

/// Marks a pod ready or not through its status (there is no kubelet here).
fn set_ready(c: &Cluster, pod: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    c.kubectl_ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
}

/// Waits until the disruption controller allows `allowed` disruptions.
fn wait_allowed(c: &Cluster, allowed: &str) {
    eventually("the budget's allowed disruptions", || {
        (c.jsonpath(&["pdb", "web"], "{.status.disruptionsAllowed}") == allowed).then_some(())
    });
}

#[tokio::test]
async fn eviction_respects_the_disruption_budget() {
    let c = Cluster::start();
    for name in ["web-1", "web-2"] {
        c.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec:\n  containers: [{{name: c, image: busybox}}]\n"
        ));
        // No kubelet here: the pods are made running and ready through their status.
        c.kubectl_ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p",
            "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"]);
    }
    c.kubectl_ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=1",
    ]);
    let pdbs = c.kubectl_ok(&["get", "pdb"]);
    assert_eq!(
        header(&pdbs),
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ]
    );
    // Two ready pods, one needed: the disruption controller allows one disruption.
    wait_allowed(&c, "1");
    assert_eq!(
        &row(&c.kubectl_ok(&["get", "pdb"]), "web")[..4],
        ["web", "1", "N/A", "1"]
    );
    let described = c.kubectl_ok(&["describe", "pdb", "web"]);
    assert!(
        described.contains("Min available:  1") && described.contains("Selector:       app=web"),
        "{described}"
    );

    set_ready(&c, "web-2", false);
    wait_allowed(&c, "0");
    let (code, status) = evict(&c, "web-1").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{status}");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(
        status["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(status["details"]["causes"][0]["reason"], "DisruptionBudget");
    assert_eq!(
        status["details"]["causes"][0]["message"],
        "The disruption budget web needs 1 healthy pods and has 1 currently"
    );
    assert!(!c.jsonpath(&["pod", "web-1"], "{.metadata.name}").is_empty());

    // A viewer may not evict; an admin may once the budget allows it.
    let viewer = c.user_kubeconfig("viewer", &["bramble:viewers"]);
    let out = c.kubectl_as(&viewer, &["create", "--raw", "/api/v1/namespaces/default/pods/web-1/eviction", "-f", "-"],
        Some("{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"web-1\"}}"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    set_ready(&c, "web-2", true);
    wait_allowed(&c, "1");
    let (code, status) = evict(&c, "web-1").await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    assert_eq!(status["status"], "Success");
    eventually("web-1 to be gone", || {
        c.jsonpath(&["pod", "web-1"], "{.metadata.name}")
            .is_empty()
            .then_some(())
    });
    // The eviction is forgotten once the pod is gone; one healthy pod of one needed.
    wait_allowed(&c, "0");
    assert_eq!(
        &row(&c.kubectl_ok(&["get", "pdb"]), "web")[..4],
        ["web", "1", "N/A", "0"]
    );

    // The budget is spent: the next pod stays.
    let (code, _) = evict(&c, "web-2").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert!(!c.jsonpath(&["pod", "web-2"], "{.metadata.name}").is_empty());
}

#[test]
fn kubectl_drain_waits_for_the_budget() {
    let c = Cluster::start();
    c.apply(&node_yaml("pi-1", "4", "4Gi"));
    c.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, labels: {app: web}}\nspec:\n  nodeName: pi-1\n  containers: [{name: c, image: busybox}]\n",
    );
    c.kubectl_ok(&["patch", "pod", "web-1", "--subresource=status", "--type=merge", "-p",
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"]);
    c.kubectl_ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--max-unavailable=0",
    ]);
    // A pod without a controller: the expected count is unknown and nothing may be evicted.
    eventually("the budget to fail safe", || {
        (c.jsonpath(&["pdb", "web"], "{.status.conditions[0].reason}") == "SyncFailed")
            .then_some(())
    });
    // kubectl drain finds policy/v1 evictions in discovery and posts them as protobuf; a
    // refused eviction is retried until the timeout.
    let drain = [
        "drain",
        "pi-1",
        "--force",
        "--ignore-daemonsets",
        "--timeout=3s",
    ];
    let err = stderr_of(&c, &drain, None);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert_eq!(
        c.jsonpath(&["node", "pi-1"], "{.spec.unschedulable}"),
        "true"
    );
    assert!(!c.jsonpath(&["pod", "web-1"], "{.metadata.name}").is_empty());

    c.kubectl_ok(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        "{\"spec\":{\"maxUnavailable\":null,\"minAvailable\":0}}",
    ]);
    wait_allowed(&c, "1");
    let out = c.kubectl_ok(&drain);
    assert!(
        out.contains("pod/web-1 evicted") && out.contains("node/pi-1 drained"),
        "{out}"
    );
    assert!(c.jsonpath(&["pod", "web-1"], "{.metadata.name}").is_empty());
    wait_allowed(&c, "0");
}
