//! The `pods/binding` subresource: how the scheduler assigns a pod to a node (upstream's
//! `BindingREST.assignPod`): sets `spec.nodeName` once and marks `PodScheduled`.

use serde_json::{json, Value};

use super::{key, meta, Registry, WriteOptions};
use crate::api::status::ApiError;
use crate::resources::pod;
use crate::store::Mutation;

impl Registry {
    /// Binds pod `namespace/name` to `node`.
    pub async fn bind_pod(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        let rt = &pod::RESOURCE;
        if node.is_empty() {
            return Err(ApiError::invalid(
                rt,
                name,
                &[crate::resources::FieldError::required("target.name", "")],
            ));
        }
        self.store
            .mutate(&key(rt, namespace, name), false, |current| {
                let Some(current) = current else {
                    return Err(ApiError::not_found(rt, name));
                };
                let mut obj = current.value();
                if obj.pointer("/metadata/deletionTimestamp").is_some() {
                    return Err(ApiError::conflict(
                        rt,
                        name,
                        "pod is being deleted, cannot be assigned to a host",
                    ));
                }
                match obj.pointer("/spec/nodeName").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() => {
                        return Err(ApiError::conflict(
                            rt,
                            name,
                            &format!("pod {name} is already assigned to node \"{n}\""),
                        ))
                    }
                    _ => {}
                }
                obj["spec"]["nodeName"] = json!(node);
                set_scheduled(&mut obj);
                if opts.dry_run {
                    return Ok(Mutation::Unchanged);
                }
                Ok(Mutation::Put(obj))
            })
            .await?;
        Ok(())
    }
}

fn set_scheduled(pod: &mut Value) {
    let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now()});
    let status = &mut pod["status"];
    if !status.is_object() {
        *status = json!({});
    }
    let conds = &mut status["conditions"];
    match conds.as_array_mut() {
        Some(list) => {
            list.retain(|c| c["type"] != "PodScheduled");
            list.push(cond);
        }
        None => *conds = json!([cond]),
    }
}
