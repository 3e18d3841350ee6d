//! The CustomResourceDefinition controller, upstream's naming, establishing and finalizing
//! controllers of apiextensions-apiserver in one: a new or changed CRD gets its accepted
//! names (unless another CRD or a built-in kind of the group holds them), `NamesAccepted`
//! and `Established` conditions and its storage version in `storedVersions`; a deleted one
//! has its custom resources deleted before its cleanup finalizer goes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::client::informer::{Informer, Informers};
use crate::client::options::{DeleteOptions, ListOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::crd::{CLEANUP_FINALIZER, RESOURCE};
use crate::resources::{custom, meta, RESOURCES};

/// How soon to look again while custom resources are still going.
const RECHECK: Duration = Duration::from_secs(1);

/// Names, establishes and finalizes CRDs.
pub struct CrdController<C: Client> {
    client: C,
    crds: Informer<CustomResourceDefinition>,
}

impl<C: Client> CrdController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Wired<Self, CustomResourceDefinition> {
        let crds = informers.get::<CustomResourceDefinition>()?;
        Ok((
            CrdController {
                client: informers.client().clone(),
                crds: crds.clone(),
            },
            crds,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the CRDs have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let crds = self.crds.clone();
        async move { crds.wait_synced().await }
    }

    /// The names another definition or a built-in kind of the same group already holds.
    fn conflict(&self, crd: &CustomResourceDefinition) -> Option<String> {
        let spec = &crd.spec;
        let names = &spec.names;
        if RESOURCES
            .iter()
            .any(|r| r.group == spec.group && (r.plural == names.plural || r.kind == names.kind))
        {
            return Some(format!(
                "{:?} is already in use by a built-in resource",
                names.plural
            ));
        }
        let mine = crd.metadata.name.as_deref();
        for other in self.crds.list() {
            if other.metadata.name.as_deref() == mine || other.spec.group != spec.group {
                continue;
            }
            let Some(theirs) = other
                .status
                .as_ref()
                .and_then(|s| s.accepted_names.as_ref())
            else {
                continue;
            };
            if theirs.plural == names.plural {
                return Some(format!("{:?} is already in use", names.plural));
            }
            if theirs.kind == names.kind {
                return Some(format!("{:?} is already in use", names.kind));
            }
            let short = theirs.short_names.iter().flatten();
            if let Some(s) = short
                .clone()
                .find(|s| names.short_names.iter().flatten().any(|m| m == *s))
            {
                return Some(format!("{s:?} is already in use"));
            }
        }
        None
    }

    /// Deletes the CRD's custom resources; once none is left, drops the finalizer.
    async fn clean_up(
        &self,
        crd: &CustomResourceDefinition,
        name: &str,
    ) -> Result<Action, ApiError> {
        let value = serde_json::to_value(crd).map_err(ApiError::internal)?;
        let types = custom::served_types(&value);
        let rt = custom::storage_version(&value)
            .and_then(|v| custom::resource_type(&value, v))
            .or_else(|| types.first().copied());
        let mut remaining = 0;
        if let Some(rt) = rt {
            let list = self.client.list(rt, None, &ListOptions::default()).await?;
            for obj in &list.items {
                remaining += 1;
                if obj.pointer("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                let ns = meta::meta_str(obj, "namespace").unwrap_or("");
                match self
                    .client
                    .delete(rt, ns, meta::name_of(obj), &DeleteOptions::default())
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if remaining > 0 {
            tracing::debug!(crd = name, remaining, "waiting for custom resources to go");
            return Ok(Action::RequeueAfter(RECHECK));
        }
        let keep: Vec<&String> = crd
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != CLEANUP_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": keep, "resourceVersion": crd.metadata.resource_version}});
        self.client
            .patch(
                &RESOURCE,
                "",
                name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        tracing::info!(crd = name, "custom resources deleted; definition finalized");
        Ok(Action::Done)
    }
}

/// A condition as upstream writes it, keeping the old transition time when the status holds.
fn condition(old: &Value, kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = old
        .as_array()
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some(status)
            })
        })
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(meta::now()));
    json!({"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

impl<C: Client> Controller for CrdController<C> {
    type Kind = CustomResourceDefinition;

    fn name(&self) -> &'static str {
        "crd-controller"
    }

    async fn reconcile(&self, crd: Arc<CustomResourceDefinition>) -> Result<Action, ApiError> {
        let name = crd.metadata.name.as_deref().unwrap_or_default();
        if crd.metadata.deletion_timestamp.is_some() {
            let holds = crd
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == CLEANUP_FINALIZER);
            return if holds {
                self.clean_up(&crd, name).await
            } else {
                Ok(Action::Done)
            };
        }
        let value = serde_json::to_value(&*crd).map_err(ApiError::internal)?;
        let old_conditions = value
            .pointer("/status/conditions")
            .cloned()
            .unwrap_or(Value::Null);
        let conflict = self.conflict(&crd);
        let mut status = value.get("status").cloned().unwrap_or_else(|| json!({}));
        let conditions = match &conflict {
            None => {
                status["acceptedNames"] = value["spec"]["names"].clone();
                vec![
                    condition(
                        &old_conditions,
                        "NamesAccepted",
                        true,
                        "NoConflicts",
                        "no conflicts found",
                    ),
                    condition(
                        &old_conditions,
                        "Established",
                        true,
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                    ),
                ]
            }
            Some(why) => {
                let established = custom::condition_true(&value, "Established");
                vec![
                    condition(&old_conditions, "NamesAccepted", false, "NameConflict", why),
                    condition(
                        &old_conditions,
                        "Established",
                        established,
                        if established {
                            "InitialNamesAccepted"
                        } else {
                            "NotAccepted"
                        },
                        if established {
                            "the initial names have been accepted"
                        } else {
                            "not all names are accepted"
                        },
                    ),
                ]
            }
        };
        status["conditions"] = json!(conditions);
        let mut stored: Vec<Value> = status
            .get("storedVersions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(v) = custom::storage_version(&value) {
            if !stored.iter().any(|s| s == v) {
                stored.push(json!(v));
            }
        }
        status["storedVersions"] = json!(stored);
        if value.get("status") == Some(&status) {
            return Ok(Action::Done);
        }
        let patch = json!({"metadata": {"resourceVersion": crd.metadata.resource_version}, "status": status});
        self.client
            .patch(
                &RESOURCE,
                "",
                name,
                PatchType::Merge,
                &patch,
                Subresource::Status,
            )
            .await?;
        tracing::info!(
            crd = name,
            accepted = conflict.is_none(),
            "definition status written"
        );
        Ok(Action::Done)
    }
}
