//! Nothing unauthenticated can starve the API server: a flood of idle, TLS-only and
//! half-sent connections from many addresses while kubectl keeps working; the server closing
//! slow and idle connections after its timeouts; the per-address cap; 413 for bodies over the
//! limit over HTTP/2 and HTTP/1.1 (with and without `Expect: 100-continue`); 429 from the
//! in-flight limits and 504 from the request timeout. Real sockets against the real binary.

use crate::support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bramble::pki::client_tls_config;
use bramble::pki::kubeconfig::{Credentials, Kubeconfig};
use rustls::pki_types::ServerName;
use support::board::IDLE;
use support::joined::{pod_on, TwoBoards, BOARD};
use support::sockets::*;
use support::{eventually, Cluster};

/// The body limit (`api::body::MAX_BODY`, upstream's 3 MiB).
const MAX_BODY: usize = 3 << 20;

/// Runs kubectl and fails unless it succeeds within `limit`.
fn kubectl_within(c: &Cluster, args: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    let out = c.kubectl(args);
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed after {took:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < limit, "kubectl {args:?} took {took:?}");
    took
}

#[test]
fn a_flood_of_unauthenticated_connections_does_not_lock_out_kubectl() {
    let c = Cluster::start_with(&[
        "--max-connections=200",
        "--max-unauthenticated-connections=100",
        "--max-connections-per-address=16",
    ]);
    anonymous_kubeconfig(&c);
    let baseline = kubectl_within(&c, &["get", "--raw", "/version"], Duration::from_secs(10));
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    // 280 idle TCP connections from 40 addresses, 16 that finish TLS and send nothing, 20
    // that send half a request head: more than the 200 the server holds, none over the
    // per-address cap
    let floods = [
        flood(
            Target::api(&c),
            loopbacks(2..=41),
            7,
            idle_tcp,
            stop.clone(),
            opened.clone(),
        ),
        flood(
            Target::api(&c),
            loopbacks(42..=45),
            4,
            idle_tls,
            stop.clone(),
            opened.clone(),
        ),
        flood(
            Target::api(&c),
            loopbacks(46..=50),
            4,
            half_header,
            stop.clone(),
            opened.clone(),
        ),
    ];
    eventually("the flood to exceed the server's connection limit", || {
        (opened.load(Ordering::Relaxed) >= 316).then_some(())
    });
    let limit = Duration::from_secs(5).max(baseline * 5);
    for _ in 0..5 {
        kubectl_within(&c, &["get", "--raw", "/version"], limit);
        kubectl_within(&c, &["get", "ns"], limit);
    }
    let reopened = opened.load(Ordering::Relaxed) - 316;
    stop.store(true, Ordering::Relaxed);
    for f in floods {
        f.join().expect("flood thread");
    }
    assert!(
        reopened > 0,
        "the server never closed a flood connection to make room"
    );
}

