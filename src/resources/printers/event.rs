//! `kubectl get events`: upstream's `printEvent`. LAST SEEN falls back to the first
//! timestamp, then to `eventTime` (events.k8s.io-style events); a series overrides it and the
//! count; OBJECT is `kind/name` in lower-case kind.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::since;
use super::{at, cell, text, text_column, Column, Printer, NAME};

/// Event columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    text_column("Last Seen", "The time at which the most recent occurrence of this event was recorded.", 0),
    text_column("Type", "Type of this event (Normal, Warning), new types could be added in the future", 0),
    text_column("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
    text_column("Object", "The object that this event is about.", 0),
    text_column("Subobject", "The field of the object this event is about.", 1),
    text_column("Source", "The component reporting this event.", 1),
    text_column("Message", "A human-readable description of the status of this operation.", 0),
    text_column("First Seen", "The time at which the event was first recorded.", 1),
    text_column("Count", "The number of times this event has occurred.", 1),
    Column { priority: 1, ..NAME },
];

fn is_set(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
}

/// Upstream's `formatEventSource`: component (or reporting controller), then host (or
/// reporting instance) after a comma when present.
fn source(event: &Value) -> String {
    let first = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first(
        text(event, &["source", "component"]),
        text(event, &["reportingComponent"]),
    );
    let host = first(
        text(event, &["source", "host"]),
        text(event, &["reportingInstance"]),
    );
    if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    }
}

fn row(event: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_seen = if is_set(at(event, &["firstTimestamp"])) {
        since(at(event, &["firstTimestamp"]), now)
    } else {
        since(at(event, &["eventTime"]), now)
    };
    let mut last_seen = if is_set(at(event, &["lastTimestamp"])) {
        since(at(event, &["lastTimestamp"]), now)
    } else {
        first_seen.clone()
    };
    let mut count = event.get("count").and_then(Value::as_i64).unwrap_or(0);
    match at(event, &["series"]).filter(|s| s.is_object()) {
        Some(series) => {
            last_seen = since(series.get("lastObservedTime"), now);
            count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        }
        // Events from the events.k8s.io API leave the count unset for single occurrences.
        None if count == 0 => count = 1,
        None => {}
    }
    let kind = text(event, &["involvedObject", "kind"]).to_lowercase();
    let object = match text(event, &["involvedObject", "name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    vec![
        cell(last_seen),
        cell(text(event, &["type"])),
        cell(text(event, &["reason"])),
        cell(object),
        cell(text(event, &["involvedObject", "fieldPath"])),
        cell(source(event)),
        cell(text(event, &["message"]).trim()),
        cell(first_seen),
        Value::from(count),
        cell(text(event, &["metadata", "name"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn core_event_row() {
        let e = json!({
            "metadata": {"name": "web.17c"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
            "reason": "Pulled", "type": "Normal", "message": "Pulled image \"nginx\"\n",
            "source": {"component": "kubelet", "host": "pi-1"},
            "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:58:00Z",
            "count": 3
        });
        let row = (PRINTER.row)(&e, now());
        assert_eq!(row.len(), PRINTER.columns.len());
        assert_eq!(
            row,
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{a}"),
                json!("kubelet, pi-1"),
                json!("Pulled image \"nginx\""),
                json!("10m"),
                json!(3),
                json!("web.17c")
            ]
        );
    }

    #[test]
    fn new_style_event_and_series() {
        let e = json!({
            "metadata": {"name": "n"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2024-05-01T11:59:00.000000Z", "reportingComponent": "bramble-scheduler"
        });
        let row = (PRINTER.row)(&e, now());
        assert_eq!(row[0], json!("60s"));
        assert_eq!(row[3], json!("node"));
        assert_eq!(row[5], json!("bramble-scheduler"));
        assert_eq!(row[8], json!(1));
        let s = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Pod", "name": "p"},
                       "eventTime": "2024-05-01T11:00:00.000000Z",
                       "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}});
        let row = (PRINTER.row)(&s, now());
        assert_eq!(
            (row[0].clone(), row[7].clone(), row[8].clone()),
            (json!("30s"), json!("60m"), json!(7))
        );
    }
}
