//! Tests of the container environment: order, expansion, downward API and sources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use serde_json::json;

use super::env::{container_env, Allocatable, EnvContext};
use crate::kubelet::volume::PrefetchedSources;

fn sources() -> PrefetchedSources {
    let mut s = PrefetchedSources::default();
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cfg", "namespace": "ns"},
        "data": {"MODE": "fast", "LEVEL": "3", "1bad": "x"}
    }))
    .unwrap();
    s.insert_config_map(cm);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds", "namespace": "ns"},
        "data": {"password": "aHVudGVyMg=="}
    }))
    .unwrap();
    s.insert_secret(secret);
    s
}

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-1",
                     "labels": {"app": "web"}, "annotations": {"team": "a"}},
        "spec": {"nodeName": "pi1", "serviceAccountName": "sa", "containers": [
            {"name": "main", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                           "limits": {"memory": "128Mi"}}},
            {"name": "side"}]}
    }))
    .unwrap()
}

fn run(container: serde_json::Value, src: &PrefetchedSources) -> Result<Vec<String>, String> {
    run_with_services(container, src, &BTreeMap::new())
}

fn run_with_services(
    container: serde_json::Value,
    src: &PrefetchedSources,
    service_env: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let pod = pod();
    let container: Container = serde_json::from_value(container).unwrap();
    let ctx = EnvContext {
        pod: &pod,
        pod_ips: &["10.42.0.5".into(), "fd00::5".into()],
        host_ips: &["192.168.1.10".into()],
        allocatable: Allocatable {
            cpu_milli: 4000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 16 << 30,
        },
        sources: src,
        service_env,
    };
    container_env(&ctx, &container)
        .map(|e| e.to_strings())
        .map_err(|e| e.to_string())
}

#[test]
fn service_variables_come_last_yield_to_the_containers_own_and_expand() {
    let services: BTreeMap<String, String> = [
        ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
        ("WEB_SERVICE_HOST", "10.43.0.20"),
        ("WEB_SERVICE_PORT", "80"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = run_with_services(
        json!({"name": "main", "env": [
            {"name": "URL", "value": "http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/"},
            {"name": "WEB_SERVICE_PORT", "value": "8080"}]}),
        &sources(),
        &services,
    )
    .unwrap();
    assert_eq!(
        env,
        [
            "URL=http://10.43.0.20:80/",
            "WEB_SERVICE_PORT=8080",
            "KUBERNETES_SERVICE_HOST=10.43.0.1",
            "WEB_SERVICE_HOST=10.43.0.20",
        ]
    );
}

#[test]
fn order_overrides_and_expansion() {
    let env = run(
        json!({"name": "main", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
               "env": [{"name": "A", "value": "1"},
                       {"name": "B", "value": "$(A)-$(CM_MODE)-$(LATER)-$$(A)"},
                       {"name": "LATER", "value": "x"},
                       {"name": "A", "value": "again"},
                       {"name": "EMPTY"}]}),
        &sources(),
    )
    .unwrap();
    assert_eq!(
        env,
        [
            // Prefixed keys are checked as names: `CM_1bad` is valid, `1bad` alone is not.
            "CM_1bad=x",
            "CM_LEVEL=3",
            "CM_MODE=fast",
            "A=again",
            "B=1-fast-$(LATER)-$(A)",
            "LATER=x",
            "EMPTY="
        ]
    );
}

#[test]
fn downward_api_fields_and_resources() {
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let res = |r: &str, div: Option<&str>, c: Option<&str>| json!({"resourceFieldRef": {"resource": r, "divisor": div, "containerName": c}});
    let env = run(
        json!({"name": "main",
               "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                             "limits": {"memory": "128Mi"}},
               "env": [
            {"name": "N", "valueFrom": field("metadata.name")},
            {"name": "NS", "valueFrom": field("metadata.namespace")},
            {"name": "UID", "valueFrom": field("metadata.uid")},
            {"name": "L", "valueFrom": field("metadata.labels['app']")},
            {"name": "AN", "valueFrom": field("metadata.annotations['team']")},
            {"name": "NODE", "valueFrom": field("spec.nodeName")},
            {"name": "SA", "valueFrom": field("spec.serviceAccountName")},
            {"name": "IP", "valueFrom": field("status.podIP")},
            {"name": "IPS", "valueFrom": field("status.podIPs")},
            {"name": "HIP", "valueFrom": field("status.hostIP")},
            {"name": "CPU_REQ", "valueFrom": res("requests.cpu", Some("1m"), None)},
            {"name": "CPU_REQ_CORES", "valueFrom": res("requests.cpu", None, None)},
            {"name": "CPU_LIM", "valueFrom": res("limits.cpu", None, None)},
            {"name": "MEM_LIM", "valueFrom": res("limits.memory", Some("1Mi"), None)},
            {"name": "MEM_REQ", "valueFrom": res("requests.memory", None, None)},
            {"name": "SIDE_MEM", "valueFrom": res("limits.memory", Some("1Gi"), Some("side"))}]}),
        &sources(),
    )
    .unwrap();
    assert_eq!(
        env,
        [
            "N=web",
            "NS=ns",
            "UID=u-1",
            "L=web",
            "AN=a",
            "NODE=pi1",
            "SA=sa",
            "IP=10.42.0.5",
            "IPS=10.42.0.5,fd00::5",
            "HIP=192.168.1.10",
            "CPU_REQ=250",
            // 0.25 cores rounds up to 1.
            "CPU_REQ_CORES=1",
            // No CPU limit: the node's allocatable.
            "CPU_LIM=4",
            "MEM_LIM=128",
            "MEM_REQ=67108864",
            "SIDE_MEM=8"
        ]
    );
    let err = run(
        json!({"name": "main", "env": [{"name": "X", "valueFrom": field("spec.bogus")}]}),
        &sources(),
    );
    assert_eq!(err.unwrap_err(), "unsupported fieldPath: spec.bogus");
}

#[test]
fn config_map_and_secret_keys_with_optional() {
    let env = run(
        json!({"name": "main",
               "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "S_"},
                           {"configMapRef": {"name": "absent", "optional": true}}],
               "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "no", "optional": true}}},
            {"name": "OPT2", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}}]}),
        &sources(),
    )
    .unwrap();
    assert_eq!(env, ["S_password=hunter2", "MODE=fast", "PW=hunter2"]);

    let missing = |v: serde_json::Value| {
        run(
            json!({"name": "main", "env": [{"name": "X", "valueFrom": v}]}),
            &sources(),
        )
        .unwrap_err()
    };
    assert_eq!(
        missing(json!({"configMapKeyRef": {"name": "x", "key": "k"}})),
        "configmap \"x\" not found"
    );
    assert_eq!(
        missing(json!({"configMapKeyRef": {"name": "cfg", "key": "k"}})),
        "couldn't find key k in ConfigMap ns/cfg"
    );
    assert_eq!(
        missing(json!({"secretKeyRef": {"name": "creds", "key": "k"}})),
        "couldn't find key k in Secret ns/creds"
    );
    assert_eq!(
        missing(json!({"secretKeyRef": {"name": "nope", "key": "k"}})),
        "secret \"nope\" not found"
    );
    let err = run(
        json!({"name": "main", "envFrom": [{"secretRef": {"name": "nope"}}]}),
        &sources(),
    );
    assert_eq!(err.unwrap_err(), "secret \"nope\" not found");
}
