//! RBAC evaluation: rule matching, subjects, binding scopes and upstream's reasons.

use serde_json::{json, Value};

use super::rbac::{self, rule_allows, rules_for, PolicyRule, RbacDecision};
use super::rbac_fixture::Policy;
use super::{authorize, forbidden_message, Attributes, Decision, Identity};
use crate::pki::join_token::BOOTSTRAPPERS_GROUP;

fn rule(v: Value) -> PolicyRule {
    serde_json::from_value(v).unwrap()
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

fn role(name: &str, ns: &str, rules: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": ns}, "rules": rules})
}

fn binding(kind: &str, role: &str, subjects: Value) -> Value {
    json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": subjects})
}

fn user(name: &str, groups: &[&str]) -> Identity {
    Identity::authenticated(name, groups.iter().map(|g| g.to_string()).collect())
}

fn allowed(policy: &Policy, who: &Identity, attrs: Attributes<'_>) -> bool {
    authorize(who, &attrs, policy) == Decision::Allow
}

#[test]
fn verbs_groups_and_resources_match_as_upstream() {
    let r = rule(
        json!({"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods", "deployments"]}),
    );
    assert!(rule_allows(&res("get", "", "pods", "ns", "x"), &r));
    assert!(rule_allows(
        &res("list", "apps", "deployments", "ns", ""),
        &r
    ));
    assert!(!rule_allows(&res("watch", "", "pods", "ns", ""), &r));
    assert!(!rule_allows(&res("get", "batch", "pods", "ns", ""), &r));
    // A resource rule does not reach its subresources.
    assert!(!rule_allows(
        &res("get", "", "pods", "ns", "x").with_subresource("log"),
        &r
    ));

    let stars = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
    assert!(rule_allows(
        &res("deletecollection", "x.io", "widgets", "", ""),
        &stars
    ));
    assert!(rule_allows(
        &res("create", "", "pods", "ns", "p").with_subresource("exec"),
        &stars
    ));
    assert!(!rule_allows(
        &Attributes::non_resource("get", "/healthz"),
        &stars
    ));
}

#[test]
fn subresources_by_name_or_star() {
    let logs = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}));
    assert!(rule_allows(
        &res("get", "", "pods", "ns", "p").with_subresource("log"),
        &logs
    ));
    assert!(!rule_allows(&res("get", "", "pods", "ns", "p"), &logs));
    assert!(!rule_allows(
        &res("get", "", "pods", "ns", "p").with_subresource("exec"),
        &logs
    ));
    let scale = rule(json!({"verbs": ["patch"], "apiGroups": ["*"], "resources": ["*/scale"]}));
    assert!(rule_allows(
        &res("patch", "apps", "deployments", "ns", "d").with_subresource("scale"),
        &scale
    ));
    assert!(!rule_allows(
        &res("patch", "apps", "deployments", "ns", "d"),
        &scale
    ));
    assert!(!rule_allows(
        &res("patch", "apps", "deployments", "ns", "d").with_subresource("status"),
        &scale
    ));
}

#[test]
fn resource_names_limit_a_rule() {
    let named = rule(
        json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"]}),
    );
    assert!(rule_allows(
        &res("get", "", "configmaps", "ns", "settings"),
        &named
    ));
    assert!(!rule_allows(
        &res("get", "", "configmaps", "ns", "other"),
        &named
    ));
    // A list names no object, unless narrowed to one by a field selector.
    assert!(!rule_allows(
        &res("list", "", "configmaps", "ns", ""),
        &named
    ));
}

#[test]
fn non_resource_urls_exact_or_by_prefix() {
    let r =
        rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*", "/metrics**"]}));
    let get = |path| rule_allows(&Attributes::non_resource("get", path), &r);
    assert!(get("/healthz"));
    assert!(!get("/healthz/ping"));
    assert!(get("/logs/"));
    assert!(get("/logs/kube.log"));
    assert!(!get("/logs"));
    assert!(get("/metrics/slis"));
    assert!(!rule_allows(
        &Attributes::non_resource("post", "/healthz"),
        &r
    ));
    assert!(!rule_allows(&res("get", "", "healthz", "", ""), &r));
}

