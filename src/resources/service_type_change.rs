//! Upstream's `dropTypeDependentFields`: when an update changes a Service's type, the fields
//! the old type needed and the new one does not are wiped — unless the update itself changed
//! them (then validation judges them) — so `kubectl patch svc x -p '{"spec":{"type":
//! "ClusterIP"}}'` on a LoadBalancer succeeds; its load balancer status goes too.

use serde_json::Value;

use super::validation::fields::{at, list_at, str_at};

fn ty(svc: &Value) -> &str {
    str_at(svc, &["spec", "type"])
}

fn needs_cluster_ip(svc: &Value) -> bool {
    ty(svc) != "ExternalName"
}

fn needs_node_port(svc: &Value) -> bool {
    matches!(ty(svc), "NodePort" | "LoadBalancer")
}

fn externally_accessible(svc: &Value) -> bool {
    needs_node_port(svc)
        || (ty(svc) == "ClusterIP" && !list_at(svc, &["spec", "externalIPs"]).is_empty())
}

fn needs_health_check_port(svc: &Value) -> bool {
    ty(svc) == "LoadBalancer" && str_at(svc, &["spec", "externalTrafficPolicy"]) == "Local"
}

fn same(new: &Value, old: &Value, field: &str) -> bool {
    at(new, &["spec", field]) == at(old, &["spec", field])
}

fn node_ports(svc: &Value) -> Vec<Option<&Value>> {
    list_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| p.get("nodePort"))
        .collect()
}

/// Wipes from `new` what its type no longer needs and the update left as it was in `old`.
pub fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let snapshot = new.clone();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if needs_cluster_ip(old) && !needs_cluster_ip(&snapshot) {
        if same(&snapshot, old, "clusterIP") && same(&snapshot, old, "clusterIPs") {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        for field in ["ipFamilies", "ipFamilyPolicy"] {
            if same(&snapshot, old, field) {
                spec.remove(field);
            }
        }
    }
    if needs_node_port(old)
        && !needs_node_port(&snapshot)
        && node_ports(&snapshot) == node_ports(old)
    {
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("nodePort");
            }
        }
    }
    if needs_health_check_port(old)
        && !needs_health_check_port(&snapshot)
        && same(&snapshot, old, "healthCheckNodePort")
    {
        spec.remove("healthCheckNodePort");
    }
    if ty(old) == "LoadBalancer" && ty(&snapshot) != "LoadBalancer" {
        for field in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(&snapshot, old, field) {
                spec.remove(field);
            }
        }
    }
    if externally_accessible(old)
        && !externally_accessible(&snapshot)
        && same(&snapshot, old, "externalTrafficPolicy")
    {
        spec.remove("externalTrafficPolicy");
    }
    if ty(&snapshot) != "LoadBalancer" {
        if let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("loadBalancer".into(), Value::Object(Default::default()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lb() -> Value {
        json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.5",
            "clusterIPs": ["10.43.0.5"], "externalTrafficPolicy": "Cluster",
            "allocateLoadBalancerNodePorts": true,
            "ports": [{"port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.11"}]}}})
    }

    #[test]
    fn a_load_balancer_turned_cluster_ip_loses_what_it_no_longer_needs() {
        let old = lb();
        let mut new = old.clone();
        new["spec"]["type"] = json!("ClusterIP");
        drop_type_dependent_fields(&mut new, &old);
        assert_eq!(
            new,
            json!({"spec": {"type": "ClusterIP", "clusterIP": "10.43.0.5",
                "clusterIPs": ["10.43.0.5"], "ports": [{"port": 80}]},
                "status": {"loadBalancer": {}}})
        );
    }

    #[test]
    fn fields_the_update_changed_are_left_for_validation() {
        let old = lb();
        let mut new = old.clone();
        new["spec"]["type"] = json!("ClusterIP");
        new["spec"]["ports"][0]["nodePort"] = json!(30081);
        drop_type_dependent_fields(&mut new, &old);
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30081);
        let mut external = old.clone();
        external["spec"]["type"] = json!("ExternalName");
        external["spec"]["externalName"] = json!("db.example");
        drop_type_dependent_fields(&mut external, &old);
        assert!(external["spec"].get("clusterIP").is_none());
    }
}
