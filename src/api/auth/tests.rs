//! Authentication outcomes and the decisions of the bootstrap policy for each kind of user.

use rustls::pki_types::CertificateDer;

use super::*;
use crate::pki::{Pki, ServerNames};

fn cert_der(user: &str, groups: &[&str]) -> CertificateDer<'static> {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &ServerNames::default()).unwrap();
    let (pem, _) = pki.ca().issue_client(user, groups, 1).unwrap();
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn tokens() -> TokenAuthenticator {
    TokenAuthenticator::from_csv("s3cret,bob,1002,bramble:viewers\n").unwrap()
}

#[test]
fn certificate_wins_over_token() {
    let der = cert_der("system:node:pi-2", &["system:nodes"]);
    let authn = authenticate(Some(&[der]), Some("Bearer s3cret"), &tokens(), None);
    let Authn::Authenticated(who) = authn else {
        panic!("{authn:?}")
    };
    assert_eq!(who.user, "system:node:pi-2");
    assert_eq!(who.groups, vec!["system:nodes", "system:authenticated"]);
}

#[test]
fn bearer_tokens_good_bad_and_absent() {
    let tokens = tokens();
    let good = authenticate(None, Some("bearer s3cret"), &tokens, None);
    assert_eq!(good.identity().unwrap().user, "bob");
    assert_eq!(
        authenticate(None, Some("Bearer wrong"), &tokens, None),
        Authn::InvalidToken
    );
    assert_eq!(
        authenticate(None, Some("Bearer wrong"), &tokens, None).identity(),
        None
    );
    assert_eq!(
        authenticate(None, None, &tokens, None),
        Authn::NoCredentials
    );
    assert_eq!(
        authenticate(None, Some("Basic Ym9iOnB3"), &tokens, None),
        Authn::NoCredentials
    );
    assert_eq!(
        authenticate(None, Some("Bearer  s3cret"), &tokens, None),
        Authn::NoCredentials
    );
    assert_eq!(
        authenticate(Some(&[]), None, &tokens, None).identity(),
        Some(Identity::anonymous())
    );
}

use super::rbac_fixture::Policy;

fn admin() -> Identity {
    Identity::authenticated("admin", vec![MASTERS_GROUP.into()])
}
fn viewer() -> Identity {
    Identity::authenticated("bob", vec![VIEWERS_GROUP.into()])
}
fn plain() -> Identity {
    Identity::authenticated("carol", vec![])
}

fn allowed(who: &Identity, attrs: Attributes<'_>) -> bool {
    authorize(who, &attrs, &Policy::bootstrap()) == Decision::Allow
}

fn res<'a>(
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    ns: &'a str,
    name: &'a str,
) -> Attributes<'a> {
    Attributes::resource(verb, group, resource, ns, name)
}

#[test]
fn admin_may_do_everything() {
    assert!(allowed(
        &admin(),
        res("deletecollection", "", "secrets", "kube-system", "")
    ));
    assert!(allowed(
        &admin(),
        Attributes::non_resource("post", "/anything")
    ));
    assert!(allowed(
        &admin(),
        res("create", "", "pods", "default", "x").with_subresource("exec")
    ));
}

#[test]
fn viewer_reads_all_but_secrets_and_writes_nothing() {
    let v = viewer();
    for verb in ["get", "list", "watch"] {
        assert!(allowed(&v, res(verb, "apps", "deployments", "default", "")));
        assert!(!allowed(&v, res(verb, "", "secrets", "default", "")));
    }
    assert!(allowed(
        &v,
        res("get", "", "pods", "default", "web").with_subresource("log")
    ));
    assert!(!allowed(
        &v,
        res("get", "", "pods", "default", "web").with_subresource("exec")
    ));
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert!(
            !allowed(&v, res(verb, "", "configmaps", "default", "")),
            "{verb}"
        );
    }
    assert!(allowed(
        &v,
        Attributes::non_resource("get", "/apis/apps/v1")
    ));
    assert!(!allowed(&v, Attributes::non_resource("get", "/metrics")));
}

#[test]
fn node_group_without_node_user_gets_upstream_reason() {
    let odd = Identity::authenticated("kubelet", vec![NODES_GROUP.into()]);
    assert_eq!(
        authorize(
            &odd,
            &res("get", "", "pods", "default", ""),
            &Policy::bootstrap()
        ),
        Decision::Deny("unknown node for user \"kubelet\"".into())
    );
}

#[test]
fn discovery_for_authenticated_health_for_everyone() {
    let anon = Identity::anonymous();
    for path in ["/livez", "/readyz", "/healthz", "/version"] {
        assert!(
            allowed(&anon, Attributes::non_resource("get", path)),
            "{path}"
        );
        assert!(
            allowed(&plain(), Attributes::non_resource("get", path)),
            "{path}"
        );
    }
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/openapi/v2",
        "/openapi/v3/api/v1",
    ] {
        assert!(
            !allowed(&anon, Attributes::non_resource("get", path)),
            "{path}"
        );
        assert!(
            allowed(&plain(), Attributes::non_resource("get", path)),
            "{path}"
        );
    }
    assert!(!allowed(&plain(), Attributes::non_resource("post", "/api")));
    assert!(!allowed(
        &plain(),
        Attributes::non_resource("get", "/apifoo")
    ));
    assert!(!allowed(&plain(), res("get", "", "pods", "default", "")));
    assert!(!allowed(&anon, res("list", "", "namespaces", "", "")));
    assert!(allowed(
        &plain(),
        res(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            ""
        )
    ));
}

#[test]
fn denial_formats_as_kubectl_shows_it() {
    let attrs = res("create", "", "pods", "default", "");
    let Decision::Deny(reason) = authorize(&plain(), &attrs, &Policy::bootstrap()) else {
        panic!("allowed")
    };
    assert_eq!(
        forbidden_message(&plain(), &attrs, &reason),
        "pods is forbidden: User \"carol\" cannot create resource \"pods\" in API group \"\" in the \
         namespace \"default\""
    );
}
