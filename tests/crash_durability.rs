//! Acknowledged writes survive `kill -9`: hundreds of concurrent creates, the server killed
//! mid-flight, restarted, and every create that was answered 201 is there, whole.

use crate::support;

use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};
use serde_json::json;
use support::{eventually, Cluster};

const WRITERS: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_sigkill() {
    let mut c = Cluster::start();
    let api = c.api();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let api = api.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("cm-{i}");
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"value": format!("payload-{i}")}});
            let reply = api
                .request(
                    Method::POST,
                    "/api/v1/namespaces/default/configmaps",
                    &[("content-type", "application/json")],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await;
            if matches!(reply, Ok(r) if r.status == StatusCode::CREATED) {
                acked.lock().unwrap().push(name);
            }
        }));
    }
    // kill while writes are still in flight
    let acked_check = acked.clone();
    tokio::task::spawn_blocking(move || {
        eventually("a first batch of acknowledged creates", || {
            (acked_check.lock().unwrap().len() >= 50).then_some(())
        })
    })
    .await
    .unwrap();
    c.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() < WRITERS,
        "the kill landed after every write; nothing was tested"
    );

    eprintln!("acked {}", acked.len());
    c.restart();
    let reply = c
        .api()
        .request(
            Method::GET,
            "/api/v1/namespaces/default/configmaps",
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let list = reply.json();
    let items = list["items"].as_array().unwrap();
    let present: Vec<&str> = items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    eprintln!("present {}", present.len());
    for name in &acked {
        assert!(
            present.contains(&name.as_str()),
            "acknowledged {name} is missing after restart"
        );
    }
    for o in items {
        let name = o["metadata"]["name"].as_str().unwrap();
        if name == "kube-root-ca.crt" {
            // published by the server, not written by the test
            continue;
        }
        let i = name.trim_start_matches("cm-");
        assert_eq!(
            o["data"]["value"],
            json!(format!("payload-{i}")),
            "{name} is damaged"
        );
        assert!(o["metadata"]["uid"].is_string() && o["metadata"]["resourceVersion"].is_string());
    }
    // revisions never go backwards across the restart
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let max_item = items
        .iter()
        .map(|o| {
            o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .max()
        .unwrap_or(0);
    assert!(rv >= max_item);
}
