//! `kubectl get cronjobs`: upstream's `printCronJob` — schedule, time zone (`<none>`),
//! suspend (`True`/`False`, `<unset>`), the number of active Jobs, and the time since the last
//! schedule (`<none>` before the first).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::since;
use super::job::{format_label_selector, SELECTOR_DOC};
use super::pod_template::container_cells;
use super::{age_cell, at, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// CronJob columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0),
    text_column("Timezone", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process.", 0),
    Column {
        name: "Suspend",
        type_: "boolean",
        format: "",
        description: "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
        priority: 0,
    },
    Column {
        name: "Active",
        type_: "integer",
        format: "",
        description: "A list of pointers to currently running jobs.",
        priority: 0,
    },
    text_column("Last Schedule", "Information when was the last time the job was successfully scheduled.", 0),
    AGE,
    text_column("Containers", "Names of each container in the template.", 1),
    text_column("Images", "Images referenced by each container in the template.", 1),
    text_column("Selector", SELECTOR_DOC, 1),
];

fn row(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let time_zone = at(cj, &["spec", "timeZone"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let suspend = match at(cj, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = match at(cj, &["status", "lastScheduleTime"]).filter(|v| !v.is_null()) {
        Some(t) => since(Some(t), now),
        None => "<none>".into(),
    };
    let job_spec = at(cj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.and_then(|s| at(s, &["template", "spec"])));
    vec![
        name_cell(cj),
        cell(text(cj, &["spec", "schedule"])),
        cell(time_zone),
        cell(suspend),
        Value::from(list(cj, &["status", "active"]).len()),
        cell(last),
        age_cell(cj, now),
        names,
        images,
        cell(format_label_selector(
            job_spec.and_then(|s| s.get("selector")),
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schedule_zone_suspend_active_and_last_schedule() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut cj = json!({"metadata": {"name": "hello", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {}});
        assert_eq!(
            (PRINTER.row)(&cj, now),
            vec![
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(0),
                json!("<none>"),
                json!("60m"),
                json!("c"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        cj["spec"]["timeZone"] = json!("Europe/Berlin");
        cj["spec"].as_object_mut().unwrap().remove("suspend");
        cj["status"] =
            json!({"active": [{"name": "hello-1"}], "lastScheduleTime": "2024-05-01T11:55:00Z"});
        let row = (PRINTER.row)(&cj, now);
        assert_eq!(
            &row[2..6],
            &[
                json!("Europe/Berlin"),
                json!("<unset>"),
                json!(1),
                json!("5m")
            ]
        );
    }
}
