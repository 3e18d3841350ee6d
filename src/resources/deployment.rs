//! The `Deployment` kind (`apps/v1`): upstream's `SetDefaults_Deployment`
//! (`pkg/apis/apps/v1/defaults.go`), `ValidateDeployment`/`ValidateDeploymentUpdate`
//! (`pkg/apis/apps/validation`) and the registry strategy (`pkg/registry/apps/deployment`):
//! status reset on create and kept on update, generation bumped by spec changes, the
//! selector fixed after creation, and the scale subresource.

use serde_json::{json, Value};

use super::pod_template::{
    default_template, int_or_percent_value, nonnegative, shown_int_or_percent,
    validate_int_or_percent, validate_required_selector, validate_running_template,
    validate_selector_unchanged,
};
use super::selector::invalid_shown;
use super::validation::fields::{at, default_field, int_at, object_mut, str_at};
use super::validation::NameRule;
use super::workload_strategy::{
    decode_keeping_selector, redefault_keeping_status, reset_status, selector_text,
    validate_created, validate_updated,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `deployments` in `apps/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    short_names: &["deploy"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status", "scale"],
    categories: &["all"],
    strategy: &DeploymentStrategy,
    printer: &printers::deployment::PRINTER,
    patch_schema: &patch_schema::DEPLOYMENT,
};

/// Write behaviour of `Deployment`.
pub struct DeploymentStrategy;

/// Status counters upstream's `ValidateDeploymentStatus` keeps non-negative.
const STATUS_COUNTS: &[&str] = &[
    "status.observedGeneration",
    "status.replicas",
    "status.updatedReplicas",
    "status.readyReplicas",
    "status.availableReplicas",
    "status.unavailableReplicas",
    "status.collisionCount",
];

impl Strategy for DeploymentStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        decode_keeping_selector::<k8s_openapi::api::apps::v1::Deployment>(obj)
    }

    /// Upstream `SetDefaults_Deployment`, then the template's pod defaults.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
            default_field(spec, "progressDeadlineSeconds", json!(600));
        }
        if let Some(strategy) = object_mut(obj, &["spec", "strategy"]) {
            default_field(strategy, "type", json!("RollingUpdate"));
        }
        if str_at(obj, &["spec", "strategy", "type"]) == "RollingUpdate" {
            if let Some(ru) = object_mut(obj, &["spec", "strategy", "rollingUpdate"]) {
                default_field(ru, "maxUnavailable", json!("25%"));
                default_field(ru, "maxSurge", json!("25%"));
            }
        }
        default_template(obj);
    }

    /// Upstream `deploymentStrategy.PrepareForCreate`: a new Deployment has no status.
    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj, json!({}));
    }

    /// Upstream `deploymentStrategy.PrepareForUpdate` also bumps the generation when the
    /// annotations change, as they are copied to the Deployment's ReplicaSets.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        redefault_keeping_status(new, old, |o| self.default(o));
        let annotations = |o: &Value| at(o, &["metadata", "annotations"]).cloned();
        if !super::validation::fields::same(annotations(new).as_ref(), annotations(old).as_ref()) {
            let generation = int_at(old, &["metadata", "generation"]).unwrap_or(0);
            if let Some(meta) = object_mut(new, &["metadata"]) {
                meta.insert("generation".into(), json!(generation.saturating_add(1)));
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_created(obj, NameRule::Dns1123Subdomain, validate_spec)
    }

    /// Upstream `ValidateDeploymentUpdate`, then apps/v1's immutable selector.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_updated(new, old, validate_spec, STATUS_COUNTS);
        errs.extend(validate_selector_unchanged(new, old));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn scale_selector(&self, obj: &Value) -> Option<String> {
        Some(selector_text(obj))
    }
}

/// Upstream `ValidateDeploymentSpec`.
fn validate_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = nonnegative(obj, &["spec.replicas"]);
    let (selector_errs, selects) = validate_required_selector(obj, "deployment");
    errs.extend(selector_errs);
    errs.extend(validate_running_template(obj, selects, "ReplicaSet"));
    errs.extend(validate_strategy(obj));
    errs.extend(nonnegative(
        obj,
        &["spec.minReadySeconds", "spec.revisionHistoryLimit"],
    ));
    if let Some(deadline) = int_at(obj, &["spec", "progressDeadlineSeconds"]) {
        errs.extend(nonnegative(obj, &["spec.progressDeadlineSeconds"]));
        if deadline <= int_at(obj, &["spec", "minReadySeconds"]).unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                &json!(deadline),
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// Upstream `ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment`.
fn validate_strategy(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rolling = at(obj, &["spec", "strategy", "rollingUpdate"]).filter(|v| !v.is_null());
    match str_at(obj, &["spec", "strategy", "type"]) {
        "Recreate" if rolling.is_some() => errs.push(FieldError::forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        "Recreate" => {}
        "RollingUpdate" => match rolling {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let path = "spec.strategy.rollingUpdate";
                let unavailable = ru.get("maxUnavailable");
                let surge = ru.get("maxSurge");
                errs.extend(validate_int_or_percent(
                    unavailable,
                    &format!("{path}.maxUnavailable"),
                    false,
                ));
                errs.extend(validate_int_or_percent(
                    surge,
                    &format!("{path}.maxSurge"),
                    false,
                ));
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    errs.push(invalid_shown(
                        format!("{path}.maxUnavailable"),
                        &shown_int_or_percent(unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if let Some(Value::String(_)) = unavailable {
                    if int_or_percent_value(unavailable) > 100 {
                        errs.push(invalid_shown(
                            format!("{path}.maxUnavailable"),
                            &shown_int_or_percent(unavailable),
                            "must not be greater than 100%",
                        ));
                    }
                }
            }
        },
        other => errs.push(FieldError {
            kind: super::FieldErrorKind::NotSupported,
            field: "spec.strategy".into(),
            detail: format!(
                "Unsupported value: apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}: supported values: \"Recreate\", \"RollingUpdate\"",
                json!(other)
            ),
        }),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    /// What `kubectl create deployment web --image=nginx` sends.
    fn created() -> Value {
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                "strategy": {}},
            "status": {}});
        let mut d = DeploymentStrategy.decode(body).unwrap().object;
        DeploymentStrategy.default(&mut d);
        DeploymentStrategy.prepare_for_create(&mut d);
        d
    }

    #[test]
    fn defaults_follow_upstream() {
        let d = created();
        assert_eq!(
            messages(&DeploymentStrategy.validate(&d)),
            Vec::<String>::new()
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        );
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            DeploymentStrategy.scale_selector(&d).as_deref(),
            Some("app=web")
        );
    }

    #[test]
    fn recreate_gets_no_rolling_update() {
        let mut d = created();
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        DeploymentStrategy.default(&mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn selector_errors_use_upstream_messages() {
        let mut d = created();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        assert_eq!(
            messages(&DeploymentStrategy.validate(&d)),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"]
        );
        let mut missing = created();
        missing["spec"].as_object_mut().unwrap().remove("selector");
        let missing = DeploymentStrategy.decode(missing).unwrap().object;
        assert_eq!(
            messages(&DeploymentStrategy.validate(&missing)),
            vec!["spec.selector: Required value"]
        );
        let mut empty = created();
        empty["spec"]["selector"] = json!({});
        assert_eq!(
            messages(&DeploymentStrategy.validate(&empty)),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]
        );
    }

    #[test]
    fn replicas_and_rolling_update_limits() {
        let mut d = created();
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 0, "maxUnavailable": "0%"});
        d["spec"]["progressDeadlineSeconds"] = json!(5);
        d["spec"]["minReadySeconds"] = json!(10);
        assert_eq!(
            messages(&DeploymentStrategy.validate(&d)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"0%\"}: may not be 0 when `maxSurge` is 0",
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
            ]
        );
    }

    #[test]
    fn selector_is_immutable_and_status_is_kept() {
        let mut old = created();
        old["status"] = json!({"replicas": 1});
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
        new["status"] = json!({"replicas": 7});
        DeploymentStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["replicas"], 1);
        assert_eq!(
            messages(&DeploymentStrategy.validate_update(&new, &old)),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
        );
        let mut annotated = old.clone();
        annotated["metadata"]["generation"] = json!(4);
        let mut old4 = old.clone();
        old4["metadata"]["generation"] = json!(4);
        annotated["metadata"]["annotations"] = json!({"team": "web"});
        DeploymentStrategy.prepare_for_update(&mut annotated, &old4);
        assert_eq!(annotated["metadata"]["generation"], 5);
        let mut status = old.clone();
        status["spec"]["replicas"] = json!(9);
        status["status"] = json!({"replicas": 3});
        DeploymentStrategy.prepare_for_status_update(&mut status, &old);
        assert_eq!(status["spec"]["replicas"], 1);
        assert_eq!(status["status"]["replicas"], 3);
    }
}
