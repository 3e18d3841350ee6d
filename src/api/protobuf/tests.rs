//! Whole objects as client-go encodes them, decoded and compared with their JSON form.

use serde_json::json;

use super::test_encoder::*;
use super::{decode, ApiError, MAGIC};

/// 2024-01-02T03:04:05Z.
const CREATED: i64 = 1_704_164_645;

#[test]
fn configmap_from_literal() {
    let cm = Msg::new()
        .msg(1, object_meta("cm1", "", 0))
        .entry(2, "a", "b")
        .entry(2, "c", "");
    let got = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm1", "creationTimestamp": null},
            "data": {"a": "b", "c": ""}
        })
    );
}

#[test]
fn secret_with_binary_data_is_base64() {
    let secret = Msg::new()
        .msg(1, object_meta("s1", "team-a", 0))
        .entry_bytes(2, "p", &[0, 1, 2, 255])
        .entry_bytes(2, "q", b"hello")
        .str(3, "Opaque")
        .bool(5, false);
    let got = decode(&envelope("v1", "Secret", secret)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s1", "namespace": "team-a", "creationTimestamp": null},
            "data": {"p": "AAEC/w==", "q": "aGVsbG8="},
            "type": "Opaque",
            "immutable": false
        })
    );
}

#[test]
fn namespace_keeps_empty_spec_and_status() {
    let ns = Msg::new()
        .msg(1, object_meta("team-a", "", 0).entry(11, "env", "dev"))
        .msg(2, Msg::new())
        .msg(3, Msg::new().str(1, ""));
    let got = decode(&envelope("v1", "Namespace", ns)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": {"env": "dev"}, "creationTimestamp": null},
            "spec": {}, "status": {}
        })
    );
}

#[test]
fn service_ports_with_int_and_string_target_ports() {
    let port = |name: &str, p: i64, target: Msg| {
        Msg::new()
            .str(1, name)
            .str(2, "TCP")
            .int(3, p)
            .msg(4, target)
            .int(5, 0)
    };
    let spec = Msg::new()
        .msg(1, port("80-8080", 80, int_or_string_int(8080)))
        .msg(1, port("metrics", 9090, int_or_string_str("http-metrics")))
        .entry(2, "app", "web")
        .str(3, "")
        .str(4, "ClusterIP")
        .str(7, "")
        .bool(13, false);
    let svc = Msg::new()
        .msg(1, object_meta("web", "default", 0).entry(11, "app", "web"))
        .msg(2, spec)
        .msg(3, Msg::new().msg(1, Msg::new()));
    let got = decode(&envelope("v1", "Service", svc)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                         "creationTimestamp": null},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "metrics", "protocol": "TCP", "port": 9090,
                     "targetPort": "http-metrics"}
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

fn container(name: &str, image: &str) -> Msg {
    Msg::new()
        .str(1, name)
        .str(2, image)
        .str(5, "")
        .str(13, "")
        .str(14, "")
        .bool(16, false)
        .bool(18, false)
}

#[test]
fn pod_with_two_containers_resources_and_volumes() {
    let web = container("web", "nginx")
        .msg(
            6,
            Msg::new()
                .str(1, "")
                .int(2, 0)
                .int(3, 80)
                .str(4, "TCP")
                .str(5, ""),
        )
        .msg(7, Msg::new().str(1, "A").str(2, "B"))
        .msg(7, Msg::new().str(1, "EMPTY").str(2, ""))
        .msg(
            8,
            Msg::new()
                .entry_quantity(1, "cpu", "500m")
                .entry_quantity(2, "cpu", "100m")
                .entry_quantity(2, "memory", "64Mi"),
        )
        .msg(
            9,
            Msg::new()
                .str(1, "cache")
                .bool(2, false)
                .str(3, "/cache")
                .str(4, ""),
        );
    let sidecar = container("sidecar", "busybox")
        .str(3, "sh")
        .str(3, "-c")
        .str(3, "sleep 1")
        .msg(8, Msg::new());
    let empty_dir = Msg::new().str(1, "").msg(2, quantity("1Gi"));
    let host_path = Msg::new().str(1, "/data").str(2, "DirectoryOrCreate");
    let spec = Msg::new()
        .msg(
            1,
            Msg::new()
                .str(1, "cache")
                .msg(2, Msg::new().msg(2, empty_dir)),
        )
        .msg(
            1,
            Msg::new()
                .str(1, "host")
                .msg(2, Msg::new().msg(1, host_path)),
        )
        .msg(2, web)
        .msg(2, sidecar)
        .str(3, "Always")
        .int(4, 30)
        .str(6, "")
        .bool(11, false)
        // supplementalGroups, once packed and once not: both forms are accepted.
        .msg(14, Msg::new().bytes(4, &[1, 2]).int(4, 3))
        .bool(30, false)
        // A field this server's tables do not know is skipped.
        .str(999, "from a newer client");
    let pod = Msg::new()
        .msg(
            1,
            object_meta("web", "default", CREATED).entry(11, "app", "web"),
        )
        .msg(2, spec)
        .msg(3, Msg::new().str(1, "").str(3, ""));
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                         "creationTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {
                "volumes": [
                    {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "host", "hostPath": {"path": "/data", "type": "DirectoryOrCreate"}}
                ],
                "containers": [
                    {
                        "name": "web", "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "B"}, {"name": "EMPTY"}],
                        "resources": {"limits": {"cpu": "500m"},
                                      "requests": {"cpu": "100m", "memory": "64Mi"}},
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]
                    },
                    {"name": "sidecar", "image": "busybox", "command": ["sh", "-c", "sleep 1"],
                     "resources": {}}
                ],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "securityContext": {"supplementalGroups": [1, 2, 3]},
                "enableServiceLinks": false
            },
            "status": {}
        })
    );
}

