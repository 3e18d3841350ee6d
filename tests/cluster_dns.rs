//! Cluster DNS on a LAN of boards: every node answers for `cluster.local` at the `kube-dns`
//! address from its own caches — a Service's cluster IP, a headless Service's ready pods and
//! their hostnames, SRV records of named ports, reverse names, ExternalName aliases,
//! NXDOMAIN for names that do not exist — checked with `dig` on a joined board and from a
//! pod; pods get the kubelet's resolv.conf; and the board keeps answering while the server
//! is down. Needs root and `dig` (bind9-dnsutils).

use crate::support;

use support::eventually;
use support::lan::{Lan, IMAGE};

const TAG: u8 = 4;

const OBJECTS: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: nas.example.test
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  nodeSelector: {kubernetes.io/hostname: board-2}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: IMAGE}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: board-3}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: IMAGE}]
";

/// `dig +short @10.43.0.10 ARGS` on board 3, as a process of that node.
fn dig(lan: &Lan, args: &[&str]) -> String {
    let mut all = vec!["dig", "+short", "+time=2", "+tries=1", "@10.43.0.10"];
    all.extend_from_slice(args);
    let (_, out) = lan.on_board(3, &all);
    out.trim().to_string()
}

/// The `status:` dig reports for the query `args`.
fn status(lan: &Lan, args: &[&str]) -> String {
    let mut all = vec!["dig", "+time=2", "+tries=1", "@10.43.0.10"];
    all.extend_from_slice(args);
    let (_, out) = lan.on_board(3, &all);
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn every_board_answers_for_the_cluster_and_keeps_answering_without_the_server() {
    let mut lan = Lan::start(TAG, 2);
    let c = &lan.cluster;
    assert_eq!(
        c.jsonpath(
            &["service", "-n", "kube-system", "kube-dns"],
            "{.spec.clusterIP}"
        ),
        "10.43.0.10"
    );
    c.apply(&OBJECTS.replace("IMAGE", IMAGE));
    for pod in ["db-0", "client"] {
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=60s",
        ]);
    }
    let web_ip = c.jsonpath(&["service", "web"], "{.spec.clusterIP}");
    let db_ip = c.jsonpath(&["pod", "db-0"], "{.status.podIP}");

    // A Service, a headless Service's pod by the Service and by its hostname.
    eventually("the web service's address", || {
        (dig(&lan, &["web.default.svc.cluster.local"]) == web_ip).then_some(())
    });
    eventually("the headless service's pod", || {
        (dig(&lan, &["db.default.svc.cluster.local"]) == db_ip).then_some(())
    });
    assert_eq!(dig(&lan, &["db-0.db.default.svc.cluster.local"]), db_ip);
    // SRV of a named port, the reverse name, an ExternalName alias.
    assert_eq!(
        dig(&lan, &["_http._tcp.web.default.svc.cluster.local", "SRV"]),
        "0 100 80 web.default.svc.cluster.local."
    );
    assert_eq!(
        dig(&lan, &["_pg._tcp.db.default.svc.cluster.local", "SRV"]),
        "0 100 5432 db-0.db.default.svc.cluster.local."
    );
    assert_eq!(
        dig(&lan, &["-x", &web_ip]),
        "web.default.svc.cluster.local."
    );
    assert_eq!(
        dig(&lan, &["ext.default.svc.cluster.local", "CNAME"]),
        "nas.example.test."
    );
    // A name that does not exist, and one that exists without records of the type asked.
    assert_eq!(
        status(&lan, &["nope.default.svc.cluster.local"]),
        "NXDOMAIN"
    );
    assert_eq!(dig(&lan, &["web.default.svc.cluster.local", "AAAA"]), "");
    assert_eq!(
        status(&lan, &["web.default.svc.cluster.local", "AAAA"]),
        "NOERROR"
    );

    // Pods resolve through cluster DNS with the kubelet's search path.
    let (_, resolv) = lan.exec("client", "cat /etc/resolv.conf");
    assert!(resolv.contains("nameserver 10.43.0.10"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");
    eventually("a pod resolving a service by its short name", || {
        let (_, out) = lan.exec(
            "client",
            "nslookup web.default.svc.cluster.local 10.43.0.10",
        );
        out.contains(&web_ip).then_some(())
    });

    // With the server down, the boards still answer from their caches.
    lan.cluster.kill9();
    assert_eq!(dig(&lan, &["web.default.svc.cluster.local"]), web_ip);
    assert_eq!(dig(&lan, &["db-0.db.default.svc.cluster.local"]), db_ip);
    lan.cluster.restart();
}
