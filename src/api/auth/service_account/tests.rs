use std::collections::HashMap;

use chrono::{Duration, TimeZone};

use super::*;

#[derive(Default)]
struct Objects {
    accounts: HashMap<(String, String), Existing>,
    bound: HashMap<(String, String), Existing>,
}

impl Objects {
    fn with_account(mut self, ns: &str, name: &str, uid: &str) -> Self {
        self.accounts.insert((ns.into(), name.into()), live(uid));
        self
    }
    fn with_pod(mut self, ns: &str, name: &str, existing: Existing) -> Self {
        self.bound.insert((ns.into(), name.into()), existing);
        self
    }
}

impl BoundObjects for Objects {
    fn service_account(&self, namespace: &str, name: &str) -> Option<Existing> {
        self.accounts.get(&(namespace.into(), name.into())).cloned()
    }
    fn bound(&self, _kind: BoundKind, namespace: &str, name: &str) -> Option<Existing> {
        self.bound.get(&(namespace.into(), name.into())).cloned()
    }
}

fn live(uid: &str) -> Existing {
    Existing {
        uid: uid.into(),
        deletion: None,
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn r(name: &str, uid: &str) -> ObjectRef {
    ObjectRef {
        name: name.into(),
        uid: uid.into(),
    }
}

fn grant(pod: Option<ObjectRef>) -> Grant {
    Grant {
        namespace: "apps".into(),
        service_account: r("builder", "sa-1"),
        audiences: Vec::new(),
        lifetime: 3600,
        warn_after: None,
        pod,
        secret: None,
        node: Some(r("pi-2", "node-1")),
    }
}

fn tokens() -> ServiceAccountTokens {
    ServiceAccountTokens::new(SigningKey::ephemeral(), "cluster.local")
}

#[test]
fn a_bound_token_names_its_service_account_and_pod() {
    let t = tokens();
    let token = t.issue(&grant(Some(r("web-0", "pod-1"))), at(0)).unwrap();
    let objects = Objects::default()
        .with_account("apps", "builder", "sa-1")
        .with_pod("apps", "web-0", live("pod-1"));
    let who = t.authenticate(&token, &objects, at(10)).unwrap();
    assert_eq!(who.user, "system:serviceaccount:apps:builder");
    assert_eq!(
        who.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:apps",
            "system:authenticated"
        ]
    );
    assert_eq!(who.uid, "sa-1");
    assert_eq!(who.extra[EXTRA_POD_NAME], ["web-0"]);
    assert_eq!(who.extra[EXTRA_NODE_NAME], ["pi-2"]);
    assert!(who.extra[EXTRA_CREDENTIAL_ID][0].starts_with("JTI="));
}

#[test]
fn a_token_dies_with_its_pod_and_its_service_account() {
    let t = tokens();
    let token = t.issue(&grant(Some(r("web-0", "pod-1"))), at(0)).unwrap();
    let account = || Objects::default().with_account("apps", "builder", "sa-1");
    let revoked = |objects: &Objects| {
        matches!(
            t.authenticate(&token, objects, at(10)),
            Err(TokenInvalid::Revoked(_))
        )
    };
    assert!(revoked(&account()), "pod deleted");
    assert!(
        revoked(&account().with_pod("apps", "web-0", live("pod-2"))),
        "pod recreated"
    );
    let deleting = Existing {
        uid: "pod-1".into(),
        deletion: Some(at(5)),
    };
    assert!(
        revoked(&account().with_pod("apps", "web-0", deleting)),
        "pod deleted at 5 s"
    );
    let recreated_account = Objects::default()
        .with_account("apps", "builder", "sa-2")
        .with_pod("apps", "web-0", live("pod-1"));
    assert!(revoked(&recreated_account), "service account recreated");
}

#[test]
fn lifetime_audience_and_issuer_are_checked() {
    let t = tokens();
    let objects = Objects::default()
        .with_account("apps", "builder", "sa-1")
        .with_pod("", "pi-2", live("node-1"));
    let token = t.issue(&grant(None), at(0)).unwrap();
    assert!(t.authenticate(&token, &objects, at(3600 + 59)).is_ok());
    assert_eq!(
        t.authenticate(&token, &objects, at(3600 + 61)),
        Err(TokenInvalid::Lifetime)
    );
    assert_eq!(
        t.authenticate(&token, &objects, at(-61)),
        Err(TokenInvalid::Lifetime)
    );

    let mut vault = grant(None);
    vault.audiences = vec!["vault".into()];
    let for_vault = t.issue(&vault, at(0)).unwrap();
    assert_eq!(
        t.authenticate(&for_vault, &objects, at(1)),
        Err(TokenInvalid::Audience(vec!["vault".into()]))
    );

    let other_cluster = ServiceAccountTokens {
        issuer: "https://elsewhere".into(),
        ..ServiceAccountTokens::new(SigningKey::ephemeral(), "cluster.local")
    };
    let foreign = other_cluster.issue(&grant(None), at(0)).unwrap();
    assert!(matches!(
        t.authenticate(&foreign, &objects, at(1)),
        Err(TokenInvalid::Jwt(_))
    ));
}

#[test]
fn a_token_bound_to_a_node_dies_with_the_node() {
    let t = tokens();
    let token = t.issue(&grant(None), at(0)).unwrap();
    let account = Objects::default().with_account("apps", "builder", "sa-1");
    assert!(matches!(
        t.authenticate(&token, &account, at(1)),
        Err(TokenInvalid::Revoked(_))
    ));
    let with_node = account.with_pod("", "pi-2", live("node-1"));
    assert!(t.authenticate(&token, &with_node, at(1)).is_ok());
}

#[test]
fn service_account_user_names_split_back() {
    assert_eq!(
        split_user_name(&user_name("apps", "builder")),
        Some(("apps", "builder"))
    );
    for bad in [
        "system:serviceaccount:apps",
        "system:serviceaccount::x",
        "system:serviceaccount:a:b:c",
        "alice",
    ] {
        assert_eq!(split_user_name(bad), None, "{bad}");
    }
}

#[test]
fn remembered_signatures_still_get_their_lifetime_checked() {
    let t = tokens();
    let objects = Objects::default().with_account("apps", "builder", "sa-1");
    let token = t.issue(&grant(None), at(0)).unwrap();
    let with_node = Objects {
        bound: [(("".into(), "pi-2".into()), live("node-1"))].into(),
        ..objects
    };
    assert!(t.authenticate(&token, &with_node, at(1)).is_ok());
    assert_eq!(
        t.authenticate(&token, &with_node, at(1) + Duration::hours(2)),
        Err(TokenInvalid::Lifetime)
    );
}
