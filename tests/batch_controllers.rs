//! The batch and disruption controllers on a real board with its kubelet, driven with
//! kubectl: a PodDisruptionBudget's `disruptionsAllowed` follows the ready pods of a
//! Deployment, so `kubectl drain` is refused while the only replica is protected and an
//! eviction goes through once a second replica is ready (a second one is refused again).
//! A Job runs its pods to completion (`kubectl wait --for=condition=complete`), an
//! Indexed Job gives every pod its index, and a failing Job stops at its backoff limit.
//! A finished Job with `ttlSecondsAfterFinished` is deleted. A CronJob scheduled every minute starts a Job named for its scheduled minute, which
//! completes and is recorded as its last successful run. Needs root.

use crate::support;

use support::board::{Board, IDLE};
use support::{eventually, Cluster};

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: [\"/bin/sh\", \"-c\", {idle:?}]
",
        idle = IDLE[2]
    )
}

const BUDGET: &str = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
";

/// The budget's status fields the test follows.
fn budget(c: &Cluster) -> String {
    c.jsonpath(
        &["pdb", "web"],
        "{.status.expectedPods},{.status.currentHealthy},{.status.desiredHealthy},{.status.disruptionsAllowed},{.status.conditions[0].reason}",
    )
}

fn ready_pods(c: &Cluster) -> Vec<String> {
    c.jsonpath(
        &["pods", "-l", "app=web"],
        "{range .items[*]}{.metadata.name},{.status.conditions[?(@.type==\"Ready\")].status},{.metadata.deletionTimestamp} {end}",
    )
    .split_whitespace()
    .filter_map(|p| {
        let f: Vec<&str> = p.split(',').collect();
        (f.get(1) == Some(&"True") && f.get(2).map_or(true, |d| d.is_empty()))
            .then(|| f[0].to_string())
    })
    .collect()
}

fn evict(c: &Cluster, pod: &str) -> std::process::Output {
    let body = format!(
        "{{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{{\"name\":\"{pod}\",\"namespace\":\"default\"}}}}"
    );
    c.kubectl_as(
        &c.kubeconfig(),
        &[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "-f",
            "-",
        ],
        Some(&body),
    )
}

