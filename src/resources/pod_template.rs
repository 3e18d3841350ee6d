//! Pod templates inside workload kinds (`spec.template` of a Job, `spec.jobTemplate.spec.template`
//! of a CronJob): upstream's `ValidatePodTemplateSpec` — template labels and annotations, the
//! pod spec rules a Pod gets, no ephemeral containers — and the `PodTemplateSpec` defaults
//! (`SetDefaults_PodSpec` and below, none of what only Pods get).

use serde_json::{json, Value};

use super::pod::{set_pod_template_spec_defaults, validate_pod_spec};
use super::validation::fields::{at, list_at, map_at, object_mut};
use super::validation::{validate_annotations, validate_labels};
use super::FieldError;

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
