//! `kubectl get services`: upstream's `printService`. EXTERNAL-IP is `<none>` for ClusterIP
//! and NodePort services without external IPs, the load balancer's addresses (or
//! `<pending>`) for LoadBalancer, the DNS name for ExternalName; PORT(S) reads `80/TCP` or
//! `80:30080/TCP` with a node port.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    age_cell, at, cell, format_labels, list, name_cell, text, text_column, Column, Printer, AGE,
    NAME,
};

/// Service columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Type", "type determines how the Service is exposed.", 0),
    text_column("Cluster-IP", "clusterIP is the IP address of the service.", 0),
    text_column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
    text_column("Port(s)", "The list of ports that are exposed by this service.", 0),
    AGE,
    text_column("Selector", "Route service traffic to pods with label keys and values matching this selector.", 1),
];

fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Upstream's `loadBalancerStatusStringer`: sorted unique IPs or hostnames. The server
/// builds tables as `-o wide` would, so upstream's 16-byte clipping never applies.
fn load_balancer_addresses(svc: &Value) -> String {
    let mut addrs: Vec<String> = list(svc, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| match (text(i, &["ip"]), text(i, &["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host.to_string()),
            (ip, _) => Some(ip.to_string()),
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs.join(",")
}

/// The EXTERNAL-IP cell.
pub fn external_ip(svc: &Value) -> String {
    let external = strings(list(svc, &["spec", "externalIPs"]));
    match text(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_string(),
        "LoadBalancer" => {
            let lb = load_balancer_addresses(svc);
            if !external.is_empty() {
                let mut all: Vec<String> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').map(str::to_string).collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => text(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// The PORT(S) cell: upstream's `makePortString`, or `<none>`.
pub fn ports(svc: &Value) -> String {
    let pieces: Vec<String> = list(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = match text(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            match p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) {
                0 => format!("{port}/{protocol}"),
                node_port => format!("{port}:{node_port}/{protocol}"),
            }
        })
        .collect();
    if pieces.is_empty() {
        return "<none>".to_string();
    }
    pieces.join(",")
}

fn row(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // spec.clusterIPs[0] is the primary address; older objects may only carry spec.clusterIP.
    let cluster_ip = match list(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
    {
        Some(ip) => ip,
        None => text(svc, &["spec", "clusterIP"]),
    };
    vec![
        name_cell(svc),
        cell(text(svc, &["spec", "type"])),
        cell(if cluster_ip.is_empty() {
            "<none>"
        } else {
            cluster_ip
        }),
        cell(external_ip(svc)),
        cell(ports(svc)),
        age_cell(svc, now),
        cell(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_strings() {
        let svc = json!({"spec": {"ports": [
            {"port": 80, "protocol": "TCP"},
            {"port": 443, "nodePort": 30443, "protocol": "TCP"},
            {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(ports(&svc), "80/TCP,443:30443/TCP,53/UDP");
        assert_eq!(ports(&json!({"spec": {}})), "<none>");
    }

    #[test]
    fn external_ips() {
        assert_eq!(
            external_ip(&json!({"spec": {"type": "ClusterIP"}})),
            "<none>"
        );
        assert_eq!(
            external_ip(&json!({"spec": {"type": "NodePort", "externalIPs": ["1.2.3.4"]}})),
            "1.2.3.4"
        );
        assert_eq!(
            external_ip(&json!({"spec": {"type": "LoadBalancer"}})),
            "<pending>"
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]},
                        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}]}}});
        assert_eq!(external_ip(&lb), "5.6.7.8,lb.example.com,9.9.9.9");
        assert_eq!(
            external_ip(
                &json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}})
            ),
            "db.example.com"
        );
    }

    #[test]
    fn full_row() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-05-01T09:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
                     "selector": {"app": "web"}}
        });
        assert_eq!(
            (PRINTER.row)(&svc, now),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.43.0.10"),
                json!("<none>"),
                json!("80:30080/TCP"),
                json!("3h"),
                json!("app=web")
            ]
        );
        let headless = json!({"metadata": {"name": "h"},
                              "spec": {"type": "ClusterIP", "clusterIP": "None"}});
        let row = (PRINTER.row)(&headless, now);
        assert_eq!(
            (row[2].clone(), row[6].clone()),
            (json!("None"), json!("<none>"))
        );
    }
}
