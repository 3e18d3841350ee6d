//! A Job's pod, as upstream's job controller makes it: the template with a controller
//! reference to the Job and, for an Indexed Job, the completion index in the
//! `batch.kubernetes.io/job-completion-index` annotation and label, the
//! `JOB_COMPLETION_INDEX` variable of every container and the hostname `<job>-<index>`.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::client::informer::key_of;
use crate::client::status::ApiError;
use crate::controllers::pods;

/// The completion index annotation and label (upstream's `JobCompletionIndexAnnotation`).
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// The completion index a pod carries.
pub(super) fn index_of(p: &Pod) -> Option<i32> {
    p.metadata
        .annotations
        .as_ref()?
        .get(INDEX_KEY)?
        .parse()
        .ok()
}

/// A pod for `job`, for completion `index` when the Job is Indexed.
pub(super) fn new_pod(job: &Job, index: Option<i32>) -> Result<Value, ApiError> {
    let (ns, name) = key_of(job);
    let template = job
        .spec
        .as_ref()
        .map(|s| &s.template)
        .ok_or_else(|| ApiError::internal("job without spec"))?;
    let owner = pods::owner_reference(
        "batch/v1",
        "Job",
        &name,
        job.metadata.uid.as_deref().unwrap_or_default(),
    );
    let prefix = match index {
        Some(i) => format!("{name}-{i}"),
        None => name.clone(),
    };
    let mut pod = pods::from_template(template, &ns, &prefix, owner);
    if let Some(i) = index {
        let i = i.to_string();
        pod["metadata"]["annotations"][INDEX_KEY] = json!(i);
        pod["metadata"]["labels"][INDEX_KEY] = json!(i);
        if pod["spec"]["hostname"].as_str().map_or(true, str::is_empty) {
            pod["spec"]["hostname"] = json!(format!("{name}-{i}"));
        }
        for list in ["containers", "initContainers"] {
            if let Some(cs) = pod["spec"][list].as_array_mut() {
                for c in cs {
                    let env = c["env"].as_array().cloned().unwrap_or_default();
                    let mut env: Vec<Value> = env
                        .into_iter()
                        .filter(|e| e["name"] != "JOB_COMPLETION_INDEX")
                        .collect();
                    env.push(json!({"name": "JOB_COMPLETION_INDEX",
                        "valueFrom": {"fieldRef": {"fieldPath": format!("metadata.annotations['{INDEX_KEY}']")}}}));
                    c["env"] = Value::Array(env);
                }
            }
        }
    }
    Ok(pod)
}
