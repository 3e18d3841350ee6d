use super::*;
use chrono::TimeZone;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Value {
    let c = |n: &&str| json!({"name": n, "image": "busybox"});
    json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": init.iter().map(c).collect::<Vec<_>>(),
            "containers": containers.iter().map(c).collect::<Vec<_>>(),
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2023-01-01T00:00:00Z"}
        ]}
    })
}

fn instance(state: ContainerState, exit: Option<i32>, oom: bool) -> ContainerInstance {
    ContainerInstance {
        container_id: "bramble://abc".into(),
        status: ContainerStatus {
            state,
            pid: None,
            exit_code: exit,
            signal: None,
            started_at: Some(t(1)),
            finished_at: (state == ContainerState::Exited).then(|| t(5)),
            oom_killed: oom,
        },
        message: None,
    }
}

fn rec(name: &str, current: Option<ContainerInstance>) -> ContainerRecord {
    ContainerRecord {
        name: name.into(),
        image: "busybox".into(),
        image_id: "docker.io/library/busybox@sha256:1".into(),
        current,
        ready: true,
        started: true,
        ..Default::default()
    }
}

fn running(name: &str) -> ContainerRecord {
    rec(name, Some(instance(ContainerState::Running, None, false)))
}

fn exited(name: &str, code: i32) -> ContainerRecord {
    rec(
        name,
        Some(instance(ContainerState::Exited, Some(code), false)),
    )
}

fn status(
    pod: &Value,
    init: &[ContainerRecord],
    containers: &[ContainerRecord],
    terminal: bool,
) -> Value {
    let observed = ObservedPod {
        init_containers: init,
        containers,
        ephemeral_containers: &[],
        pod_ip: Some("10.42.0.5"),
        host_ip: "192.168.1.10",
        start_time: Some(t(0)),
        sandbox_ready: true,
        pod_is_terminal: terminal,
    };
    pod_status(pod, &observed, t(100))
}

fn cond<'a>(s: &'a Value, kind: &str) -> &'a Value {
    s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap()
}

#[test]
fn phase_follows_container_states_and_restart_policy() {
    let cases: Vec<(&str, Vec<ContainerRecord>, &str)> = vec![
        ("Always", vec![running("a"), running("b")], "Running"),
        ("Always", vec![running("a"), rec("b", None)], "Pending"),
        ("Always", vec![exited("a", 0), exited("b", 1)], "Running"),
        (
            "OnFailure",
            vec![exited("a", 0), exited("b", 0)],
            "Succeeded",
        ),
        ("OnFailure", vec![exited("a", 0), exited("b", 1)], "Running"),
        ("Never", vec![exited("a", 0), exited("b", 0)], "Succeeded"),
        ("Never", vec![exited("a", 0), exited("b", 2)], "Failed"),
        ("Never", vec![running("a"), exited("b", 2)], "Running"),
    ];
    for (policy, recs, want) in cases {
        let p = pod(policy, &[], &["a", "b"]);
        assert_eq!(
            status(&p, &[], &recs, false)["phase"],
            want,
            "{policy} {recs:?}"
        );
    }
    // A terminal pod with Always ends Succeeded or Failed by its exit codes.
    let p = pod("Always", &[], &["a"]);
    assert_eq!(
        status(&p, &[], &[exited("a", 0)], true)["phase"],
        "Succeeded"
    );
    assert_eq!(status(&p, &[], &[exited("a", 3)], true)["phase"], "Failed");
}

