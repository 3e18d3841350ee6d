//! Authentication with bootstrap tokens (upstream's `plugin/pkg/auth/authenticator/token/bootstrap`):
//! a bearer `<id>.<secret>` is `system:bootstrap:<id>` in `system:bootstrappers` (and the
//! Secret's extra groups) when the Secret `kube-system/bootstrap-token-<id>` exists, is not
//! being deleted, holds that secret, has not expired and allows authentication.
//! A bearer of another shape is not this authenticator's to judge.

use chrono::{DateTime, Utc};

use crate::api::registry::Registry;
use crate::pki::identity::Identity;
use crate::pki::join_token::{BOOTSTRAPPERS_GROUP, BOOTSTRAP_USER_PREFIX};
use crate::pki::tokens::constant_time_eq;
use crate::resources::bootstrap_token::{self, BootstrapToken};
use crate::resources::secret;

/// What the bootstrap authenticator made of a bearer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not of the bootstrap token shape: another authenticator's turn.
    NotMine,
    /// Of the shape but not valid: 401.
    Refused,
    /// A valid token's user.
    User(Identity),
}

/// Judges `bearer` against the bootstrap token Secrets at `now`.
pub fn authenticate(bearer: &str, registry: &Registry, now: DateTime<Utc>) -> Outcome {
    let Some((id, presented)) = bootstrap_token::split_bearer(bearer) else {
        return Outcome::NotMine;
    };
    let Some(object) = registry.lookup(
        &secret::RESOURCE,
        bootstrap_token::NAMESPACE,
        &bootstrap_token::secret_name(id),
    ) else {
        tracing::debug!(token_id = id, "no bootstrap token secret for this id");
        return Outcome::Refused;
    };
    let secret = object.value();
    if secret.pointer("/metadata/deletionTimestamp").is_some() {
        return Outcome::Refused;
    }
    let token = match BootstrapToken::from_secret(&secret) {
        Ok(token) => token,
        Err(e) => {
            tracing::debug!(token_id = id, error = %e, "bootstrap token secret is not usable");
            return Outcome::Refused;
        }
    };
    if !constant_time_eq(token.secret.as_bytes(), presented.as_bytes()) || token.id != id {
        return Outcome::Refused;
    }
    if token.expired(now) {
        tracing::debug!(token_id = id, "bootstrap token has expired");
        return Outcome::Refused;
    }
    if !token.authenticates() {
        tracing::debug!(token_id = id, "bootstrap token is not for authentication");
        return Outcome::Refused;
    }
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    groups.extend(token.extra_groups);
    Outcome::User(Identity::authenticated(
        format!("{BOOTSTRAP_USER_PREFIX}{id}"),
        groups,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry::WriteOptions;
    use crate::resources::bootstrap_token::{AUTHENTICATION_USAGE, DEFAULT_NODE_GROUP};
    use crate::store::Store;
    use serde_json::json;

    async fn registry_with(tokens: &[BootstrapToken]) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(Store::open(dir.path(), 64).unwrap());
        let ns = crate::resources::lookup_kind("v1", "Namespace").unwrap();
        let opts = WriteOptions::default();
        registry
            .create(ns, "", json!({"metadata": {"name": "kube-system"}}), &opts)
            .await
            .unwrap();
        for t in tokens {
            registry
                .create(&secret::RESOURCE, "kube-system", t.to_secret(), &opts)
                .await
                .unwrap();
        }
        (dir, registry)
    }

    fn token(id: &str, expires_in: i64, usages: &[&str]) -> BootstrapToken {
        BootstrapToken {
            id: id.into(),
            secret: "0123456789abcdef".into(),
            expiration: Some(Utc::now() + chrono::Duration::seconds(expires_in)),
            usages: usages.iter().map(|u| u.to_string()).collect(),
            extra_groups: vec![DEFAULT_NODE_GROUP.into()],
            description: String::new(),
        }
    }

    #[tokio::test]
    async fn only_a_live_token_for_authentication_names_a_user() {
        let (_dir, registry) = registry_with(&[
            token("valid0", 600, &[AUTHENTICATION_USAGE]),
            token("old000", -1, &[AUTHENTICATION_USAGE]),
            token("sign00", 600, &["signing"]),
        ])
        .await;
        let now = Utc::now();
        let Outcome::User(who) = authenticate("valid0.0123456789abcdef", &registry, now) else {
            panic!("a live token should authenticate");
        };
        assert_eq!(who.user, "system:bootstrap:valid0");
        assert!(who.groups.iter().any(|g| g == BOOTSTRAPPERS_GROUP));
        assert!(who.groups.iter().any(|g| g == DEFAULT_NODE_GROUP));
        assert!(who.groups.iter().any(|g| g == "system:authenticated"));

        for refused in [
            "valid0.0123456789abcdee", // wrong secret
            "old000.0123456789abcdef", // expired
            "sign00.0123456789abcdef", // not for authentication
            "nosuch.0123456789abcdef", // revoked (no Secret)
        ] {
            assert_eq!(
                authenticate(refused, &registry, now),
                Outcome::Refused,
                "{refused}"
            );
        }
        assert_eq!(
            authenticate("eyJhbGciOi.x.y", &registry, now),
            Outcome::NotMine
        );
        // Once its time has come, a token stops working even before the cleaner runs.
        assert_eq!(
            authenticate(
                "valid0.0123456789abcdef",
                &registry,
                now + chrono::Duration::seconds(601)
            ),
            Outcome::Refused
        );
    }
}
