//! Several servers on one etcd cluster are one cluster: a three-member etcd (Debian's
//! `etcd-server`) and three `bramble server`s, the second and third started with a copy of
//! the first's `pki`. What is written through one server is read through the others; the
//! scheduler and the controllers run on one server at a time (Leases
//! `kube-system/kube-scheduler` and `kube-system/kube-controller-manager`). Killing that
//! server and then the etcd leader (SIGKILL) during a stream of writes loses no
//! acknowledged write, and another server takes over scheduling and the controllers.

use crate::support;

use support::etcd::{server_holding, start_servers, EtcdCluster};
use support::{eventually, node_yaml, Cluster};

fn holder(c: &Cluster, lease: &str) -> String {
    let out = c.kubectl(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn bound_node(c: &Cluster, pod: &str) -> Option<String> {
    let out = c.kubectl(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
    let node = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !node.is_empty()).then_some(node)
}

#[test]
fn three_servers_on_etcd_are_one_cluster_and_lose_nothing_when_the_leader_dies() {
    let mut etcd = EtcdCluster::start(3);
    let flags = vec![
        "--no-agent".to_string(),
        "--node-monitor-grace-period=1h".into(),
        "--datastore-endpoint".into(),
        etcd.endpoints(),
    ];
    let mut servers = start_servers(3, "127.0.0.1", &flags);

    // One cluster: written through one server, read through every other.
    servers[1].kubectl_ok(&["create", "configmap", "shared", "--from-literal=k=v"]);
    for s in &servers {
        eventually("the configmap on every server", || {
            s.kubectl(&["get", "configmap", "shared"])
                .status
                .success()
                .then_some(())
        });
    }
    servers[2].apply(&node_yaml("pi-1", "4", "4Gi"));

    // One server schedules; a pod is bound.
    let leader_id = eventually("a scheduler leader", || {
        Some(holder(&servers[0], "kube-scheduler")).filter(|h| !h.is_empty())
    });
    let leader = eventually("the leading server's log to name it", || {
        server_holding(&servers, &leader_id)
    });
    servers[0].kubectl_ok(&["run", "before", "--image=busybox", "--restart=Never"]);
    eventually("the first pod to be scheduled", || {
        bound_node(&servers[0], "before")
    });

    // A stream of writes through a survivor while the leading server dies, then the etcd
    // leader: every acknowledged write must be there afterwards.
    let writer = (leader + 1) % 3;
    let reader = 3 - leader - writer;
    let mut acked = Vec::new();
    for i in 0..60 {
        if i == 20 {
            servers[leader].kill9();
        }
        if i == 40 {
            let etcd_leader = etcd.wait_leader();
            etcd.kill9(etcd_leader);
        }
        let name = format!("write-{i}");
        let out = servers[writer].kubectl(&["create", "configmap", &name, "--from-literal=n=1"]);
        if out.status.success() {
            acked.push(name);
        }
    }
    assert!(
        acked.len() >= 40,
        "most writes should succeed while a quorum stands: {} of 60\n{}",
        acked.len(),
        servers[writer].log()
    );
    eventually("every acknowledged write on the other survivor", || {
        let out = servers[reader].kubectl(&[
            "get",
            "configmaps",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        let names = String::from_utf8_lossy(&out.stdout).to_string();
        let listed: Vec<&str> = names.split_whitespace().collect();
        acked
            .iter()
            .all(|a| listed.contains(&a.as_str()))
            .then_some(())
    });

    // Scheduling resumes on another server within the lease duration.
    servers[writer].kubectl_ok(&["run", "after", "--image=busybox", "--restart=Never"]);
    eventually("the pod created after the failover to be scheduled", || {
        bound_node(&servers[writer], "after")
    });
    let new_leader = holder(&servers[writer], "kube-scheduler");
    assert_ne!(
        new_leader, leader_id,
        "another server leads the scheduler now"
    );
    assert_ne!(server_holding(&servers, &new_leader), Some(leader));

    // The controllers too: a Deployment made now gets its pods.
    servers[reader].kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ]);
    eventually("the deployment's pods", || {
        let out = servers[reader].kubectl(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ]);
        let nodes = String::from_utf8_lossy(&out.stdout).to_string();
        (nodes.split_whitespace().filter(|n| *n == "pi-1").count() == 2).then_some(())
    });
}
