//! A user reads the API's description with stock kubectl: `kubectl explain` of several kinds
//! at several depths from the OpenAPI v3 documents, the Swagger 2.0 document, and kubectl
//! taking the aggregated discovery document instead of one request per group version.

use crate::support;

use support::Cluster;

/// `kubectl explain PATH` succeeds and prints every one of `wanted`.
fn explains(c: &Cluster, path: &str, wanted: &[&str]) {
    let mut args = vec!["explain"];
    args.extend(path.split(' '));
    let out = c.kubectl_ok(&args);
    for w in wanted {
        assert!(
            out.contains(w),
            "kubectl explain {path} lacks {w:?}:\n{out}"
        );
    }
}

#[test]
fn explain_walks_kinds_to_any_depth() {
    let c = Cluster::start();
    explains(
        &c,
        "pod",
        &[
            "KIND:       Pod",
            "VERSION:    v1",
            "Pod is a collection of containers",
            "spec\t<PodSpec>",
            "metadata\t<ObjectMeta>",
        ],
    );
    explains(
        &c,
        "pod.spec.containers.livenessProbe.httpGet",
        &[
            "FIELD: httpGet <HTTPGetAction>",
            "HTTPGet specifies an HTTP GET request to perform.",
            "port\t<IntOrString> -required-",
            "httpHeaders\t<[]HTTPHeader>",
        ],
    );
    explains(
        &c,
        "deployments.spec.template.spec.containers.resources",
        &[
            "GROUP:      apps",
            "KIND:       Deployment",
            "FIELD: resources <ResourceRequirements>",
            "limits\t<map[string]",
        ],
    );
    explains(
        &c,
        "cj.spec.jobTemplate.spec.backoffLimit",
        &["GROUP:      batch", "FIELD: backoffLimit <integer>"],
    );
    explains(
        &c,
        "svc.spec.ports",
        &["FIELD: ports <[]ServicePort>", "targetPort\t<IntOrString>"],
    );
    explains(
        &c,
        "clusterrole.rules.verbs",
        &[
            "GROUP:      rbac.authorization.k8s.io",
            "FIELD: verbs <[]string>",
        ],
    );
    explains(
        &c,
        "selfsubjectaccessreview.spec.resourceAttributes",
        &["GROUP:      authorization.k8s.io", "namespace\t<string>"],
    );
    let recursive = c.kubectl_ok(&["explain", "statefulset", "--recursive"]);
    assert!(
        recursive.contains("volumeClaimTemplates") && recursive.contains("livenessProbe"),
        "{recursive}"
    );
    let unknown = c.kubectl(&["explain", "pod.spec.noSuchField"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("noSuchField"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[test]
fn swagger_document_describes_every_kind() {
    let c = Cluster::start();
    let text = c.kubectl_ok(&["get", "--raw", "/openapi/v2"]);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["swagger"], "2.0");
    let pod = &doc["definitions"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod",
        "{pod}"
    );
    assert!(doc["paths"]
        .get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
        .is_some());
    // kubectl's OpenAPI v2 path reads the same document in protobuf (gnostic's messages).
    explains(
        &c,
        "deployments.spec.strategy.rollingUpdate --output=plaintext-openapiv2",
        &[
            "KIND:     Deployment",
            "VERSION:  apps/v1",
            "RESOURCE: rollingUpdate <Object>",
            "maxSurge\t<string>",
        ],
    );
}

#[test]
fn kubectl_takes_aggregated_discovery() {
    let c = Cluster::start();
    let out = c.kubectl(&["api-resources", "-v=8"]);
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(
            "Content-Type: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        ),
        "{log}"
    );
    // one request for the core group and one for the others, none per group version
    for path in ["/api/v1?", "/apis/apps/v1?", "/apis/batch/v1?"] {
        assert!(!log.contains(path), "kubectl fetched {path}:\n{log}");
    }
    for row in [
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        ("pods", "po", "v1", "true", "Pod"),
        ("nodes", "no", "v1", "false", "Node"),
        ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
    ] {
        let (name, short, gv, namespaced, kind) = row;
        let found = stdout.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols == [name, short, gv, namespaced, kind]
        });
        assert!(found, "no row {row:?} in:\n{stdout}");
    }
    // short names and subresources still resolve through the aggregated document
    c.kubectl_ok(&["get", "deploy,sts,cj,pdb,sc,no"]);
    let scale = c.kubectl(&["scale", "deploy", "absent", "--replicas=2"]);
    assert!(String::from_utf8_lossy(&scale.stderr).contains("\"absent\" not found"));
}
