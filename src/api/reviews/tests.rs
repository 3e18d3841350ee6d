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

/// A registry with the cluster's default roles and bindings (`bramble:viewers` read all
/// but secrets).
async fn registry(dir: &std::path::Path) -> Registry {
    use crate::resources::rbac::bootstrap_policy::{cluster_role_bindings, cluster_roles};
    let tokens = ServiceAccountTokens::new(SigningKey::ephemeral(), "cluster.local");
    let r = Registry::new(Store::open(dir, 64).unwrap()).with_tokens(Arc::new(tokens));
    let rbac =
        |plural: &str| crate::resources::lookup("rbac.authorization.k8s.io", "v1", plural).unwrap();
    let w = WriteOptions::default();
    for role in cluster_roles() {
        r.create(rbac("clusterroles"), "", role, &w).await.unwrap();
    }
    for binding in cluster_role_bindings() {
        r.create(rbac("clusterrolebindings"), "", binding, &w)
            .await
            .unwrap();
    }
    r
}

#[tokio::test]
async fn self_subject_review_names_the_asker() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let rp = path(AUTHENTICATION, "selfsubjectreviews", None);
    let answer = ask(&r, &rp, &viewer(), json!({})).unwrap();
    assert_eq!(answer["kind"], "SelfSubjectReview");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({"username": "vic", "groups": ["bramble:viewers", "system:authenticated"]})
    );
}

#[tokio::test]
async fn access_reviews_ask_the_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
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

#[tokio::test]
async fn subject_access_reviews_judge_the_named_user() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
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
    let r = registry(dir.path()).await;
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

#[tokio::test]
async fn only_creates_at_the_right_scope_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let mut rp = path(AUTHORIZATION, "localsubjectaccessreviews", None);
    let err = ask(&r, &rp, &viewer(), json!({})).unwrap_err();
    assert_eq!(err.code, 404);
    rp = path(AUTHENTICATION, "selfsubjectreviews", None);
    rp.name = Some("x".into());
    assert_eq!(ask(&r, &rp, &viewer(), json!({})).unwrap_err().code, 405);
}

#[tokio::test]
async fn rules_reviews_list_the_bound_rules() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let w = WriteOptions::default();
    let rbac =
        |plural: &str| crate::resources::lookup("rbac.authorization.k8s.io", "v1", plural).unwrap();
    r.create(
        &namespace::RESOURCE,
        "",
        json!({"metadata": {"name": "apps"}}),
        &w,
    )
    .await
    .unwrap();
    r.create(
        rbac("roles"),
        "apps",
        json!({"metadata": {"name": "reader"},
               "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}),
        &w,
    )
    .await
    .unwrap();
    r.create(
        rbac("rolebindings"),
        "apps",
        json!({"metadata": {"name": "vic-reads"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "vic"}]}),
        &w,
    )
    .await
    .unwrap();
    let rp = path(AUTHORIZATION, "selfsubjectrulesreviews", None);
    let vic = Identity::authenticated("vic", vec![]);
    let review = ask(&r, &rp, &vic, json!({"spec": {"namespace": "apps"}})).unwrap();
    let pods = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]});
    let rules = |review: &Value| {
        review["status"]["resourceRules"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(rules(&review).contains(&pods), "{review}");
    // system:basic-user, bound to everyone authenticated, is listed too
    let self_reviews = json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]});
    assert!(rules(&review).contains(&self_reviews), "{review}");
    assert_eq!(review["status"]["incomplete"], false);
    let elsewhere = ask(&r, &rp, &vic, json!({"spec": {"namespace": "web"}})).unwrap();
    assert!(!rules(&elsewhere).contains(&pods), "{elsewhere}");
    let no_namespace = ask(&r, &rp, &vic, json!({"spec": {}})).unwrap_err();
    assert_eq!(no_namespace.message, "no namespace on request");
}
