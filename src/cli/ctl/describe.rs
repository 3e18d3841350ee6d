//! `bramble ctl describe KIND [NAME...]`: a readable summary of each object, laid out like
//! kubectl's describers (`Name:`, `Namespace:`, multi-line `Labels:` and `Annotations:`,
//! then the object's fields, then its `Events:` table found with the same field selector
//! kubectl's `events.Search` uses).

use std::io::Write;

use chrono::Utc;
use clap::Args;
use serde_json::Value;

use super::api::{self, ACCEPT_JSON};
use super::apply::LAST_APPLIED;
use super::describe_fields::{render_map, render_secret_data, scalar};
use super::error::CtlError;
use super::kinds;
use super::tabwriter::{self, DESCRIBE};
use super::Session;
use crate::resources::printers::duration::{parse_time, since};
use crate::resources::{event, ResourceType};

/// Arguments of `bramble ctl describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// `KIND [NAME...]` or `KIND/NAME...`; no name describes every object of the kind.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Label selector when no name is given.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// Runs `describe`.
pub(crate) async fn run(
    session: &Session,
    args: DescribeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    let targets = kinds::targets(&args.resources)?;
    if session.all_namespaces && targets.groups.iter().any(|(_, names)| !names.is_empty()) {
        return Err(CtlError::Usage(
            "a resource cannot be retrieved by name across all namespaces".into(),
        ));
    }
    let scope = (!session.all_namespaces).then_some(session.namespace.as_str());
    let mut objects: Vec<(&'static ResourceType, Value)> = Vec::new();
    let mut failed = false;
    for (rt, names) in &targets.groups {
        if names.is_empty() {
            let mut path = api::path(rt, scope, None);
            if let Some(sel) = &args.selector {
                path.push_str(&format!("?labelSelector={}", api::encode(sel)));
            }
            let list = session.api.get(&path, ACCEPT_JSON).await?;
            let items = list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            objects.extend(items.into_iter().map(|o| (*rt, o)));
            continue;
        }
        for name in names {
            match session
                .api
                .get(&api::path(rt, scope, Some(name)), ACCEPT_JSON)
                .await
            {
                Ok(o) => objects.push((*rt, o)),
                Err(e) => {
                    failed = true;
                    if let Some(line) = e.line() {
                        writeln!(err, "{line}")?;
                    }
                }
            }
        }
    }
    for (i, (rt, obj)) in objects.iter().enumerate() {
        let events = find_events(session, rt, obj).await.unwrap_or_default();
        if i > 0 {
            writeln!(out, "\n")?;
        }
        out.write_all(describe(rt, obj, &events).as_bytes())?;
    }
    if failed {
        return Err(CtlError::AlreadyReported);
    }
    if objects.is_empty() {
        let ns = (scope.is_some() && targets.groups.iter().all(|(rt, _)| rt.namespaced))
            .then_some(session.namespace.as_str());
        writeln!(err, "{}", super::output::no_resources(ns))?;
    }
    Ok(())
}

/// The object's events (upstream `events.Search`): by name, namespace and uid.
async fn find_events(
    session: &Session,
    rt: &ResourceType,
    obj: &Value,
) -> Result<Vec<Value>, CtlError> {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let ns = text("/metadata/namespace");
    let selector = format!(
        "involvedObject.name={},involvedObject.namespace={ns},involvedObject.uid={}",
        text("/metadata/name"),
        text("/metadata/uid")
    );
    let scope = (rt.namespaced && !ns.is_empty()).then_some(ns);
    let path = format!(
        "{}?fieldSelector={}",
        api::path(&event::RESOURCE, scope, None),
        api::encode(&selector)
    );
    let list = session.api.get(&path, ACCEPT_JSON).await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// The whole description of one object.
pub(crate) fn describe(rt: &ResourceType, obj: &Value, events: &[Value]) -> String {
    let text = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut s = String::new();
    s.push_str(&format!("Name:\t{}\n", text("/metadata/name")));
    if rt.namespaced {
        s.push_str(&format!("Namespace:\t{}\n", text("/metadata/namespace")));
    }
    if rt.kind == "Pod" {
        let node = text("/spec/nodeName");
        let host = text("/status/hostIP");
        let node = match (node.is_empty(), host.is_empty()) {
            (true, _) => "<none>".to_string(),
            (false, true) => node,
            (false, false) => format!("{node}/{host}"),
        };
        s.push_str(&format!("Node:\t{node}\n"));
    }
    multiline(&mut s, "Labels", obj.pointer("/metadata/labels"), &[]);
    multiline(
        &mut s,
        "Annotations",
        obj.pointer("/metadata/annotations"),
        &[LAST_APPLIED],
    );
    if let Some(ts) = obj
        .pointer("/metadata/deletionTimestamp")
        .filter(|v| !v.is_null())
    {
        s.push_str(&format!("Terminating:\t{}\n", scalar(ts)));
    }
    if rt.kind == "Pod" {
        let phase = text("/status/phase");
        s.push_str(&format!(
            "Status:\t{}\n",
            if phase.is_empty() { "Pending" } else { &phase }
        ));
        let ip = text("/status/podIP");
        s.push_str(&format!("IP:\t{}\n", if ip.is_empty() { "" } else { &ip }));
    }
    if let Some(map) = obj.as_object() {
        let mut skip = vec!["apiVersion", "kind", "metadata"];
        if rt.kind == "Secret" {
            skip.push("data");
            skip.push("stringData");
        }
        render_map(map, 0, &skip, &mut s);
        if rt.kind == "Secret" {
            render_secret_data(obj.get("data"), &mut s);
        }
    }
    // kubectl flushes before the events so the table is aligned on its own
    let mut out = tabwriter::align(&s, DESCRIBE);
    out.push_str(&tabwriter::align(&events_table(events), DESCRIBE));
    out
}

/// `printLabelsMultiline`: the first pair beside the label, the rest below it, sorted;
/// `<none>` when empty.
fn multiline(s: &mut String, label: &str, map: Option<&Value>, skip: &[&str]) {
    let mut pairs: Vec<(String, String)> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), scalar(v)))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        s.push_str(&format!("{label}:\t<none>\n"));
        return;
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        let head = if i == 0 {
            format!("{label}:")
        } else {
            String::new()
        };
        s.push_str(&format!("{head}\t{k}={v}\n"));
    }
}

