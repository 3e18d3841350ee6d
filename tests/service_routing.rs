//! Services that route, on a LAN of three boards (the server and two joined agents, each in
//! a network namespace of its own): a pod reaches a Service's pods on other boards through
//! its cluster IP and by its name; this machine, outside the nodes, reaches it on a node
//! port of a board without one of its pods and on a load-balancer address; traffic follows
//! readiness and pod deletion, sticks to one pod under ClientIP affinity, a pod reaches
//! itself through its own Service, a Service without endpoints is refused at once, and a
//! under `externalTrafficPolicy: Local` a node port answers only on the board with an
//! endpoint, with the client's address kept; a UDP Service answers; and a board's proxy
//! table goes when its agent stops. Needs root.

use crate::support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

use support::lan::{http_get, http_get_path, Lan, IMAGE};
use support::{eventually, in_cluster};

const TAG: u8 = 3;

/// A web server pod on `node` answering its own name on 8080 (and the client's address at
/// `/cgi-bin/ip`), ready while /tmp/ready exists.
fn web_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: web, pod: {name}}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {IMAGE}
    command: [/bin/sh, -c, 'mkdir -p /www/cgi-bin /tmp && hostname > /www/index.html && printf \"#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \\$REMOTE_ADDR\\n\" > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && touch /tmp/ready && exec httpd -f -p 8080 -h /www']
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe:
      exec: {{command: [cat, /tmp/ready]}}
      periodSeconds: 1
"
    )
}

/// The client pod, running as a service account that may only read pods, with this
/// machine's kubectl (a static binary, put at `kubectl` under an allowed host path) and a
/// kube-rs program (this test binary, see [`in_cluster`]) to act as in-cluster clients.
fn client_pod(node: &str, kubectl: &std::path::Path, kube_rs: &std::path::Path) -> String {
    let kubectl = kubectl.display();
    let kube_rs = kube_rs.display();
    let mount = in_cluster::MOUNT;
    format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: pod-reader}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader}}
rules: [{{apiGroups: [''], resources: [pods], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: pod-reader}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects: [{{kind: ServiceAccount, name: pod-reader, namespace: default}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  serviceAccountName: pod-reader
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    volumeMounts:
    - {{name: kubectl, mountPath: /usr/local/bin/kubectl, readOnly: true}}
    - {{name: kube-rs, mountPath: {mount}, readOnly: true}}
  volumes:
  - {{name: kubectl, hostPath: {{path: {kubectl}, type: File}}}}
  - {{name: kube-rs, hostPath: {{path: {kube_rs}, type: Directory}}}}
"
    )
}

/// A copy of this machine's kubectl (a static binary) in a directory pods may mount from.
fn kubectl_for_pods() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("bramble-kubectl-{}-", std::process::id()))
        .tempdir_in("/tmp")
        .expect("a directory under /tmp");
    let copy = dir.path().join("kubectl");
    // the binary itself: a hard link to a symlink would be a symlink, which hostPath refuses
    let host = std::fs::canonicalize(which_kubectl()).expect("kubectl's real path");
    if std::fs::hard_link(&host, &copy).is_err() {
        std::fs::copy(&host, &copy).expect("copy kubectl");
    }
    (dir, copy)
}

fn which_kubectl() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on PATH")
}

const SERVICES: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: only-a}
spec:
  selector: {pod: web-a}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
";

/// A node port Service in front of web-a only.
const WEB_A_NODE_PORT: &str = "apiVersion: v1
kind: Service
metadata: {name: web-a-outside}
spec:
  type: NodePort
  selector: {pod: web-a}
  ports: [{port: 80, targetPort: http}]
";

/// A UDP Service without a selector, in front of a DNS server on board 2's address port 5353.
fn udp_service(board2: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: names}}
spec:
  ports: [{{port: 53, targetPort: 5353, protocol: UDP}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: names}}
subsets:
- addresses: [{{ip: {board2}}}]
  ports: [{{port: 5353, protocol: UDP}}]
"
    )
}

/// The name the DNS server behind the UDP Service knows, and its address.
const UDP_NAME: (&str, &str) = ("udp-check.test", "192.0.2.53");

/// A process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq in board 2's namespace answering [`UDP_NAME`] on its address, port 5353.
fn name_server_on_board_2(lan: &Lan) -> Running {
    let child = Command::new("ip")
        .args(["netns", "exec", &lan.switch.netns[1], "dnsmasq"])
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--pid-file",
            "--port=5353",
        ])
        .arg(format!("--listen-address={}", lan.switch.board_ip(2)))
        .arg(format!("--host-record={},{}", UDP_NAME.0, UDP_NAME.1))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq (apt-get install dnsmasq-base)");
    Running(child)
}

