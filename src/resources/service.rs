//! The `Service` kind: upstream's service defaults, validation and registry strategy
//! (`pkg/registry/core/service/strategy.go`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::pod::PORT_PROTOCOLS;
use super::validation::fields::{
    at, default_field, int_at, keep_old, list_at, map_at, object_mut, str_at,
};
use super::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_valid_port_name, is_valid_port_num, validate_labels,
    validate_object_meta, validate_object_meta_update, NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `services` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    short_names: &["svc"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &["all"],
    strategy: &ServiceStrategy,
    printer: &printers::service::PRINTER,
    patch_schema: &patch_schema::SERVICE,
};

/// Write behaviour of `Service`.
pub struct ServiceStrategy;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn is_headless(svc: &Value) -> bool {
    str_at(svc, &["spec", "clusterIP"]) == "None"
}

impl Strategy for ServiceStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Service>(obj)
    }

    /// Upstream `SetDefaults_Service`, plus the IP family fields the service REST storage
    /// fills on a single-stack IPv4 cluster.
    fn default(&self, obj: &mut Value) {
        let headless_without_selector =
            is_headless(obj) && map_at(obj, &["spec", "selector"]).is_empty();
        let Some(spec) = object_mut(obj, &["spec"]) else {
            return;
        };
        default_field(spec, "type", json!("ClusterIP"));
        default_field(spec, "sessionAffinity", json!("None"));
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match spec.get("sessionAffinity").and_then(Value::as_str) {
            Some("None") => {
                spec.remove("sessionAffinityConfig");
            }
            Some("ClientIP") => {
                default_field(
                    spec,
                    "sessionAffinityConfig",
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
            _ => {}
        }
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                default_field(p, "protocol", json!("TCP"));
                let unset = match p.get("targetPort") {
                    None | Some(Value::Null) => true,
                    Some(Value::Number(n)) => n.as_i64() == Some(0),
                    Some(Value::String(s)) => s.is_empty(),
                    _ => false,
                };
                if unset {
                    if let Some(port) = p.get("port").cloned() {
                        p.insert("targetPort".into(), port);
                    }
                }
            }
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            default_field(spec, "externalTrafficPolicy", json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            default_field(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        if ty != "ExternalName" {
            default_field(spec, "internalTrafficPolicy", json!("Cluster"));
            let policy = if headless_without_selector {
                "RequireDualStack"
            } else {
                "SingleStack"
            };
            default_field(spec, "ipFamilyPolicy", json!(policy));
            default_field(spec, "ipFamilies", json!(["IPv4"]));
            // Upstream `normalizeClusterIPs`: clusterIPs[0] mirrors clusterIP.
            if let Some(ip) = spec
                .get("clusterIP")
                .cloned()
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            {
                default_field(spec, "clusterIPs", json!([ip]));
            }
        }
    }

    fn allocates(&self) -> bool {
        true
    }

    fn allocate(&self, obj: &mut Value, existing: &[&Value]) -> Result<(), Vec<FieldError>> {
        super::service_alloc::allocate(obj, existing)
    }

    /// Upstream `svcStrategy.PrepareForCreate`: the status is the load balancer's to write.
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    /// Keeps the status, wipes what a changed type no longer needs, and (as upstream's
    /// `patchAllocatedValues`) keeps the allocated cluster IPs and node ports when the update
    /// leaves them out.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
        super::service_type_change::drop_type_dependent_fields(new, old);
        let same_type = str_at(new, &["spec", "type"]) == str_at(old, &["spec", "type"]);
        let old_ports = list_at(old, &["spec", "ports"]).to_vec();
        let old_spec = at(old, &["spec"]).cloned().unwrap_or(Value::Null);
        let Some(spec) = object_mut(new, &["spec"]) else {
            return;
        };
        if spec.get("type").and_then(Value::as_str) != Some("ExternalName") {
            for key in ["clusterIP", "clusterIPs"] {
                if let Some(v) = old_spec.get(key) {
                    default_field(spec, key, v.clone());
                    if spec
                        .get(key)
                        .is_some_and(|x| x.as_array().is_some_and(Vec::is_empty))
                    {
                        spec.insert(key.into(), v.clone());
                    }
                }
            }
        }
        if same_type {
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    let has = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0;
                    let matching = old_ports.iter().find(|o| {
                        o.get("port") == p.get("port")
                            && str_at(o, &["protocol"])
                                == p.get("protocol").and_then(Value::as_str).unwrap_or("")
                    });
                    if let (false, Some(np)) = (has, matching.and_then(|o| o.get("nodePort"))) {
                        p.insert("nodePort".into(), np.clone());
                    }
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1035Label);
        errs.extend(validate_service_spec(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        let (old_ips, new_ips) = (
            list_at(old, &["spec", "clusterIPs"]),
            list_at(new, &["spec", "clusterIPs"]),
        );
        let external = |s: &Value| str_at(s, &["spec", "type"]) == "ExternalName";
        if !external(old)
            && !external(new)
            && !old_ips.is_empty()
            && old_ips.first() != new_ips.first()
        {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                &json!(new_ips),
                "may not change once set",
            ));
        }
        errs.extend(validate_service_spec(new));
        errs
    }

    /// Upstream `ServiceToSelectableFields`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.clusterIP" => Some(str_at(obj, &["spec", "clusterIP"]).to_string()),
            "spec.type" => Some(str_at(obj, &["spec", "type"]).to_string()),
            _ => None,
        }
    }
}

