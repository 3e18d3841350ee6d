//! Long-lived tokens in Secrets, as upstream's tokens controller fills them: a Secret of
//! type `kubernetes.io/service-account-token` naming a service account in its
//! `kubernetes.io/service-account.name` annotation (how the Kubernetes documentation has
//! users make a token that does not expire) gets `data.token`, `data.ca.crt` and
//! `data.namespace`, and the account's uid in `kubernetes.io/service-account.uid`.
//!
//! The token is asked of the API like any other (`serviceaccounts/token`), bound to the
//! Secret and given the longest lifetime a TokenRequest allows (2^32 s), so it works until
//! the Secret or the account is deleted, as a legacy token does. A Secret whose account
//! does not exist yet is looked at again until it does.
//!
//! Secrets are followed through the shared metadata-only informer (the annotation marks
//! the candidates), so the server holds no copy of every Secret's data.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::{json, Value};

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{key_of, Change, Informer, Informers, PartialObject};
use crate::client::options::{PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta::str_at_pointer;
use crate::resources::{secret, serviceaccount};

/// The Secret type holding an account's token.
pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
/// The annotation naming the account.
pub const ACCOUNT_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
/// The annotation the account's uid is written to.
pub const ACCOUNT_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
/// The longest lifetime a TokenRequest may ask for.
const LONGEST_LIFETIME: i64 = 1 << 32;
/// How soon a Secret whose account is missing is looked at again.
const ACCOUNT_RETRY: Duration = Duration::from_secs(10);

/// Fills token Secrets.
pub struct TokenSecretsController<C: Client> {
    client: C,
    secrets: Informer<PartialObject>,
    ca_pem: String,
}

impl<C: Client> TokenSecretsController<C> {
    /// Wires the controller to the shared informers; `ca_pem` is the cluster CA written
    /// beside each token. Run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>, ca_pem: String) -> Wired<Self, PartialObject> {
        let secrets = informers.metadata(&secret::RESOURCE);
        let accounts = informers.get::<ServiceAccount>()?;
        let queue = WorkQueue::default();
        {
            // a new account: the token Secrets already naming it
            let (queue, secrets) = (queue.clone(), secrets.clone());
            accounts.on_change(move |c: &Change<ServiceAccount>| {
                let Change::Added(sa) = c else {
                    return;
                };
                let ns = sa.metadata.namespace.as_deref().unwrap_or_default();
                let name = sa.metadata.name.as_deref().unwrap_or_default();
                for s in secrets.list_namespace(ns) {
                    let names_it = s
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(ACCOUNT_NAME_ANNOTATION))
                        .is_some_and(|a| a == name);
                    if names_it {
                        queue.add(key_of(&*s));
                    }
                }
            });
        }
        Ok((
            TokenSecretsController {
                client: informers.client().clone(),
                secrets: secrets.clone(),
                ca_pem,
            },
            secrets,
            queue,
        ))
    }

    /// Resolves once the Secrets' metadata has listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let secrets = self.secrets.clone();
        async move { secrets.wait_synced().await }
    }
}

impl<C: Client> Controller for TokenSecretsController<C> {
    type Kind = PartialObject;

    fn name(&self) -> &'static str {
        "serviceaccount-token-controller"
    }

    async fn reconcile(&self, meta: Arc<PartialObject>) -> Result<Action, ApiError> {
        let m = &meta.metadata;
        let annotation = |k: &str| m.annotations.as_ref().and_then(|a| a.get(k)).cloned();
        let Some(account_name) = annotation(ACCOUNT_NAME_ANNOTATION) else {
            return Ok(Action::Done);
        };
        if m.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let ns = m.namespace.clone().unwrap_or_default();
        let name = m.name.clone().unwrap_or_default();
        let stored = match self.client.get(&secret::RESOURCE, &ns, &name).await {
            Ok(s) => s,
            Err(e) if e.code == 404 => return Ok(Action::Done),
            Err(e) => return Err(e),
        };
        if stored.get("type").and_then(Value::as_str) != Some(TOKEN_SECRET_TYPE) {
            return Ok(Action::Done);
        }
        let account = match self
            .client
            .get(&serviceaccount::RESOURCE, &ns, &account_name)
            .await
        {
            Ok(a) => a,
            Err(e) if e.code == 404 => return Ok(Action::RequeueAfter(ACCOUNT_RETRY)),
            Err(e) => return Err(e),
        };
        let account_uid = str_at_pointer(&account, "/metadata/uid");
        let has_token = stored
            .pointer("/data/token")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        let uid_matches = annotation(ACCOUNT_UID_ANNOTATION).map_or(true, |uid| uid == account_uid);
        if has_token && uid_matches {
            return Ok(Action::Done);
        }
        let request = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [],
                "expirationSeconds": LONGEST_LIFETIME,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": name,
                                   "uid": str_at_pointer(&stored, "/metadata/uid")},
            },
        });
        let answer = self
            .client
            .create_token(&ns, &account_name, &request)
            .await?;
        let token = str_at_pointer(&answer, "/status/token");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let patch = json!({
            "metadata": {"annotations": {ACCOUNT_UID_ANNOTATION: account_uid}},
            "data": {"token": b64(token), "ca.crt": b64(&self.ca_pem), "namespace": b64(&ns)},
        });
        self.client
            .patch(
                &secret::RESOURCE,
                &ns,
                &name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        tracing::info!(namespace = %ns, secret = %name, account = %account_name, "filled a service account token secret");
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
