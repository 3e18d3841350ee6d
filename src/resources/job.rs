//! The `Job` kind (`batch/v1`): upstream's job registry strategy
//! (`pkg/registry/batch/job/strategy.go`) — the generated selector and the
//! `batch.kubernetes.io/controller-uid`/`controller-uid` and `batch.kubernetes.io/job-name`/
//! `job-name` template labels set at create, status kept by main updates — and
//! `ValidateJob`/`ValidateJobUpdate` (`pkg/apis/batch/validation/validation.go`).

use serde_json::{json, Map, Value};

use super::job_spec::{set_job_defaults, validate_job_spec};
use super::selector::object as label_selector;
use super::validation::fields::{at, int_at, keep_old, map_at, str_at};
use super::validation::{
    is_dns1123_label, validate_immutable, validate_nonnegative, validate_object_meta,
    validate_object_meta_update, NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `jobs` in `batch/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    singular: "job",
    short_names: &[],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &["all"],
    strategy: &JobStrategy,
    printer: &printers::job::PRINTER,
    patch_schema: &patch_schema::JOB,
};

/// The label selecting a Job's pods by the Job's uid, and its legacy unprefixed twin.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The label naming a pod's Job, and its legacy unprefixed twin.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// Write behaviour of `Job`.
pub struct JobStrategy;

impl Strategy for JobStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::batch::v1::Job>(obj)
    }

    fn default(&self, obj: &mut Value) {
        set_job_defaults(obj);
    }

    /// Upstream `jobStrategy.PrepareForCreate`: no status, and a generated selector unless
    /// `manualSelector` (the uid and name are already set, as upstream fills them first).
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
        if at(obj, &["spec", "manualSelector"]).and_then(Value::as_bool) != Some(true) {
            generate_selector(obj);
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_generated_selector(obj, true));
        errs.extend(validate_full_spec(obj));
        errs.extend(validate_indexed_name(obj));
        errs
    }

    /// Upstream `ValidateJobUpdate` (with `ValidateJobSpecUpdate`) and the status counts.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        // Jobs made before the prefixed labels existed are not held to them.
        let prefixed = at(
            old,
            &[
                "spec",
                "template",
                "metadata",
                "labels",
                CONTROLLER_UID_LABEL,
            ],
        )
        .is_some();
        errs.extend(validate_generated_selector(new, prefixed));
        errs.extend(validate_full_spec(new));
        let (ns, os) = (spec(new), spec(old));
        errs.extend(validate_completions_update(ns, os));
        for k in [
            "selector",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "managedBy",
            "successPolicy",
        ] {
            errs.extend(validate_immutable(
                ns.get(k),
                os.get(k),
                &format!("spec.{k}"),
            ));
        }
        errs.extend(validate_template_update(new, old));
        for k in ["active", "succeeded", "failed", "ready", "terminating"] {
            if let Some(v) = int_at(new, &["status", k]) {
                errs.extend(validate_nonnegative(v, &format!("status.{k}")));
            }
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Upstream `JobToSelectableFields`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "status.successful").then(|| {
            int_at(obj, &["status", "succeeded"])
                .unwrap_or(0)
                .to_string()
        })
    }
}

fn spec(obj: &Value) -> &Map<String, Value> {
    map_at(obj, &["spec"])
}

/// Upstream `generateSelector`: the job-name and controller-uid labels on the template
/// (unless the user set them) and the prefixed controller-uid in the selector.
fn generate_selector(obj: &mut Value) {
    let name = str_at(obj, &["metadata", "name"]).to_string();
    let uid = str_at(obj, &["metadata", "uid"]).to_string();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if !template.is_object() {
        return;
    }
    let meta = template
        .as_object_mut()
        .map(|t| t.entry("metadata").or_insert_with(|| json!({})));
    let Some(meta) = meta.and_then(Value::as_object_mut) else {
        return;
    };
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(labels) = labels.as_object_mut() {
        for (key, value) in [
            (LEGACY_JOB_NAME_LABEL, &name),
            (JOB_NAME_LABEL, &name),
            (LEGACY_CONTROLLER_UID_LABEL, &uid),
            (CONTROLLER_UID_LABEL, &uid),
        ] {
            labels.entry(key).or_insert_with(|| json!(value));
        }
    }
    let selector = spec.entry("selector").or_insert_with(|| json!({}));
    if !selector.is_object() {
        *selector = json!({});
    }
    if let Some(sel) = selector.as_object_mut() {
        let match_labels = sel.entry("matchLabels").or_insert_with(|| json!({}));
        if !match_labels.is_object() {
            *match_labels = json!({});
        }
        if let Some(ml) = match_labels.as_object_mut() {
            ml.entry(CONTROLLER_UID_LABEL).or_insert_with(|| json!(uid));
        }
    }
}

/// Upstream `validateGeneratedSelector`.
fn validate_generated_selector(obj: &Value, prefixed: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if at(obj, &["spec", "manualSelector"]).and_then(Value::as_bool) == Some(true) {
        return errs;
    }
    let Some(labels) =
        at(obj, &["spec", "template", "metadata", "labels"]).and_then(Value::as_object)
    else {
        errs.push(FieldError::required(
            "spec.template.metadata.labels",
            "Required",
        ));
        return errs;
    };
    let uid = str_at(obj, &["metadata", "uid"]);
    let name = str_at(obj, &["metadata", "name"]);
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let mut wanted = vec![
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ];
    if prefixed {
        wanted.extend([(CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)]);
    }
    for (key, value) in wanted {
        let path = format!("spec.template.metadata.labels[{key}]");
        match labels.get(key).and_then(Value::as_str) {
            None => errs.push(FieldError::required(path, value)),
            Some(v) if v != value => errs.push(FieldError::invalid(
                path,
                &Value::Object(labels.clone()),
                &format!("must be '{value}'"),
            )),
            Some(_) => {}
        }
    }
    let key = if prefixed {
        CONTROLLER_UID_LABEL
    } else {
        LEGACY_CONTROLLER_UID_LABEL
    };
    let mut expected = Map::new();
    expected.insert(key.into(), json!(uid));
    let selector = at(obj, &["spec", "selector"]).unwrap_or(&Value::Null);
    if label_selector::matches(selector, &expected) != Some(true) {
        errs.push(FieldError::invalid(
            "spec.selector",
            selector,
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream `ValidateJobSpec`: the spec rules, a valid selector that selects the template.
fn validate_full_spec(obj: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let spec_value = at(obj, &["spec"]).unwrap_or(&null);
    let mut errs = validate_job_spec(spec_value, "spec");
    let selector = at(obj, &["spec", "selector"]).filter(|s| !s.is_null());
    match selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => {
            errs.extend(label_selector::validate(s, "spec.selector"));
            let labels = map_at(obj, &["spec", "template", "metadata", "labels"]);
            if label_selector::matches(s, labels) == Some(false) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    &Value::Object(labels.clone()),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errs
}

/// An Indexed Job's pods are named `<job>-<index>`: the largest must be a DNS label.
fn validate_indexed_name(obj: &Value) -> Vec<FieldError> {
    let completions = int_at(obj, &["spec", "completions"]).unwrap_or(0);
    if str_at(obj, &["spec", "completionMode"]) != "Indexed" || completions <= 0 {
        return Vec::new();
    }
    let name = str_at(obj, &["metadata", "name"]);
    let hostname = format!("{name}-{}", completions - 1);
    if is_dns1123_label(&hostname).is_empty() {
        return Vec::new();
    }
    vec![FieldError::invalid(
        "metadata.name",
        &json!(name),
        &format!("will not able to create pod with invalid DNS label: {hostname}"),
    )]
}

/// Upstream `validateCompletions`: fixed, except that an Indexed Job may change them
/// together with `parallelism` (elastic Indexed Jobs).
fn validate_completions_update(
    new: &Map<String, Value>,
    old: &Map<String, Value>,
) -> Vec<FieldError> {
    let (n, o) = (new.get("completions"), old.get("completions"));
    let indexed = new.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    if !indexed {
        return validate_immutable(n, o, "spec.completions");
    }
    match n.and_then(Value::as_i64) {
        Some(c) if n != o && Some(c) != new.get("parallelism").and_then(Value::as_i64) => {
            vec![FieldError::invalid(
                "spec.completions",
                &json!(c),
                "can only be modified in tandem with spec.parallelism",
            )]
        }
        _ => Vec::new(),
    }
}

/// Upstream `validatePodTemplateUpdate`: the template is fixed, except that a suspended Job
/// that never started may change its scheduling directives (node affinity, node selector,
/// tolerations, scheduling gates) and template labels and annotations.
fn validate_template_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let nt = at(new, &["spec", "template"]).unwrap_or(&null);
    let mut ot = at(old, &["spec", "template"]).cloned().unwrap_or_default();
    let suspended = at(old, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true);
    let started = at(old, &["status", "startTime"]).is_some_and(|v| !v.is_null());
    if suspended && !started {
        copy_to(&mut ot, nt, &["metadata", "labels"]);
        copy_to(&mut ot, nt, &["metadata", "annotations"]);
        for k in ["nodeSelector", "tolerations", "schedulingGates"] {
            copy_to(&mut ot, nt, &["spec", k]);
        }
        copy_to(&mut ot, nt, &["spec", "affinity", "nodeAffinity"]);
        // An affinity left with nothing but node affinity may be cleared.
        if at(nt, &["spec", "affinity"]).map_or(true, Value::is_null)
            && map_at(&ot, &["spec", "affinity"])
                .values()
                .all(Value::is_null)
        {
            if let Some(s) = ot.get_mut("spec").and_then(Value::as_object_mut) {
                s.remove("affinity");
            }
        }
    }
    validate_immutable(Some(nt), Some(&ot), "spec.template")
}

/// Sets `path` in `to` to its value in `from` (removing it where `from` has none).
fn copy_to(to: &mut Value, from: &Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = to;
    for p in parents {
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        cur = m.entry(*p).or_insert_with(|| json!({}));
    }
    let Some(m) = cur.as_object_mut() else {
        return;
    };
    match at(from, path) {
        Some(v) => m.insert((*last).to_string(), v.clone()),
        None => m.remove(*last),
    };
}

#[cfg(test)]
mod tests;
