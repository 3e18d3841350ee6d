//! `batch/v1` JobSpec rules shared by Jobs and CronJobs' job templates: upstream's
//! `SetDefaults_Job` (`pkg/apis/batch/v1/defaults.go`) and `validateJobSpec` with
//! `validatePodFailurePolicy` and `validatePodReplacementPolicy`
//! (`pkg/apis/batch/validation/validation.go`), messages included; and the pod template
//! inside (`ValidatePodTemplateSpec` at any path, the `PodTemplateSpec` defaults).

use serde_json::{json, Map, Value};

mod pod_failure_policy;

use pod_failure_policy::validate_pod_failure_policy;

use super::pod::{set_pod_template_spec_defaults, validate_pod_spec};
use super::validation::fields::{at, default_field, int_at, list_at, map_at, object_mut, str_at};
use super::validation::{validate_annotations, validate_labels, validate_nonnegative};
use super::FieldError;

/// Upstream `maxParallelismForIndexedJob` and friends.
const MAX_PARALLELISM_INDEXED: i64 = 100_000;
const MAX_FAILED_INDEXES: i64 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
const PARALLELISM_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_MANAGED_BY: usize = 63;

/// Upstream `SetDefaults_Job` on a Job object, with its pod template's defaults.
pub fn set_job_defaults(job: &mut Value) {
    let template_labels = at(job, &["spec", "template", "metadata", "labels"])
        .filter(|l| l.is_object())
        .cloned();
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unset = |s: &Map<String, Value>, k: &str| s.get(k).map_or(true, Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    default_field(spec, "parallelism", json!(1));
    let backoff = if unset(spec, "backoffLimitPerIndex") {
        6
    } else {
        i64::from(i32::MAX)
    };
    default_field(spec, "backoffLimit", json!(backoff));
    default_field(spec, "completionMode", json!("NonIndexed"));
    default_field(spec, "suspend", json!(false));
    if let Some(Value::Array(rules)) = spec
        .get_mut("podFailurePolicy")
        .and_then(|p| p.get_mut("rules"))
    {
        for rule in rules.iter_mut() {
            if let Some(Value::Array(patterns)) = rule.get_mut("onPodConditions") {
                for p in patterns.iter_mut().filter_map(Value::as_object_mut) {
                    default_field(p, "status", json!("True"));
                }
            }
        }
    }
    let replacement = if unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    default_field(spec, "podReplacementPolicy", json!(replacement));
    default_field(spec, "manualSelector", json!(false));
    default_pod_template(spec.get_mut("template"));
    // A Job without labels takes its pod template's.
    if let (Some(labels), Some(meta)) = (
        template_labels,
        job.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        if meta
            .get("labels")
            .and_then(Value::as_object)
            .map_or(true, Map::is_empty)
        {
            meta.insert("labels".into(), labels);
        }
    }
}

/// Upstream `validateJobSpec` for the spec at `path` (`spec` or `spec.jobTemplate.spec`).
pub fn validate_job_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let int = |k: &str| int_at(spec, &[k]);
    for k in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        if let Some(v) = int(k) {
            errs.extend(validate_nonnegative(v, &format!("{path}.{k}")));
        }
    }
    if let Some(v) = int("maxFailedIndexes") {
        errs.extend(validate_nonnegative(v, &format!("{path}.maxFailedIndexes")));
        if int("backoffLimitPerIndex").is_none() {
            errs.push(FieldError::required(
                format!("{path}.backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(managed_by) = at(spec, &["managedBy"]).and_then(Value::as_str) {
        errs.extend(validate_managed_by(
            managed_by,
            &format!("{path}.managedBy"),
        ));
    }
    let mode = at(spec, &["completionMode"]).and_then(Value::as_str);
    match mode {
        None | Some("NonIndexed") => {
            for k in ["backoffLimitPerIndex", "maxFailedIndexes"] {
                if let Some(v) = int(k) {
                    errs.push(FieldError::invalid(
                        format!("{path}.{k}"),
                        &json!(v),
                        "requires indexed completion mode",
                    ));
                }
            }
        }
        Some("Indexed") => errs.extend(validate_indexed(spec, path)),
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.completionMode"),
            &json!(other),
            &["NonIndexed", "Indexed"],
        )),
    }
    let has_failure_policy = at(spec, &["podFailurePolicy"]).is_some_and(|p| !p.is_null());
    if has_failure_policy {
        errs.extend(validate_pod_failure_policy(
            spec,
            &format!("{path}.podFailurePolicy"),
        ));
    }
    if let Some(policy) = at(spec, &["podReplacementPolicy"]).and_then(Value::as_str) {
        let p = format!("{path}.podReplacementPolicy");
        if has_failure_policy && policy != "Failed" {
            errs.push(FieldError::not_supported(p, &json!(policy), &["Failed"]));
        } else if !["Failed", "TerminatingOrFailed"].contains(&policy) {
            errs.push(FieldError::not_supported(
                p,
                &json!(policy),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let template_path = format!("{path}.template");
    errs.extend(validate_pod_template(
        at(spec, &["template"]),
        &template_path,
    ));
    // A defaulted `Always` counts as unset: a Job's pods must finish.
    let restart_path = format!("{template_path}.spec.restartPolicy");
    match str_at(spec, &["template", "spec", "restartPolicy"]) {
        "" | "Always" => errs.push(FieldError::required(
            restart_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" if has_failure_policy => errs.push(FieldError::invalid(
            restart_path,
            &json!("OnFailure"),
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            restart_path,
            &json!(other),
            &["OnFailure", "Never"],
        )),
    }
    errs
}

/// The limits of `completionMode: Indexed`.
fn validate_indexed(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let int = |k: &str| int_at(spec, &[k]);
    let (completions, parallelism) = (int("completions"), int("parallelism"));
    let max_failed = int("maxFailedIndexes");
    if completions.is_none() {
        errs.push(FieldError::required(
            format!("{path}.completions"),
            "when completion mode is Indexed",
        ));
    }
    if let Some(p) = parallelism.filter(|p| *p > MAX_PARALLELISM_INDEXED) {
        errs.push(FieldError::invalid(
            format!("{path}.parallelism"),
            &json!(p),
            &format!("must be less than or equal to {MAX_PARALLELISM_INDEXED} when completion mode is Indexed"),
        ));
    }
    if let (Some(c), Some(m)) = (completions, max_failed) {
        if m > c {
            errs.push(FieldError::invalid(
                format!("{path}.maxFailedIndexes"),
                &json!(m),
                "must be less than or equal to completions",
            ));
        }
    }
    if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES) {
        errs.push(FieldError::invalid(
            format!("{path}.maxFailedIndexes"),
            &json!(m),
            &format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
        ));
    }
    let high = completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT);
    if high && int("backoffLimitPerIndex").is_some() {
        let why = format!("when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index");
        match max_failed {
            None => errs.push(FieldError::required(
                format!("{path}.maxFailedIndexes"),
                &format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
            )),
            Some(m) if m > MAX_FAILED_INDEXES_HIGH_COMPLETIONS => errs.push(FieldError::invalid(
                format!("{path}.maxFailedIndexes"),
                &json!(m),
                &format!(
                    "must be less than or equal to {MAX_FAILED_INDEXES_HIGH_COMPLETIONS} {why}"
                ),
            )),
            Some(_) => {}
        }
        if let Some(p) = parallelism.filter(|p| *p > PARALLELISM_HIGH_COMPLETIONS) {
            errs.push(FieldError::invalid(
                format!("{path}.parallelism"),
                &json!(p),
                &format!("must be less than or equal to {PARALLELISM_HIGH_COMPLETIONS} {why}"),
            ));
        }
    }
    errs
}

/// Upstream's check of `managedBy`: a domain-prefixed path of at most 63 characters.
fn validate_managed_by(value: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match value.split_once('/') {
        Some((domain, rest)) if !domain.is_empty() && !rest.is_empty() => {
            for m in super::validation::is_dns1123_subdomain(domain) {
                errs.push(FieldError::invalid(path, &json!(domain), &m));
            }
        }
        _ => errs.push(FieldError::invalid(
            path,
            &json!(value),
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )),
    }
    if value.chars().count() > MAX_MANAGED_BY {
        errs.push(FieldError::too_long(path, MAX_MANAGED_BY));
    }
    errs
}

/// Fills the defaults of the template at `template` (a `PodTemplateSpec`), if there is one.
pub fn default_pod_template(template: Option<&mut Value>) {
    if let Some(spec) = template.and_then(|t| object_mut(t, &["spec"])) {
        set_pod_template_spec_defaults(spec);
    }
}

/// Upstream `ValidatePodTemplateSpec` for the template at `path` (e.g. `spec.template`).
pub fn validate_pod_template(template: Option<&Value>, path: &str) -> Vec<FieldError> {
    let null = Value::Null;
    let template = template.unwrap_or(&null);
    let mut errs = validate_labels(
        map_at(template, &["metadata", "labels"]),
        &format!("{path}.labels"),
    );
    errs.extend(validate_annotations(
        map_at(template, &["metadata", "annotations"]),
        &format!("{path}.annotations"),
    ));
    // The pod rules speak of `spec.…`; the template's spec sits at `{path}.spec`.
    let pod = json!({"spec": at(template, &["spec"]).cloned().unwrap_or(json!({}))});
    for mut e in validate_pod_spec(&pod) {
        if let Some(rest) = e.field.strip_prefix("spec") {
            e.field = format!("{path}.spec{rest}");
        }
        errs.push(e);
    }
    if !list_at(template, &["spec", "ephemeralContainers"]).is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_errors_carry_the_template_path() {
        let mut t = json!({"metadata": {"labels": {"bad key": "x"}},
            "spec": {"containers": [{"name": "c", "image": ""}]}});
        default_pod_template(Some(&mut t));
        assert_eq!(t["spec"]["restartPolicy"], "Always");
        assert!(t["spec"].get("serviceAccountName").is_none());
        let errs: Vec<String> = validate_pod_template(Some(&t), "spec.template")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(errs[0].starts_with("spec.template.labels: Invalid value: \"bad key\""));
        assert!(
            errs.contains(&"spec.template.spec.containers[0].image: Required value".to_string()),
            "{errs:?}"
        );
        let none: Vec<String> = validate_pod_template(None, "spec.jobTemplate.spec.template")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            none.contains(
                &"spec.jobTemplate.spec.template.spec.containers: Required value".to_string()
            ),
            "{none:?}"
        );
    }
}
