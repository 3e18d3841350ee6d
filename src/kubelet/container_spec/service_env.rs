//! The Service variables the kubelet gives every container, as upstream's
//! `getServiceEnvVarMap` and `envvars.FromServices` make them: `kubernetes` from `default`
//! always (so in-cluster clients find the API at `KUBERNETES_SERVICE_HOST`), and under
//! `enableServiceLinks` (the default) every Service of the pod's own namespace, each as
//! `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT` (its first port), `<NAME>_SERVICE_PORT_<PORT>`
//! per named port and Docker's link variables (`<NAME>_PORT`, `<NAME>_PORT_<n>_<PROTO>…`).
//! Services without a cluster IP (headless, ExternalName) give none.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

/// The namespace of the Services every pod gets variables for.
const MASTER_NAMESPACE: &str = "default";
/// The Services every pod gets variables for.
const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// A Service's name as a variable name: upper case, `-` as `_`.
fn var_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

fn cluster_ip(svc: &Service) -> Option<&str> {
    let ip = svc.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

/// `host:port`, bracketed for IPv6 as Go's `JoinHostPort` does.
fn host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Adds the variables of one Service with a cluster IP.
fn add_service(env: &mut BTreeMap<String, String>, svc: &Service, ip: &str) {
    let prefix = var_name(svc.metadata.name.as_deref().unwrap_or_default());
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let Some(first) = ports.first() else {
        return;
    };
    env.insert(format!("{prefix}_SERVICE_HOST"), ip.to_string());
    env.insert(format!("{prefix}_SERVICE_PORT"), first.port.to_string());
    for p in ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            env.insert(
                format!("{prefix}_SERVICE_PORT_{}", var_name(name)),
                p.port.to_string(),
            );
        }
    }
    for (i, p) in ports.iter().enumerate() {
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        let url = format!("{}://{}", protocol.to_lowercase(), host_port(ip, p.port));
        if i == 0 {
            env.insert(format!("{prefix}_PORT"), url.clone());
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, protocol.to_uppercase());
        env.insert(format!("{port_prefix}_PROTO"), protocol.to_lowercase());
        env.insert(format!("{port_prefix}_PORT"), p.port.to_string());
        env.insert(format!("{port_prefix}_ADDR"), ip.to_string());
        env.insert(port_prefix, url);
    }
}

/// The Service variables for a pod of `namespace`, from `services` (any namespaces);
/// `links` is the pod's `enableServiceLinks` (default true).
pub fn service_env<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    namespace: &str,
    links: bool,
) -> BTreeMap<String, String> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for svc in services {
        let (Some(name), Some(ns)) = (
            svc.metadata.name.as_deref(),
            svc.metadata.namespace.as_deref(),
        ) else {
            continue;
        };
        if cluster_ip(svc).is_none() {
            continue;
        }
        if ns == MASTER_NAMESPACE && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(svc);
        } else if ns == namespace && links {
            chosen.insert(name, svc);
        }
    }
    let mut env = BTreeMap::new();
    for svc in chosen.values() {
        if let Some(ip) = cluster_ip(svc) {
            add_service(&mut env, svc, ip);
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": ports},
        }))
        .unwrap()
    }

    fn all() -> Vec<Service> {
        vec![
            svc(
                "default",
                "kubernetes",
                "10.43.0.1",
                serde_json::json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "shop",
                "web-front",
                "10.43.0.20",
                serde_json::json!([{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
            ),
            svc(
                "shop",
                "headless",
                "None",
                serde_json::json!([{"port": 80}]),
            ),
            svc(
                "other",
                "db",
                "10.43.0.30",
                serde_json::json!([{"port": 5432}]),
            ),
        ]
    }

    #[test]
    fn a_pod_gets_the_api_and_its_namespaces_services_as_upstream_names_them() {
        let env = service_env(&all(), "shop", true);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.43.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT"), Some("tcp://10.43.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.43.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PROTO"), Some("tcp"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.43.0.1"));
        assert_eq!(get("WEB_FRONT_SERVICE_HOST"), Some("10.43.0.20"));
        assert_eq!(get("WEB_FRONT_SERVICE_PORT"), Some("80"));
        assert_eq!(get("WEB_FRONT_SERVICE_PORT_DNS"), Some("53"));
        assert_eq!(get("WEB_FRONT_PORT"), Some("tcp://10.43.0.20:80"));
        assert_eq!(get("WEB_FRONT_PORT_53_UDP"), Some("udp://10.43.0.20:53"));
        assert_eq!(get("WEB_FRONT_PORT_53_UDP_PROTO"), Some("udp"));
        // Headless Services and other namespaces give nothing.
        assert!(!env
            .keys()
            .any(|k| k.starts_with("HEADLESS_") || k.starts_with("DB_")));
        assert_eq!(env.len(), 8 + 13, "{env:#?}");
    }

    #[test]
    fn without_service_links_only_the_api_is_given() {
        let env = service_env(&all(), "shop", false);
        assert!(env.keys().all(|k| k.starts_with("KUBERNETES_")), "{env:#?}");
        assert_eq!(env.len(), 8);
        let env = service_env(&all(), "default", false);
        assert_eq!(env.len(), 8);
    }
}