#[test]
fn lease_times_keep_microseconds() {
    let renew = Msg::new().int(1, CREATED).int(2, 123_456_789);
    let spec = Msg::new()
        .str(1, "node-1")
        .int(2, 40)
        .msg(4, renew)
        .int(5, 0);
    let lease = Msg::new()
        .msg(1, object_meta("node-1", "kube-node-lease", 0))
        .msg(2, spec);
    let got = decode(&envelope("coordination.k8s.io/v1", "Lease", lease)).unwrap();
    assert_eq!(
        got["spec"],
        json!({"holderIdentity": "node-1", "leaseDurationSeconds": 40,
               "renewTime": "2024-01-02T03:04:05.123456Z", "leaseTransitions": 0})
    );
}

#[test]
fn negative_int32_is_sign_extended() {
    let spec = Msg::new().msg(14, Msg::new().int(2, -1));
    let pod = Msg::new().msg(2, spec);
    let got = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(got["spec"]["securityContext"]["runAsUser"], json!(-1));
}

#[test]
fn deployment_as_kubectl_create_sends_it() {
    let labels = || Msg::new().entry(11, "app", "web");
    let deployment = Msg::new()
        .msg(1, labels().str(1, "web"))
        .msg(
            2,
            Msg::new()
                .int(1, 1)
                .msg(2, Msg::new().entry(1, "app", "web"))
                .msg(
                    3,
                    Msg::new().msg(1, labels()).msg(
                        2,
                        Msg::new().msg(2, Msg::new().str(1, "nginx").str(2, "nginx")),
                    ),
                )
                .msg(
                    4,
                    Msg::new().msg(2, Msg::new().msg(2, int_or_string_str("25%"))),
                ),
        )
        .msg(3, Msg::new());
    let got = decode(&envelope("apps/v1", "Deployment", deployment)).unwrap();
    assert_eq!(got["spec"]["replicas"], 1);
    assert_eq!(
        got["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(got["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0],
        json!({"name": "nginx", "image": "nginx"})
    );
    assert_eq!(got["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
}

#[test]
fn envelope_errors_read_like_the_api_server() {
    let e = decode(b"").unwrap_err();
    assert_eq!(e.to_string(), "empty data");
    let e = decode(b"{\"kind\":\"Pod\"}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    );
    assert_eq!(decode(b"k8s\0").unwrap_err().to_string(), "empty body");
    let no_kind = envelope("v1", "", Msg::new());
    assert_eq!(
        decode(&no_kind).unwrap_err().to_string(),
        "Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:\"v1\", Kind:\"\"}'"
    );
    let e = ApiError::from(
        decode(&envelope(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            Msg::new(),
        ))
        .unwrap_err(),
    );
    assert_eq!(e.code, 415);
    assert!(
        e.to_status().to_string().contains("NetworkPolicy"),
        "{:?}",
        e.to_status()
    );
}

#[test]
fn malformed_objects_are_bad_requests() {
    // A ConfigMap whose metadata is a varint instead of a message.
    let bad = envelope("v1", "ConfigMap", Msg::new().int(1, 5));
    let e = decode(&bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: \
         proto: wrong wireType = 0 for field metadata"
    );
    assert_eq!(ApiError::from(e).code, 400);
    // The raw object cut short.
    let mut cut = envelope("v1", "ConfigMap", Msg::new().entry(2, "a", "b"));
    cut.truncate(cut.len() - 1);
    assert!(decode(&cut).is_err());
}

#[test]
fn hostile_bytes_never_panic() {
    // A fixed pseudo-random sequence of bodies, each behind a valid envelope and raw.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2000 {
        let len = round % 64;
        let raw: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        for kind in ["Pod", "Service", "Node", "PersistentVolume"] {
            let _ = decode(&envelope("v1", kind, Msg::new().bytes(2, &raw)));
            let _ = decode(&envelope("v1", kind, Msg(raw.clone())));
        }
        let mut direct = MAGIC.to_vec();
        direct.extend(&raw);
        let _ = decode(&direct);
    }
}
