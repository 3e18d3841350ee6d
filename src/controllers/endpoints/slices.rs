//! The EndpointSlices of a Service: its endpoints grouped by the ports they resolve to, at
//! most 100 to a slice, and how to get there from the slices it has — update those whose
//! ports match in name order, create what is missing, delete the rest. A Service without
//! endpoints keeps one empty slice, as upstream's placeholder. Slices carry the
//! `kubernetes.io/service-name` and `managed-by` labels and the Service as controlling owner.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

use super::desired::{Endpoint, EndpointPort};
use super::endpoints_object::labels;
use crate::resources::endpointslice::{MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

/// Endpoints per slice (upstream's `--max-endpoints-per-slice` default).
pub const MAX_PER_SLICE: usize = 100;

/// What to write.
#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (with `generateName`).
    pub create: Vec<Value>,
    /// Existing slices to change: name and merge patch.
    pub update: Vec<(String, Value)>,
    /// Existing slices to delete.
    pub delete: Vec<String>,
}

impl Plan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// One endpoint of a slice.
pub fn endpoint_json(e: &Endpoint) -> Value {
    let mut v = json!({
        "addresses": [e.ip],
        "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
        "targetRef": {"kind": "Pod", "namespace": e.pod.0, "name": e.pod.1, "uid": e.pod.2},
    });
    if let Some(node) = &e.node {
        v["nodeName"] = json!(node);
    }
    if let Some(host) = &e.hostname {
        v["hostname"] = json!(host);
    }
    v
}

/// One port of a slice, as the API stores it (an unnamed port has the name `""`).
pub fn port_json(p: &EndpointPort) -> Value {
    let mut v = json!({"name": p.name, "port": p.port, "protocol": p.protocol});
    if let Some(app) = &p.app_protocol {
        v["appProtocol"] = json!(app);
    }
    v
}

/// The Service as the controlling owner of its slices.
fn owner(svc: &Service) -> Value {
    json!([{"apiVersion": "v1", "kind": "Service", "name": svc.metadata.name,
        "uid": svc.metadata.uid, "controller": true, "blockOwnerDeletion": true}])
}

/// A slice's ports and endpoints, as JSON.
type Content = (Vec<Value>, Vec<Value>);

fn content_of(slice: &EndpointSlice) -> Content {
    let to_json = |v: Option<Value>| match v {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    (
        to_json(
            slice
                .ports
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok()),
        ),
        to_json(serde_json::to_value(&slice.endpoints).ok()),
    )
}

/// The slices `svc` should have, as (ports, endpoints) contents: the IPv4 endpoints grouped
/// by port set and chunked; endpoints whose ports all failed to resolve are left out.
pub fn contents(svc: &Service, endpoints: &[Endpoint]) -> Vec<Content> {
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    let mut groups: BTreeMap<&[EndpointPort], Vec<&Endpoint>> = BTreeMap::new();
    for e in endpoints {
        if (has_ports && e.ports.is_empty()) || e.ip.parse::<Ipv4Addr>().is_err() {
            continue;
        }
        groups.entry(&e.ports).or_default().push(e);
    }
    let mut out: Vec<Content> = Vec::new();
    for (ports, eps) in groups {
        let ports: Vec<Value> = ports.iter().map(port_json).collect();
        for chunk in eps.chunks(MAX_PER_SLICE) {
            out.push((
                ports.clone(),
                chunk.iter().map(|e| endpoint_json(e)).collect(),
            ));
        }
    }
    if out.is_empty() {
        out.push((Vec::new(), Vec::new()));
    }
    out
}

