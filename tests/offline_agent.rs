//! A board that loses its server keeps its pods: the agent restarted while the link to the
//! server is cut runs the pods from its checkpoint (restarting a container that died
//! meanwhile, adopting the ones still running), and once the link is back a pod deleted
//! during the outage is stopped and the rest shows Running, with no container started
//! twice. The board is a network namespace; the outage is its link set down, and lasts
//! until the server has marked the board's node not Ready (its 40 s grace period and more),
//! so the node and its pods come back from that too. Needs root.

use crate::support;

use std::process::Command;
use std::time::Duration;

use support::board::{shells_with, IDLE};
use support::joined::{pod_on, TwoBoards, BOARD};
use support::{eventually, poll_within};

/// A pod on the board that idles and carries `marker` in its command line. Its image is
/// used as stored (`IfNotPresent`): the registry is behind the cut link too, and a board
/// meant to run offline does not ask it at each start (`Always` would fail there as
/// upstream's kubelet does).
fn idle_pod(name: &str, marker: &str) -> String {
    pod_on(
        name,
        BOARD,
        &format!("trap 'exit 0' TERM; while true; do sleep 1; done # {marker}"),
    )
    .replace(
        "    image: busybox\n",
        "    image: busybox\n    imagePullPolicy: IfNotPresent\n",
    )
}

/// The node's Ready condition, as the server sees it.
fn node_ready(boards: &TwoBoards) -> String {
    boards.cluster.jsonpath(
        &["node", BOARD],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
    )
}

/// The link between the two boards, set down for the outage and up again after it, also
/// when the test fails.
struct Outage<'a>(&'a str);

impl<'a> Outage<'a> {
    fn begin(host_if: &'a str) -> Self {
        let out = Command::new("ip")
            .args(["link", "set", host_if, "down"])
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Outage(host_if)
    }
}

impl Drop for Outage<'_> {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "set", self.0, "up"])
            .output();
    }
}

#[test]
fn an_agent_restarted_during_an_outage_runs_its_pods_from_the_checkpoint() {
    let mut boards = TwoBoards::start(200, &[("library/busybox", IDLE)], &[]);
    let keep = format!("offline-keep-{}", std::process::id());
    let gone = format!("offline-gone-{}", std::process::id());
    boards.cluster.apply(&idle_pod("keep", &keep));
    boards.cluster.apply(&idle_pod("gone", &gone));
    for pod in ["keep", "gone"] {
        eventually(&format!("{pod} to run"), || {
            (boards.cluster.pod_jsonpath(pod, "{.status.phase}") == "Running").then_some(())
        });
    }
    // The phase turns Running as a container starts, a moment before its process has
    // become the shell.
    for marker in [&keep, &gone] {
        let shells = eventually("the pod's shell", || {
            Some(shells_with(marker)).filter(|p| !p.is_empty())
        });
        assert_eq!(shells.len(), 1, "one copy of each pod runs");
    }
    let checkpoint = boards.agent.data_dir.join("kubelet-checkpoint.json");
    eventually("the checkpoint to hold both pods", || {
        let text = std::fs::read_to_string(&checkpoint).ok()?;
        (text.contains(&keep) && text.contains(&gone)).then_some(())
    });
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&checkpoint).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let host_if = boards.link.host_if.clone();
    {
        let _outage = Outage::begin(&host_if);
        // during the outage: `gone` is deleted, the agent restarts, `keep`'s container dies
        boards
            .cluster
            .kubectl_ok(&["delete", "pod", "gone", "--grace-period=0", "--force"]);
        boards.agent.kill9();
        boards.agent.start(&[]);
        eventually("the agent to run its pods from the checkpoint", || {
            assert!(
                !boards.agent.exited(),
                "the agent exited:\n{}",
                boards.agent.log()
            );
            boards
                .agent
                .log()
                .contains("running this node's pods from the checkpoint")
                .then_some(())
        });
        let before = shells_with(&keep);
        assert_eq!(
            before.len(),
            1,
            "the running container is adopted, not started again"
        );
        assert_eq!(
            shells_with(&gone).len(),
            1,
            "still running: the board cannot know yet"
        );
        let _ = Command::new("kill")
            .args(["-9", &before[0].to_string()])
            .output();
        eventually(
            "keep's container to be started again without the server",
            || {
                let now = shells_with(&keep);
                (now.len() == 1 && now != before).then_some(())
            },
        );
        // Longer than the suite's usual deadline: a node is marked not Ready only after its
        // grace period.
        let marked = poll_within(Duration::from_secs(150), Duration::from_millis(200), || {
            (node_ready(&boards) != "True").then_some(())
        });
        assert!(
            marked.is_some(),
            "timed out waiting for the server to mark the unreachable board not Ready"
        );
        assert_eq!(shells_with(&keep).len(), 1, "the pod runs on meanwhile");
    }

    // the link is back: `gone` stops, `keep` runs once and its status catches up
    eventually("the pod deleted during the outage to stop", || {
        shells_with(&gone).is_empty().then_some(())
    });
    eventually("keep to show Running with its restart", || {
        let phase = boards.cluster.pod_jsonpath("keep", "{.status.phase}");
        let restarts = boards
            .cluster
            .pod_jsonpath("keep", "{.status.containerStatuses[0].restartCount}");
        (phase == "Running" && restarts == "1").then_some(())
    });
    assert_eq!(shells_with(&keep).len(), 1, "no container runs twice");
    eventually("the board and its pod to be Ready again", || {
        let pod_ready = boards
            .cluster
            .pod_jsonpath("keep", "{.status.conditions[?(@.type==\"Ready\")].status}");
        (node_ready(&boards) == "True" && pod_ready == "True").then_some(())
    });
    eventually("the checkpoint to forget the deleted pod", || {
        let text = std::fs::read_to_string(&checkpoint).ok()?;
        (text.contains(&keep) && !text.contains(&gone)).then_some(())
    });
}