#[test]
fn slow_and_idle_connections_are_closed_after_the_timeouts() {
    let c = Cluster::start_with(&[
        "--tls-handshake-timeout=1s",
        "--header-read-timeout=2s",
        "--idle-connection-timeout=3s",
    ]);
    anonymous_kubeconfig(&c);
    let anonymous = c.dir.path().join("anonymous.kubeconfig");
    let limit = Duration::from_secs(15);

    // no TLS handshake at all: closed after the 1 s handshake timeout
    let started = Instant::now();
    let mut tcp = tcp_from(c.port, 2).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let after = closed_after(&mut tcp, started, limit).expect("an idle TCP connection closed");
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );

    // TLS but no request: closed after the 2 s first-request (header) timeout
    let mut tls = tls_from(c.port, 3, &anonymous);
    let started = Instant::now();
    tls.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let after = closed_after(&mut tls, started, limit).expect("a silent TLS connection closed");
    assert!(
        after >= Duration::from_millis(1800),
        "closed after {after:?}"
    );

    // a request head trickled a byte every 250 ms (slowloris): closed 2 s after it began,
    // busy as the socket is, without an answer
    let mut tls = tls_from(c.port, 4, &c.kubeconfig());
    tls.sock
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let started = Instant::now();
    let head = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut answer = Vec::new();
    let mut sent = 0;
    let after = loop {
        if sent < head.len()
            && tls
                .write_all(&head[sent..=sent])
                .and_then(|_| tls.flush())
                .is_err()
        {
            break started.elapsed();
        }
        sent += 1;
        let mut buf = [0u8; 1024];
        match tls.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(started.elapsed() < limit, "a trickled header held open");
            }
            Err(_) => break started.elapsed(),
        }
    };
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_millis(2900),
        "closed after {after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "the trickled request was answered"
    );

    // an HTTP/1.1 keep-alive connection waiting for its next request: hyper counts the
    // header-read timeout from when it starts waiting for a head, so it closes after 2 s,
    // before the 3 s idle timeout
    let mut tls = tls_from(c.port, 5, &c.kubeconfig());
    assert_eq!(request(&mut tls, "GET", "/version", "").status, 200);
    let started = Instant::now();
    tls.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let after = closed_after(&mut tls, started, limit).expect("an idle keep-alive closed");
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_millis(2900),
        "closed after {after:?}"
    );

    // an HTTP/2 connection with no stream open: closed after the 3 s idle timeout
    let after = runtime().block_on(h2_idle_close(&c));
    assert!(
        after >= Duration::from_millis(2800) && after < limit,
        "HTTP/2 closed after {after:?}"
    );
    kubectl_within(&c, &["get", "ns"], Duration::from_secs(10));
}

/// Opens an HTTP/2 connection with the admin certificate, makes one request and returns how
/// long after its response the server closed the connection.
async fn h2_idle_close(c: &Cluster) -> Duration {
    use http_body_util::{BodyExt, Empty};
    let kc = Kubeconfig::load(&c.kubeconfig()).expect("kubeconfig");
    let Credentials::ClientCertificate { cert_pem, key_pem } = &kc.credentials else {
        panic!("admin kubeconfig without a certificate");
    };
    let config = client_tls_config(&kc.ca_pem, Some((cert_pem, key_pem))).expect("tls");
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", c.port))
        .await
        .expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS");
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    let closed = tokio::spawn(async move {
        let _ = conn.await;
        Instant::now()
    });
    let req = http::Request::get(format!("https://127.0.0.1:{}/version", c.port))
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("h2 request");
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.expect("body");
    let answered = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(15), closed)
        .await
        .expect("the server closed the idle HTTP/2 connection")
        .expect("connection task");
    closed - answered
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let c = Cluster::start_with(&[
        "--max-connections-per-address=5",
        "--tls-handshake-timeout=60s",
    ]);
    let held: Vec<TcpStream> = (0..5)
        .map(|_| tcp_from(c.port, 7).expect("connect"))
        .collect();
    let mut extra = tcp_from(c.port, 7).expect("the kernel still accepts");
    let started = Instant::now();
    extra
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let after = closed_after(&mut extra, started, Duration::from_secs(10))
        .expect("the sixth connection from one address closed");
    assert!(
        after < Duration::from_secs(2),
        "closed only after {after:?}"
    );
    assert!(held.iter().all(is_open), "the first five are still served");
    let other = tcp_from(c.port, 8).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_open(&other), "another address is still admitted");
    kubectl_within(&c, &["get", "ns"], Duration::from_secs(10));
}

fn big_configmap(dir: &Path) -> std::path::PathBuf {
    let data = "x".repeat(MAX_BODY + 1024);
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big","namespace":"default"}},"data":{{"blob":"{data}"}}}}"#
    );
    let path = dir.join("big.json");
    std::fs::write(&path, body).expect("write body");
    path
}

