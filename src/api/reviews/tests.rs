use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::api::auth::service_account::ServiceAccountTokens;
use crate::api::registry::WriteOptions;
use crate::pki::SigningKey;
use crate::resources::{namespace, serviceaccount};
use crate::store::Store;

fn path(group: &str, resource: &str, namespace: Option<&str>) -> ResourcePath {
    ResourcePath {
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        namespace: namespace.map(String::from),
        name: None,
        subresource: None,
    }
}

fn viewer() -> Identity {
    Identity::authenticated("vic", vec!["bramble:viewers".into()])
}

fn ask(
    registry: &Registry,
    rp: &ResourcePath,
    who: &Identity,
    body: Value,
) -> Result<Value, ApiError> {
    let authorize =
        |who: &Identity, attrs: &Attributes<'_>| crate::api::auth::authorize(who, attrs, registry);
    let tokens = TokenAuthenticator::empty();
    let cx = Context {
        registry,
        tokens: &tokens,
        authorize: &authorize,
    };
    let review = handles(rp).expect("a review path");
    let bytes = serde_json::to_vec(&body).unwrap();
    answer(&cx, review, rp, "create", who, &HeaderMap::new(), &bytes)
}

fn registry(dir: &std::path::Path) -> Registry {
    let tokens = ServiceAccountTokens::new(SigningKey::ephemeral(), "cluster.local");
    Registry::new(Store::open(dir, 64).unwrap()).with_tokens(Arc::new(tokens))
}

#[test]
fn self_subject_review_names_the_asker() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path());
    let rp = path(AUTHENTICATION, "selfsubjectreviews", None);
    let answer = ask(&r, &rp, &viewer(), json!({})).unwrap();
    assert_eq!(answer["kind"], "SelfSubjectReview");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({"username": "vic", "groups": ["bramble:viewers", "system:authenticated"]})
    );
}

#[test]
fn access_reviews_ask_the_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path());
    let rp = path(AUTHORIZATION, "selfsubjectaccessreviews", None);
    let can = |verb: &str, resource: &str| {
        let body = json!({"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": "apps"}}});
        ask(&r, &rp, &viewer(), body).unwrap()["status"]["allowed"].clone()
    };
    assert_eq!(can("list", "pods"), json!(true));
    assert_eq!(can("delete", "pods"), json!(false));
    assert_eq!(can("get", "secrets"), json!(false));
    let path_review =
        json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/version"}}});
    assert_eq!(
        ask(&r, &rp, &viewer(), path_review).unwrap()["status"]["allowed"],
        true
    );
    let neither = ask(&r, &rp, &viewer(), json!({"spec": {}})).unwrap_err();
    assert_eq!(neither.code, 422);
    assert!(
        neither.message.contains(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        ),
        "{}",
        neither.message
    );
}

#[test]
fn subject_access_reviews_judge_the_named_user() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path());
    let admin = Identity::authenticated("admin", vec!["system:masters".into()]);
    let rp = path(AUTHORIZATION, "subjectaccessreviews", None);
    let about = |groups: Value| {
        json!({"spec": {"user": "vic", "groups": groups,
                        "resourceAttributes": {"verb": "list", "resource": "pods"}}})
    };
    let allowed = |body: Value| ask(&r, &rp, &admin, body).unwrap()["status"]["allowed"].clone();
    assert_eq!(allowed(about(json!(["bramble:viewers"]))), json!(true));
    assert_eq!(allowed(about(json!([]))), json!(false));
    let nobody = json!({"spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}});
    let err = ask(&r, &rp, &admin, nobody).unwrap_err();
    assert!(
        err.message
            .contains("at least one of user or group must be specified"),
        "{}",
        err.message
    );

    let local = path(AUTHORIZATION, "localsubjectaccessreviews", Some("apps"));
    let elsewhere = json!({"spec": {"user": "vic", "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "web"}}});
    let err = ask(&r, &local, &admin, elsewhere).unwrap_err();
    assert!(
        err.message.contains("must match metadata.namespace"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn token_reviews_authenticate_service_account_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path());
    let w = WriteOptions::default();
    r.create(
        &namespace::RESOURCE,
        "",
        json!({"metadata": {"name": "apps"}}),
        &w,
    )
    .await
    .unwrap();
    r.create(
        &serviceaccount::RESOURCE,
        "apps",
        json!({"metadata": {"name": "ci"}}),
        &w,
    )
    .await
    .unwrap();
    let token = r.create_token("apps", "ci", json!({}), &w).await.unwrap()["status"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = Identity::authenticated("admin", vec!["system:masters".into()]);
    let rp = path(AUTHENTICATION, "tokenreviews", None);
    let review = ask(&r, &rp, &admin, json!({"spec": {"token": token}})).unwrap();
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:apps:ci"
    );
    let bad = ask(&r, &rp, &admin, json!({"spec": {"token": "nonsense"}})).unwrap();
    assert_eq!(bad["status"]["authenticated"], Value::Null);
    assert_eq!(bad["status"]["error"], "invalid bearer token");
}

#[test]
fn only_creates_at_the_right_scope_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path());
    let mut rp = path(AUTHORIZATION, "localsubjectaccessreviews", None);
    let err = ask(&r, &rp, &viewer(), json!({})).unwrap_err();
    assert_eq!(err.code, 404);
    rp = path(AUTHENTICATION, "selfsubjectreviews", None);
    rp.name = Some("x".into());
    assert_eq!(ask(&r, &rp, &viewer(), json!({})).unwrap_err().code, 405);
}