/// A shell command making one HTTP GET of `/` to `host` (an address or a name) port 80 with
/// busybox nc (the test image's static busybox wget crashes).
fn get(host: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80")
}

/// Which pods answer on `host` from the client pod over `tries` requests.
fn answers(lan: &Lan, host: &str, tries: usize) -> BTreeSet<String> {
    let cmd = format!("for i in $(seq {tries}); do {}; done", get(host));
    let (_, out) = lan.exec("client", &cmd);
    out.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("web-"))
        .map(str::to_string)
        .collect()
}

const THIS_TEST: &str = "service_routing::services_route_across_boards_and_from_outside";

#[test]
fn services_route_across_boards_and_from_outside() {
    if in_cluster::is_child() {
        in_cluster::child();
        return;
    }
    let mut lan = Lan::start(TAG, 2);
    let c = &lan.cluster;
    c.apply(&web_pod("web-a", "board-2"));
    c.apply(&web_pod("web-b", "test-node"));
    let (_kubectl_dir, kubectl) = kubectl_for_pods();
    let kube_rs = in_cluster::for_pods();
    c.apply(&client_pod("board-3", &kubectl, kube_rs.path()));
    c.apply(SERVICES);
    for pod in ["web-a", "web-b", "client"] {
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=60s",
        ]);
    }
    let url = c.jsonpath(&["service", "web"], "{.spec.clusterIP}");

    // Through the cluster IP, from board 3 to pods on boards 1 and 2.
    eventually("both pods behind the cluster IP", || {
        let seen = answers(&lan, &url, 10);
        (seen.len() == 2).then_some(())
    });
    // And by name, as an application would: its short name and its full one.
    for name in ["web", "web.default.svc.cluster.local"] {
        eventually(&format!("the service reached as {name}"), || {
            (!answers(&lan, name, 2).is_empty()).then_some(())
        });
    }

    // From outside the nodes: the node port of board 3, which runs neither pod, and the
    // load balancer on board 1's address.
    let node_port: u16 = c
        .jsonpath(&["service", "web"], "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    let board3 = lan.switch.board_ip(3);
    eventually("the node port answering from outside", || {
        http_get(&board3, node_port).filter(|b| b.starts_with("web-"))
    });
    let ingress = eventually("the load balancer's addresses", || {
        let ips = c.jsonpath(&["service", "web"], "{.status.loadBalancer.ingress[*].ip}");
        (ips.split_whitespace().count() == 3).then_some(ips)
    });
    assert!(ingress.contains(&lan.switch.board_ip(1)), "{ingress}");
    eventually("the load balancer answering on board 1's address", || {
        http_get(&lan.switch.board_ip(1), 80).filter(|b| b.starts_with("web-"))
    });

    // Readiness: web-a turns unready and gets no more traffic; ready again, it does.
    lan.exec("web-a", "rm /tmp/ready");
    eventually("only web-b behind the service", || {
        let seen = answers(&lan, &url, 10);
        (seen == BTreeSet::from(["web-b".to_string()])).then_some(())
    });
    lan.exec("web-a", "touch /tmp/ready");
    eventually("web-a back behind the service", || {
        (answers(&lan, &url, 10).len() == 2).then_some(())
    });

    // ClientIP affinity: one client, one pod.
    let c = &lan.cluster;
    c.kubectl_ok(&[
        "patch",
        "service",
        "web",
        "-p",
        r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
    ]);
    eventually("every request of the client on one pod", || {
        (answers(&lan, &url, 12).len() == 1).then_some(())
    });

    // Hairpin: web-a reaches itself through a Service of its own.
    let only_a = c.jsonpath(&["service", "only-a"], "{.spec.clusterIP}");
    eventually("web-a reaching itself", || {
        let (_, out) = lan.exec("web-a", &get(&only_a));
        out.lines().any(|l| l.trim() == "web-a").then_some(())
    });

    // A deleted pod gets no more traffic, even from a client that stuck to it.
    c.kubectl_ok(&["delete", "pod", "web-b", "--wait=false"]);
    eventually(
        "only web-a behind the service once web-b is deleted",
        || (answers(&lan, &url, 6) == BTreeSet::from(["web-a".to_string()])).then_some(()),
    );

    // A Service without endpoints is refused at once instead of leaving the node.
    let empty = c.jsonpath(&["service", "empty"], "{.spec.clusterIP}");
    let (ok, out) = lan.exec("client", &get(&empty));
    assert!(!ok && out.contains("refused"), "{out}");

    // externalTrafficPolicy: under Cluster, board 3's node port reaches web-a on board 2
    // with the client's address masqueraded; under Local, only board 2 answers, and web-a
    // sees this machine's address.
    c.apply(WEB_A_NODE_PORT);
    let port: u16 = c
        .jsonpath(&["service", "web-a-outside"], "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    let (board2, host) = (lan.switch.board_ip(2), lan.switch.host_ip());
    let seen = eventually("board 3's node port reaching web-a", || {
        http_get_path(&board3, port, "/cgi-bin/ip")
    });
    assert!(!seen.contains(&host), "masqueraded under Cluster: {seen}");
    c.kubectl_ok(&[
        "patch",
        "service",
        "web-a-outside",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
    ]);
    eventually("board 3, without an endpoint, no longer answering", || {
        http_get_path(&board3, port, "/cgi-bin/ip")
            .is_none()
            .then_some(())
    });
    eventually("board 2 answering with the client's address kept", || {
        http_get_path(&board2, port, "/cgi-bin/ip").filter(|ip| ip.contains(&host))
    });

    // UDP: a pod on board 3 asks a name of the DNS server behind the `names` Service.
    let _name_server = name_server_on_board_2(&lan);
    c.apply(&udp_service(&board2));
    let names = c.jsonpath(&["service", "names"], "{.spec.clusterIP}");
    eventually("a UDP answer through the Service", || {
        let (_, out) = lan.exec("client", &format!("nslookup {} {names}", UDP_NAME.0));
        out.contains(UDP_NAME.1).then_some(())
    });

    // The API through the `kubernetes` Service, as in-cluster clients reach it: its
    // Endpoints and its one slice (the server's own, not mirrored) name board 1's address
    // and the API port, and a connection is made (the TLS listener answers plain text with
    // an alert and closes).
    let api = format!("{}:{}", lan.switch.board_ip(1), c.port);
    assert_eq!(
        c.jsonpath(
            &["endpoints", "kubernetes"],
            "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}"
        ),
        api
    );
    assert_eq!(
        c.jsonpath(
            &[
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=kubernetes"
            ],
            "{range .items[*]}{.metadata.name}={.endpoints[0].addresses[0]}:{.ports[0].port} {end}"
        )
        .trim(),
        format!("kubernetes={api}")
    );
    eventually("the API reached at kubernetes.default.svc", || {
        let cmd = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 kubernetes.default.svc 443";
        let (ok, _) = lan.exec("client", cmd);
        ok.then_some(())
    });
    // And where in-cluster clients look first: the variables every container gets.
    let (_, vars) = lan.exec(
        "client",
        "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT",
    );
    assert_eq!(vars.trim(), "10.43.0.1:443 tcp://10.43.0.1:443");
    let cmd = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | \
               nc -w 2 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT";
    assert!(lan.exec("client", cmd).0, "the API through its variables");
    // An in-cluster client (client-go's InClusterConfig, in kubectl) finds the API, trusts
    // it with the projected CA, and may do what its account's Role grants and no more.
    let (ok, pods) = lan.exec("client", "kubectl get pods -o name");
    assert!(ok && pods.contains("pod/client"), "{pods}");
    let (_, who) = lan.exec(
        "client",
        "kubectl auth whoami -o jsonpath='{.status.userInfo.username}'",
    );
    assert_eq!(who.trim(), "system:serviceaccount:default:pod-reader");
    let (ok, denied) = lan.exec("client", "kubectl get services");
    assert!(
        !ok && denied.contains(
            "User \"system:serviceaccount:default:pod-reader\" cannot list resource \"services\""
        ),
        "{denied}"
    );
    let (ok, elsewhere) = lan.exec("client", "kubectl get pods -n kube-system");
    assert!(!ok && elsewhere.contains("forbidden"), "{elsewhere}");
    // kube-rs's `Client::try_default()` in the pod: the same account, the same limits.
    let (_, out) = lan.exec("client", &in_cluster::command(THIS_TEST));
    let pods = out.lines().find_map(|l| l.strip_prefix("kube-rs pods: "));
    assert!(
        pods.is_some_and(|p| p.split(',').any(|n| n == "client")),
        "{out}"
    );
    assert!(out.contains("kube-rs services: 403 Forbidden"), "{out}");

    // Stopping an agent removes its proxy's table.
    let (_, tables) = lan.on_board(3, &["nft", "list", "tables"]);
    assert!(tables.contains("-proxy"), "{tables}");
    lan.cluster
        .kubectl_ok(&["delete", "pod", "client", "--wait=true"]);
    lan.agents[1].stop();
    let (_, tables) = lan.on_board(3, &["nft", "list", "tables"]);
    assert!(!tables.contains("-proxy"), "{tables}");
}