/// How to turn `existing` (this controller's slices of `svc`) into `wanted`.
pub fn plan(
    svc: &Service,
    wanted: Vec<Content>,
    existing: &[Arc<EndpointSlice>],
    managed_by: &str,
) -> Plan {
    let svc_name = svc.metadata.name.as_deref().unwrap_or_default();
    let labels = labels(
        svc,
        &[
            (SERVICE_NAME_LABEL, svc_name),
            (MANAGED_BY_LABEL, managed_by),
        ],
    );
    let mut existing: Vec<&Arc<EndpointSlice>> = existing.iter().collect();
    existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut plan = Plan::default();
    let mut unused: Vec<Option<&Arc<EndpointSlice>>> = existing.into_iter().map(Some).collect();
    let mut pending = Vec::new();
    // First pass: a slice with the same ports takes the content, in name order.
    for (ports, endpoints) in wanted {
        let found = unused.iter_mut().find(|s| {
            s.as_ref()
                .is_some_and(|s| s.address_type == "IPv4" && content_of(s).0 == ports)
        });
        match found.and_then(Option::take) {
            Some(slice) => {
                let same_labels = slice.metadata.labels.as_ref().is_some_and(|l| {
                    l.len() == labels.len()
                        && l.iter().all(|(k, v)| labels.get(k) == Some(&json!(v)))
                });
                let same_owner = serde_json::to_value(&slice.metadata.owner_references)
                    .is_ok_and(|o| o == owner(svc));
                if content_of(slice).1 != endpoints || !same_labels || !same_owner {
                    plan.update.push((
                        slice.metadata.name.clone().unwrap_or_default(),
                        json!({
                            "metadata": {"labels": labels, "ownerReferences": owner(svc),
                                "resourceVersion": slice.metadata.resource_version},
                            "ports": ports,
                            "endpoints": endpoints,
                        }),
                    ));
                }
            }
            None => pending.push((ports, endpoints)),
        }
    }
    for (ports, endpoints) in pending {
        plan.create.push(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": format!("{svc_name}-"),
                "namespace": svc.metadata.namespace,
                "labels": labels,
                "ownerReferences": owner(svc),
            },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }));
    }
    plan.delete = unused
        .into_iter()
        .flatten()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::super::desired::endpoints;
    use super::super::desired::tests::{pod, service};
    use super::*;

    const ME: &str = "endpointslice-controller.k8s.io";

    /// A slice as the API would store `body` under `name`.
    fn stored(name: &str, body: &Value) -> Arc<EndpointSlice> {
        let mut body = body.clone();
        body["metadata"]["name"] = json!(name);
        body["metadata"]["resourceVersion"] = json!("7");
        Arc::new(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn a_new_service_gets_its_slices_and_then_nothing_changes() {
        let svc = service(json!({"selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}));
        let pods: Vec<_> = (0..150)
            .map(|i| {
                pod(
                    &format!("web-{i:03}"),
                    &format!("10.42.0.{}", i + 1),
                    i % 2 == 0,
                )
            })
            .collect();
        let eps = endpoints(&svc, &pods, true);
        let first = plan(&svc, contents(&svc, &eps), &[], ME);
        assert_eq!((first.create.len(), first.update.len()), (2, 0));
        let s = &first.create[0];
        assert_eq!(s["metadata"]["generateName"], "web-");
        assert_eq!(s["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(s["metadata"]["labels"][MANAGED_BY_LABEL], ME);
        assert_eq!(s["endpoints"].as_array().map(Vec::len), Some(100));
        assert_eq!(
            s["ports"],
            json!([{"name": "web", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(
            s["endpoints"][1]["conditions"],
            json!({"ready": false, "serving": false, "terminating": false})
        );
        let existing = vec![
            stored("web-a", &first.create[0]),
            stored("web-b", &first.create[1]),
        ];
        let again = plan(&svc, contents(&svc, &eps), &existing, ME);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_readiness_change_updates_in_place_and_extra_slices_go() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        let before = endpoints(&svc, [&pod("web-1", "10.42.0.5", false)], true);
        let created = plan(&svc, contents(&svc, &before), &[], ME).create;
        let existing = vec![stored("web-a", &created[0]), stored("web-z", &created[0])];
        let after = endpoints(&svc, [&pod("web-1", "10.42.0.5", true)], true);
        let p = plan(&svc, contents(&svc, &after), &existing, ME);
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].0, "web-a");
        assert_eq!(p.update[0].1["metadata"]["resourceVersion"], "7");
        assert_eq!(p.update[0].1["endpoints"][0]["conditions"]["ready"], true);
        assert_eq!(p.delete, ["web-z"]);
        assert!(p.create.is_empty());
    }

    #[test]
    fn no_endpoints_keeps_one_empty_slice() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        let p = plan(&svc, contents(&svc, &[]), &[], ME);
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0]["endpoints"], json!([]));
        assert_eq!(p.create[0]["ports"], json!([]));
    }
}
