//! The namespace controller: when a namespace is deleted, delete everything in it, then
//! clear its `kubernetes` finalizer through `finalize` so the namespace itself goes (upstream's
//! `namespace` controller in kube-controller-manager).

use std::time::Duration;

use serde_json::{json, Value};

use super::{Action, Reconciler};
use crate::client::options::PatchType;
use crate::client::options::{DeleteOptions, ListOptions, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
use crate::resources::{namespace, RESOURCES};

/// How soon to look again while content is still being removed.
const RECHECK: Duration = Duration::from_secs(1);

/// Finalizes deleted namespaces.
pub struct NamespaceController;

impl<C: Client> Reconciler<C> for NamespaceController {
    type Kind = k8s_openapi::api::core::v1::Namespace;

    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    async fn reconcile(&self, client: &C, ns: &Value) -> Result<Action, ApiError> {
        if ns.pointer("/metadata/deletionTimestamp").is_none() {
            return Ok(Action::Done);
        }
        let finalizers = ns.pointer("/spec/finalizers").and_then(Value::as_array);
        if !finalizers.is_some_and(|f| f.iter().any(|x| x == "kubernetes")) {
            return Ok(Action::Done);
        }
        let name = meta::name_of(ns);
        let mut remaining = 0;
        for rt in RESOURCES.iter().copied().filter(|r| r.namespaced) {
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
        let keep: Vec<&Value> = finalizers
            .into_iter()
            .flatten()
            .filter(|f| *f != "kubernetes")
            .collect();
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
}
