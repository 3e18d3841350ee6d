//! The `Endpoints` kind (`core/v1`): the addresses behind a Service, kept by the endpoints
//! controller for Services with a selector and by hand for the others. Upstream's defaults
//! (`SetDefaults_EndpointPort`: protocol TCP) and `ValidateEndpoints`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::pod::PORT_PROTOCOLS;
use super::validation::endpoint_ip::validate_endpoint_ip;
use super::validation::fields::{list_at, str_at};
use super::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_valid_port_num, validate_object_meta,
    validate_object_meta_update, NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// The label telling the endpoint-slice mirroring to leave an Endpoints object alone (its
/// slices are written by whoever writes it: the endpoints controller, or the server for the
/// `kubernetes` Service).
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";

/// `endpoints` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Endpoints",
    plural: "endpoints",
    singular: "endpoints",
    short_names: &["ep"],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &EndpointsStrategy,
    printer: &printers::endpoints::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// Write behaviour of `Endpoints`.
pub struct EndpointsStrategy;

impl Strategy for EndpointsStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Endpoints>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(Value::Array(subsets)) = obj.get_mut("subsets") else {
            return;
        };
        for subset in subsets.iter_mut() {
            if let Some(Value::Array(ports)) = subset.get_mut("ports") {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if port
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        port.insert("protocol".into(), json!("TCP"));
                    }
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_subsets(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_subsets(new));
        errs
    }
}

fn validate_address(addr: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_endpoint_ip(str_at(addr, &["ip"]), &format!("{path}.ip"));
    let hostname = str_at(addr, &["hostname"]);
    if !hostname.is_empty() {
        errs.extend(
            is_dns1123_label(hostname)
                .iter()
                .map(|m| FieldError::invalid(format!("{path}.hostname"), &json!(hostname), m)),
        );
    }
    let node = str_at(addr, &["nodeName"]);
    if !node.is_empty() {
        errs.extend(
            is_dns1123_subdomain(node)
                .iter()
                .map(|m| FieldError::invalid(format!("{path}.nodeName"), &json!(node), m)),
        );
    }
    errs
}

fn validate_ports(ports: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let name = str_at(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{at}.name"), ""));
        } else if !name.is_empty() {
            errs.extend(
                is_dns1123_label(name)
                    .iter()
                    .map(|m| FieldError::invalid(format!("{at}.name"), &json!(name), m)),
            );
            if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{at}.name"), &json!(name)));
            }
        }
        let number = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        errs.extend(
            is_valid_port_num(number)
                .iter()
                .map(|m| FieldError::invalid(format!("{at}.port"), &json!(number), m)),
        );
        match str_at(p, &["protocol"]) {
            "" => errs.push(FieldError::required(format!("{at}.protocol"), "")),
            proto if !PORT_PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                format!("{at}.protocol"),
                &json!(proto),
                PORT_PROTOCOLS,
            )),
            _ => {}
        }
    }
    errs
}

/// Upstream `validateEndpointSubsets`.
fn validate_subsets(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, subset) in list_at(obj, &["subsets"]).iter().enumerate() {
        let path = format!("subsets[{i}]");
        let ready = list_at(subset, &["addresses"]);
        let unready = list_at(subset, &["notReadyAddresses"]);
        if ready.is_empty() && unready.is_empty() {
            errs.push(FieldError::required(
                path.clone(),
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, a) in ready.iter().enumerate() {
            errs.extend(validate_address(a, &format!("{path}.addresses[{j}]")));
        }
        for (j, a) in unready.iter().enumerate() {
            errs.extend(validate_address(
                a,
                &format!("{path}.notReadyAddresses[{j}]"),
            ));
        }
        errs.extend(validate_ports(
            list_at(subset, &["ports"]),
            &format!("{path}.ports"),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn endpoints(subsets: Value) -> Value {
        let obj = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "db", "namespace": "default"}, "subsets": subsets});
        let mut obj = EndpointsStrategy.decode(obj).unwrap().object;
        EndpointsStrategy.default(&mut obj);
        obj
    }

    #[test]
    fn ports_default_to_tcp_and_a_good_object_passes() {
        let ep = endpoints(
            json!([{"addresses": [{"ip": "10.42.0.5", "nodeName": "pi-1"}],
            "ports": [{"port": 5432}]}]),
        );
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            messages(&EndpointsStrategy.validate(&ep)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_subsets_name_each_field() {
        let ep = endpoints(json!([
            {"ports": [{"port": 80}]},
            {"addresses": [{"ip": "127.0.0.1"}],
             "ports": [{"name": "http", "port": 0}, {"port": 443, "protocol": "ICMP"}]}]));
        let fields: Vec<String> = EndpointsStrategy
            .validate(&ep)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "subsets[0]",
                "subsets[1].addresses[0].ip",
                "subsets[1].ports[0].port",
                "subsets[1].ports[1].name",
                "subsets[1].ports[1].protocol"
            ]
        );
    }
}
