//! The `EndpointSlice` kind (`discovery.k8s.io/v1`): a share of a Service's endpoints with
//! their ready, serving and terminating conditions, what the proxy and cluster DNS read.
//! Upstream's defaults (ports' protocol TCP and empty name) and `ValidateEndpointSlice`;
//! `deprecatedTopology` is dropped, as the v1 API ignores writes to it; the generation
//! counts changes.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

use super::pod::PORT_PROTOCOLS;
use super::validation::endpoint_ip::validate_endpoint_ip;
use super::validation::fields::{at, list_at, str_at};
use super::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num,
    validate_immutable, validate_object_meta, validate_object_meta_update, NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `endpointslices` in `discovery.k8s.io/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &[],
    categories: &[],
    strategy: &EndpointSliceStrategy,
    printer: &printers::endpointslice::PRINTER,
    patch_schema: &patch_schema::NONE,
};

/// The label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming the controller that keeps a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

/// The name of the informer index of slices by their Service (`namespace/name`), shared by
/// every component of a process that reads slices per Service.
pub const BY_SERVICE_INDEX: &str = "service";

/// Index function: the `namespace/name` of the Service a slice belongs to.
pub fn service_of(slice: &k8s_openapi::api::discovery::v1::EndpointSlice) -> Vec<String> {
    let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(|svc| vec![format!("{ns}/{svc}")])
        .unwrap_or_default()
}

/// Upstream's limits: endpoints per slice, addresses per endpoint, ports per slice.
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 100;
const MAX_ZONE_HINTS: usize = 8;
const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];

/// Write behaviour of `EndpointSlice`.
pub struct EndpointSliceStrategy;

impl Strategy for EndpointSliceStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::discovery::v1::EndpointSlice>(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(Value::Array(ports)) = obj.get_mut("ports") {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.entry("name").or_insert_with(|| json!(""));
                port.entry("protocol").or_insert_with(|| json!("TCP"));
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        drop_deprecated_topology(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        drop_deprecated_topology(new);
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_slice(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_slice(new));
        if at(new, &["addressType"]) != at(old, &["addressType"]) {
            errs.extend(validate_immutable(
                at(new, &["addressType"]),
                at(old, &["addressType"]),
                "addressType",
            ));
        }
        errs
    }
}

fn drop_deprecated_topology(obj: &mut Value) {
    if let Some(Value::Array(endpoints)) = obj.get_mut("endpoints") {
        for e in endpoints.iter_mut().filter_map(Value::as_object_mut) {
            e.remove("deprecatedTopology");
        }
    }
}

fn label_errors(
    checks: Vec<String>,
    path: String,
    value: &str,
) -> impl Iterator<Item = FieldError> {
    let value = json!(value);
    checks
        .into_iter()
        .map(move |m| FieldError::invalid(path.clone(), &value, &m))
}

fn validate_address(address_type: &str, address: &str, path: String) -> Vec<FieldError> {
    match address_type {
        "IPv4" if address.parse::<Ipv4Addr>().is_err() => vec![FieldError::invalid(
            path,
            &json!(address),
            "must be a valid IPv4 address",
        )],
        "IPv6" if address.parse::<Ipv6Addr>().is_err() => vec![FieldError::invalid(
            path,
            &json!(address),
            "must be a valid IPv6 address",
        )],
        "IPv4" | "IPv6" => validate_endpoint_ip(address, &path),
        "FQDN" => label_errors(is_dns1123_subdomain(address), path, address).collect(),
        _ => Vec::new(),
    }
}

fn validate_endpoint(address_type: &str, e: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let addresses = list_at(e, &["addresses"]);
    if addresses.is_empty() {
        errs.push(FieldError::required(format!("{path}.addresses"), ""));
    } else if addresses.len() > MAX_ADDRESSES {
        errs.push(FieldError::too_many(
            format!("{path}.addresses"),
            addresses.len(),
            MAX_ADDRESSES,
        ));
    }
    for (i, a) in addresses.iter().enumerate().take(MAX_ADDRESSES) {
        let a = a.as_str().unwrap_or("");
        errs.extend(validate_address(
            address_type,
            a,
            format!("{path}.addresses[{i}]"),
        ));
    }
    for (field, check) in [
        ("hostname", is_dns1123_label as fn(&str) -> Vec<String>),
        ("nodeName", is_dns1123_subdomain),
    ] {
        let v = str_at(e, &[field]);
        if !v.is_empty() {
            errs.extend(label_errors(check(v), format!("{path}.{field}"), v));
        }
    }
    let zones = list_at(e, &["hints", "forZones"]);
    if zones.len() > MAX_ZONE_HINTS {
        errs.push(FieldError::too_many(
            format!("{path}.hints.forZones"),
            zones.len(),
            MAX_ZONE_HINTS,
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, z) in zones.iter().enumerate() {
        let name = str_at(z, &["name"]);
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(
                format!("{path}.hints.forZones[{i}].name"),
                &json!(name),
            ));
        }
    }
    errs
}

fn validate_port(p: &Value, path: &str, names: &mut BTreeSet<String>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(p, &["name"]);
    if !name.is_empty() {
        errs.extend(label_errors(
            is_dns1123_label(name),
            format!("{path}.name"),
            name,
        ));
    }
    if !names.insert(name.to_string()) {
        errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
    }
    match str_at(p, &["protocol"]) {
        "" => errs.push(FieldError::required(format!("{path}.protocol"), "")),
        proto if !PORT_PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
            format!("{path}.protocol"),
            &json!(proto),
            PORT_PROTOCOLS,
        )),
        _ => {}
    }
    if let Some(n) = p.get("port").filter(|v| !v.is_null()) {
        let n = n.as_i64().unwrap_or(0);
        errs.extend(
            is_valid_port_num(n)
                .iter()
                .map(|m| FieldError::invalid(format!("{path}.port"), &json!(n), m)),
        );
    }
    let app = str_at(p, &["appProtocol"]);
    if !app.is_empty() {
        errs.extend(label_errors(
            is_qualified_name(app),
            format!("{path}.appProtocol"),
            app,
        ));
    }
    errs
}

/// Upstream `ValidateEndpointSlice` without the metadata.
fn validate_slice(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let address_type = str_at(obj, &["addressType"]);
    if address_type.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        errs.push(FieldError::not_supported(
            "addressType",
            &json!(address_type),
            ADDRESS_TYPES,
        ));
    }
    let endpoints = list_at(obj, &["endpoints"]);
    if endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            "endpoints",
            endpoints.len(),
            MAX_ENDPOINTS,
        ));
    }
    for (i, e) in endpoints.iter().enumerate().take(MAX_ENDPOINTS) {
        errs.extend(validate_endpoint(
            address_type,
            e,
            &format!("endpoints[{i}]"),
        ));
    }
    let ports = list_at(obj, &["ports"]);
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many("ports", ports.len(), MAX_PORTS));
    }
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate().take(MAX_PORTS) {
        errs.extend(validate_port(p, &format!("ports[{i}]"), &mut names));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn slice(body: Value) -> Value {
        let mut obj = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abcde", "namespace": "default"}});
        if let (Some(o), Some(b)) = (obj.as_object_mut(), body.as_object()) {
            o.extend(b.clone());
        }
        let mut obj = EndpointSliceStrategy.decode(obj).unwrap().object;
        EndpointSliceStrategy.default(&mut obj);
        EndpointSliceStrategy.prepare_for_create(&mut obj);
        obj
    }

    #[test]
    fn defaults_and_a_good_slice() {
        let s = slice(json!({"addressType": "IPv4", "ports": [{"port": 80}],
            "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true},
                "hostname": "web-0", "nodeName": "pi-1", "zone": "shelf",
                "hints": {"forZones": [{"name": "shelf"}]},
                "deprecatedTopology": {"a": "b"}}]}));
        assert_eq!(
            s["ports"][0],
            json!({"name": "", "port": 80, "protocol": "TCP"})
        );
        assert!(s["endpoints"][0].get("deprecatedTopology").is_none());
        assert_eq!(s["endpoints"][0]["hints"]["forZones"][0]["name"], "shelf");
        assert_eq!(
            messages(&EndpointSliceStrategy.validate(&s)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let s = slice(json!({"addressType": "IPv4",
            "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 70000}],
            "endpoints": [{"addresses": ["fd00::1"]}, {"addresses": []},
                          {"addresses": ["127.0.0.1"], "hostname": "Web"}]}));
        let fields: Vec<String> = EndpointSliceStrategy
            .validate(&s)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "endpoints[0].addresses[0]",
                "endpoints[1].addresses",
                "endpoints[2].addresses[0]",
                "endpoints[2].hostname",
                "ports[1].name",
                "ports[1].port"
            ]
        );
        let missing = slice(json!({"endpoints": []}));
        assert_eq!(
            messages(&EndpointSliceStrategy.validate(&missing)),
            ["addressType: Required value"]
        );
    }

    #[test]
    fn the_address_type_is_fixed() {
        let old = slice(json!({"addressType": "IPv4", "endpoints": []}));
        let new = slice(json!({"addressType": "FQDN", "endpoints": []}));
        let errs = EndpointSliceStrategy.validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "addressType");
    }
}
