//! Nothing a request sends can crash the server or cost it more than the request's size:
//! extreme numbers and multi-byte names get a `Status` (no panic), bodies nested deeper than
//! the decoders' limit are refused at once while the server keeps answering, and the watch
//! history stays within its byte budget however often a large object changes.

use crate::support;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{eventually, Cluster, DEADLINE};

const CM: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";

async fn send(c: &Cluster, method: Method, path: &str, media: &str, body: Vec<u8>) -> (u16, Value) {
    let api = c.api();
    let headers = [("content-type", media)];
    let call = api.request(method, path, &headers, body);
    let r = tokio::time::timeout(DEADLINE, call)
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within {DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status.as_u16(), body)
}

async fn post(c: &Cluster, path: &str, body: Value) -> (u16, Value) {
    send(
        c,
        Method::POST,
        path,
        "application/json",
        serde_json::to_vec(&body).unwrap(),
    )
    .await
}

fn assert_no_panic(c: &Cluster) {
    let log = c.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

#[tokio::test]
async fn extreme_numbers_and_multibyte_names_get_a_status_not_a_crash() {
    let c = Cluster::start();

    // a two-byte character straddling the cut of a 253-character generated name
    let prefix = format!("{}é", "x".repeat(247));
    let (code, body) = post(&c, CM, json!({"metadata": {"generateName": prefix}})).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["reason"], "Invalid", "{body}");

    // graceful deletion needs a node whose kubelet holds a current lease
    let renew = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease = json!({"metadata": {"name": "n1"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": i32::MAX, "renewTime": renew}});
    let (code, body) = post(
        &c,
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        lease,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let pod = |name: &str, grace: Option<i64>| {
        let mut p = json!({"metadata": {"name": name}, "spec": {"nodeName": "n1",
            "containers": [{"name": "c", "image": "busybox",
                "livenessProbe": {"exec": {"command": ["true"]},
                    "periodSeconds": i32::MAX, "terminationGracePeriodSeconds": i64::MAX}}]}});
        if let Some(g) = grace {
            p["spec"]["terminationGracePeriodSeconds"] = json!(g);
        }
        p
    };
    let (code, body) = post(&c, PODS, pod("own-grace", Some(i64::MAX))).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = send(
        &c,
        Method::DELETE,
        &format!("{PODS}/own-grace"),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 202, "graceful deletion is accepted: {body}");
    assert_eq!(
        body["metadata"]["deletionGracePeriodSeconds"],
        i64::MAX,
        "{body}"
    );
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");

    let (code, body) = post(&c, PODS, pod("asked-grace", None)).await;
    assert_eq!(code, 201, "{body}");
    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": i64::MAX});
    let (code, body) = send(
        &c,
        Method::DELETE,
        &format!("{PODS}/asked-grace"),
        "application/json",
        serde_json::to_vec(&opts).unwrap(),
    )
    .await;
    assert_eq!(code, 202, "graceful deletion is accepted: {body}");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    let (code, body) = send(
        &c,
        Method::DELETE,
        &format!("{PODS}/asked-grace?gracePeriodSeconds=9223372036854775807"),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 202, "graceful deletion is accepted: {body}");

    for query in [
        "sinceSeconds=9223372036854775807",
        "sinceSeconds=-9223372036854775808",
        "tailLines=9223372036854775807&limitBytes=9223372036854775807",
    ] {
        let (code, body) = send(
            &c,
            Method::GET,
            &format!("{PODS}/own-grace/log?{query}"),
            "application/json",
            Vec::new(),
        )
        .await;
        assert!(code >= 400, "{query}: {code} {body}");
        assert_eq!(body["kind"], "Status", "{query}: {body}");
    }
    let out = c.kubectl(&["get", "--raw", "/readyz"]);
    assert!(out.status.success());
    assert_no_panic(&c);
}

#[tokio::test]
async fn deep_bodies_are_refused_at_once_and_the_server_keeps_answering() {
    let c = Cluster::start();
    let (code, body) = post(&c, CM, json!({"metadata": {"name": "target"}})).await;
    assert_eq!(code, 201, "{body}");

    let deep_json = |n: usize| {
        format!(
            "{{\"metadata\": {{\"name\": \"d\"}}, \"data\": {}{}",
            "[".repeat(n),
            "]".repeat(n)
        )
        .into_bytes()
    };
    let cases: Vec<(Method, String, &str, Vec<u8>)> = vec![
        // 100 KB of YAML flow nesting, and 50,000 compact block sequences
        (
            Method::POST,
            CM.into(),
            "application/yaml",
            "[".repeat(100_000).into_bytes(),
        ),
        (
            Method::POST,
            CM.into(),
            "application/yaml",
            ("- ".repeat(50_000) + "x").into_bytes(),
        ),
        (
            Method::POST,
            CM.into(),
            "application/yaml",
            format!(
                "metadata: {{name: d}}\ndata: {{a: {}1{}}}",
                "[".repeat(50_000),
                "]".repeat(50_000)
            )
            .into_bytes(),
        ),
        (
            Method::POST,
            CM.into(),
            "application/json",
            deep_json(100_000),
        ),
        (
            Method::PUT,
            format!("{CM}/target"),
            "application/json",
            deep_json(100_000),
        ),
        (
            Method::PATCH,
            format!("{CM}/target"),
            "application/merge-patch+json",
            deep_json(100_000),
        ),
        (
            Method::PATCH,
            format!("{CM}/target"),
            "application/strategic-merge-patch+json",
            deep_json(100_000),
        ),
        (
            Method::PATCH,
            format!("{CM}/target"),
            "application/json-patch+json",
            format!(
                "[{{\"op\": \"add\", \"path\": \"/data\", \"value\": {}}}]",
                "[".repeat(100_000)
            )
            .into_bytes(),
        ),
    ];
    let mut calls = Vec::new();
    for (method, path, media, body) in cases {
        let c = &c;
        calls.push(async move {
            (
                path.clone(),
                media,
                send(c, method, &path, media, body).await,
            )
        });
    }
    // All at once: while they are being answered the server must still serve /readyz.
    let api = c.api();
    let readyz = async {
        let r = api
            .request(Method::GET, "/readyz", &[], Vec::new())
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK);
    };
    let (answers, ()) = tokio::join!(futures_util::future::join_all(calls), async {
        tokio::time::timeout(DEADLINE, readyz)
            .await
            .expect("/readyz answers while deep bodies are decoded");
    });
    for (path, media, (code, body)) in answers {
        assert!(code == 400 || code == 422, "{media} {path}: {code} {body}");
        assert_eq!(body["kind"], "Status", "{media} {path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    // nothing was stored and kubectl is served as before
    let names = c.kubectl_ok(&["get", "configmaps", "-o", "name"]);
    assert!(
        names.contains("configmap/target") && !names.contains("configmap/d"),
        "{names}"
    );
    let data = c.jsonpath(&["configmap", "target"], "{.data}");
    assert!(data.is_empty(), "{data}");
    eventually("/readyz", || {
        c.kubectl(&["get", "--raw", "/readyz"])
            .status
            .success()
            .then_some(())
    });
    assert_no_panic(&c);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn a_large_configmap_updated_hundreds_of_times_keeps_memory_bounded() {
    const BUDGET_MIB: u64 = 16;
    let c = Cluster::start_with(&["--watch-history-bytes", "16Mi"]);
    let pid = c.pid().expect("server pid");
    let api = c.api();
    let value = |n: usize| format!("{n:08}{}", "x".repeat(1_000_000));
    let (code, created) = post(
        &c,
        CM,
        json!({"metadata": {"name": "big"}, "data": {"v": value(0)}}),
    )
    .await;
    assert_eq!(code, 201, "{}", created["message"]);
    let first_rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    // warm up allocator pools with a few updates before measuring
    let put = |n: usize| {
        let api = api.clone();
        let body =
            serde_json::to_vec(&json!({"metadata": {"name": "big"}, "data": {"v": value(n)}}))
                .unwrap();
        async move {
            let r = api
                .request(
                    Method::PUT,
                    &format!("{CM}/big"),
                    &[("content-type", "application/json")],
                    body,
                )
                .await
                .unwrap();
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
            );
        }
    };
    for n in 1..=20 {
        put(n).await;
    }
    let baseline = rss_kib(pid);
    for n in 21..=320 {
        put(n).await;
    }
    let after = rss_kib(pid);
    eprintln!("server RSS {baseline} KiB before 300 updates, {after} KiB after");
    // 300 changes of 1 MB would hold 300 MB; the budget holds 16 MiB (plus what one
    // in-flight request and the allocator keep)
    let bound_kib = (4 * BUDGET_MIB + 64) * 1024;
    assert!(
        after.saturating_sub(baseline) < bound_kib,
        "RSS grew from {baseline} KiB to {after} KiB (bound {bound_kib} KiB of growth)"
    );

    // a watch from before the window is told so, as upstream does
    let r = api
        .request(
            Method::GET,
            &format!("{CM}?watch=true&resourceVersion={first_rv}"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::GONE);
    let status = r.json();
    assert_eq!(status["reason"], "Expired", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("too old resource version: {first_rv} (")),
        "{status}"
    );
    // one from inside it still gets the latest change
    let latest = api
        .request(Method::GET, &format!("{CM}/big"), &[], Vec::new())
        .await
        .unwrap()
        .json();
    let rv: u64 = latest["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = api
        .send(
            Method::GET,
            &format!("{CM}?watch=true&resourceVersion={}", rv - 1),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.into_body();
    let mut seen = Vec::new();
    while !seen.windows(8).any(|w| w == b"00000320") {
        assert!(seen.len() < 1 << 16, "the newest change is delivered first");
        let frame = tokio::time::timeout(DEADLINE, http_body_util::BodyExt::frame(&mut body))
            .await
            .expect("an event")
            .expect("a frame")
            .expect("data");
        seen.extend_from_slice(&frame.into_data().unwrap_or_default());
    }
    assert_no_panic(&c);
}

#[tokio::test]
async fn the_store_quota_refuses_growth_but_not_deletes() {
    let c = Cluster::start_with(&["--store-quota-bytes", "2500Ki"]);
    let cm = |name: &str| json!({"metadata": {"name": name}, "data": {"v": "x".repeat(1_000_000)}});
    for name in ["a", "b"] {
        let (code, body) = post(&c, CM, cm(name)).await;
        assert_eq!(code, 201, "{}", body["message"]);
    }
    let (code, body) = post(&c, CM, cm("c")).await;
    assert_eq!(code, 500, "{}", body["message"]);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("the store is full"), "{message}");
    let names = c.kubectl_ok(&["get", "configmaps", "-o", "name"]);
    assert!(!names.contains("configmap/c"), "{names}");
    // deleting makes room again
    c.kubectl_ok(&["delete", "configmap", "a"]);
    let (code, body) = post(&c, CM, cm("c")).await;
    assert_eq!(code, 201, "{}", body["message"]);

    // one object over etcd's request limit: 1 MiB of binary data is 1.4 MB of base64
    c.kubectl_ok(&["delete", "configmap", "b", "c"]);
    let binary = "QUFB".repeat(349_525);
    let annotations: serde_json::Map<String, Value> = (0..3)
        .map(|i| (format!("a{i}"), json!("y".repeat(80_000))))
        .collect();
    let (code, body) = post(
        &c,
        "/api/v1/namespaces/default/secrets",
        json!({"metadata": {"name": "huge", "annotations": annotations}, "data": {"k": binary}}),
    )
    .await;
    assert_eq!(code, 413, "{}", body["message"]);
    assert_eq!(body["reason"], "RequestEntityTooLarge", "{body}");
    assert_no_panic(&c);
}