#[test]
fn init_containers_gate_the_pod() {
    let p = pod("Always", &["i"], &["a"]);
    let s = status(&p, &[running("i")], &[], false);
    assert_eq!(s["phase"], "Pending");
    let init = cond(&s, "Initialized");
    assert_eq!(init["status"], "False");
    assert_eq!(init["reason"], "ContainersNotInitialized");
    assert_eq!(init["message"], "containers with incomplete status: [i]");
    assert_eq!(
        s["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert_eq!(s["initContainerStatuses"][0]["ready"], false);

    let s = status(&p, &[exited("i", 0)], &[running("a")], false);
    assert_eq!(s["phase"], "Running");
    assert_eq!(cond(&s, "Initialized")["status"], "True");
    assert_eq!(s["initContainerStatuses"][0]["ready"], true);
    assert_eq!(
        s["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );

    // A failed init container fails a Never pod, and keeps others Pending.
    let never = pod("Never", &["i"], &["a"]);
    assert_eq!(
        status(&never, &[exited("i", 1)], &[], false)["phase"],
        "Failed"
    );
    assert_eq!(
        status(&p, &[exited("i", 1)], &[], false)["phase"],
        "Pending"
    );
}

#[test]
fn ready_conditions_name_unready_containers() {
    let p = pod("Always", &[], &["a", "b"]);
    let mut b = running("b");
    b.ready = false;
    let s = status(&p, &[], &[running("a"), b], false);
    for kind in ["Ready", "ContainersReady"] {
        let c = cond(&s, kind);
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "ContainersNotReady");
        assert_eq!(c["message"], "containers with unready status: [b]");
    }
    let s = status(&p, &[], &[running("a"), running("b")], false);
    assert_eq!(cond(&s, "Ready")["status"], "True");
    let types: Vec<&str> = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(s["podIPs"], json!([{"ip": "10.42.0.5"}]));
    assert_eq!(s["hostIPs"], json!([{"ip": "192.168.1.10"}]));
    assert_eq!(s["qosClass"], "BestEffort");
    assert_eq!(s["startTime"], "2023-11-14T22:13:20Z");
    // Succeeded pods report PodCompleted.
    let done = pod("Never", &[], &["a"]);
    let s = status(&done, &[], &[exited("a", 0)], false);
    assert_eq!(cond(&s, "ContainersReady")["reason"], "PodCompleted");
}

#[test]
fn waiting_reasons_move_the_exit_to_last_state() {
    let p = pod("Always", &[], &["a"]);
    let mut a = exited("a", 1);
    a.restart_count = 3;
    a.waiting = Some(Waiting {
        reason: "CrashLoopBackOff".into(),
        message: "back-off 40s restarting failed container=a pod=p_default(u)".into(),
    });
    let s = status(&p, &[], &[a], false);
    let c = &s["containerStatuses"][0];
    assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(c["lastState"]["terminated"]["containerID"], "bramble://abc");
    assert_eq!(c["restartCount"], 3);
    assert_eq!(c["ready"], false);
    // Restarting after a crash keeps the pod Running.
    assert_eq!(s["phase"], "Running");

    let mut pull = rec("a", None);
    pull.waiting = Some(Waiting {
        reason: "ErrImagePull".into(),
        message: "manifest unknown".into(),
    });
    let s = status(&p, &[], &[pull], false);
    assert_eq!(
        s["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ErrImagePull"
    );
    assert_eq!(s["containerStatuses"][0]["lastState"], json!({}));
    assert_eq!(s["phase"], "Pending");
    let s = status(&p, &[], &[], false);
    assert_eq!(
        s["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
}

#[test]
fn oom_killed_is_the_terminated_reason() {
    let p = pod("Never", &[], &["a"]);
    let a = rec("a", Some(instance(ContainerState::Exited, Some(137), true)));
    let s = status(&p, &[], &[a], false);
    let term = &s["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["reason"], "OOMKilled");
    assert_eq!(term["exitCode"], 137);
    assert_eq!(term["startedAt"], "2023-11-14T22:13:21Z");
    assert_eq!(term["finishedAt"], "2023-11-14T22:13:25Z");
    assert_eq!(s["phase"], "Failed");
}

#[test]
fn last_transition_time_kept_while_status_unchanged() {
    let mut p = pod("Always", &[], &["a"]);
    p["status"]["conditions"] = json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2023-01-01T00:00:00Z"},
        {"type": "Ready", "status": "False", "lastTransitionTime": "2023-01-02T00:00:00Z"},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2023-01-03T00:00:00Z"},
        {"type": "example.com/gate", "status": "True"}
    ]);
    p["status"]["startTime"] = json!("2023-01-01T00:00:00Z");
    let mut a = running("a");
    a.ready = false;
    let s = status(&p, &[], &[a], false);
    assert_eq!(
        cond(&s, "PodScheduled")["lastTransitionTime"],
        "2023-01-01T00:00:00Z"
    );
    assert_eq!(
        cond(&s, "Ready")["lastTransitionTime"],
        "2023-01-02T00:00:00Z"
    );
    // ContainersReady flipped to False: it transitioned now.
    assert_eq!(
        cond(&s, "ContainersReady")["lastTransitionTime"],
        "2023-11-14T22:15:00Z"
    );
    assert_eq!(s["conditions"][0]["type"], "example.com/gate");
    assert_eq!(s["startTime"], "2023-01-01T00:00:00Z");
}

#[test]
fn terminal_phase_never_goes_back() {
    let mut p = pod("Always", &[], &["a"]);
    p["status"]["phase"] = json!("Succeeded");
    assert_eq!(
        status(&p, &[], &[running("a")], false)["phase"],
        "Succeeded"
    );
}