#[test]
fn disruption_budget_guards_drain_and_eviction() {
    let board = Board::start("builtin", 66, &[("library/busybox", IDLE)]);
    board.wait_node_ready();
    let c = &board.cluster;
    c.apply(&deployment(1));
    c.apply(BUDGET);
    eventually("one ready pod", || (ready_pods(c).len() == 1).then_some(()));
    eventually("the budget to count one healthy pod", || {
        (budget(c) == "1,1,1,0,InsufficientPods").then_some(())
    });

    let out = c.kubectl(&[
        "drain",
        "test-node",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=10s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "drain went through a budget allowing no disruption"
    );
    assert!(
        stderr.contains("disruption budget"),
        "drain failed for another reason: {stderr}"
    );
    assert_eq!(ready_pods(c).len(), 1, "the protected pod was evicted");
    c.kubectl_ok(&["uncordon", "test-node"]);

    c.kubectl_ok(&["scale", "deployment/web", "--replicas=2"]);
    eventually("two ready pods", || {
        (ready_pods(c).len() == 2).then_some(())
    });
    eventually("the budget to allow one disruption", || {
        (budget(c) == "2,2,1,1,SufficientPods").then_some(())
    });
    let pods = ready_pods(c);
    let out = evict(c, &pods[0]);
    assert!(
        out.status.success(),
        "eviction refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = evict(c, &pods[1]);
    assert!(
        !out.status.success(),
        "a second eviction went through a budget allowing one"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("disruption budget"),
        "second eviction failed for another reason: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.kubectl_ok(&[
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "--wait=true",
        "--timeout=60s",
    ]);
}

fn job(name: &str, extra_spec: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
{extra_spec}  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: [\"/bin/sh\", \"-c\", {script:?}]
"
    )
}

const CRON: &str = "apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: \"* * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox
            command: [\"/bin/sh\", \"-c\", \"exit 0\"]
";

#[test]
fn jobs_run_to_completion_or_fail_at_their_backoff_limit() {
    let board = Board::start("builtin", 65, &[("library/busybox", IDLE)]);
    board.wait_node_ready();
    let c = &board.cluster;

    c.apply(&job(
        "three",
        "  completions: 3\n  parallelism: 2\n",
        "exit 0",
    ));
    c.apply(&job(
        "indexed",
        "  completions: 2\n  parallelism: 2\n  completionMode: Indexed\n",
        "test \"$JOB_COMPLETION_INDEX\" = \"${HOSTNAME#indexed-}\"",
    ));
    c.apply(&job("broken", "  backoffLimit: 1\n", "exit 1"));
    c.apply(CRON);
    c.apply(&job("brief", "  ttlSecondsAfterFinished: 1\n", "exit 0"));
    c.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/three",
        "--timeout=60s",
    ]);
    assert_eq!(
        c.jsonpath(&["job", "three"], "{.status.succeeded},{.status.active}"),
        "3,0"
    );
    let created = c.jsonpath(
        &["pods", "-l", "job-name=three"],
        "{.items[*].metadata.name}",
    );
    assert_eq!(created.split_whitespace().count(), 3, "pods: {created}");
    assert!(!c
        .jsonpath(&["job", "three"], "{.status.completionTime}")
        .is_empty());

    // Every pod of the Indexed Job checks that its variable matches its hostname.
    c.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/indexed",
        "--timeout=60s",
    ]);
    assert_eq!(
        c.jsonpath(&["job", "indexed"], "{.status.completedIndexes}"),
        "0-1"
    );

    c.kubectl_ok(&[
        "wait",
        "--for=condition=failed",
        "job/broken",
        "--timeout=60s",
    ]);
    assert_eq!(
        c.jsonpath(
            &["job", "broken"],
            "{.status.conditions[?(@.type==\"Failed\")].reason},{.status.failed}"
        ),
        "BackoffLimitExceeded,2"
    );
    // The second pod waited out the backoff after the first failed (10 s; timestamps have
    // whole seconds).
    let times = c.jsonpath(
        &["pods", "-l", "job-name=broken", "--sort-by=.metadata.creationTimestamp"],
        "{range .items[*]}{.metadata.creationTimestamp},{.status.containerStatuses[0].state.terminated.finishedAt} {end}",
    );
    let stamps: Vec<(i64, i64)> = times
        .split_whitespace()
        .map(|pair| {
            let (made, ended) = pair.split_once(',').expect("two timestamps");
            let t = |s: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .unwrap_or_else(|e| panic!("{s}: {e} in {times}"))
                    .timestamp()
            };
            (t(made), t(ended))
        })
        .collect();
    assert_eq!(stamps.len(), 2, "{times}");
    assert!(stamps[1].0 - stamps[0].1 >= 9, "no backoff: {times}");
    // What happened is told in the Job's events, as upstream's controller tells it.
    let events = c.jsonpath(
        &[
            "events",
            "--field-selector=involvedObject.name=broken,involvedObject.kind=Job",
        ],
        "{range .items[*]}{.type}/{.reason}/{.source.component} {end}",
    );
    for want in [
        "Normal/SuccessfulCreate/job-controller",
        "Warning/BackoffLimitExceeded/job-controller",
    ] {
        assert!(events.contains(want), "{want} missing from {events}");
    }

    // A finished Job past its ttlSecondsAfterFinished is deleted, its pod with it.
    eventually("the finished job past its TTL to be deleted", || {
        c.jsonpath(&["job", "brief"], "{.metadata.name}")
            .is_empty()
            .then_some(())
    });
    eventually("the expired job's pod to be deleted", || {
        c.jsonpath(
            &["pods", "-l", "job-name=brief"],
            "{.items[*].metadata.name}",
        )
        .is_empty()
        .then_some(())
    });

    // The CronJob fires at the next minute: up to 60 s after it was created.
    let started = std::time::Instant::now();
    let fired = loop {
        let names = c.jsonpath(&["cronjob", "tick"], "{.status.active[*].name}");
        let done = c.jsonpath(&["cronjob", "tick"], "{.status.lastSuccessfulTime}");
        if !names.is_empty() || !done.is_empty() {
            break names;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(80),
            "the CronJob never fired"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let owned = c.jsonpath(
        &["jobs"],
        "{range .items[?(@.metadata.ownerReferences[0].kind==\"CronJob\")]}{.metadata.name},{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp} {end}",
    );
    let (job_name, scheduled) = owned.trim().split_once(',').expect("the CronJob's job");
    assert!(
        fired.is_empty() || fired == job_name,
        "{fired} vs {job_name}"
    );
    let minutes = chrono::DateTime::parse_from_rfc3339(scheduled)
        .expect("timestamp")
        .timestamp()
        / 60;
    assert_eq!(job_name, format!("tick-{minutes}"));
    c.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{job_name}"),
        "--timeout=30s",
    ]);
    eventually("the CronJob to record its successful run", || {
        let s = c.jsonpath(
            &["cronjob", "tick"],
            "{.status.lastSuccessfulTime},{.status.lastScheduleTime},{.status.active}",
        );
        (s.starts_with("20") && s.ends_with(',')).then_some(())
    });
    c.kubectl_ok(&["delete", "cronjob", "tick"]);
    c.kubectl_ok(&[
        "delete",
        "jobs",
        "--all",
        "--cascade=foreground",
        "--wait=true",
        "--timeout=60s",
    ]);
}
