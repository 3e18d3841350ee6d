//! An agent given several servers (`--server A,B,C`) keeps its board in the cluster while
//! they die one after another: three `bramble server`s on a three-member etcd, an agent in a
//! network namespace of its own, and two of the servers killed (SIGKILL, as a board losing
//! power). Through the last server standing, the board's pods still answer `kubectl logs`,
//! its Node lease keeps being renewed and a pod created afterwards starts on it. Needs root
//! and the board tests' Debian packages (etcd-server, docker-registry, skopeo, umoci,
//! busybox-static).

use crate::support;

use support::board::{write_mirror_at, IDLE};
use support::etcd::{start_servers, EtcdCluster};
use support::joined::{pod_on, Agent, BoardLink, BOARD};
use support::registry::{build_busybox_image_at, require_root, Registry};
use support::{eventually, Cluster};

/// This story's e2e tag.
const TAG: u8 = 7;

/// The servers, the board and what they share; the board's pods are deleted through a live
/// server before the agent stops.
struct Site {
    agent: Agent,
    servers: Vec<Cluster>,
    _etcd: EtcdCluster,
    _registry: Registry,
    _work: tempfile::TempDir,
    _link: BoardLink,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(live) = self.servers.last() {
            live.delete_all_pods();
        }
    }
}

impl Site {
    fn start() -> Site {
        require_root();
        let link = BoardLink::create(TAG);
        let work = tempfile::tempdir().expect("temp dir");
        let registry = Registry::start_on(work.path(), &link.host_ip);
        build_busybox_image_at(
            work.path(),
            &link.host_ip,
            registry.port,
            "library/busybox",
            IDLE,
        );
        let registries = work.path().join("registries.yaml");
        write_mirror_at(&registries, &link.host_ip, registry.port);
        let etcd = EtcdCluster::start(3);
        let flags = vec![
            "--no-agent".to_string(),
            "--cluster-cidr".into(),
            format!("10.{}.0.0/16", 150 + TAG),
            "--datastore-endpoint".into(),
            etcd.endpoints(),
        ];
        let servers = start_servers(3, &link.host_ip, &flags);
        let urls: Vec<String> = servers
            .iter()
            .map(|s| format!("https://{}:{}", s.host, s.port))
            .collect();
        let mut agent = Agent::new(
            &link.path(),
            &urls.join(","),
            BOARD,
            &registries,
            work.path(),
        );
        let token =
            std::fs::read_to_string(servers[0].data_dir().join("join-token")).expect("join token");
        agent.start(&["--token", token.trim()]);
        Site {
            agent,
            servers,
            _etcd: etcd,
            _registry: registry,
            _work: work,
            _link: link,
        }
    }

    /// The last server, which the test never stops.
    fn last(&self) -> &Cluster {
        self.servers.last().expect("three servers")
    }

    fn lease_renewed(&self) -> String {
        self.last().jsonpath(
            &["lease", "-n", "kube-node-lease", BOARD],
            "{.spec.renewTime}",
        )
    }

    /// Waits until the board's pod `name` runs and its log shows `line`, read through the
    /// last server.
    fn wait_running_with_log(&mut self, name: &str, line: &str) {
        eventually(&format!("pod {name} running with its log"), || {
            assert!(
                !self.agent.exited(),
                "the agent exited:\n{}",
                self.agent.log()
            );
            let out = self.last().kubectl(&["logs", name]);
            String::from_utf8_lossy(&out.stdout)
                .contains(line)
                .then_some(())
        });
    }
}

fn chatty(line: &str) -> String {
    format!("trap 'exit 0' TERM; while true; do echo {line}; sleep 1; done")
}

#[test]
fn an_agent_with_three_servers_stays_in_the_cluster_as_two_of_them_die() {
    let mut site = Site::start();
    eventually("the board to be Ready", || {
        assert!(
            !site.agent.exited(),
            "the agent exited:\n{}",
            site.agent.log()
        );
        let ready = site.last().jsonpath(
            &["node", BOARD],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        );
        (ready == "True").then_some(())
    });
    site.last()
        .apply(&pod_on("before", BOARD, &chatty("before-line")));
    site.wait_running_with_log("before", "before-line");

    for (round, dead) in [0usize, 1].into_iter().enumerate() {
        site.servers[dead].kill9();
        // The board's lease is renewed through a live server: the renewal time moves on.
        let renewed = site.lease_renewed();
        eventually(
            "the board's lease to be renewed after a server died",
            || {
                let now = site.lease_renewed();
                (!now.is_empty() && now != renewed).then_some(())
            },
        );
        // A pod created now is scheduled onto the board, started and its log read.
        let name = format!("after-{round}");
        let line = format!("after-line-{round}");
        site.last().apply(&pod_on(&name, BOARD, &chatty(&line)));
        site.wait_running_with_log(&name, &line);
        // The first pod never stopped.
        assert_eq!(
            site.last()
                .pod_jsonpath("before", "{.status.containerStatuses[0].restartCount}"),
            "0",
            "the board's first pod was restarted"
        );
    }
    assert_eq!(
        site.last().jsonpath(
            &["node", BOARD],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        ),
        "True",
        "the board stayed Ready"
    );
}