/// Upstream `ValidateService` (the spec part).
fn validate_service_spec(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = str_at(svc, &["spec", "type"]);
    let ports = list_at(svc, &["spec", "ports"]);
    if ports.is_empty() && !is_headless(svc) && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        let name = str_at(svc, &["spec", "externalName"]);
        if name.is_empty() {
            errs.push(FieldError::required("spec.externalName", ""));
        } else {
            for m in is_dns1123_subdomain(name.trim_end_matches('.')) {
                errs.push(FieldError::invalid("spec.externalName", &json!(name), &m));
            }
        }
    }
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = str_at(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{pp}.name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(format!("{pp}.name"), &json!(name), &m));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), &json!(name)));
            }
        }
        let port = int_at(p, &["port"]).unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(FieldError::invalid(format!("{pp}.port"), &json!(port), &m));
        }
        let proto = str_at(p, &["protocol"]);
        if proto.is_empty() {
            errs.push(FieldError::required(format!("{pp}.protocol"), ""));
        } else if !PORT_PROTOCOLS.contains(&proto) {
            errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                &json!(proto),
                PORT_PROTOCOLS,
            ));
        }
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                for m in is_valid_port_num(n) {
                    errs.push(FieldError::invalid(
                        format!("{pp}.targetPort"),
                        &json!(n),
                        &m,
                    ));
                }
            }
            Some(Value::String(s)) => {
                for m in is_valid_port_name(s) {
                    errs.push(FieldError::invalid(
                        format!("{pp}.targetPort"),
                        &json!(s),
                        &m,
                    ));
                }
            }
            _ => {}
        }
        if ty == "ClusterIP" && int_at(p, &["nodePort"]).unwrap_or(0) != 0 {
            errs.push(FieldError::forbidden(
                format!("{pp}.nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if !seen.insert((port, proto)) {
            errs.push(FieldError::duplicate(
                &pp,
                &json!({"Protocol": proto, "Port": port}),
            ));
        }
    }
    match ty {
        "" => errs.push(FieldError::required("spec.type", "")),
        t if !SERVICE_TYPES.contains(&t) => errs.push(FieldError::not_supported(
            "spec.type",
            &json!(t),
            SERVICE_TYPES,
        )),
        _ => {}
    }
    match str_at(svc, &["spec", "sessionAffinity"]) {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "None" | "ClientIP" => {}
        a => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            &json!(a),
            &["ClientIP", "None"],
        )),
    }
    errs.extend(validate_labels(
        map_at(svc, &["spec", "selector"]),
        "spec.selector",
    ));
    let cluster_ip = str_at(svc, &["spec", "clusterIP"]);
    if !cluster_ip.is_empty()
        && cluster_ip != "None"
        && cluster_ip.parse::<std::net::IpAddr>().is_err()
    {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &json!(cluster_ip),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    if cluster_ip == "None" && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &json!(cluster_ip),
            &format!("may not be set to 'None' for {ty} services"),
        ));
    }
    let etp = str_at(svc, &["spec", "externalTrafficPolicy"]);
    if !etp.is_empty() && ty != "NodePort" && ty != "LoadBalancer" {
        errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            &json!(etp),
            "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
        ));
    }
    for (field, allowed) in [
        (
            "ipFamilyPolicy",
            &["SingleStack", "PreferDualStack", "RequireDualStack"][..],
        ),
        ("internalTrafficPolicy", &["Cluster", "Local"][..]),
    ] {
        let v = str_at(svc, &["spec", field]);
        if !v.is_empty() && !allowed.contains(&v) {
            errs.push(FieldError::not_supported(
                format!("spec.{field}"),
                &json!(v),
                allowed,
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn svc(spec: Value) -> Value {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        ServiceStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults_match_upstream() {
        let s = svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert!(ServiceStrategy.validate(&s).is_empty());
    }

    #[test]
    fn invalid_services() {
        let s = svc(json!({"type": "Weird", "ports": [{"port": 0, "name": "a"}, {"port": 80}]}));
        let errs = messages(&ServiceStrategy.validate(&s));
        for want in [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].name: Required value",
            "spec.type: Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
        let mut bad_name = svc(json!({"ports": [{"port": 80}]}));
        bad_name["metadata"]["name"] = json!("1web");
        assert!(messages(&ServiceStrategy.validate(&bad_name))[0]
            .contains("a DNS-1035 label must consist"));
    }

    #[test]
    fn cluster_ip_is_immutable_but_kept_when_omitted() {
        let old = svc(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}));
        let mut omitted = svc(json!({"ports": [{"port": 80}]}));
        ServiceStrategy.prepare_for_update(&mut omitted, &old);
        assert_eq!(omitted["spec"]["clusterIP"], "10.96.0.10");
        assert!(ServiceStrategy.validate_update(&omitted, &old).is_empty());
        let headless = svc(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        assert_eq!(
            messages(&ServiceStrategy.validate_update(&headless, &old)),
            vec!["spec.clusterIPs[0]: Invalid value: [\"None\"]: may not change once set"]
        );
    }
}
