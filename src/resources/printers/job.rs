//! `kubectl get jobs`: upstream's `printJob` (v1.32, with the STATUS column) — the first true
//! condition among Complete, Failed, (deleting) Terminating, Suspended, FailureTarget and
//! SuccessCriteriaMet, else Running; completions `succeeded/completions`; the duration from
//! start to completion (or to now). Also the wide cells shared with CronJobs.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::{human_duration, parse_time};
use super::pod_template::container_cells;
use super::{
    age_cell, at, cell, is_deleting, list, name_cell, text, text_column, Column, Printer, AGE, NAME,
};

/// Job columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

/// Description of the wide `Selector` column (`JobSpec.selector`).
pub(crate) const SELECTOR_DOC: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Status", "Status of the job.", 0),
    text_column("Completions", "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.", 0),
    text_column("Duration", "Time required to complete the job.", 0),
    AGE,
    text_column("Containers", "Names of each container in the template.", 1),
    text_column("Images", "Images referenced by each container in the template.", 1),
    text_column("Selector", SELECTOR_DOC, 1),
];

/// Upstream `hasJobCondition`: the first condition of the type decides.
fn has_condition(job: &Value, kind: &str) -> bool {
    list(job, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == kind)
        .is_some_and(|c| text(c, &["status"]) == "True")
}

fn status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if is_deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn completions(job: &Value) -> String {
    let succeeded = at(job, &["status", "succeeded"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match at(job, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match at(job, &["spec", "parallelism"]).and_then(Value::as_i64) {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn duration(job: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = parse_time(at(job, &["status", "startTime"])) else {
        return String::new();
    };
    let end = parse_time(at(job, &["status", "completionTime"])).unwrap_or(now);
    human_duration(end - start)
}

/// Upstream `metav1.FormatLabelSelector`: requirements sorted by key, `<none>` when empty.
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return "<none>".into();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in list(selector, &["matchExpressions"]) {
        let key = text(e, &["key"]).to_string();
        let mut values: Vec<&str> = list(e, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let joined = values.join(",");
        let shown = match text(e, &["operator"]) {
            "In" => format!("{key} in ({joined})"),
            "NotIn" => format!("{key} notin ({joined})"),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".into(),
        };
        reqs.push((key, shown));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    if reqs.is_empty() {
        return "<none>".into();
    }
    reqs.into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(",")
}

fn row(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(job, &["spec", "template", "spec"]));
    vec![
        name_cell(job),
        cell(status(job)),
        cell(completions(job)),
        cell(duration(job, now)),
        age_cell(job, now),
        names,
        images,
        cell(format_label_selector(at(job, &["spec", "selector"]))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_completions_and_duration() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut job = json!({"metadata": {"name": "pi", "creationTimestamp": "2024-05-01T11:59:00Z"},
            "spec": {"completions": 3, "selector": {"matchLabels": {"b": "2", "a": "1"}},
                "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}},
            "status": {"succeeded": 1, "startTime": "2024-05-01T11:59:30Z"}});
        assert_eq!(
            (PRINTER.row)(&job, now),
            vec![
                json!("pi"),
                json!("Running"),
                json!("1/3"),
                json!("30s"),
                json!("60s"),
                json!("a,b"),
                json!("x,y"),
                json!("a=1,b=2")
            ]
        );
        job["status"]["conditions"] = json!([{"type": "Complete", "status": "True"}]);
        job["status"]["completionTime"] = json!("2024-05-01T11:59:40Z");
        let row = (PRINTER.row)(&job, now);
        assert_eq!(
            (row[1].clone(), row[3].clone()),
            (json!("Complete"), json!("10s"))
        );
        job["spec"] = json!({"parallelism": 4});
        job["status"] = json!({"conditions": [{"type": "Suspended", "status": "True"}]});
        let row = (PRINTER.row)(&job, now);
        assert_eq!(
            (row[1].clone(), row[2].clone(), row[3].clone()),
            (json!("Suspended"), json!("0/1 of 4"), json!(""))
        );
        assert_eq!(row[7], json!("<none>"));
        let exprs = json!({"matchExpressions": [{"key": "t", "operator": "In", "values": ["b", "a"]}, {"key": "g", "operator": "DoesNotExist"}]});
        assert_eq!(format_label_selector(Some(&exprs)), "!g,t in (a,b)");
    }
}
