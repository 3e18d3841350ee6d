//! `kubectl get endpoints`: upstream's `printEndpoints`. ENDPOINTS lists the first three
//! ready `ip:port` pairs (every port of a subset with every address of it; a bare ip for a
//! subset without ports), then `+ N more...`; `<none>` when there is none.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Endpoints columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Endpoints",
        "The set of all endpoints is the union of all subsets.",
        0,
    ),
    AGE,
];

/// How many endpoints the cell names before `+ N more...`.
const SHOWN: usize = 3;

/// An `ip:port` pair, with brackets around an IPv6 address as Go's `JoinHostPort`.
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Upstream's `formatEndpoints` without a port filter.
pub fn format_endpoints(endpoints: &Value) -> String {
    let mut shown = Vec::new();
    let mut count = 0usize;
    for subset in list(endpoints, &["subsets"]) {
        let addresses: Vec<&str> = list(subset, &["addresses"])
            .iter()
            .map(|a| text(a, &["ip"]))
            .collect();
        let ports = list(subset, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            shown.extend(addresses.iter().map(|a| a.to_string()));
            continue;
        }
        for port in ports {
            let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
            count += addresses.len();
            shown.extend(addresses.iter().map(|a| host_port(a, number)));
        }
    }
    shown.truncate(SHOWN);
    let joined = shown.join(",");
    if count > SHOWN {
        format!("{joined} + {} more...", count - SHOWN)
    } else if joined.is_empty() {
        "<none>".to_string()
    } else {
        joined
    }
}

fn row(endpoints: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(endpoints),
        cell(format_endpoints(endpoints)),
        age_cell(endpoints, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_three_ready_pairs_then_counts_the_rest() {
        let ep = json!({"subsets": [
            {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.1.7"}],
             "notReadyAddresses": [{"ip": "10.42.0.9"}],
             "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            format_endpoints(&ep),
            "10.42.0.5:80,10.42.1.7:80,10.42.0.5:443 + 1 more..."
        );
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.42.0.5"}]}]});
        assert_eq!(format_endpoints(&headless), "10.42.0.5");
        let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 80}]}]});
        assert_eq!(format_endpoints(&v6), "[fd00::5]:80");
    }

    #[test]
    fn none_without_a_ready_address() {
        assert_eq!(format_endpoints(&json!({})), "<none>");
        let unready = json!({"subsets": [{"notReadyAddresses": [{"ip": "10.42.0.9"}],
            "ports": [{"port": 80}]}]});
        assert_eq!(format_endpoints(&unready), "<none>");
    }
}
