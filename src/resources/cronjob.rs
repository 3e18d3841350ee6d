//! The `CronJob` kind (`batch/v1`): upstream's cronjob registry strategy
//! (`pkg/registry/batch/cronjob/strategy.go`), `SetDefaults_CronJob`, and
//! `ValidateCronJobCreate`/`ValidateCronJobUpdate`: a schedule `cron.ParseStandard` accepts
//! (see [`super::cron`]) without `TZ=`, an IANA `timeZone`, a job template whose selector the
//! Job strategy generates, names short enough for the Jobs it creates.

use serde_json::{json, Value};

use super::cron::{Schedule, Zone};
use super::job_spec::{default_pod_template, validate_job_spec};
use super::validation::fields::{at, default_field, int_at, keep_old, object_mut, str_at};
use super::validation::{
    validate_nonnegative, validate_object_meta, validate_object_meta_update, NameRule,
};
use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `cronjobs` in `batch/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    short_names: &["cj"],
    namespaced: true,
    ephemeral: false,
    subresources: &["status"],
    categories: &["all"],
    strategy: &CronJobStrategy,
    printer: &printers::cronjob::PRINTER,
    patch_schema: &patch_schema::CRON_JOB,
};

/// The controller names a Job `<cronjob>-<11 characters>`, and Job names are DNS labels.
const MAX_NAME: usize = 63 - 11;

/// Write behaviour of `CronJob`.
pub struct CronJobStrategy;

impl Strategy for CronJobStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::batch::v1::CronJob>(obj)
    }

    /// Upstream `SetDefaults_CronJob`, and the job template's pod template defaults.
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = object_mut(obj, &["spec"]) {
            if spec
                .get("concurrencyPolicy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                spec.insert("concurrencyPolicy".into(), json!("Allow"));
            }
            default_field(spec, "suspend", json!(false));
            default_field(spec, "successfulJobsHistoryLimit", json!(3));
            default_field(spec, "failedJobsHistoryLimit", json!(1));
        }
        let template = obj.pointer_mut("/spec/jobTemplate/spec/template");
        default_pod_template(template);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, true, NameRule::Dns1123Subdomain);
        errs.extend(validate_cron_job_spec(obj, None));
        let name = str_at(obj, &["metadata", "name"]);
        if name.len() > MAX_NAME {
            errs.push(FieldError::invalid(
                "metadata.name",
                &json!(name),
                &format!("must be no more than {MAX_NAME} characters"),
            ));
        }
        errs
    }

    /// Names over 52 characters made before the rule existed may still be updated.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(validate_cron_job_spec(new, Some(old)));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

/// Upstream `validateCronJobSpec`.
fn validate_cron_job_spec(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = str_at(obj, &["spec", "schedule"]);
    let time_zone = at(obj, &["spec", "timeZone"]).and_then(Value::as_str);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        // A schedule that already had TZ in it may keep it.
        let allow_tz = old.is_some_and(|o| str_at(o, &["spec", "schedule"]).contains("TZ"));
        if let Err(e) = Schedule::parse(schedule) {
            errs.push(FieldError::invalid(
                "spec.schedule",
                &json!(schedule),
                &e.to_string(),
            ));
        }
        if schedule.contains("TZ") {
            if !allow_tz {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    &json!(schedule),
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            } else if time_zone.is_some() {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    &json!(schedule),
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            }
        }
    }
    if let Some(v) = int_at(obj, &["spec", "startingDeadlineSeconds"]) {
        errs.extend(validate_nonnegative(v, "spec.startingDeadlineSeconds"));
    }
    let old_zone = old.and_then(|o| at(o, &["spec", "timeZone"]).and_then(Value::as_str));
    if old.is_none() || old_zone != time_zone {
        errs.extend(validate_time_zone(time_zone));
    }
    match str_at(obj, &["spec", "concurrencyPolicy"]) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            &json!(other),
            &["Allow", "Forbid", "Replace"],
        )),
    }
    errs.extend(validate_job_template(obj));
    for k in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        if let Some(v) = int_at(obj, &["spec", k]) {
            errs.extend(validate_nonnegative(v, &format!("spec.{k}")));
        }
    }
    errs
}

/// Upstream `ValidateJobTemplateSpec`: the Job spec rules; the selector is generated per Job.
fn validate_job_template(obj: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let spec = at(obj, &["spec", "jobTemplate", "spec"]).unwrap_or(&null);
    let mut errs = validate_job_spec(spec, "spec.jobTemplate.spec");
    if let Some(selector) = at(spec, &["selector"]).filter(|s| !s.is_null()) {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            selector,
            "`selector` will be auto-generated",
        ));
    }
    if at(spec, &["manualSelector"]).and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            &json!(true),
            &["nil", "false"],
        ));
    }
    errs
}

/// Upstream `validateTimeZone`: an IANA name the server can load, never `Local`.
fn validate_time_zone(zone: Option<&str>) -> Vec<FieldError> {
    let Some(zone) = zone else {
        return Vec::new();
    };
    let invalid = |m: &str| vec![FieldError::invalid("spec.timeZone", &json!(zone), m)];
    if zone.is_empty() {
        return invalid("timeZone must be nil or non-empty string");
    }
    // https://data.iana.org/time-zones/theory.html#naming, plus digits and `+` for legacy names.
    let valid_part = |p: &str| {
        (1..=14).contains(&p.len())
            && p != "."
            && p != ".."
            && !p.starts_with('-')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    };
    if !zone.split('/').all(valid_part) {
        return invalid(&format!("unknown time zone {zone}"));
    }
    if zone.eq_ignore_ascii_case("Local") {
        return invalid(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        );
    }
    match Zone::load(zone) {
        Ok(_) => Vec::new(),
        Err(e) => invalid(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::field_error::messages;

    fn created(obj: Value) -> Value {
        let mut obj = CronJobStrategy.decode(obj).unwrap().object;
        obj["metadata"]["namespace"] = json!("default");
        CronJobStrategy.default(&mut obj);
        CronJobStrategy.prepare_for_create(&mut obj);
        obj
    }

    fn cron_job() -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox"}]}}}}}})
    }

    #[test]
    fn defaults_and_a_valid_cron_job() {
        let cj = created(cron_job());
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["suspend"], false);
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["schedulerName"], "default-scheduler");
        // The job template's own fields are left for the Job it becomes.
        assert!(cj["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none());
        assert_eq!(
            messages(&CronJobStrategy.validate(&cj)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn schedules_zones_and_templates_follow_upstream() {
        let mut bad = cron_job();
        bad["spec"]["schedule"] = json!("61 * * * *");
        bad["spec"]["timeZone"] = json!("Mars/Base");
        bad["spec"]["concurrencyPolicy"] = json!("Sometimes");
        bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        bad["spec"]["jobTemplate"]["spec"]["selector"] = json!({"matchLabels": {"a": "b"}});
        let errs = messages(&CronJobStrategy.validate(&created(bad)));
        for want in [
            "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61",
            "spec.timeZone: Invalid value: \"Mars/Base\": unknown time zone Mars/Base",
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            "spec.jobTemplate.spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: `selector` will be auto-generated",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want} in {errs:#?}");
        }
        let mut tz = cron_job();
        tz["spec"]["schedule"] = json!("TZ=UTC 0 * * * *");
        assert_eq!(
            messages(&CronJobStrategy.validate(&created(tz))),
            vec!["spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"]
        );
        for (zone, want) in [
            ("Local", "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"),
            ("", "timeZone must be nil or non-empty string"),
            ("../../etc/passwd", "unknown time zone ../../etc/passwd"),
        ] {
            let mut z = cron_job();
            z["spec"]["timeZone"] = json!(zone);
            let errs = messages(&CronJobStrategy.validate(&created(z)));
            assert_eq!(errs, vec![format!("spec.timeZone: Invalid value: {}: {want}", json!(zone))]);
        }
        let mut ok = cron_job();
        ok["spec"]["timeZone"] = json!("America/New_York");
        ok["spec"]["schedule"] = json!("@hourly");
        assert_eq!(
            messages(&CronJobStrategy.validate(&created(ok))),
            Vec::<String>::new()
        );
        let mut long = cron_job();
        long["metadata"]["name"] = json!("x".repeat(53));
        assert_eq!(
            messages(&CronJobStrategy.validate(&created(long))),
            vec![format!(
                "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                "x".repeat(53)
            )]
        );
    }

    #[test]
    fn updates_keep_status() {
        let mut old = created(cron_job());
        old["status"] = json!({"active": [{"name": "hello-1"}]});
        let mut new = old.clone();
        new["status"] = json!({});
        new["spec"]["suspend"] = json!(true);
        CronJobStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["active"][0]["name"], "hello-1");
        assert_eq!(
            messages(&CronJobStrategy.validate_update(&new, &old)),
            Vec::<String>::new()
        );
    }
}
