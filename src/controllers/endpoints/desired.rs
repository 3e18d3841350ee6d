//! What a Service's endpoints should be, from the pods its selector matches: one entry per
//! pod with an address, its conditions and the ports its named or numbered `targetPort`s
//! resolve to (upstream's `ShouldPodBeInEndpoints`, `podutil.FindPort` and the endpoint
//! conditions of the EndpointSlice controller). Pure: the controller hands in the pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::pods::{is_ready, phase};

/// One port of an endpoint: the Service port's name, protocol and application protocol with
/// the number it resolves to on the pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointPort {
    /// The Service port's name (`""` when unnamed).
    pub name: String,
    /// The resolved port number.
    pub port: i32,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The Service port's `appProtocol`.
    pub app_protocol: Option<String>,
}

/// One pod behind a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The pod's address.
    pub ip: String,
    /// The pod's namespace, name and uid (the endpoint's `targetRef`).
    pub pod: (String, String, String),
    /// The node it runs on.
    pub node: Option<String>,
    /// `spec.hostname`, when the pod's `subdomain` names the Service.
    pub hostname: Option<String>,
    /// May receive traffic: serving and not terminating, or any pod of a Service that
    /// publishes unready addresses.
    pub ready: bool,
    /// Ready (or published regardless), whether terminating or not.
    pub serving: bool,
    /// Being deleted.
    pub terminating: bool,
    /// The Service's ports as they resolve on this pod, sorted.
    pub ports: Vec<EndpointPort>,
}

/// The Service's selector when it manages endpoints: `None` for Services without one (their
/// endpoints are written by hand) and for ExternalName Services.
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

/// Whether `selector` matches the pod's labels.
pub fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `publishNotReadyAddresses`.
pub fn publishes_unready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// Upstream `FindPort`: a numbered target port as it is; a named one looked up among the
/// pod's container ports of the same protocol.
fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
    .filter(|n| (1..=65535).contains(n))
}

/// The pod's address, if it has one.
fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()?
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

/// The endpoint `pod` gives `svc`, or `None` when it gives none: no address yet, finished,
/// or (unless `include_terminating`) being deleted.
pub fn endpoint(svc: &Service, pod: &Pod, include_terminating: bool) -> Option<Endpoint> {
    let ip = pod_ip(pod)?;
    if matches!(phase(pod), "Succeeded" | "Failed") {
        return None;
    }
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if terminating && !include_terminating {
        return None;
    }
    let publish = publishes_unready(svc);
    let serving = publish || is_ready(pod);
    let ready = publish || (serving && !terminating);
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .filter(|_| {
            spec.and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref()
                && pod.metadata.namespace == svc.metadata.namespace
        });
    let mut ports: Vec<EndpointPort> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(EndpointPort {
                name: p.name.clone().unwrap_or_default(),
                port: find_port(pod, p)?,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    ports.sort();
    Some(Endpoint {
        ip: ip.to_string(),
        pod: (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
            pod.metadata.uid.clone().unwrap_or_default(),
        ),
        node: spec.and_then(|s| s.node_name.clone()),
        hostname,
        ready,
        serving,
        terminating,
        ports,
    })
}

/// The endpoints of `svc` among `pods` (already narrowed to its namespace), sorted by pod
/// name, one per address (the first pod named keeps an address two host-network pods share).
pub fn endpoints<'a>(
    svc: &Service,
    pods: impl IntoIterator<Item = &'a Pod>,
    include_terminating: bool,
) -> Vec<Endpoint> {
    let Some(sel) = selector(svc) else {
        return Vec::new();
    };
    let mut out: Vec<Endpoint> = pods
        .into_iter()
        .filter(|p| selects(sel, p))
        .filter_map(|p| endpoint(svc, p, include_terminating))
        .collect();
    out.sort_by(|a, b| a.pod.1.cmp(&b.pod.1));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|e| seen.insert(e.ip.clone()));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn service(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default",
            "uid": "svc-uid"}, "spec": spec}))
        .unwrap()
    }

    pub(crate) fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"),
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "pi-1", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": 8080},
                          {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    #[test]
    fn named_and_numbered_target_ports_resolve_per_pod() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [
            {"name": "web", "port": 80, "targetPort": "http"},
            {"name": "metrics", "port": 9100, "targetPort": 9100},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
            {"name": "gone", "port": 81, "targetPort": "nope"}]}));
        let eps = endpoints(&svc, [&pod("web-1", "10.42.0.5", true)], true);
        let ports: Vec<(String, i32, String)> = eps[0]
            .ports
            .iter()
            .map(|p| (p.name.clone(), p.port, p.protocol.clone()))
            .collect();
        assert_eq!(
            ports,
            [
                ("dns".into(), 53, "UDP".into()),
                ("metrics".into(), 9100, "TCP".into()),
                ("web".into(), 8080, "TCP".into())
            ]
        );
    }

    #[test]
    fn conditions_follow_readiness_deletion_and_publishing() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        let mut leaving = pod("web-2", "10.42.0.6", true);
        leaving.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(chrono::Utc::now()),
        );
        let mut done = pod("web-3", "10.42.0.7", false);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let pods = [
            pod("web-1", "10.42.0.5", false),
            leaving.clone(),
            done,
            pod("no-ip", "", true),
        ];
        let eps = endpoints(&svc, &pods, true);
        let conds: Vec<(&str, bool, bool, bool)> = eps
            .iter()
            .map(|e| (e.ip.as_str(), e.ready, e.serving, e.terminating))
            .collect();
        assert_eq!(
            conds,
            [
                ("10.42.0.5", false, false, false),
                ("10.42.0.6", false, true, true)
            ]
        );
        assert_eq!(endpoints(&svc, &pods, false).len(), 1);
        let publishing = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}],
            "publishNotReadyAddresses": true}));
        let eps = endpoints(&publishing, &pods, true);
        assert!(eps.iter().all(|e| e.ready && e.serving));
    }

    #[test]
    fn hostname_only_for_the_services_subdomain_and_no_selector_no_endpoints() {
        let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
        let mut p = pod("web-0", "10.42.0.5", true);
        p.spec.as_mut().unwrap().hostname = Some("web-0".into());
        p.spec.as_mut().unwrap().subdomain = Some("web".into());
        assert_eq!(
            endpoints(&svc, [&p], true)[0].hostname.as_deref(),
            Some("web-0")
        );
        p.spec.as_mut().unwrap().subdomain = Some("other".into());
        assert_eq!(endpoints(&svc, [&p], true)[0].hostname, None);
        let bare = service(json!({"ports": [{"port": 80}]}));
        assert!(endpoints(&bare, [&p], true).is_empty());
        let external = service(json!({"type": "ExternalName", "externalName": "x.example",
            "selector": {"app": "web"}}));
        assert!(endpoints(&external, [&p], true).is_empty());
    }
}