/// curl over HTTP/1.1 with the admin certificate: (status, bytes of the body it uploaded,
/// response body).
fn curl_post(c: &Cluster, file: &Path, extra: &[&str]) -> (u16, u64, String) {
    let kc = Kubeconfig::load(&c.kubeconfig()).expect("kubeconfig");
    let Credentials::ClientCertificate { cert_pem, key_pem } = &kc.credentials else {
        panic!("admin kubeconfig without a certificate");
    };
    let dir = c.dir.path();
    std::fs::write(dir.join("ca.pem"), &kc.ca_pem).unwrap();
    std::fs::write(dir.join("admin.pem"), cert_pem).unwrap();
    std::fs::write(dir.join("admin-key.pem"), key_pem).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "30", "--cacert"])
        .arg(dir.join("ca.pem"))
        .arg("--cert")
        .arg(dir.join("admin.pem"))
        .arg("--key")
        .arg(dir.join("admin-key.pem"))
        .args(["-H", "Content-Type: application/json"])
        .args(extra)
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg("-o")
        .arg(dir.join("curl-body"))
        .args(["-w", "%{http_code} %{size_upload}"])
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/namespaces/default/configmaps",
            c.port
        ))
        .output()
        .expect("run curl");
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, uploaded) = summary
        .split_once(' ')
        .unwrap_or_else(|| panic!("curl: {summary} {}", String::from_utf8_lossy(&out.stderr)));
    let body = std::fs::read_to_string(dir.join("curl-body")).unwrap_or_default();
    (
        code.parse().expect("status"),
        uploaded.trim().parse::<f64>().expect("size_upload") as u64,
        body,
    )
}

