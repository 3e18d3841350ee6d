//! Endpoints and EndpointSlices as kubectl shows them: the endpoints controller follows the
//! pods a Service selects — their addresses, named target ports and readiness, terminating
//! pods kept in the slices but out of the Endpoints — and removes everything with the
//! Service; a Service without a selector gets its hand-written Endpoints mirrored into a
//! slice; a bad Endpoints object is refused field by field. The control plane runs without
//! a kubelet, so pod status is written by hand, as a kubelet would.

use crate::support;

use support::{eventually, node_yaml, Cluster};

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
";

/// A pod of the Service; a finalizer holds it while it terminates, as its kubelet would.
fn pod_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: web}}, finalizers: [example.com/hold]}}
spec:
  nodeName: pi-1
  containers: [{{name: c, image: busybox, ports: [{{name: http, containerPort: 8080}}]}}]
"
    )
}

/// Writes the pod's status as its kubelet would: running at `ip`, ready or not.
fn set_status(c: &Cluster, pod: &str, ip: &str, ready: bool) {
    let patch = format!(
        "{{\"status\":{{\"phase\":\"Running\",\"podIP\":\"{ip}\",\"podIPs\":[{{\"ip\":\"{ip}\"}}],\
         \"conditions\":[{{\"type\":\"Ready\",\"status\":\"{}\"}}]}}}}",
        if ready { "True" } else { "False" }
    );
    c.kubectl_ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

/// Lets a deleted pod go by removing its finalizer.
fn release(c: &Cluster, pod: &str) {
    let patch = r#"{"metadata":{"finalizers":null}}"#;
    c.kubectl_ok(&["patch", "pod", pod, "--type=merge", "-p", patch]);
}

/// The cells of the table row named `name`.
fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(name))
        .unwrap_or_default()
}

fn endpoints_cell(c: &Cluster) -> String {
    row(&c.kubectl_ok(&["get", "endpoints"]), "web")
        .get(1)
        .cloned()
        .unwrap_or_default()
}

/// `ip=ready/serving/terminating` for every endpoint of the Service's slices, sorted.
fn slice_conditions(c: &Cluster) -> String {
    let out = c.jsonpath(
        &["endpointslices", "-l", "kubernetes.io/service-name=web"],
        "{range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready}/{.conditions.serving}/{.conditions.terminating} {end}",
    );
    let mut items: Vec<&str> = out.split_whitespace().collect();
    items.sort();
    items.join(" ")
}

#[test]
fn endpoints_follow_pod_readiness_and_deletion() {
    let c = Cluster::start();
    c.apply(&node_yaml("pi-1", "4", "4Gi"));
    c.apply(SERVICE);
    // A Service without pods has an Endpoints object without addresses and one empty slice.
    eventually("empty endpoints", || {
        (endpoints_cell(&c) == "<none>").then_some(())
    });
    let slices = c.kubectl_ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    assert!(
        slices.contains("IPv4") && slices.contains("<unset>"),
        "{slices}"
    );

    c.apply(&pod_yaml("web-1"));
    c.apply(&pod_yaml("web-2"));
    set_status(&c, "web-1", "10.42.0.5", true);
    set_status(&c, "web-2", "10.42.0.6", false);
    // The named target port resolves to the container port; the unready pod is listed as
    // such in the slice and among notReadyAddresses.
    eventually("the ready pod behind the service", || {
        (endpoints_cell(&c) == "10.42.0.5:8080").then_some(())
    });
    eventually("both pods in the slice", || {
        (slice_conditions(&c) == "10.42.0.5=true/true/false 10.42.0.6=false/false/false")
            .then_some(())
    });
    assert_eq!(
        c.jsonpath(
            &["endpoints", "web"],
            "{.subsets[0].notReadyAddresses[0].ip}"
        ),
        "10.42.0.6"
    );
    let slice = c.kubectl_ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    let name = slice
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    assert!(name.starts_with("web-"), "{slice}");
    assert_eq!(
        &row(&slice, &name)[1..4],
        ["IPv4", "8080", "10.42.0.5,10.42.0.6"]
    );
    assert_eq!(
        c.jsonpath(
            &["endpointslice", &name],
            "{.metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.metadata.labels.tier} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"
        ),
        "endpointslice-controller.k8s.io front Service/web"
    );

    // Readiness reaches both objects.
    set_status(&c, "web-2", "10.42.0.6", true);
    eventually("both pods ready", || {
        (endpoints_cell(&c) == "10.42.0.5:8080,10.42.0.6:8080").then_some(())
    });

    // A pod being deleted (not yet finished) leaves the Endpoints and stays in the slice as
    // terminating but still serving.
    c.kubectl_ok(&["delete", "pod", "web-1", "--wait=false"]);
    eventually("the terminating pod out of the endpoints", || {
        (endpoints_cell(&c) == "10.42.0.6:8080").then_some(())
    });
    eventually("the terminating pod marked in the slice", || {
        (slice_conditions(&c) == "10.42.0.5=false/true/true 10.42.0.6=true/true/false")
            .then_some(())
    });
    release(&c, "web-1");
    eventually("the deleted pod out of the slice", || {
        (slice_conditions(&c) == "10.42.0.6=true/true/false").then_some(())
    });

    // Deleting the Service removes both.
    release(&c, "web-2");
    c.kubectl_ok(&["delete", "service", "web"]);
    eventually("endpoints and slices gone", || {
        let left = c.kubectl_ok(&["get", "endpoints,endpointslices", "-o", "name"]);
        (!left.contains("web")).then_some(())
    });
}

