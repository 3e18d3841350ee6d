//! `kubectl get endpointslices`: upstream's `printEndpointSlice`. PORTS and ENDPOINTS name
//! the first three ports (a port without a number shows its name, or `*`) and addresses,
//! then `+ N more...`; `<unset>` when the slice has none.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// EndpointSlice columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "AddressType",
        "addressType specifies the type of address carried by this EndpointSlice.",
        0,
    ),
    text_column(
        "Ports",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
        0,
    ),
    text_column(
        "Endpoints",
        "endpoints is a list of unique endpoints in this slice.",
        0,
    ),
    AGE,
];

/// How many entries a cell names before `+ N more...`.
const SHOWN: usize = 3;

/// Upstream's `listWithMoreString`.
fn with_more(items: Vec<String>) -> String {
    let count = items.len();
    let joined = items.into_iter().take(SHOWN).collect::<Vec<_>>().join(",");
    if count > SHOWN {
        format!("{joined} + {} more...", count - SHOWN)
    } else if joined.is_empty() {
        "<unset>".to_string()
    } else {
        joined
    }
}

/// Upstream's `formatDiscoveryPorts`.
pub fn format_ports(slice: &Value) -> String {
    with_more(
        list(slice, &["ports"])
            .iter()
            .map(
                |p| match (p.get("port").and_then(Value::as_i64), text(p, &["name"])) {
                    (Some(n), _) => n.to_string(),
                    (None, "") => "*".to_string(),
                    (None, name) => name.to_string(),
                },
            )
            .collect(),
    )
}

/// Upstream's `formatDiscoveryEndpoints`: every address of every endpoint.
pub fn format_endpoints(slice: &Value) -> String {
    with_more(
        list(slice, &["endpoints"])
            .iter()
            .flat_map(|e| list(e, &["addresses"]))
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

fn row(slice: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(slice),
        cell(text(slice, &["addressType"])),
        cell(format_ports(slice)),
        cell(format_endpoints(slice)),
        age_cell(slice, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_and_addresses_then_the_rest_counted() {
        let slice = json!({"addressType": "IPv4",
            "ports": [{"name": "http", "port": 80}, {"name": "metrics"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.1.7"]}]});
        assert_eq!(format_ports(&slice), "80,metrics,* + 1 more...");
        assert_eq!(format_endpoints(&slice), "10.42.0.5,10.42.1.7");
        let row = (PRINTER.row)(&slice, Utc::now());
        assert_eq!(row[1], json!("IPv4"));
    }

    #[test]
    fn an_empty_slice_reads_unset() {
        let slice = json!({"addressType": "IPv4", "endpoints": []});
        assert_eq!(format_ports(&slice), "<unset>");
        assert_eq!(format_endpoints(&slice), "<unset>");
    }
}
