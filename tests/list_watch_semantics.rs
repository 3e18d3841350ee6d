//! Lists and watches behave as kube-apiserver's do: selectors, paging with `limit` and
//! `continue`, watching from a resourceVersion, 410 Gone past the history window, and the
//! bookmark that ends the initial events.

use crate::support;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::Cluster;

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn configmap(name: &str, tier: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    tier: {tier}\ndata:\n  k: v\n")
}

#[test]
fn kubectl_selectors_and_chunked_lists() {
    let c = Cluster::start();
    for (i, tier) in ["web", "web", "db", "cache", "web"].iter().enumerate() {
        c.apply(&configmap(&format!("cm-{i}"), tier));
    }
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["get", "configmaps", "-o", "name"];
        a.extend_from_slice(args);
        c.kubectl_ok(&a).lines().map(str::to_string).collect()
    };
    assert_eq!(
        names(&["-l", "tier=web"]),
        ["configmap/cm-0", "configmap/cm-1", "configmap/cm-4"]
    );
    assert_eq!(
        names(&["-l", "tier in (db,cache)"]),
        ["configmap/cm-2", "configmap/cm-3"]
    );
    assert_eq!(names(&["-l", "tier!=web,tier"]).len(), 2);
    assert_eq!(
        names(&["--field-selector", "metadata.name=cm-3"]),
        ["configmap/cm-3"]
    );
    // `-l tier` leaves out the kube-root-ca.crt ConfigMap every namespace has
    assert_eq!(
        names(&["-l", "tier", "--field-selector", "metadata.name!=cm-3"]).len(),
        4
    );
    assert_eq!(
        names(&["-l", "tier", "--chunk-size", "2"]).len(),
        5,
        "kubectl pages with limit/continue"
    );

    let bad = c.kubectl(&["get", "configmaps", "--field-selector", "spec.color=blue"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("field label not supported: spec.color"));
    let bad = c.kubectl(&["get", "configmaps", "-l", "tier in (web"]);
    assert!(!bad.status.success());
}

#[tokio::test]
async fn continue_tokens_page_and_expire_when_the_list_changes() {
    let c = Cluster::start();
    let api = c.api();
    // the test's own ConfigMaps, apart from the kube-root-ca.crt every namespace has
    let own = "labelSelector=test%3Dpaging";
    for i in 0..5 {
        let body = json!({"metadata": {"name": format!("p{i}"), "labels": {"test": "paging"}}});
        api.request(
            Method::POST,
            CM,
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    }
    let first = api
        .request(Method::GET, &format!("{CM}?{own}&limit=2"), &[], Vec::new())
        .await
        .unwrap()
        .json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let second = api
        .request(
            Method::GET,
            &format!("{CM}?{own}&limit=2&continue={token}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap()
        .json();
    let names: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p2", "p3"]);
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );

    // a change under the listed prefix makes the old token inconsistent: 410 with a new token
    let body = json!({"metadata": {"name": "late"}});
    api.request(
        Method::POST,
        CM,
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .unwrap();
    let expired = api
        .request(
            Method::GET,
            &format!("{CM}?{own}&limit=2&continue={token}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(expired.status, StatusCode::GONE);
    assert_eq!(expired.json()["reason"], "Expired");
    assert!(expired.json()["metadata"]["continue"].is_string());
}

async fn read_events(resp: http::Response<hyper::body::Incoming>, want: usize) -> Vec<Value> {
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    while events.len() < want {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("watch events in time");
        let Some(Ok(frame)) = frame else { break };
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            events.push(serde_json::from_slice(&line).expect("one JSON event per line"));
        }
    }
    events
}

#[tokio::test]
async fn watch_resumes_from_a_revision_and_410s_past_history() {
    let c = Cluster::start_with(&["--watch-history", "20"]);
    let api = c.api();
    let created = api
        .request(
            Method::POST,
            CM,
            &[("content-type", "application/json")],
            serde_json::to_vec(&json!({"metadata": {"name": "w"}, "data": {"n": "0"}})).unwrap(),
        )
        .await
        .unwrap()
        .json();
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 1..=3 {
        let patch = json!({"data": {"n": n.to_string()}});
        api.request(
            Method::PATCH,
            &format!("{CM}/w"),
            &[("content-type", "application/merge-patch+json")],
            serde_json::to_vec(&patch).unwrap(),
        )
        .await
        .unwrap();
    }
    api.request(Method::DELETE, &format!("{CM}/w"), &[], Vec::new())
        .await
        .unwrap();
    let resp = api
        .send(
            Method::GET,
            &format!("{CM}?watch=true&resourceVersion={rv}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let events = read_events(resp, 4).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]);
    assert_eq!(events[2]["object"]["data"]["n"], "3");

    // push the first revision out of a 20-change history
    for i in 0..30 {
        let body = json!({"metadata": {"name": format!("f{i}")}});
        api.request(
            Method::POST,
            CM,
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    }
    let resp = api
        .request(
            Method::GET,
            &format!("{CM}?watch=true&resourceVersion={rv}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, StatusCode::GONE);
    assert_eq!(resp.json()["reason"], "Expired");
    assert!(resp.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("too old resource version"));
}

#[tokio::test]
async fn initial_events_end_with_a_bookmark_and_selectors_filter_watches() {
    let c = Cluster::start();
    let api = c.api();
    for (name, tier) in [("a", "web"), ("b", "db")] {
        let body = json!({"metadata": {"name": name, "labels": {"tier": tier}}});
        api.request(
            Method::POST,
            CM,
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    }
    let path = format!("{CM}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&labelSelector=tier%3Dweb");
    let resp = api.send(Method::GET, &path, &[], Vec::new()).await.unwrap();
    // relabel b into the selection, then a out of it: ADDED for b, DELETED for a
    let patch =
        |tier: &str| serde_json::to_vec(&json!({"metadata": {"labels": {"tier": tier}}})).unwrap();
    let ct = [("content-type", "application/merge-patch+json")];
    api.request(Method::PATCH, &format!("{CM}/b"), &ct, patch("web"))
        .await
        .unwrap();
    api.request(Method::PATCH, &format!("{CM}/a"), &ct, patch("db"))
        .await
        .unwrap();
    let events = read_events(resp, 4).await;
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(summary[0], ("ADDED".into(), "a".into()));
    assert_eq!(summary[1].0, "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(summary[2], ("ADDED".into(), "b".into()));
    assert_eq!(summary[3], ("DELETED".into(), "a".into()));
}