#[test]
fn hand_written_endpoints_are_mirrored_into_a_slice() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1
kind: Service
metadata: {name: nas}
spec:
  ports: [{name: smb, port: 445}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: nas}
subsets:
- addresses: [{ip: 192.168.1.20}]
  ports: [{name: smb, port: 445}]
",
    );
    let slice = eventually("a mirrored slice", || {
        let out = c.kubectl_ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=nas",
        ]);
        out.contains("192.168.1.20").then_some(out)
    });
    assert!(slice.contains("445"), "{slice}");
    assert_eq!(
        c.jsonpath(
            &["endpointslices", "-l", "kubernetes.io/service-name=nas"],
            "{.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}"
        ),
        "endpointslicemirroring-controller.k8s.io"
    );
    // The endpoints controller leaves hand-written Endpoints alone.
    assert_eq!(
        c.jsonpath(&["endpoints", "nas"], "{.subsets[0].addresses[0].ip}"),
        "192.168.1.20"
    );
}

#[test]
fn bad_endpoints_are_refused_with_the_field() {
    let c = Cluster::start();
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1
kind: Endpoints
metadata: {name: loop}
subsets:
- addresses: [{ip: 127.0.0.1}]
  ports: [{port: 70000}]
",
        ),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range")
            && err.contains("subsets[0].ports[0].port: Invalid value: 70000"),
        "{err}"
    );
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["apply", "-f", "-"],
        Some(
            "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad}
addressType: IPv4
endpoints: [{addresses: [fd00::1]}]
",
        ),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address"
        ),
        "{err}"
    );
    assert!(!c
        .kubectl_ok(&["get", "endpoints,endpointslices", "-o", "name"])
        .contains("loop"));
}

/// A Node at `ip`, ready or not.
fn node_at(name: &str, ip: &str, ready: bool) -> String {
    format!(
        "apiVersion: v1
kind: Node
metadata: {{name: {name}}}
status:
  addresses: [{{type: InternalIP, address: {ip}}}, {{type: Hostname, address: {name}}}]
  conditions: [{{type: Ready, status: \"{}\"}}]
",
        if ready { "True" } else { "Unknown" }
    )
}

fn load_balancer(name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  type: LoadBalancer
  selector: {{app: {name}}}
  ports: [{{port: {port}}}]
"
    )
}

#[test]
fn load_balancers_answer_on_the_ready_nodes_and_a_taken_port_waits() {
    let c = Cluster::start();
    c.apply(&node_at("pi-1", "192.168.1.11", true));
    c.apply(&node_at("pi-2", "192.168.1.12", true));
    c.apply(&node_at("pi-3", "192.168.1.13", false));
    c.apply(&load_balancer("web", 80));
    let external = |svc: &str| {
        row(&c.kubectl_ok(&["get", "service", svc]), svc)
            .get(3)
            .cloned()
            .unwrap_or_default()
    };
    eventually("the ready nodes as the web service's ingress", || {
        (external("web") == "192.168.1.11,192.168.1.12").then_some(())
    });
    assert_eq!(
        c.jsonpath(
            &["service", "web"],
            "{.status.loadBalancer.ingress[0].ipMode}"
        ),
        "VIP"
    );
    // A second Service on the same port stays pending, and says why.
    c.apply(&load_balancer("shop", 80));
    eventually("a PortInUse event", || {
        let events = c.kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=shop",
        ]);
        events.contains("PortInUse").then_some(())
    });
    assert_eq!(external("shop"), "<pending>");
    // A node turning ready joins the ingress; the first Service going frees the port.
    let ready = r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#;
    c.kubectl_ok(&["patch", "node", "pi-3", "--subresource=status", "-p", ready]);
    eventually("the third node in the ingress", || {
        (external("web") == "192.168.1.11,192.168.1.12,192.168.1.13").then_some(())
    });
    c.kubectl_ok(&["delete", "service", "web"]);
    eventually("the second service served once the port is free", || {
        (external("shop") == "192.168.1.11,192.168.1.12,192.168.1.13").then_some(())
    });
    // A Service that stops being a LoadBalancer loses its ingress.
    c.kubectl_ok(&[
        "patch",
        "service",
        "shop",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    eventually("the ingress gone", || {
        c.jsonpath(&["service", "shop"], "{.status.loadBalancer.ingress}")
            .is_empty()
            .then_some(())
    });
}
