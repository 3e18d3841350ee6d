//! The `Pod` kind: upstream's pod registry strategy (`pkg/registry/core/pod/strategy.go`),
//! with defaults, spec validation, update rules and QoS in the submodules.

mod defaults;
mod ephemeral;
mod qos;
mod spec;
mod update;
mod volumes;

use serde_json::{json, Value};

use super::validation::fields::{at, keep_old, list_at, str_at};
use super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

pub use defaults::set_pod_template_spec_defaults;
pub use qos::pod_qos_class;
pub use spec::{validate_pod_spec, PORT_PROTOCOLS};

/// `pods` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    namespaced: true,
    ephemeral: false,
    subresources: &[
        "status",
        "binding",
        "ephemeralcontainers",
        "log",
        "exec",
        "attach",
        "eviction",
    ],
    categories: &["all"],
    strategy: &PodStrategy,
    printer: &printers::pod::PRINTER,
    patch_schema: &patch_schema::POD,
};

/// Write behaviour of `Pod`.
pub struct PodStrategy;

impl Strategy for PodStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Pod>(obj)
    }

    fn default(&self, obj: &mut Value) {
        defaults::set_pod_defaults(obj);
    }

    /// Upstream `podStrategy.PrepareForCreate`: a new pod is Pending with its QoS class.
    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = pod_qos_class(obj);
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
    }

    /// Upstream `podStrategy.PrepareForUpdate`: only the status subresource changes status.
    /// Ephemeral containers get the defaults upstream's decoding gives them, so an attempt
    /// to add one here meets the update rules rather than a missing default.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            defaults::set_ephemeral_container_defaults(spec);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(spec::validate_pod_spec(obj));
        errs.extend(ephemeral::validate_create(obj));
        errs
    }

    /// Upstream `podEphemeralContainersStrategy.PrepareForUpdate`.
    fn prepare_for_ephemeral_containers_update(&self, new: &mut Value, old: &Value) {
        ephemeral::keep_only_ephemeral_containers(new, old);
    }

    /// Upstream `ValidatePodEphemeralContainersUpdate`.
    fn validate_ephemeral_containers_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        if let Some(refusal) = ephemeral::mirror_refusal(old) {
            return vec![refusal];
        }
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(spec::validate_pod_spec(new));
        errs.extend(ephemeral::validate_update(new, old));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(spec::validate_pod_spec(new));
        errs.extend(update::validate_pod_spec_update(new, old));
        errs.extend(update::validate_mirror_update(new, old));
        errs
    }

    /// Upstream `PodToSelectableFields`.
    /// Upstream `podStrategy.CheckGracefulDelete`: the requested or the pod's own grace
    /// period, except that pods never scheduled or already finished go at once.
    fn grace_period(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if self.node_of(obj).is_none() || matches!(phase, "Succeeded" | "Failed") {
            return 0;
        }
        let own = obj
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        match requested.unwrap_or(own) {
            // upstream turns a negative period into 1 second; 0 is a forced delete
            g if g < 0 => 1,
            g => g,
        }
    }

    fn node_of(&self, obj: &Value) -> Option<String> {
        obj.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        let s = |path: &[&str]| Some(str_at(obj, path).to_string());
        match field {
            "spec.nodeName" => s(&["spec", "nodeName"]),
            "spec.restartPolicy" => s(&["spec", "restartPolicy"]),
            "spec.schedulerName" => s(&["spec", "schedulerName"]),
            "spec.serviceAccountName" => s(&["spec", "serviceAccountName"]),
            "spec.hostNetwork" => Some(
                (at(obj, &["spec", "hostNetwork"]).and_then(Value::as_bool) == Some(true))
                    .to_string(),
            ),
            "status.phase" => s(&["status", "phase"]),
            // Upstream selects on the first of `status.podIPs`.
            "status.podIP" => Some(
                list_at(obj, &["status", "podIPs"])
                    .first()
                    .map(|ip| str_at(ip, &["ip"]).to_string())
                    .unwrap_or_else(|| str_at(obj, &["status", "podIP"]).to_string()),
            ),
            "status.nominatedNodeName" => s(&["status", "nominatedNodeName"]),
            _ => None,
        }
    }

    /// Every kubelet watches its pods by `spec.nodeName`, so each field reads only itself.
    fn field_label_reads(&self, field: &str) -> Vec<String> {
        match field {
            "status.podIP" => vec!["status.podIPs".into(), "status.podIP".into()],
            other => vec![other.to_string()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn seed() -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"shared-volumes"},"spec":{"containers":[{"name":"redis","image":"redis","volumeMounts":[{"name":"shared-storage","mountPath":"/data/shared"}]},{"name":"nginx","image":"nginx","volumeMounts":[{"name":"shared-storage","mountPath":"/data/shared"}]}],"volumes":[{"name":"shared-storage","emptyDir":{}}]}})
    }

    /// Decodes, defaults and places the object in `default` as the API does on create.
    fn created(obj: Value) -> Value {
        let mut obj = PodStrategy.decode(obj).unwrap().object;
        obj["metadata"]["namespace"] = json!("default");
        PodStrategy.default(&mut obj);
        PodStrategy.prepare_for_create(&mut obj);
        obj
    }

    #[test]
    fn seed_pod_is_accepted_and_defaulted() {
        let decoded = PodStrategy.decode(seed()).unwrap();
        assert!(decoded.unknown_fields.is_empty());
        let pod = created(seed());
        assert_eq!(messages(&PodStrategy.validate(&pod)), Vec::<String>::new());
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        let redis = &spec["containers"][0];
        assert_eq!(redis["imagePullPolicy"], "Always");
        assert_eq!(redis["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(redis["terminationMessagePolicy"], "File");
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        // Defaulting twice changes nothing.
        let mut again = pod.clone();
        PodStrategy.default(&mut again);
        assert_eq!(again, pod);
    }

    #[test]
    fn container_errors_match_upstream() {
        let mut bad = seed();
        bad["spec"]["containers"][1]["name"] = json!("redis");
        bad["spec"]["containers"][0]["image"] = json!("");
        bad["spec"]["containers"][0]["volumeMounts"][0]["name"] = json!("missing");
        bad["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 70000, "protocol": "HTTP"}]);
        bad["spec"]["restartPolicy"] = json!("Sometimes");
        let errs = messages(&PodStrategy.validate(&created(bad)));
        for want in [
            "spec.containers[0].image: Required value",
            "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[1].name: Duplicate value: \"redis\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
    }

    #[test]
    fn init_container_names_and_env() {
        let mut bad = seed();
        bad["spec"]["initContainers"] = json!([{"name": "nginx", "image": "busybox"}]);
        bad["spec"]["containers"][0]["env"] =
            json!([{"name": "", "value": "x"}, {"name": "A=B", "value": "v", "valueFrom": {}}]);
        let errs = messages(&PodStrategy.validate(&created(bad)));
        for want in [
            "spec.initContainers[0].name: Duplicate value: \"nginx\"",
            "spec.containers[0].env[0].name: Required value",
            "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
    }

    #[test]
    fn no_containers_and_bad_names() {
        let pod = created(json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": []}}));
        let errs = messages(&PodStrategy.validate(&pod));
        assert!(errs[0].starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ));
        assert!(errs.contains(&"spec.containers: Required value".to_string()));
    }

    #[test]
    fn volumes_need_one_source_and_unique_names() {
        let mut bad = seed();
        bad["spec"]["volumes"] = json!([
            {"name": "shared-storage", "emptyDir": {}},
            {"name": "shared-storage", "emptyDir": {}},
            {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
        ]);
        let errs = messages(&PodStrategy.validate(&created(bad)));
        assert!(
            errs.contains(
                &"spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type"
                    .to_string()
            ),
            "{errs:#?}"
        );
        assert!(
            errs.contains(&"spec.volumes[1].name: Duplicate value: \"shared-storage\"".to_string())
        );
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        let mut bad = seed();
        bad["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1", "memory": "bogus"}});
        let errs = messages(&PodStrategy.validate(&created(bad)));
        assert!(errs.contains(&"spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1".to_string()), "{errs:#?}");
        assert!(errs.iter().any(|e| e
            .starts_with("spec.containers[0].resources.limits[memory]: Invalid value: \"bogus\"")));
    }

    #[test]
    fn qos_is_computed_on_create() {
        let mut p = seed();
        for c in p["spec"]["containers"].as_array_mut().unwrap() {
            c["resources"] = json!({"limits": {"cpu": "500m", "memory": "128Mi"}});
        }
        assert_eq!(created(p)["status"]["qosClass"], "Guaranteed");
    }

    #[test]
    fn spec_updates_are_limited_to_images() {
        let old = created(seed());
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("redis:7");
        new["spec"]["activeDeadlineSeconds"] = json!(60);
        assert_eq!(
            messages(&PodStrategy.validate_update(&new, &old)),
            Vec::<String>::new()
        );
        new["spec"]["nodeName"] = json!("node-b");
        let errs = PodStrategy.validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec");
        assert!(errs[0].detail.starts_with("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
        assert!(errs[0].detail.contains("+ \tnodeName: \"node-b\""));
        let mut fewer = old.clone();
        fewer["spec"]["containers"].as_array_mut().unwrap().pop();
        assert_eq!(
            messages(&PodStrategy.validate_update(&fewer, &old)),
            vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );
    }

    #[test]
    fn update_keeps_status_and_field_labels() {
        let mut old = created(seed());
        old["status"]["phase"] = json!("Running");
        old["status"]["podIPs"] = json!([{"ip": "10.0.0.5"}]);
        let mut new = old.clone();
        new["status"] = json!({"phase": "Failed"});
        PodStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["phase"], "Running");
        assert_eq!(
            PodStrategy.field_label(&new, "status.podIP").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            PodStrategy.field_label(&new, "spec.hostNetwork").as_deref(),
            Some("false")
        );
        assert_eq!(PodStrategy.field_label(&new, "spec.bogus"), None);
    }

    #[test]
    fn field_labels_read_only_what_they_declare() {
        let mut pod = created(seed());
        pod["spec"]["nodeName"] = json!("n1");
        pod["spec"]["hostNetwork"] = json!(true);
        pod["spec"]["serviceAccountName"] = json!("sa");
        pod["status"] = json!({"phase": "Running", "podIP": "10.0.0.4",
            "podIPs": [{"ip": "10.0.0.5"}], "nominatedNodeName": "n2"});
        let stored = crate::store::Object::from_value(1, &pod).unwrap();
        let mut without_ips = pod.clone();
        without_ips["status"]
            .as_object_mut()
            .unwrap()
            .remove("podIPs");
        let stored_without_ips = crate::store::Object::from_value(1, &without_ips).unwrap();
        for field in [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ] {
            for (full, object) in [(&pod, &stored), (&without_ips, &stored_without_ips)] {
                let mut reads = crate::store::Paths::new();
                PodStrategy
                    .field_label_reads(field)
                    .iter()
                    .for_each(|p| reads.add(p));
                let pruned = object.pruned(&reads);
                assert!(PodStrategy.field_label(full, field).is_some(), "{field}");
                assert_eq!(
                    PodStrategy.field_label(&pruned, field),
                    PodStrategy.field_label(full, field),
                    "{field}"
                );
            }
        }
    }
}
