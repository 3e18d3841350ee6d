use super::*;
use crate::api::auth::service_account::{jwt, Claims};
use crate::api::auth::Identity;

async fn registry(dir: &std::path::Path) -> Registry {
    let r = crate::api::auth::service_account::test_registry(dir).await;
    let w = WriteOptions::default();
    for name in ["default", "builder"] {
        r.create(
            &serviceaccount::RESOURCE,
            "apps",
            json!({"metadata": {"name": name}}),
            &w,
        )
        .await
        .unwrap();
    }
    r.create(
        &pod::RESOURCE,
        "apps",
        json!({"metadata": {"name": "web"}, "spec": {"nodeName": "pi-2", "serviceAccountName": "builder",
               "automountServiceAccountToken": false,
               "containers": [{"name": "a", "image": "busybox"}]}}),
        &w,
    )
    .await
    .unwrap();
    r
}

fn uid(r: &Registry, rt: &ResourceType, ns: &str, name: &str) -> String {
    r.get(rt, ns, name).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn claims(r: &Registry, answer: &Value) -> Claims {
    let token = answer["status"]["token"].as_str().unwrap();
    jwt::decode(token, r.tokens().unwrap().key()).unwrap()
}

fn as_node(name: &str) -> WriteOptions {
    WriteOptions {
        requester: Some(Identity::authenticated(
            format!("system:node:{name}"),
            vec!["system:nodes".into()],
        )),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_plain_request_gets_an_hour_for_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let answer = r
        .create_token("apps", "builder", json!({}), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["metadata"]["name"], "builder");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600);
    assert_eq!(
        answer["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let c = claims(&r, &answer);
    assert_eq!(c.sub, "system:serviceaccount:apps:builder");
    assert_eq!(c.exp - c.iat, 3600);
    assert_eq!(
        c.kubernetes.serviceaccount.uid,
        uid(&r, &serviceaccount::RESOURCE, "apps", "builder")
    );
    let expires = answer["status"]["expirationTimestamp"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    assert_eq!(expires.timestamp(), c.exp);
}

#[tokio::test]
async fn a_pod_bound_token_names_the_pod_and_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let pod_uid = uid(&r, &pod::RESOURCE, "apps", "web");
    let request = json!({"spec": {"expirationSeconds": PROJECTED_LIFETIME,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": pod_uid}}});
    let answer = r
        .create_token("apps", "builder", request, &as_node("pi-2"))
        .await
        .unwrap();
    let c = claims(&r, &answer);
    assert_eq!(c.kubernetes.pod.as_ref().unwrap().uid, pod_uid);
    assert_eq!(c.kubernetes.node.as_ref().unwrap().name, "pi-2");
    // the projected lifetime is given a year, with a renewal time at the asked lifetime
    assert_eq!(c.exp - c.iat, EXTENDED_LIFETIME);
    assert_eq!(c.kubernetes.warnafter, Some(c.iat + PROJECTED_LIFETIME));
    let expires = answer["status"]["expirationTimestamp"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    assert_eq!(expires.timestamp(), c.iat + PROJECTED_LIFETIME);
}

#[tokio::test]
async fn bad_requests_are_refused_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let w = WriteOptions::default();
    let err = |request: Value, account: &'static str| {
        let r = r.clone();
        let w = w.clone();
        async move {
            r.create_token("apps", account, request, &w)
                .await
                .unwrap_err()
        }
    };
    let short = err(json!({"spec": {"expirationSeconds": 60}}), "builder").await;
    assert_eq!(short.code, 422);
    assert_eq!(
        short.message,
        "TokenRequest.authentication.k8s.io \"builder\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    );
    let renamed = err(json!({"metadata": {"name": "other"}}), "builder").await;
    assert_eq!(renamed.code, 422);
    let missing = err(json!({}), "ghost").await;
    assert_eq!(missing.message, "serviceaccounts \"ghost\" not found");
    let wrong_kind = err(
        json!({"spec": {"boundObjectRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
        "builder",
    )
    .await;
    assert_eq!(
        wrong_kind.message,
        "cannot bind token to object of type apps/v1, Kind=Deployment"
    );
    let stale = err(
        json!({"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "old"}}}),
        "builder",
    )
    .await;
    assert_eq!(stale.code, 409);
    let other_account = err(
        json!({"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web"}}}),
        "default",
    )
    .await;
    assert_eq!(
        other_account.message,
        "cannot bind token for serviceaccount \"default\" to pod running with different serviceaccount name."
    );
}

#[tokio::test]
async fn a_node_gets_tokens_only_for_its_own_pods() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let pod_uid = uid(&r, &pod::RESOURCE, "apps", "web");
    let bound = json!({"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": pod_uid}}});
    let refused = |request: Value, node: &'static str| {
        let r = r.clone();
        async move {
            r.create_token("apps", "builder", request, &as_node(node))
                .await
                .unwrap_err()
        }
    };
    let unbound = refused(json!({}), "pi-2").await;
    assert_eq!(unbound.code, 403);
    assert_eq!(
        unbound.message,
        "serviceaccounts \"builder\" is forbidden: node requested token not bound to a pod"
    );
    let elsewhere = refused(bound.clone(), "pi-3").await;
    assert_eq!(
        elsewhere.message,
        "serviceaccounts \"builder\" is forbidden: node requested token bound to a pod scheduled on a different node"
    );
    let no_uid = refused(
        json!({"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web"}}}),
        "pi-2",
    )
    .await;
    assert!(
        no_uid.message.ends_with("a pod binding without a uid"),
        "{}",
        no_uid.message
    );
    assert!(r
        .create_token("apps", "builder", bound, &as_node("pi-2"))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_registry_without_an_issuer_serves_no_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::new(crate::store::Store::open(dir.path(), 64).unwrap());
    let err = r
        .create_token("apps", "builder", json!({}), &WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, 404);
}
