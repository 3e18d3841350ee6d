//! `kubectl debug -it POD --image=... --target=CONTAINER -- sh` as a user runs it at a
//! terminal: kubectl adds an ephemeral container through `pods/ephemeralcontainers`, waits
//! for it to run and attaches; the shell sees the target container's processes (its PID
//! namespace), exits, and the pod reports the container terminated, never restarted, its
//! output in `kubectl logs -c`. On both runtimes and on a joined board. Then the
//! subresource's refusals as kubectl shows them. Needs root, runc and kubectl.

use std::path::Path;

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;
use support::joined::{TwoBoards, BOARD};
use support::terminal::{on_terminal, regex_text, HINT, PROMPT};
use support::Cluster;

/// The pod debugged: one idling container `app`, whose shell is PID 1 of its namespace.
fn target_pod(node_selector: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: target}}\nspec:\n  {node_selector}terminationGracePeriodSeconds: 1\n  containers: [{{name: app, image: box}}]\n"
    )
}

/// Runs `kubectl debug -it target --image=box --target=app -- sh`: `ps` shows the target's
/// shell as PID 1, typed output reaches the container's log, `exit 5` ends it. Returns the
/// ephemeral container's name.
fn debug_session(c: &Cluster, home: &Path) -> String {
    eventually("target to run", || {
        (c.pod_jsonpath("target", "{.status.containerStatuses[0].ready}") == "true").then_some(())
    });
    let steps = serde_json::json!([
        ["expect", regex_text(HINT), 60],
        ["poll", "\r", PROMPT, 15],
        ["send", "ps\r"],
        // The target's idling shell is PID 1 of the namespace the debugger joined (busybox
        // shows the uid: the image has no passwd file); the debugger's shell is not.
        [
            "expect",
            r"\r\n\s*1 0\s+/bin/sh -c trap 'exit 0' TERM; while true",
            10
        ],
        ["expect", PROMPT, 10],
        ["send", "echo eph$((6*7))\r"],
        ["expect", r"\r\neph42\r\n", 10],
        ["expect", PROMPT, 10],
        ["send", "exit 5\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        home,
        &[
            "debug",
            "-it",
            "target",
            "--image=box",
            "--target=app",
            "--",
            "sh",
        ],
        steps,
    );
    assert_eq!(s.code, 0, "{}", s.transcript);
    let name = c.pod_jsonpath("target", "{.spec.ephemeralContainers[0].name}");
    assert!(name.starts_with("debugger-"), "{name}");
    assert!(
        s.transcript
            .contains(&format!("Defaulting debug container name to {name}.")),
        "{}",
        s.transcript
    );
    assert_eq!(
        c.pod_jsonpath(
            "target",
            "{.spec.ephemeralContainers[0].targetContainerName}"
        ),
        "app"
    );
    eventually("the debugger to end with the shell's code", || {
        let code = c.pod_jsonpath(
            "target",
            "{.status.ephemeralContainerStatuses[0].state.terminated.exitCode}",
        );
        (code == "5").then_some(())
    });
    let status = |path: &str| {
        c.pod_jsonpath(
            "target",
            &format!("{{.status.ephemeralContainerStatuses[0].{path}}}"),
        )
    };
    assert_eq!(status("name"), name);
    assert_eq!(status("restartCount"), "0");
    assert_eq!(status("ready"), "false");
    assert!(status("containerID").starts_with("bramble://"));
    // The target went on running, untouched.
    assert_eq!(
        c.pod_jsonpath("target", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    assert_eq!(c.pod_jsonpath("target", "{.status.phase}"), "Running");
    let logs = c.kubectl_ok(&["logs", "target", "-c", &name]);
    assert!(logs.contains("eph42"), "{logs}");
    name
}

#[test]
fn debug_a_running_pod_on_the_builtin_runtime() {
    let board = Board::start("builtin", 140, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&target_pod(""));
    debug_session(c, board.work.path());
}

#[test]
fn debug_a_running_pod_on_runc() {
    let board = Board::start("runc", 141, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&target_pod(""));
    debug_session(c, board.work.path());
}

#[test]
fn debug_a_pod_on_a_joined_board() {
    let boards = TwoBoards::start(97, &[("library/box", IDLE)], &[]);
    let c = &boards.cluster;
    c.apply(&target_pod(&format!(
        "nodeSelector: {{kubernetes.io/hostname: {BOARD}}}\n  "
    )));
    debug_session(c, boards.work.path());
}

/// What kubectl shows of the subresource's rules: an ephemeral container may not be
/// removed through it, nor added through the pod itself.
#[test]
fn ephemeral_containers_are_only_ever_added() {
    let board = Board::start("builtin", 143, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&target_pod(""));
    let name = debug_session(c, board.work.path());

    let path = "/api/v1/namespaces/default/pods/target/ephemeralcontainers";
    let pod: serde_json::Value = serde_json::from_str(&c.kubectl_ok(&["get", "--raw", path]))
        .expect("the subresource answers with the pod");
    assert_eq!(pod["spec"]["ephemeralContainers"][0]["name"], name.as_str());
    let mut without = pod.clone();
    without["spec"]["ephemeralContainers"] = serde_json::json!([]);
    let file = board.work.path().join("without.json");
    std::fs::write(&file, without.to_string()).unwrap();
    let out = c.kubectl(&["replace", "--raw", path, "-f", &file.display().to_string()]);
    let shown =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    let want = format!(
        "The Pod \"target\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"{name}\" may not be removed"
    );
    assert!(shown.contains(&want), "{shown}");

    let add = r#"[{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "sneaky", "image": "box"}}]"#;
    let out = c.kubectl(&["patch", "pod", "target", "--type=json", "-p", add]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pod updates may not change fields other than"),
        "{stderr}"
    );
    assert_eq!(
        c.pod_jsonpath("target", "{.spec.ephemeralContainers[*].name}"),
        name
    );
}

/// A second debugger beside the first: it runs and ends on its own, and by then the first,
/// which ended long before, is still the same terminated container, never restarted.
#[test]
fn a_finished_debugger_is_never_restarted() {
    let board = Board::start("builtin", 144, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&target_pod(""));
    let first = debug_session(c, board.work.path());
    let status_of = |name: &str, path: &str| {
        c.pod_jsonpath(
            "target",
            &format!("{{.status.ephemeralContainerStatuses[?(@.name==\"{name}\")].{path}}}"),
        )
    };
    let first_id = status_of(&first, "containerID");

    c.kubectl_ok(&["debug", "target", "--image=box", "--", "sh", "-c", "exit 0"]);
    let names = c.pod_jsonpath("target", "{.spec.ephemeralContainers[*].name}");
    let second = names
        .split(' ')
        .find(|n| *n != first)
        .unwrap_or_else(|| panic!("no second debugger in {names}"))
        .to_string();
    eventually("the second debugger to end", || {
        (status_of(&second, "state.terminated.reason") == "Completed").then_some(())
    });
    assert_eq!(status_of(&first, "containerID"), first_id);
    assert_eq!(status_of(&first, "state.terminated.exitCode"), "5");
    assert_eq!(status_of(&first, "restartCount"), "0");
    assert_eq!(status_of(&second, "restartCount"), "0");
}

/// A debugger whose target has not started yet (an init container still runs) waits with
/// upstream's reason and message instead of joining some other PID namespace.
#[test]
fn a_debugger_waits_for_its_target_to_run() {
    let board = Board::start("builtin", 145, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: starting}\nspec:\n  terminationGracePeriodSeconds: 1\n  initContainers: [{name: setup, image: box}]\n  containers: [{name: app, image: box}]\n",
    );
    eventually("the init container to run", || {
        let running = c.pod_jsonpath(
            "starting",
            "{.status.initContainerStatuses[0].state.running.startedAt}",
        );
        (!running.is_empty()).then_some(())
    });
    c.kubectl_ok(&[
        "debug",
        "starting",
        "--image=box",
        "--target=app",
        "--",
        "sh",
    ]);
    eventually("the debugger to wait for its target", || {
        let reason = c.pod_jsonpath(
            "starting",
            "{.status.ephemeralContainerStatuses[0].state.waiting.reason}",
        );
        (reason == "CreateContainerConfigError").then_some(())
    });
    assert_eq!(
        c.pod_jsonpath(
            "starting",
            "{.status.ephemeralContainerStatuses[0].state.waiting.message}"
        ),
        "unable to find target container app"
    );
}
