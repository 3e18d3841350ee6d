use serde_json::{json, Value};

use super::*;
use crate::resources::field_error::messages;

const UID: &str = "6f1d0c9e-1111-2222-3333-444455556666";

/// Decodes, defaults and prepares a Job as the API does on create.
fn created(obj: Value) -> Value {
    let mut obj = JobStrategy.decode(obj).unwrap().object;
    obj["metadata"]["namespace"] = json!("default");
    JobStrategy.default(&mut obj);
    obj["metadata"]["uid"] = json!(UID);
    JobStrategy.prepare_for_create(&mut obj);
    obj
}

fn job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "busybox", "command": ["true"]}]}}}})
}

#[test]
fn defaults_and_generated_selector() {
    let j = created(job());
    let spec = &j["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {CONTROLLER_UID_LABEL: UID}})
    );
    assert_eq!(
        spec["template"]["metadata"]["labels"],
        json!({"batch.kubernetes.io/controller-uid": UID, "controller-uid": UID,
               "batch.kubernetes.io/job-name": "pi", "job-name": "pi"})
    );
    // The template gets pod spec defaults, but none of what only pods get.
    assert_eq!(spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(
        spec["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
    assert!(spec["template"]["spec"].get("serviceAccountName").is_none());
    assert!(spec["template"]["spec"].get("tolerations").is_none());
    assert_eq!(j["status"], json!({}));
    assert_eq!(messages(&JobStrategy.validate(&j)), Vec::<String>::new());
}

#[test]
fn backoff_limit_per_index_and_failure_policy_defaults() {
    let mut j = job();
    j["spec"]["completionMode"] = json!("Indexed");
    j["spec"]["completions"] = json!(3);
    j["spec"]["backoffLimitPerIndex"] = json!(1);
    j["spec"]["podFailurePolicy"] =
        json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]});
    let j = created(j);
    assert_eq!(j["spec"]["backoffLimit"], i64::from(i32::MAX));
    assert_eq!(j["spec"]["parallelism"], 1);
    assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
    assert_eq!(
        j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
        "True"
    );
    assert_eq!(messages(&JobStrategy.validate(&j)), Vec::<String>::new());
}

#[test]
fn restart_policy_and_counts_follow_upstream() {
    let mut always = job();
    always["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert_eq!(
        messages(&JobStrategy.validate(&created(always))),
        vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]
    );
    let mut unset = job();
    unset["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("restartPolicy");
    assert_eq!(messages(&JobStrategy.validate(&created(unset))).len(), 1);
    let mut bad = job();
    bad["spec"]["parallelism"] = json!(-1);
    bad["spec"]["backoffLimit"] = json!(-2);
    bad["spec"]["completionMode"] = json!("Indexed");
    let errs = messages(&JobStrategy.validate(&created(bad)));
    for want in [
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        "spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
        "spec.completions: Required value: when completion mode is Indexed",
    ] {
        assert!(
            errs.contains(&want.to_string()),
            "missing {want} in {errs:#?}"
        );
    }
}

#[test]
fn selectors_must_be_generated_unless_manual() {
    let mut j = job();
    j["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
    let errs = messages(&JobStrategy.validate(&created(j.clone())));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.selector: Invalid value:")
                && e.ends_with("`selector` not auto-generated")),
        "{errs:#?}"
    );
    j["spec"]["manualSelector"] = json!(true);
    j["spec"]["template"]["metadata"] = json!({"labels": {"app": "y"}});
    let errs = messages(&JobStrategy.validate(&created(j)));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("spec.template.metadata.labels: Invalid value:"));
    assert!(errs[0].ends_with("`selector` does not match template `labels`"));
}

#[test]
fn template_is_fixed_unless_suspended_before_start() {
    let old = created(job());
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    let errs = messages(&JobStrategy.validate_update(&new, &old));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("spec.template: Invalid value:")
            && errs[0].ends_with("field is immutable")
    );
    // Suspended and never started: scheduling directives may change, the image may not.
    let mut suspended = old.clone();
    suspended["spec"]["suspend"] = json!(true);
    let mut moved = suspended.clone();
    moved["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
    assert_eq!(
        messages(&JobStrategy.validate_update(&moved, &suspended)),
        Vec::<String>::new()
    );
    let mut started = suspended.clone();
    started["status"]["startTime"] = json!("2024-01-01T00:00:00Z");
    assert_eq!(JobStrategy.validate_update(&moved, &started).len(), 1);
    // completions are fixed for NonIndexed Jobs.
    let mut more = old.clone();
    more["spec"]["completions"] = json!(2);
    let errs = messages(&JobStrategy.validate_update(&more, &old));
    assert_eq!(
        errs,
        vec!["spec.completions: Invalid value: 2: field is immutable"]
    );
}

#[test]
fn main_updates_keep_status_and_status_updates_keep_spec() {
    let mut old = created(job());
    old["status"] = json!({"active": 1});
    let mut new = old.clone();
    new["status"] = json!({"succeeded": 5});
    JobStrategy.prepare_for_update(&mut new, &old);
    assert_eq!(new["status"], json!({"active": 1}));
    let mut status = old.clone();
    status["spec"]["parallelism"] = json!(9);
    status["status"] = json!({"succeeded": 1});
    JobStrategy.prepare_for_status_update(&mut status, &old);
    assert_eq!(status["spec"]["parallelism"], 1);
    assert_eq!(status["status"], json!({"succeeded": 1}));
    assert_eq!(
        JobStrategy
            .field_label(&status, "status.successful")
            .as_deref(),
        Some("1")
    );
    status["status"]["failed"] = json!(-1);
    assert_eq!(
        messages(&JobStrategy.validate_update(&status, &old)),
        vec!["status.failed: Invalid value: -1: must be greater than or equal to 0"]
    );
}
