//! Bad input gets a Kubernetes `Status` with upstream's code, reason and causes, and nothing
//! is stored; missing or insufficient credentials get 401 and 403.

use crate::support;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::Cluster;

const CM: &str = "/api/v1/namespaces/default/configmaps";

async fn post(c: &Cluster, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = c
        .api()
        .request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await
        .unwrap();
    (r.status, r.json())
}

async fn configmap_count(c: &Cluster) -> usize {
    let r = c
        .api()
        .request(Method::GET, CM, &[], Vec::new())
        .await
        .unwrap();
    // the kube-root-ca.crt ConfigMap every namespace has is not the test's
    r.json()["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|o| o["metadata"]["name"] != "kube-root-ca.crt")
            .count()
    })
}

fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
}

#[tokio::test]
async fn malformed_oversized_and_unknown_requests_get_status_and_store_nothing() {
    let c = Cluster::start();
    let (code, body) = post(&c, CM, b"{not json".to_vec()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_status(&body, 400, "BadRequest");

    let huge = json!({"metadata": {"name": "huge"}, "data": {"x": "a".repeat(4 << 20)}});
    let (code, body) = post(&c, CM, serde_json::to_vec(&huge).unwrap()).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_status(&body, 413, "RequestEntityTooLarge");

    let (code, body) = post(&c, "/api/v1/namespaces/default/widgets", b"{}".to_vec()).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_status(&body, 404, "NotFound");

    let r = c
        .api()
        .request(
            Method::GET,
            "/api/v1/namespaces/default/configmaps/nope",
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_status(&r.json(), 404, "NotFound");
    assert_eq!(r.json()["message"], "configmaps \"nope\" not found");
    assert_eq!(r.json()["details"]["kind"], "configmaps");

    let strict = json!({"metadata": {"name": "strict"}, "data": {}, "bogus": 1});
    let (code, body) = post(
        &c,
        &format!("{CM}?fieldValidation=Strict"),
        serde_json::to_vec(&strict).unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"bogus\""),
        "{body}"
    );

    let (code, _) = post(
        &c,
        "/api/v1/namespaces/missing/configmaps",
        serde_json::to_vec(&json!({"metadata": {"name": "a"}})).unwrap(),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "creating in a namespace that does not exist"
    );

    assert_eq!(
        configmap_count(&c).await,
        0,
        "failed requests stored nothing"
    );
}

#[tokio::test]
async fn invalid_objects_get_422_with_causes() {
    let c = Cluster::start();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}});
    let (code, body) = post(
        &c,
        "/api/v1/namespaces/default/pods",
        serde_json::to_vec(&pod).unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_status(&body, 422, "Invalid");
    assert_eq!(body["details"]["kind"], "Pod");
    let causes = body["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{body}");
    assert!(fields.contains(&"spec.containers[0].image"), "{body}");
    let r = c
        .api()
        .request(
            Method::GET,
            "/api/v1/namespaces/default/pods",
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn stale_updates_conflict_and_names_are_generated() {
    let c = Cluster::start();
    let (code, created) = post(
        &c,
        CM,
        serde_json::to_vec(&json!({"metadata": {"generateName": "cfg-"}, "data": {"a": "1"}}))
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
    assert!(created["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(created["metadata"]["creationTimestamp"].is_string());
    let stale_rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("{CM}/{name}");
    let mut update = created.clone();
    update["data"]["a"] = json!("2");
    let r = c
        .api()
        .request(
            Method::PUT,
            &path,
            &[("content-type", "application/json")],
            serde_json::to_vec(&update).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let new_rv = r.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new_rv.parse::<u64>().unwrap() > stale_rv.parse::<u64>().unwrap());

    update["data"]["a"] = json!("3");
    update["metadata"]["resourceVersion"] = json!(stale_rv);
    let r = c
        .api()
        .request(
            Method::PUT,
            &path,
            &[("content-type", "application/json")],
            serde_json::to_vec(&update).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_status(&r.json(), 409, "Conflict");
    let now = c
        .api()
        .request(Method::GET, &path, &[], Vec::new())
        .await
        .unwrap()
        .json();
    assert_eq!(now["data"]["a"], "2", "the stale write changed nothing");
}

#[tokio::test]
async fn credentials_are_required_and_viewers_cannot_write() {
    let c = Cluster::start();
    let mut anon = bramble::pki::kubeconfig::Kubeconfig::load(&c.kubeconfig()).unwrap();
    anon.credentials = bramble::pki::kubeconfig::Credentials::None;
    let anon = bramble::client::http::HttpClient::new(&anon).unwrap();
    let r = anon
        .request(Method::GET, CM, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_status(&r.json(), 401, "Unauthorized");
    let r = anon
        .request(Method::GET, "/readyz", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "health stays public");

    let mut bad = bramble::pki::kubeconfig::Kubeconfig::load(&c.kubeconfig()).unwrap();
    bad.credentials =
        bramble::pki::kubeconfig::Credentials::Token("abcdef.0123456789abcdef".into());
    let r = bramble::client::http::HttpClient::new(&bad)
        .unwrap()
        .request(Method::GET, CM, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let viewer = c.user_kubeconfig("vera", &["bramble:viewers"]);
    let ok = c.kubectl_as(&viewer, &["get", "configmaps"], None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let denied = c.kubectl_as(
        &viewer,
        &["create", "configmap", "x", "--from-literal=a=b"],
        None,
    );
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("configmaps is forbidden: User \"vera\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
}

/// `kubectl debug` without a terminal adds an ephemeral container through
/// `pods/ephemeralcontainers` and returns, even before the pod is scheduled; for a pod that
/// does not exist kubectl reads the 404's `details` (upstream always sends them on
/// NotFound) and prints one line instead of crashing on a Status without them.
#[test]
fn kubectl_debug_adds_an_ephemeral_container_and_reports_a_missing_pod() {
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeSelector: {kubernetes.io/hostname: nowhere}
  containers: [{name: main, image: busybox}]
",
    );
    let out = c.kubectl(&["debug", "web", "--image=busybox"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let name = c.pod_jsonpath("web", "{.spec.ephemeralContainers[0].name}");
    assert!(name.starts_with("debugger-"), "{name}");
    assert_eq!(
        c.pod_jsonpath("web", "{.spec.ephemeralContainers[0].image}"),
        "busybox"
    );

    let out = c.kubectl(&["debug", "nope", "--image=busybox"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{err}"
    );
    assert!(!err.contains("panic"), "{err}");
}