/// Upstream's `DescribeEvents`: Type, Reason, Age (`x (xN over y)` for repeats), From,
/// Message, oldest first.
fn events_table(events: &[Value]) -> String {
    if events.is_empty() {
        return "Events:\t<none>\n".to_string();
    }
    let now = Utc::now();
    let mut sorted: Vec<&Value> = events.iter().collect();
    let last_seen = |e: &Value| {
        parse_time(e.get("lastTimestamp"))
            .or_else(|| parse_time(e.get("eventTime")))
            .or_else(|| parse_time(e.pointer("/metadata/creationTimestamp")))
    };
    sorted.sort_by_key(|e| last_seen(e));
    let mut s = String::from(
        "Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n",
    );
    for e in sorted {
        let text = |p: &str| {
            e.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let first = match e.get("eventTime").filter(|v| !v.is_null()) {
            Some(t) => since(Some(t), now),
            None => since(e.get("firstTimestamp"), now),
        };
        let count = e.get("count").and_then(Value::as_i64).unwrap_or(0);
        let age = if let Some(series) = e.get("series").filter(|v| v.is_object()) {
            let n = series.get("count").and_then(Value::as_i64).unwrap_or(0);
            format!(
                "{} (x{n} over {first})",
                since(series.get("lastObservedTime"), now)
            )
        } else if count > 1 {
            format!(
                "{} (x{count} over {first})",
                since(e.get("lastTimestamp"), now)
            )
        } else {
            first
        };
        let mut from = text("/source/component");
        if from.is_empty() {
            from = text("/reportingComponent");
        }
        s.push_str(&format!(
            "  {}\t{}\t{age}\t{from}\t{}\n",
            text("/type"),
            text("/reason"),
            text("/message").trim()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::pod;
    use serde_json::json;

    #[test]
    fn pod_summary_has_metadata_status_and_events() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u",
                         "labels": {"b": "2", "a": "1"},
                         "annotations": {LAST_APPLIED: "{}"}},
            "spec": {"nodeName": "pi-1", "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Pending"}});
        let ts = (Utc::now() - chrono::TimeDelta::seconds(30)).to_rfc3339();
        let events = [
            json!({"type": "Normal", "reason": "Scheduled", "firstTimestamp": ts,
            "lastTimestamp": ts, "count": 1, "source": {"component": "default-scheduler"},
            "message": "Successfully assigned default/web to pi-1"}),
        ];
        let text = describe(&pod::RESOURCE, &obj, &events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Name:         web");
        assert_eq!(lines[1], "Namespace:    default");
        assert_eq!(lines[2], "Node:         pi-1");
        assert_eq!(lines[3], "Labels:       a=1");
        assert_eq!(lines[4], "              b=2");
        assert_eq!(lines[5], "Annotations:  <none>", "last-applied is hidden");
        assert_eq!(lines[6], "Status:       Pending");
        // nested fields share one column with their siblings, as Go's tabwriter aligns them
        assert!(
            text.contains("Spec:\n  Containers:\n    Image:    nginx\n"),
            "{text}"
        );
        assert!(text.contains("\n  Node Name:  pi-1\n"), "{text}");
        assert!(text.ends_with(
            "Events:\n  Type    Reason     Age   From               Message\n  \
             ----    ------     ----  ----               -------\n  \
             Normal  Scheduled  30s   default-scheduler  Successfully assigned default/web to pi-1\n"
        ), "{text}");
    }

    #[test]
    fn repeated_events_show_count_and_span() {
        let now = Utc::now();
        let e = json!({"type": "Warning", "reason": "BackOff", "count": 3,
            "firstTimestamp": (now - chrono::TimeDelta::seconds(300)).to_rfc3339(),
            "lastTimestamp": (now - chrono::TimeDelta::seconds(10)).to_rfc3339(),
            "reportingComponent": "kubelet", "message": "Back-off\n"});
        let t = events_table(&[e]);
        assert!(
            t.contains("  Warning\tBackOff\t10s (x3 over 5m)\tkubelet\tBack-off\n"),
            "{t}"
        );
        assert_eq!(events_table(&[]), "Events:\t<none>\n");
    }
}
