//! Slices mirrored from a hand-written `Endpoints` object of a Service without a selector,
//! as upstream's EndpointSlice mirroring controller does, so the proxy and DNS (which read
//! slices) route to addresses a user lists: each subset's addresses become endpoints (ready
//! or not), its ports the slice's ports. Endpoints labelled `skip-mirror` are left alone.

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints};
use serde_json::{json, Value};

use super::slices::MAX_PER_SLICE;
use crate::resources::endpoints::SKIP_MIRROR_LABEL;

/// The controller name mirrored slices carry in their `managed-by` label.
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";

/// Whether `endpoints` is to be mirrored.
pub fn mirrors(endpoints: &Endpoints) -> bool {
    endpoints
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SKIP_MIRROR_LABEL))
        .map(String::as_str)
        != Some("true")
}

fn endpoint(a: &EndpointAddress, ready: bool) -> Value {
    let mut v = json!({"addresses": [a.ip], "conditions": {"ready": ready}});
    if let Some(h) = a.hostname.as_ref().filter(|h| !h.is_empty()) {
        v["hostname"] = json!(h);
    }
    if let Some(n) = &a.node_name {
        v["nodeName"] = json!(n);
    }
    if let Some(r) = &a.target_ref {
        v["targetRef"] = serde_json::to_value(r).unwrap_or(Value::Null);
    }
    v
}

/// The (ports, endpoints) contents of the slices mirroring `endpoints`: one or more per
/// subset, IPv4 addresses only.
pub fn contents(endpoints: &Endpoints) -> Vec<(Vec<Value>, Vec<Value>)> {
    let mut out = Vec::new();
    for subset in endpoints.subsets.iter().flatten() {
        let mut ports: Vec<Value> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let mut v = json!({"name": p.name.clone().unwrap_or_default(), "port": p.port,
                    "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".into())});
                if let Some(app) = &p.app_protocol {
                    v["appProtocol"] = json!(app);
                }
                v
            })
            .collect();
        ports.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let ipv4 = |a: &&EndpointAddress| a.ip.parse::<std::net::Ipv4Addr>().is_ok();
        let eps: Vec<Value> = subset
            .addresses
            .iter()
            .flatten()
            .filter(ipv4)
            .map(|a| endpoint(a, true))
            .chain(
                subset
                    .not_ready_addresses
                    .iter()
                    .flatten()
                    .filter(ipv4)
                    .map(|a| endpoint(a, false)),
            )
            .collect();
        for chunk in eps.chunks(MAX_PER_SLICE) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_become_slices_and_skip_mirror_is_honoured() {
        let ep: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "nas", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "192.168.1.20", "hostname": "nas"}],
                         "notReadyAddresses": [{"ip": "192.168.1.21"}],
                         "ports": [{"name": "smb", "port": 445, "protocol": "TCP"}]}]}))
        .unwrap();
        assert!(mirrors(&ep));
        let c = contents(&ep);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].0,
            [json!({"name": "smb", "port": 445, "protocol": "TCP"})]
        );
        assert_eq!(
            c[0].1,
            [
                json!({"addresses": ["192.168.1.20"], "conditions": {"ready": true},
                    "hostname": "nas"}),
                json!({"addresses": ["192.168.1.21"], "conditions": {"ready": false}})
            ]
        );
        let mut managed = ep.clone();
        managed.metadata.labels =
            Some([(SKIP_MIRROR_LABEL.to_string(), "true".to_string())].into());
        assert!(!mirrors(&managed));
    }
}
