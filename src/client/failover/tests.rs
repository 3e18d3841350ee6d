//! Failover between two local HTTPS servers, and the order servers are tried in.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::*;
use crate::client::http::HttpClient;
use crate::pki::{Pki, ServerNames};

/// An HTTPS server on 127.0.0.1 answering every request with `name`; aborting the task
/// closes its listener and every connection.
async fn https_server(
    tls: Arc<rustls::ServerConfig>,
    port: u16,
    name: &'static str,
) -> (u16, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(name.as_bytes()),
                    )))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, task)
}

async fn ask(client: &HttpClient) -> Result<String, String> {
    client
        .request(Method::GET, "/", &[], Vec::new())
        .await
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn requests_continue_on_the_second_server_when_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &ServerNames::default()).unwrap();
    let tls = pki.server_tls_config().unwrap();
    let (first_port, first) = https_server(tls.clone(), 0, "first").await;
    let (second_port, second) = https_server(tls.clone(), 0, "second").await;
    let servers = [
        format!("https://127.0.0.1:{first_port}"),
        format!("https://127.0.0.1:{second_port}"),
    ];
    let client_tls = crate::pki::client_tls_config(pki.ca_pem(), None).unwrap();
    let client = HttpClient::with_tls_servers(&servers, client_tls, None).unwrap();
    assert_eq!(ask(&client).await.unwrap(), "first");
    assert_eq!(ask(&client).await.unwrap(), "first");

    first.abort();
    let _ = first.await;
    // A request on the connection being torn down may fail; the next ones reach the second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ask(&client).await.as_deref() == Ok("second") {
            break;
        }
        assert!(Instant::now() < deadline, "never reached the second server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It sticks with the server that works, even once the first is back.
    let (_, first_again) = https_server(tls, first_port, "first").await;
    for _ in 0..3 {
        assert_eq!(ask(&client).await.unwrap(), "second");
    }
    first_again.abort();
    second.abort();
}

#[tokio::test]
async fn with_every_server_down_the_error_names_the_last_tried() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &ServerNames::default()).unwrap();
    // Ports just released: nothing listens there.
    let ports: Vec<u16> = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        vec![
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        ]
    };
    let servers: Vec<String> = ports
        .iter()
        .map(|p| format!("https://127.0.0.1:{p}"))
        .collect();
    let client_tls = crate::pki::client_tls_config(pki.ca_pem(), None).unwrap();
    let client = HttpClient::with_tls_servers(&servers, client_tls, None).unwrap();
    let e = ask(&client).await.unwrap_err();
    assert!(e.contains(&format!("127.0.0.1:{}", ports[1])), "{e}");
}

fn endpoints(n: u16) -> Vec<Endpoint> {
    (0..n)
        .map(|i| Endpoint {
            host: format!("10.0.0.{}", i + 1),
            port: 6443,
        })
        .collect()
}

#[test]
fn servers_are_tried_from_the_one_in_use_then_back_from_the_top() {
    let list = ServerList::returning_after(endpoints(3), Duration::from_millis(100));
    assert_eq!(list.attempt_order(), [0, 1, 2]);
    list.connected(1);
    assert_eq!(list.attempt_order(), [1, 2, 0]);
    assert!(!list.time_to_return());
    std::thread::sleep(Duration::from_millis(150));
    assert!(list.time_to_return());
    assert_eq!(list.attempt_order(), [0, 1, 2]);
    // The first is still down and the second answers again: another while there.
    list.connected(1);
    assert!(!list.time_to_return());
    list.connected(0);
    assert!(!list.time_to_return());
    assert_eq!(list.attempt_order(), [0, 1, 2]);
}

#[test]
fn server_urls_parse_into_endpoints() {
    let parsed = Endpoint::parse("https://[fd00::1]:6443/").unwrap();
    assert_eq!((parsed.host.as_str(), parsed.port), ("fd00::1", 6443));
    assert_eq!(parsed.authority(), "[fd00::1]:6443");
    assert_eq!(Endpoint::parse("https://pi-1").unwrap().port, 443);
    assert!(Endpoint::parse("http://pi-1:6443").is_none());
    assert!(Endpoint::parse("https://:6443").is_none());
}
