//! What every namespace needs for its pods to run as service accounts, as two upstream
//! controllers of kube-controller-manager keep it: the `default` ServiceAccount
//! (`serviceaccounts-controller`, which makes it again when it is deleted) and the
//! `kube-root-ca.crt` ConfigMap holding the cluster CA (`root-ca-cert-publisher`), which
//! pods' projected token volumes copy to `ca.crt`.
//!
//! Service accounts are watched through the shared informer (they are small); ConfigMaps
//! are not, so the server holds no cache of every ConfigMap for one name's sake: the
//! publisher reads the one ConfigMap when its namespace is reconciled (on a namespace's
//! change and at each resync).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use serde_json::{json, Value};

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{Change, Informer, Informers};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::serviceaccount::DEFAULT_NAME;
use crate::resources::{configmap, serviceaccount};

/// The ConfigMap every namespace gets with the cluster CA.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// Its key holding the CA bundle.
pub const ROOT_CA_KEY: &str = "ca.crt";
/// Upstream's description of the ConfigMap.
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Keeps each namespace's default service account and CA ConfigMap.
pub struct ServiceAccountsController<C: Client> {
    client: C,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
    ca_pem: String,
}

impl<C: Client> ServiceAccountsController<C> {
    /// Wires the controller to the shared informers; `ca_pem` is the cluster CA published
    /// in every namespace. Run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>, ca_pem: String) -> Wired<Self, Namespace> {
        let namespaces = informers.get::<Namespace>()?;
        let accounts = informers.get::<ServiceAccount>()?;
        let queue = WorkQueue::default();
        {
            let queue = queue.clone();
            // a deleted default account is made again at once
            accounts.on_change(move |c: &Change<ServiceAccount>| {
                if let Change::Deleted(sa) = c {
                    if sa.metadata.name.as_deref() == Some(DEFAULT_NAME) {
                        let ns = sa.metadata.namespace.clone().unwrap_or_default();
                        queue.add((String::new(), ns));
                    }
                }
            });
        }
        Ok((
            ServiceAccountsController {
                client: informers.client().clone(),
                namespaces: namespaces.clone(),
                accounts,
                ca_pem,
            },
            namespaces,
            queue,
        ))
    }

    /// Resolves once namespaces and service accounts have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let namespaces = self.namespaces.clone();
        let accounts = self.accounts.clone();
        async move {
            namespaces.wait_synced().await;
            accounts.wait_synced().await;
        }
    }

    /// The CA ConfigMap as it should be.
    fn root_ca(&self, namespace: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ROOT_CA_CONFIGMAP,
                "namespace": namespace,
                "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
            },
            "data": {ROOT_CA_KEY: self.ca_pem},
        })
    }

    async fn ensure_default_account(&self, namespace: &str) -> Result<(), ApiError> {
        if self.accounts.get(namespace, DEFAULT_NAME).is_some() {
            return Ok(());
        }
        let sa = json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": DEFAULT_NAME, "namespace": namespace},
        });
        match self
            .client
            .create(&serviceaccount::RESOURCE, namespace, sa)
            .await
        {
            Ok(_) => Ok(()),
            // made meanwhile (the cache is a step behind), or the namespace is going away
            Err(e) if e.code == 409 || e.code == 403 => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ensure_root_ca(&self, namespace: &str) -> Result<(), ApiError> {
        let rt = &configmap::RESOURCE;
        match self.client.get(rt, namespace, ROOT_CA_CONFIGMAP).await {
            Ok(current) => {
                if current.pointer("/data/ca.crt").and_then(Value::as_str)
                    == Some(self.ca_pem.as_str())
                {
                    return Ok(());
                }
                let patch = json!({"data": {ROOT_CA_KEY: self.ca_pem}});
                self.client
                    .patch(
                        rt,
                        namespace,
                        ROOT_CA_CONFIGMAP,
                        PatchType::Merge,
                        &patch,
                        Subresource::Main,
                    )
                    .await
                    .map(|_| ())
            }
            Err(e) if e.code == 404 => {
                match self
                    .client
                    .create(rt, namespace, self.root_ca(namespace))
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if e.code == 409 || e.code == 403 => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

impl<C: Client> Controller for ServiceAccountsController<C> {
    type Kind = Namespace;

    fn name(&self) -> &'static str {
        "serviceaccount-controller"
    }

    async fn reconcile(&self, ns: Arc<Namespace>) -> Result<Action, ApiError> {
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let name = ns.metadata.name.as_deref().unwrap_or_default();
        self.ensure_default_account(name).await?;
        self.ensure_root_ca(name).await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
