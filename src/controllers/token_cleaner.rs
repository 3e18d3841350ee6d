//! Deletes bootstrap tokens once they expire, as upstream's `tokencleaner` does: every
//! Secret `kube-system/bootstrap-token-*` of the bootstrap token type with an `expiration`
//! is deleted at that time (the authenticator already refuses it from then on; this keeps
//! `bramble ctl token list` and the store tidy).
//!
//! Secrets are followed through the shared metadata-only informer; a candidate's data is
//! read when it is looked at, so the server keeps no copy of any Secret's data.

use std::sync::Arc;

use chrono::Utc;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{Informer, Informers, Key, PartialObject};
use crate::client::options::{DeleteOptions, Preconditions};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::bootstrap_token::{self, BootstrapToken};
use crate::resources::secret;

/// Deletes expired bootstrap tokens.
pub struct TokenCleaner<C: Client> {
    client: C,
    secrets: Informer<PartialObject>,
}

impl<C: Client> TokenCleaner<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Wired<Self, PartialObject> {
        let secrets = informers.metadata(&secret::RESOURCE);
        Ok((
            TokenCleaner {
                client: informers.client().clone(),
                secrets: secrets.clone(),
            },
            secrets,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the Secrets' metadata has listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let secrets = self.secrets.clone();
        async move { secrets.wait_synced().await }
    }
}

impl<C: Client> Controller for TokenCleaner<C> {
    type Kind = PartialObject;

    fn name(&self) -> &'static str {
        "token-cleaner"
    }

    async fn reconcile(&self, meta: Arc<PartialObject>) -> Result<Action, ApiError> {
        let m = &meta.metadata;
        let name = m.name.as_deref().unwrap_or_default();
        if m.namespace.as_deref() != Some(bootstrap_token::NAMESPACE)
            || !name.starts_with(bootstrap_token::NAME_PREFIX)
            || m.deletion_timestamp.is_some()
        {
            return Ok(Action::Done);
        }
        let stored = match self
            .client
            .get(&secret::RESOURCE, bootstrap_token::NAMESPACE, name)
            .await
        {
            Ok(s) => s,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        // A Secret that is not a well-formed token is left alone, as upstream does.
        let Ok(token) = BootstrapToken::from_secret(&stored) else {
            return Ok(Action::Done);
        };
        let Some(expiration) = token.expiration else {
            return Ok(Action::Done);
        };
        let now = Utc::now();
        if expiration > now {
            return Ok(Action::RequeueAfter(
                (expiration - now).to_std().unwrap_or_default(),
            ));
        }
        let opts = DeleteOptions {
            preconditions: Some(Preconditions {
                uid: m.uid.clone(),
                resource_version: None,
            }),
            ..DeleteOptions::default()
        };
        match self
            .client
            .delete(&secret::RESOURCE, bootstrap_token::NAMESPACE, name, &opts)
            .await
        {
            Ok(()) => {
                tracing::info!(token_id = %token.id, "deleted an expired bootstrap token");
                Ok(Action::Done)
            }
            Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
            Err(e) => Err(e),
        }
    }

    fn forget(&self, _key: &Key) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::LocalClient;
    use serde_json::json;
    use std::time::Duration;

    fn token(id: &str, expires_in: Option<i64>) -> BootstrapToken {
        BootstrapToken {
            id: id.into(),
            secret: "0123456789abcdef".into(),
            expiration: expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s)),
            usages: vec![bootstrap_token::AUTHENTICATION_USAGE.into()],
            extra_groups: Vec::new(),
            description: String::new(),
        }
    }

    /// An expired token is deleted, one expiring later is looked at again then, one without
    /// expiry and other Secrets are left alone.
    #[tokio::test]
    async fn expired_tokens_are_deleted_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let namespaces = crate::resources::lookup_kind("v1", "Namespace").unwrap();
        client
            .create(namespaces, "", json!({"metadata": {"name": "kube-system"}}))
            .await
            .unwrap();
        for t in [
            token("expird", Some(-5)),
            token("later0", Some(3600)),
            token("always", None),
        ] {
            client
                .create(&secret::RESOURCE, "kube-system", t.to_secret())
                .await
                .unwrap();
        }
        let opaque = json!({"metadata": {"name": "bootstrap-token-opaque", "namespace": "kube-system"},
            "type": "Opaque", "stringData": {"expiration": "2000-01-01T00:00:00Z"}});
        client
            .create(&secret::RESOURCE, "kube-system", opaque)
            .await
            .unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        let (cleaner, secrets, _) = TokenCleaner::new(&informers).unwrap();
        cleaner.ready().await;
        let look = |name: &str| secrets.get("kube-system", name).unwrap();

        let expired = look("bootstrap-token-expird");
        assert!(matches!(
            cleaner.reconcile(expired).await.unwrap(),
            Action::Done
        ));
        let gone = client
            .get(&secret::RESOURCE, "kube-system", "bootstrap-token-expird")
            .await;
        assert_eq!(gone.unwrap_err().code, 404);

        match cleaner
            .reconcile(look("bootstrap-token-later0"))
            .await
            .unwrap()
        {
            Action::RequeueAfter(d) => {
                assert!(d > Duration::from_secs(3500) && d <= Duration::from_secs(3600))
            }
            other => panic!("a live token should be looked at when it expires, not {other:?}"),
        }
        for kept in ["bootstrap-token-always", "bootstrap-token-opaque"] {
            assert!(matches!(
                cleaner.reconcile(look(kept)).await.unwrap(),
                Action::Done
            ));
            assert!(client
                .get(&secret::RESOURCE, "kube-system", kept)
                .await
                .is_ok());
        }
        shutdown.cancel();
        informers.stopped().await;
    }
}
