//! The `Endpoints` object of a Service with a selector, as upstream's endpoints controller
//! writes it: ready addresses and not-ready ones grouped into subsets by the ports they
//! share (`RepackSubsets`), the Service's labels plus `skip-mirror` (the slices come from
//! the pods, not from this object), and at most 1000 addresses, marked `over-capacity`
//! when some were left out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use serde_json::{json, Map, Value};

use super::desired::{Endpoint, EndpointPort};

use crate::resources::endpoints::SKIP_MIRROR_LABEL;
/// The label marking a headless Service's endpoints.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The annotation on an Endpoints object that holds fewer addresses than exist.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// Upstream's `maxCapacity`.
const MAX_ADDRESSES: usize = 1000;

/// Whether the Service is headless.
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Labels of the objects written for `svc`: its own, then the controller's.
pub fn labels(svc: &Service, extra: &[(&str, &str)]) -> Map<String, Value> {
    let mut out: Map<String, Value> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if is_headless(svc) {
        out.insert(HEADLESS_LABEL.into(), json!(""));
    }
    for (k, v) in extra {
        out.insert((*k).into(), json!(v));
    }
    out
}

fn address(e: &Endpoint) -> Value {
    let mut a = json!({"ip": e.ip, "targetRef": {"kind": "Pod", "namespace": e.pod.0,
        "name": e.pod.1, "uid": e.pod.2}});
    if let Some(node) = &e.node {
        a["nodeName"] = json!(node);
    }
    if let Some(host) = &e.hostname {
        a["hostname"] = json!(host);
    }
    a
}

fn port(p: &EndpointPort) -> Value {
    let mut v = json!({"port": p.port, "protocol": p.protocol});
    if !p.name.is_empty() {
        v["name"] = json!(p.name);
    }
    if let Some(app) = &p.app_protocol {
        v["appProtocol"] = json!(app);
    }
    v
}

/// The object `svc` should have for `endpoints` (from [`super::desired::endpoints`] with
/// terminating pods only when the Service publishes unready addresses).
pub fn desired(svc: &Service, endpoints: &[Endpoint]) -> Value {
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    let mut groups: BTreeMap<&[EndpointPort], (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    let mut kept = 0usize;
    let mut truncated = false;
    let mut sorted: Vec<&Endpoint> = endpoints.iter().collect();
    // Ready addresses first, so a truncation drops unready ones.
    sorted.sort_by_key(|e| !e.ready);
    for e in sorted {
        if has_ports && e.ports.is_empty() {
            continue;
        }
        if kept == MAX_ADDRESSES {
            truncated = true;
            break;
        }
        kept += 1;
        let (ready, unready) = groups.entry(&e.ports).or_default();
        if e.ready {
            ready.push(address(e));
        } else {
            unready.push(address(e));
        }
    }
    let by_ip = |a: &Value, b: &Value| a["ip"].as_str().cmp(&b["ip"].as_str());
    let subsets: Vec<Value> = groups
        .into_iter()
        .map(|(ports, (mut ready, mut unready))| {
            ready.sort_by(by_ip);
            unready.sort_by(by_ip);
            let mut s = Map::new();
            if !ready.is_empty() {
                s.insert("addresses".into(), Value::Array(ready));
            }
            if !unready.is_empty() {
                s.insert("notReadyAddresses".into(), Value::Array(unready));
            }
            if !ports.is_empty() {
                s.insert("ports".into(), ports.iter().map(port).collect());
            }
            Value::Object(s)
        })
        .collect();
    let mut meta = json!({
        "name": svc.metadata.name,
        "namespace": svc.metadata.namespace,
        "labels": labels(svc, &[(SKIP_MIRROR_LABEL, "true")]),
    });
    if truncated {
        meta["annotations"] = json!({ OVER_CAPACITY: "truncated" });
    }
    let mut obj = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta});
    if !subsets.is_empty() {
        obj["subsets"] = Value::Array(subsets);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::super::desired::endpoints;
    use super::super::desired::tests::{pod, service};
    use super::*;

    #[test]
    fn ready_and_unready_addresses_share_a_subset_per_port_set() {
        let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "None",
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}));
        let mut other = pod("web-3", "10.42.0.4", true);
        other.spec.as_mut().unwrap().containers[0].ports = None;
        let pods = [
            pod("web-1", "10.42.0.9", true),
            pod("web-2", "10.42.0.5", false),
            other,
        ];
        let obj = desired(&svc, &endpoints(&svc, &pods, false));
        assert_eq!(
            obj["subsets"],
            json!([{
                "addresses": [{"ip": "10.42.0.9", "nodeName": "pi-1", "targetRef":
                    {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "web-1-uid"}}],
                "notReadyAddresses": [{"ip": "10.42.0.5", "nodeName": "pi-1", "targetRef":
                    {"kind": "Pod", "namespace": "default", "name": "web-2", "uid": "web-2-uid"}}],
                "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}])
        );
        assert_eq!(obj["metadata"]["labels"][SKIP_MIRROR_LABEL], "true");
        assert_eq!(obj["metadata"]["labels"][HEADLESS_LABEL], "");
    }

    #[test]
    fn no_pods_no_subsets_and_too_many_are_truncated() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        assert!(desired(&svc, &[]).get("subsets").is_none());
        let pods: Vec<_> = (0..1001)
            .map(|i| {
                pod(
                    &format!("web-{i}"),
                    &format!("10.42.{}.{}", i / 250, i % 250 + 1),
                    true,
                )
            })
            .collect();
        let obj = desired(&svc, &endpoints(&svc, &pods, false));
        let n = obj["subsets"][0]["addresses"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(n, 1000);
        assert_eq!(obj["metadata"]["annotations"][OVER_CAPACITY], "truncated");
    }
}
