//! The namespace controller: when a namespace is deleted, delete everything in it, then
//! clear its `kubernetes` finalizer through `finalize` so the namespace itself goes (upstream's
//! `namespace` controller in kube-controller-manager).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use serde_json::json;

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{Informer, Informers, Key};
use crate::client::options::PatchType;
use crate::client::options::{DeleteOptions, ListOptions, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
use crate::resources::{crd, custom, namespace, ResourceType, RESOURCES};

/// How soon to look again while content is still being removed.
const RECHECK: Duration = Duration::from_secs(1);
/// The finalizer this controller carries out.
const FINALIZER: &str = "kubernetes";

/// Finalizes deleted namespaces.
pub struct NamespaceController<C: Client> {
    client: C,
    namespaces: Informer<Namespace>,
}

impl<C: Client> NamespaceController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Wired<Self, Namespace> {
        let namespaces = informers.get::<Namespace>()?;
        Ok((
            NamespaceController {
                client: informers.client().clone(),
                namespaces: namespaces.clone(),
            },
            namespaces,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the namespaces have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let namespaces = self.namespaces.clone();
        async move { namespaces.wait_synced().await }
    }
}

impl<C: Client> Controller for NamespaceController<C> {
    type Kind = Namespace;

    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    async fn reconcile(&self, ns: Arc<Namespace>) -> Result<Action, ApiError> {
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(Action::Done);
        }
        let finalizers = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.as_deref())
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::Done);
        }
        let name = ns.metadata.name.as_deref().unwrap_or_default();
        let client = &self.client;
        let mut remaining = 0;
        // Every namespaced kind, whatever it is: read as JSON, only names are needed. Custom
        // resources are read at their storage version.
        let crds = client
            .list(&crd::RESOURCE, None, &ListOptions::default())
            .await?;
        let custom = crds
            .items
            .iter()
            .filter_map(|c| custom::storage_version(c).and_then(|v| custom::resource_type(c, v)));
        let kinds: Vec<&'static ResourceType> = RESOURCES.iter().copied().chain(custom).collect();
        for rt in kinds.into_iter().filter(|r| r.namespaced) {
            let list = client.list(rt, Some(name), &ListOptions::default()).await?;
            for obj in &list.items {
                remaining += 1;
                if obj.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                match client
                    .delete(rt, name, meta::name_of(obj), &DeleteOptions::default())
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if remaining > 0 {
            tracing::debug!(
                namespace = name,
                remaining,
                "waiting for namespace content to go"
            );
            return Ok(Action::RequeueAfter(RECHECK));
        }
        let keep: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({"spec": {"finalizers": keep}});
        client
            .patch(
                &namespace::RESOURCE,
                "",
                name,
                PatchType::Merge,
                &patch,
                Subresource::Finalize,
            )
            .await?;
        tracing::info!(namespace = name, "namespace finalized");
        Ok(Action::Done)
    }

    fn forget(&self, _key: &Key) {}
}
