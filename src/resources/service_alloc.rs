//! What kube-apiserver's service REST storage allocates from shared pools: a ClusterIP from the
//! service CIDR and node ports from the node-port range. Bramble uses k3s' defaults.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::validation::fields::{list_at, str_at};
use super::FieldError;

/// The service CIDR (k3s' default `10.43.0.0/16`).
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 43, 0, 0), 16);
/// The `kubernetes` Service's address: the first of the range.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 1);
/// Kept for cluster DNS, as k3s does.
pub const DNS_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 10);
/// Node ports (upstream's default `--service-node-port-range`).
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// [`SERVICE_CIDR`] as a CIDR.
pub fn service_cidr() -> crate::cidr::Ipv4Cidr {
    // Invariant: the constant's host bits are zero and its prefix is at most 32.
    format!("{}/{}", SERVICE_CIDR.0, SERVICE_CIDR.1)
        .parse()
        .unwrap_or(crate::cidr::Ipv4Cidr::ANY)
}

fn ip_range() -> (u32, u32) {
    let base = u32::from(SERVICE_CIDR.0);
    let size = 1u32 << (32 - SERVICE_CIDR.1);
    (base + 1, base + size - 2)
}

fn in_range(ip: Ipv4Addr) -> bool {
    let (lo, hi) = ip_range();
    (lo..=hi).contains(&u32::from(ip))
}

/// Fills `spec.clusterIP`/`clusterIPs` and missing node ports of a new Service, avoiding
/// those of `existing` Services; a requested address or port already in use is refused with
/// upstream's message.
pub fn allocate(svc: &mut Value, existing: &[&Value]) -> Result<(), Vec<FieldError>> {
    let ty = str_at(svc, &["spec", "type"]).to_string();
    if ty == "ExternalName" {
        return Ok(());
    }
    let used_ips: BTreeSet<Ipv4Addr> = existing
        .iter()
        .filter_map(|s| str_at(s, &["spec", "clusterIP"]).parse().ok())
        .collect();
    let used_ports: BTreeSet<i64> = existing
        .iter()
        .flat_map(|s| {
            list_at(s, &["spec", "ports"])
                .iter()
                .filter_map(|p| p["nodePort"].as_i64())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut errs = Vec::new();
    let requested = str_at(svc, &["spec", "clusterIP"]).to_string();
    let ip = match requested.as_str() {
        "None" => None,
        "" => {
            let (lo, hi) = ip_range();
            let free = (lo..=hi).map(Ipv4Addr::from).find(|ip| {
                *ip != KUBERNETES_SERVICE_IP && *ip != DNS_SERVICE_IP && !used_ips.contains(ip)
            });
            match free {
                Some(ip) => Some(ip),
                None => {
                    errs.push(FieldError::invalid(
                        "spec.clusterIPs",
                        &json!([]),
                        "failed to allocate a serviceIP: range is full",
                    ));
                    None
                }
            }
        }
        other => match other.parse::<Ipv4Addr>() {
            Ok(ip) if used_ips.contains(&ip) => {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    &json!([other]),
                    &format!("failed to allocate IP {other}: provided IP is already allocated"),
                ));
                None
            }
            Ok(ip) if !in_range(ip) => {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    &json!([other]),
                    &format!(
                        "failed to allocate IP {other}: the provided IP ({other}) is not in the valid range. The range of valid IPs is {}/{}",
                        SERVICE_CIDR.0, SERVICE_CIDR.1
                    ),
                ));
                None
            }
            Ok(ip) => Some(ip),
            // malformed addresses are reported by validation
            Err(_) => None,
        },
    };
    if let Some(ip) = ip {
        let spec = &mut svc["spec"];
        spec["clusterIP"] = json!(ip.to_string());
        spec["clusterIPs"] = json!([ip.to_string()]);
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        let mut taken = used_ports;
        if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
            for (i, p) in ports.iter_mut().enumerate() {
                match p["nodePort"].as_i64() {
                    Some(n) if taken.contains(&n) => errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(n),
                        "provided port is already allocated",
                    )),
                    Some(n) => {
                        taken.insert(n);
                    }
                    None => match NODE_PORTS.clone().find(|n| !taken.contains(n)) {
                        Some(n) => {
                            taken.insert(n);
                            p["nodePort"] = json!(n);
                        }
                        None => errs.push(FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            &json!(0),
                            "failed to allocate a nodePort: range is full",
                        )),
                    },
                }
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_the_lowest_free_address_and_node_ports() {
        let a = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.43.0.11"}});
        let b = json!({"spec": {"type": "NodePort", "clusterIP": "10.43.0.12", "ports": [{"port": 80, "nodePort": 30000}]}});
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]}});
        allocate(&mut svc, &[&a, &b]).unwrap();
        assert_eq!(svc["spec"]["clusterIP"], "10.43.0.2");
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.43.0.2"]));
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30001);
        assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30443);
    }

    #[test]
    fn refuses_taken_or_foreign_addresses_and_leaves_headless_alone() {
        let a = json!({"spec": {"clusterIP": "10.43.0.20"}});
        let mut taken = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.43.0.20"}});
        let errs = allocate(&mut taken, &[&a]).unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .contains("provided IP is already allocated"),
            "{}",
            errs[0]
        );
        let mut foreign = json!({"spec": {"type": "ClusterIP", "clusterIP": "192.168.0.1"}});
        assert!(allocate(&mut foreign, &[]).unwrap_err()[0]
            .to_string()
            .contains("not in the valid range"));
        let mut headless = json!({"spec": {"type": "ClusterIP", "clusterIP": "None"}});
        allocate(&mut headless, &[]).unwrap();
        assert_eq!(headless["spec"]["clusterIP"], "None");
        let mut kube = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1"}});
        allocate(&mut kube, &[]).unwrap();
        assert_eq!(kube["spec"]["clusterIP"], "10.43.0.1");
    }
}
