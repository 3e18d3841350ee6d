use super::*;
use serde_json::json;

fn no_exec(_: Vec<String>) -> BoxFuture<'static, Result<i32, String>> {
    Box::pin(async { Err("no exec".to_string()) })
}

fn settings(success: u32, failure: u32) -> ProbeSettings {
    ProbeSettings::from_probe(&json!({"successThreshold": success, "failureThreshold": failure}))
}

#[test]
fn readiness_needs_success_threshold_and_failure_threshold() {
    let mut s = ProbeState::new(ProbeKind::Readiness, settings(2, 3));
    assert_eq!(s.reported(), Some(Health::Failure));
    assert_eq!(s.observe(&ProbeResult::Success), None);
    let t = s.observe(&ProbeResult::Success).unwrap();
    assert_eq!(t.health, Health::Success);
    let fail = ProbeResult::Failure("x".into());
    assert_eq!(s.observe(&fail), None);
    assert_eq!(s.observe(&ProbeResult::Unknown("e".into())), None);
    assert_eq!(s.observe(&fail), None);
    assert_eq!(s.observe(&fail).unwrap().health, Health::Failure);
    // Readiness keeps probing: it can become ready again.
    s.observe(&ProbeResult::Success);
    assert_eq!(
        s.observe(&ProbeResult::Success).unwrap().health,
        Health::Success
    );
}

#[test]
fn liveness_failure_holds_until_replaced() {
    let mut s = ProbeState::new(ProbeKind::Liveness, settings(1, 3));
    assert_eq!(s.observe(&ProbeResult::Success), None);
    let fail = ProbeResult::Failure("x".into());
    assert_eq!(s.observe(&fail), None);
    assert_eq!(s.observe(&ProbeResult::Success), None);
    assert_eq!(s.observe(&fail), None);
    assert_eq!(s.observe(&fail), None);
    let t = s.observe(&fail).unwrap();
    assert_eq!((t.kind, t.health), (ProbeKind::Liveness, Health::Failure));
    assert!(!s.should_probe(Utc::now() - chrono::Duration::hours(1), Utc::now()));
    assert_eq!(s.observe(&ProbeResult::Success), None);
}

#[test]
fn initial_delay_defers_probing() {
    let p = json!({"initialDelaySeconds": 5});
    let s = ProbeState::new(ProbeKind::Startup, ProbeSettings::from_probe(&p));
    let start = Utc::now();
    assert!(!s.should_probe(start, start + chrono::Duration::seconds(4)));
    assert!(s.should_probe(start, start + chrono::Duration::seconds(5)));
    assert_eq!(s.reported(), None);
    let d = ProbeSettings::from_probe(&json!({}));
    assert_eq!(
        (d.period.as_secs(), d.timeout.as_secs(), d.failure_threshold),
        (10, 1, 3)
    );
}

#[tokio::test]
async fn exec_probe_uses_exit_code() {
    let exec = |args: Vec<String>| -> BoxFuture<'static, Result<i32, String>> {
        Box::pin(async move { Ok(if args[0] == "true" { 0 } else { 1 }) })
    };
    let c = json!({});
    let target = ProbeTarget {
        pod_ip: "127.0.0.1",
        container: &c,
        exec: &exec,
    };
    let ok = run_probe(&json!({"exec": {"command": ["true"]}}), &target).await;
    assert_eq!(ok, ProbeResult::Success);
    let bad = run_probe(&json!({"exec": {"command": ["false"]}}), &target).await;
    assert!(matches!(bad, ProbeResult::Failure(m) if m.contains("exited with 1")));
    let slow = |_: Vec<String>| -> BoxFuture<'static, Result<i32, String>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(0)
        })
    };
    let target = ProbeTarget {
        pod_ip: "127.0.0.1",
        container: &c,
        exec: &slow,
    };
    let r = run_probe(
        &json!({"exec": {"command": ["sleep"]}, "timeoutSeconds": 1}),
        &target,
    )
    .await;
    assert!(matches!(r, ProbeResult::Failure(m) if m.contains("timed out")));
}

/// A one-route HTTP server on 127.0.0.1: `/ok` 200, `/moved` 302, anything else 500,
/// and `/hdr` 200 only with header `x-probe: yes` and the kubelet's User-Agent.
async fn server() -> u16 {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let code = match req.uri().path() {
                    "/ok" => 200,
                    "/moved" => 302,
                    "/hdr"
                        if req.headers()["x-probe"] == "yes"
                            && req.headers()["user-agent"] == USER_AGENT =>
                    {
                        200
                    }
                    _ => 500,
                };
                let mut resp = hyper::Response::new(Empty::<Bytes>::new());
                *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                Ok::<_, std::convert::Infallible>(resp)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    port
}

#[tokio::test]
async fn http_get_probe_against_a_local_server() {
    let port = server().await;
    let c = json!({"ports": [{"name": "web", "containerPort": port}]});
    let target = ProbeTarget {
        pod_ip: "127.0.0.1",
        container: &c,
        exec: &no_exec,
    };
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": "web"}});
    assert_eq!(
        run_probe(&probe("/ok"), &target).await,
        ProbeResult::Success
    );
    assert_eq!(
        run_probe(&probe("/moved"), &target).await,
        ProbeResult::Success
    );
    assert_eq!(
        run_probe(&probe("/boom"), &target).await,
        ProbeResult::Failure("HTTP probe failed with statuscode: 500".into())
    );
    let with_header = json!({"httpGet": {"path": "/hdr", "port": port,
        "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}});
    assert_eq!(run_probe(&with_header, &target).await, ProbeResult::Success);
    let missing = json!({"httpGet": {"path": "/", "port": "nope"}});
    assert!(matches!(
        run_probe(&missing, &target).await,
        ProbeResult::Unknown(_)
    ));
}

#[tokio::test]
async fn tcp_socket_probe_open_and_closed_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = json!({});
    let target = ProbeTarget {
        pod_ip: "127.0.0.1",
        container: &c,
        exec: &no_exec,
    };
    let ok = run_probe(&json!({"tcpSocket": {"port": open}}), &target).await;
    assert_eq!(ok, ProbeResult::Success);
    let r = run_probe(&json!({"tcpSocket": {"port": closed}}), &target).await;
    assert!(matches!(r, ProbeResult::Failure(m) if m.starts_with("dial tcp 127.0.0.1:")));
    drop(listener);
}