fn pod_reader_policy() -> Policy {
    let mut p = Policy::bootstrap();
    p.add_role(
        "dev",
        role(
            "pod-reader",
            "dev",
            json!([{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}]),
        ),
    );
    p.add_binding(
        "dev",
        binding(
            "Role",
            "pod-reader",
            json!([
                {"kind": "User", "name": "alice"},
                {"kind": "Group", "name": "qa"},
                {"kind": "ServiceAccount", "name": "ci"},
                {"kind": "ServiceAccount", "name": "deployer", "namespace": "tools"},
            ]),
        ),
    );
    p
}

#[test]
fn role_bindings_grant_in_their_namespace_only() {
    let p = pod_reader_policy();
    let alice = user("alice", &[]);
    assert!(allowed(&p, &alice, res("list", "", "pods", "dev", "")));
    assert!(!allowed(&p, &alice, res("list", "", "pods", "prod", "")));
    assert!(!allowed(&p, &alice, res("list", "", "pods", "", "")));
    assert!(!allowed(
        &p,
        &alice,
        res("delete", "", "pods", "dev", "web")
    ));
    assert!(allowed(
        &p,
        &user("bob", &["qa"]),
        res("get", "", "pods", "dev", "web")
    ));
    assert!(!allowed(
        &p,
        &user("qa", &[]),
        res("get", "", "pods", "dev", "web")
    ));
}

#[test]
fn service_accounts_match_by_user_name() {
    let p = pod_reader_policy();
    let sa = |ns: &str, name: &str| {
        user(
            &format!("system:serviceaccount:{ns}:{name}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{ns}"),
            ],
        )
    };
    // A subject without a namespace means the binding's own.
    assert!(allowed(
        &p,
        &sa("dev", "ci"),
        res("list", "", "pods", "dev", "")
    ));
    assert!(!allowed(
        &p,
        &sa("prod", "ci"),
        res("list", "", "pods", "dev", "")
    ));
    assert!(allowed(
        &p,
        &sa("tools", "deployer"),
        res("list", "", "pods", "dev", "")
    ));
    assert!(!allowed(
        &p,
        &sa("dev", "deployer"),
        res("list", "", "pods", "dev", "")
    ));

    let mut groups = Policy::bootstrap();
    groups.add_binding(
        "",
        binding(
            "ClusterRole",
            "view",
            json!([{"kind": "Group", "name": "system:serviceaccounts:dev"}]),
        ),
    );
    assert!(allowed(
        &groups,
        &sa("dev", "any"),
        res("list", "apps", "deployments", "prod", "")
    ));
    assert!(!allowed(
        &groups,
        &sa("prod", "any"),
        res("list", "apps", "deployments", "prod", "")
    ));
}

#[test]
fn a_role_binding_to_a_cluster_role_grants_it_in_the_namespace() {
    let mut p = Policy::bootstrap();
    p.add_binding(
        "dev",
        binding(
            "ClusterRole",
            "edit",
            json!([{"kind": "User", "name": "carol"}]),
        ),
    );
    let carol = user("carol", &[]);
    assert!(allowed(
        &p,
        &carol,
        res("create", "apps", "deployments", "dev", "")
    ));
    assert!(allowed(
        &p,
        &carol,
        res("create", "", "pods", "dev", "web").with_subresource("exec")
    ));
    assert!(!allowed(
        &p,
        &carol,
        res("create", "apps", "deployments", "prod", "")
    ));
    // edit grants no RBAC writes; admin does.
    assert!(!allowed(
        &p,
        &carol,
        res(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "dev",
            ""
        )
    ));
    p.add_binding(
        "dev",
        binding(
            "ClusterRole",
            "admin",
            json!([{"kind": "User", "name": "carol"}]),
        ),
    );
    assert!(allowed(
        &p,
        &carol,
        res(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "dev",
            ""
        )
    ));
}

