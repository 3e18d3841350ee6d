//! The in-process client: calls the registry directly, with the same defaulting, validation
//! and admission as an HTTP request, minus TLS and serialisation.

use std::ops::ControlFlow;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Client, WatchSource};
use crate::api::registry::watch::RawEvent;
use crate::api::registry::{Registry, WatchStream, WriteOptions};
use crate::client::options::PatchType;
use crate::client::options::{
    DeleteOptions, ListOptions, ListResult, Subresource, TypedEvent, WatchEvent, WatchOptions,
};
use crate::client::status::ApiError;
use crate::resources::ResourceType;

/// A [`Client`] inside the server process.
#[derive(Clone)]
pub struct LocalClient {
    registry: Registry,
}

impl LocalClient {
    /// A client over `registry`.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }

    /// A client over a store of its own in `dir` (created if need be), keeping the watch
    /// history of the last `history` changes: an API without a server, as tools and the
    /// components' own tests use it.
    pub fn open(dir: &std::path::Path, history: usize) -> Result<Self, crate::store::StoreError> {
        Ok(Self::new(Registry::new(crate::store::Store::open(
            dir, history,
        )?)))
    }
}

/// What tests of components that ask for service account tokens need of the server.
#[cfg(test)]
impl LocalClient {
    /// [`LocalClient::open`] whose registry also issues and checks service account tokens
    /// (signed with a key made for it, for the `cluster.local` domain), as the server's does.
    pub fn open_with_tokens(
        dir: &std::path::Path,
        history: usize,
    ) -> Result<Self, crate::store::StoreError> {
        use crate::api::auth::service_account::ServiceAccountTokens;
        let tokens =
            ServiceAccountTokens::new(crate::pki::SigningKey::ephemeral(), "cluster.local");
        let store = crate::store::Store::open(dir, history)?;
        Ok(Self::new(
            Registry::new(store).with_tokens(std::sync::Arc::new(tokens)),
        ))
    }

    /// The user `token` stands for now, as a TokenReview would answer; `None` when it
    /// authenticates no one (or this client's registry checks no tokens).
    pub fn token_user(&self, token: &str) -> Option<String> {
        let tokens = self.registry.tokens()?;
        let who = tokens.authenticate(token, &self.registry, chrono::Utc::now());
        who.ok().map(|who| who.user)
    }
}

impl WatchSource for WatchStream {
    async fn next(&mut self) -> Option<WatchEvent> {
        WatchStream::next(self).await
    }

    async fn next_as<K: DeserializeOwned + Send>(&mut self) -> Option<TypedEvent<K>> {
        Some(match self.next_raw().await? {
            RawEvent::Change(type_name, o) => TypedEvent::from_text(type_name, o.json()),
            RawEvent::Bookmark(b) => TypedEvent::Bookmark(b),
        })
    }
}

impl Client for LocalClient {
    type Watch = WatchStream;

    async fn get(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.registry.get(rt, namespace, name)
    }

    async fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        self.registry.list(rt, namespace, opts)
    }

    async fn list_each<F>(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
        mut visit: F,
    ) -> Result<u64, ApiError>
    where
        F: FnMut(Value) -> ControlFlow<()> + Send,
    {
        let page = self.registry.list_objects(rt, namespace, opts)?;
        for o in &page.items {
            if visit(o.value()).is_break() {
                break;
            }
        }
        Ok(page.resource_version)
    }

    async fn watch(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &WatchOptions,
    ) -> Result<WatchStream, ApiError> {
        self.registry.watch(rt, namespace, opts)
    }

    async fn create(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        Ok(self
            .registry
            .create(rt, namespace, obj, &WriteOptions::default())
            .await?
            .object
            .into_value())
    }

    async fn create_named(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        obj: Value,
    ) -> Result<String, ApiError> {
        let created = self
            .registry
            .create(rt, namespace, obj, &WriteOptions::default())
            .await?;
        Ok(created.object.name())
    }

    async fn patch(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        sub: Subresource,
    ) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(patch).map_err(ApiError::internal)?;
        let w = self
            .registry
            .patch(
                rt,
                namespace,
                name,
                patch_type,
                &bytes,
                sub,
                &WriteOptions::default(),
            )
            .await?;
        Ok(w.object.into_value())
    }

    async fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(), ApiError> {
        self.registry
            .delete(rt, namespace, name, opts)
            .await
            .map(|_| ())
    }

    async fn create_token(
        &self,
        namespace: &str,
        service_account: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        self.registry
            .create_token(
                namespace,
                service_account,
                request.clone(),
                &WriteOptions::default(),
            )
            .await
    }

    async fn bind(&self, namespace: &str, pod: &str, node: &str) -> Result<(), ApiError> {
        self.registry
            .bind_pod(namespace, pod, node, &WriteOptions::default())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The name answered is the one stored, generated ones included, for the in-process
    /// reading and the generic one alike.
    #[tokio::test]
    async fn create_named_answers_the_stored_name() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let rt = &crate::resources::configmap::RESOURCE;
        client
            .create(
                &crate::resources::namespace::RESOURCE,
                "",
                json!({"metadata": {"name": "default"}}),
            )
            .await
            .unwrap();
        let generated = client
            .create_named(rt, "default", json!({"metadata": {"generateName": "web-"}}))
            .await
            .unwrap();
        assert!(generated.starts_with("web-") && generated.len() > 4);
        let stored = client.get(rt, "default", &generated).await.unwrap();
        assert_eq!(stored["metadata"]["name"], json!(generated));
        let err = client
            .create_named(rt, "default", json!({"metadata": {"name": generated}}))
            .await
            .unwrap_err();
        assert_eq!(err.code, 409);
    }
}