#[test]
fn bodies_over_the_limit_are_refused_with_413_on_every_protocol() {
    let c = Cluster::start();
    let big = big_configmap(c.dir.path());
    let message = format!("Request entity too large: limit is {MAX_BODY}");

    // kubectl speaks HTTP/2
    let out = c.kubectl(&["create", "--validate=false", "-f", big.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("RequestEntityTooLarge") && stderr.contains(&message),
        "{stderr}"
    );

    // HTTP/1.1 with Expect: 100-continue: refused before the body is sent
    let (code, uploaded, body) = curl_post(&c, &big, &["-H", "Expect: 100-continue"]);
    assert_eq!(code, 413, "{body}");
    assert!(body.contains(r#""reason":"RequestEntityTooLarge""#) && body.contains(&message));
    assert_eq!(
        uploaded, 0,
        "the body was sent despite Expect: 100-continue"
    );

    // HTTP/1.1 without Expect, with a Content-Length over the limit
    let (code, _, body) = curl_post(&c, &big, &["-H", "Expect:"]);
    assert_eq!(code, 413, "{body}");
    assert!(body.contains(r#""reason":"RequestEntityTooLarge""#));

    // HTTP/1.1 chunked, no declared length: refused once the limit is read
    let (code, _, body) = curl_post(
        &c,
        &big,
        &["-H", "Expect:", "-H", "Transfer-Encoding: chunked"],
    );
    assert_eq!(code, 413, "{body}");

    let out = c.kubectl(&["get", "configmap", "big"]);
    assert!(!out.status.success(), "an oversized ConfigMap was stored");
}

#[test]
fn in_flight_limits_answer_429_and_slow_requests_504() {
    let c = Cluster::start_with(&[
        "--max-requests-inflight=1",
        "--max-mutating-requests-inflight=1",
        "--request-timeout=8s",
    ]);
    // a node: not system:masters, and allowed to record events
    let node = c.user_kubeconfig("system:node:n1", &["system:nodes"]);
    let event = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{name}","namespace":"default"}},"involvedObject":{{"kind":"Node","name":"n1"}},"reason":"Testing","message":"m","type":"Normal"}}"#
        )
    };
    let slow_event = event("slow");
    let path = "/api/v1/namespaces/default/events";

    // a write whose body arrives slowly holds the one mutating place
    let mut slow = tls_from(c.port, 1, &node);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        slow_event.len()
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&slow_event.as_bytes()[..10]).unwrap();
    slow.flush().unwrap();
    let held = Instant::now();

    let mut other = tls_from(c.port, 1, &node);
    let refused = eventually("a second write to be refused", || {
        let r = request(&mut other, "POST", path, &event("second"));
        (r.status == 429).then_some(r)
    });
    assert!(
        refused
            .head
            .to_ascii_lowercase()
            .contains("retry-after: 1\r\n"),
        "{}",
        refused.head
    );
    assert!(
        refused.body.contains(r#""reason":"TooManyRequests""#),
        "{}",
        refused.body
    );
    assert!(refused
        .body
        .contains("Too many requests, please try again later."));
    assert!(refused.body.contains(r#""retryAfterSeconds":1"#));
    // reads have their own limit, and system:masters is exempt from both
    assert_eq!(request(&mut other, "GET", "/version", "").status, 200);
    kubectl_within(
        &c,
        &["create", "namespace", "busy"],
        Duration::from_secs(10),
    );

    // the slow write is answered 504 once the request timeout has passed
    let timed_out = read_reply(&mut slow);
    let after = held.elapsed();
    assert_eq!(timed_out.status, 504, "{}", timed_out.body);
    assert!(
        after >= Duration::from_millis(7800),
        "answered after {after:?}"
    );
    assert!(timed_out.body.contains(r#""reason":"Timeout""#));
    assert!(timed_out
        .body
        .contains("Timeout: request did not complete within the allotted timeout"));

    // its place is free again
    let mut again = tls_from(c.port, 1, &node);
    let r = eventually("the mutating place to be free", || {
        let r = request(&mut again, "POST", path, &event("after"));
        (r.status != 429).then_some(r)
    });
    assert_eq!(r.status, 201, "{}", r.body);
    let out = c.kubectl(&["get", "event", "slow"]);
    assert!(!out.status.success(), "the timed-out write was stored");
}

/// The kubelet port of a joined board has the same protections: a flood of idle connections
/// from 20 addresses (its limit is 64) does not keep the API server from reaching it for
/// `kubectl logs`, and unauthenticated connections hold at most 16 of its places.
#[test]
fn a_flood_does_not_cut_the_api_server_off_a_joined_boards_kubelet() {
    let boards = TwoBoards::start(7, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;
    c.apply(&pod_on(
        "talker",
        BOARD,
        "echo hello-from-the-board; trap 'exit 0' TERM; while true; do sleep 1; done",
    ));
    eventually("the pod to run", || {
        (c.pod_jsonpath("talker", "{.status.phase}") == "Running").then_some(())
    });
    let kubelet: SocketAddr = format!("{}:10250", boards.link.board_ip)
        .parse()
        .expect("kubelet address");
    // more addresses for this machine on the link, so the flood comes from many clients
    let base: Ipv4Addr = boards.link.host_ip.parse().expect("host address");
    let extra: Vec<IpAddr> = (0..21u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(base) + 100 + i)))
        .collect();
    for a in &extra {
        let out = Command::new("ip")
            .args([
                "addr",
                "add",
                &format!("{a}/32"),
                "dev",
                &boards.link.host_if,
            ])
            .output()
            .expect("ip addr add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let target = Target {
        server: kubelet,
        anonymous: std::path::PathBuf::new(),
    };
    let flooding = flood(
        target,
        extra[..20].to_vec(),
        4,
        idle_tcp,
        stop.clone(),
        opened.clone(),
    );
    eventually("the flood to exceed the kubelet port's limit", || {
        (opened.load(Ordering::Relaxed) >= 80).then_some(())
    });
    // The first `kubectl logs` makes the API server open its connection to the kubelet now.
    // Each must complete (kubectl gives up after 10 s); the first may come before the pod
    // wrote its line, as Running is reported once the process starts.
    let logs = || c.kubectl_ok(&["logs", "--request-timeout=10s", "talker"]);
    eventually("the pod's line through the flood", || {
        logs().contains("hello-from-the-board").then_some(())
    });
    for _ in 0..2 {
        let text = logs();
        assert!(text.contains("hello-from-the-board"), "{text}");
    }
    stop.store(true, Ordering::Relaxed);
    flooding.join().expect("flood thread");

    // unauthenticated connections of the kubelet port: one address alone holds at most 16,
    // its newest (the oldest are closed to admit newcomers)
    let one = extra[20];
    let opened: Vec<TcpStream> = (0..32)
        .map(|_| connect(one, kubelet).expect("connect"))
        .collect();
    eventually("the oldest idle connections to be closed", || {
        let open: Vec<bool> = opened.iter().map(is_open).collect();
        let held = open.iter().filter(|o| **o).count();
        (held <= 16 && !open[0] && open[31]).then_some(())
    });
}
