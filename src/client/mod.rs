//! How in-cluster components (scheduler, controllers, kubelet) talk to the API: one
//! [`Client`] trait so they run unchanged inside the server ([`LocalClient`], in-process,
//! through the same registry code path as HTTP requests) or on a remote board.

pub mod events;
pub mod failover;
pub mod http;
pub mod informer;
pub mod leader_election;
mod local;
pub mod options;
pub mod remote;
pub mod retry;
pub mod status;

use std::ops::ControlFlow;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::options::PatchType;
use crate::client::options::{
    DeleteOptions, ListOptions, ListResult, Subresource, TypedEvent, WatchEvent, WatchOptions,
};
use crate::client::status::ApiError;
use crate::resources::ResourceType;

pub use local::LocalClient;
pub use remote::RemoteClient;

/// A stream of watch events.
pub trait WatchSource: Send {
    /// The next event; `None` when the watch ended and the caller should re-list.
    fn next(&mut self) -> impl std::future::Future<Output = Option<WatchEvent>> + Send;

    /// [`WatchSource::next`] with the object read as `K` straight from the event's text,
    /// skipping the `Value` a plain event is parsed into.
    fn next_as<K: DeserializeOwned + Send>(
        &mut self,
    ) -> impl std::future::Future<Output = Option<TypedEvent<K>>> + Send;
}

/// The API operations components use.
pub trait Client: Clone + Send + Sync + 'static {
    /// Watch stream type.
    type Watch: WatchSource;

    /// Reads one object.
    fn get(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> impl std::future::Future<Output = Result<Value, ApiError>> + Send;

    /// Lists objects (`namespace` `None`: all namespaces).
    fn list(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> impl std::future::Future<Output = Result<ListResult, ApiError>> + Send;

    /// Lists objects and hands them to `visit` one at a time, in key order, until it says
    /// stop; answers the revision the list is consistent at. In process each object is
    /// parsed only when it is visited, so a large kind is never parsed all at once.
    fn list_each<F>(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &ListOptions,
        mut visit: F,
    ) -> impl std::future::Future<Output = Result<u64, ApiError>> + Send
    where
        F: FnMut(Value) -> ControlFlow<()> + Send,
    {
        async move {
            let list = self.list(rt, namespace, opts).await?;
            for item in list.items {
                if visit(item).is_break() {
                    break;
                }
            }
            Ok(list.resource_version)
        }
    }

    /// Watches objects.
    fn watch(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        opts: &WatchOptions,
    ) -> impl std::future::Future<Output = Result<Self::Watch, ApiError>> + Send;

    /// Creates an object.
    fn create(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        obj: Value,
    ) -> impl std::future::Future<Output = Result<Value, ApiError>> + Send;

    /// Creates an object and answers only its name (generated when it had a
    /// `generateName`), for callers that need nothing else of it. In process, the stored
    /// object is then not parsed back into a tree.
    fn create_named(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        obj: Value,
    ) -> impl std::future::Future<Output = Result<String, ApiError>> + Send {
        async move {
            let created = self.create(rt, namespace, obj).await?;
            Ok(crate::resources::meta::name_of(&created).to_string())
        }
    }

    /// Patches an object or one of its subresources.
    fn patch(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        sub: Subresource,
    ) -> impl std::future::Future<Output = Result<Value, ApiError>> + Send;

    /// Deletes an object.
    fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> impl std::future::Future<Output = Result<(), ApiError>> + Send;

    /// Asks for a token of service account `namespace/service_account`
    /// (`serviceaccounts/token`): `request` is a `TokenRequest` (audiences, expiry, the
    /// object it is bound to); the answer is the request with `status.token` and
    /// `status.expirationTimestamp` filled in.
    fn create_token(
        &self,
        namespace: &str,
        service_account: &str,
        request: &Value,
    ) -> impl std::future::Future<Output = Result<Value, ApiError>> + Send;

    /// Binds a pod to a node (`pods/binding`).
    fn bind(
        &self,
        namespace: &str,
        pod: &str,
        node: &str,
    ) -> impl std::future::Future<Output = Result<(), ApiError>> + Send;
}