#[test]
fn a_missing_role_is_the_reason_given() {
    let mut p = Policy::bootstrap();
    p.add_binding(
        "dev",
        binding("Role", "gone", json!([{"kind": "User", "name": "dave"}])),
    );
    let dave = user("dave", &[]);
    let attrs = res("list", "", "pods", "dev", "");
    assert_eq!(
        rbac::authorize(&dave, &attrs, &p),
        RbacDecision::NoOpinion("RBAC: role.rbac.authorization.k8s.io \"gone\" not found".into())
    );
    let Decision::Deny(reason) = authorize(&dave, &attrs, &p) else {
        panic!("allowed")
    };
    assert_eq!(
        forbidden_message(&dave, &attrs, &reason),
        "pods is forbidden: User \"dave\" cannot list resource \"pods\" in API group \"\" in the \
         namespace \"dev\": RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
    );
}

#[test]
fn viewers_read_namespaced_objects_but_not_secrets_or_streams() {
    let p = Policy::bootstrap();
    let v = user("bob", &["bramble:viewers"]);
    assert!(allowed(&p, &v, res("list", "", "pods", "", "")));
    assert!(allowed(
        &p,
        &v,
        res("get", "", "pods", "default", "web").with_subresource("log")
    ));
    assert!(allowed(
        &p,
        &v,
        res("watch", "batch", "cronjobs", "default", "")
    ));
    for sub in ["exec", "attach", "portforward", "proxy"] {
        assert!(
            !allowed(
                &p,
                &v,
                res("create", "", "pods", "default", "web").with_subresource(sub)
            ),
            "{sub}"
        );
        assert!(
            !allowed(
                &p,
                &v,
                res("get", "", "pods", "default", "web").with_subresource(sub)
            ),
            "{sub}"
        );
    }
    assert!(!allowed(
        &p,
        &v,
        res("get", "", "secrets", "default", "token")
    ));
    assert!(!allowed(&p, &v, res("list", "", "secrets", "", "")));
}

#[test]
fn join_tokens_only_join_and_masters_do_all() {
    let p = Policy::bootstrap();
    let token = user("system:bootstrap:abcdef", &[BOOTSTRAPPERS_GROUP]);
    assert!(allowed(
        &p,
        &token,
        Attributes::non_resource("post", crate::api::node_certificates::JOIN_PATH)
    ));
    assert!(!allowed(
        &p,
        &token,
        Attributes::non_resource("get", "/api")
    ));
    assert!(!allowed(
        &p,
        &token,
        res(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            ""
        )
    ));
    // Masters pass even with no cluster-admin binding at all.
    assert!(allowed(
        &Policy::default(),
        &user("root", &["system:masters"]),
        res("delete", "", "nodes", "", "n")
    ));
}

#[test]
fn nodes_fall_back_to_rbac() {
    let mut p = Policy::bootstrap();
    let node = user("system:node:pi-2", &["system:nodes"]);
    let attrs = res("get", "", "secrets", "default", "s");
    assert_eq!(
        authorize(&node, &attrs, &p),
        Decision::Deny("no relationship found between node 'pi-2' and this object".into())
    );
    p.add_binding(
        "",
        binding(
            "ClusterRole",
            "cluster-admin",
            json!([{"kind": "Group", "name": "system:nodes"}]),
        ),
    );
    assert_eq!(authorize(&node, &attrs, &p), Decision::Allow);
}

#[test]
fn rules_for_lists_what_applies() {
    let p = pod_reader_policy();
    let (rules, errors) = rules_for(&user("alice", &[]), "dev", &p);
    assert!(errors.is_empty());
    assert!(rules
        .iter()
        .any(|r| r.resources == ["pods"] && r.verbs.len() == 3));
    assert!(rules
        .iter()
        .any(|r| r.non_resource_urls.contains(&"/api/*".to_string())));
    let (cluster_only, _) = rules_for(&user("alice", &[]), "", &p);
    assert!(!cluster_only.iter().any(|r| r.resources == ["pods"]));
}
