//! A tunnel end to end within one process: the API server's endpoint and the agent's dialer
//! on the two ends of an in-memory stream, a fake kubelet service behind the tunnel.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::dialer::{self, Handler};
use super::{handshake, Tunnels};
use crate::pki::identity::{Identity, NODES_GROUP};
use crate::serving::body::{self, ChannelBody, ResponseBody};

const DEADLINE: Duration = Duration::from_secs(10);

/// A kubelet stand-in: `POST /echo` streams its request body back chunk by chunk as it
/// arrives; `GET /healthz` answers `ok`.
fn fake_kubelet() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            match req.uri().path() {
                "/echo" => {
                    let (tx, out) = ChannelBody::channel(4);
                    let mut incoming = req.into_body();
                    tokio::spawn(async move {
                        while let Some(Ok(frame)) = incoming.frame().await {
                            if let Ok(data) = frame.into_data() {
                                if tx.send(data).await.is_err() {
                                    return;
                                }
                            }
                        }
                    });
                    body::streaming(StatusCode::OK, "application/octet-stream", out)
                }
                "/healthz" => body::full(StatusCode::OK, "text/plain", "ok"),
                _ => body::full(StatusCode::NOT_FOUND, "text/plain", "no"),
            }
        })
    })
}

/// An agent of `node` opening a tunnel to the endpoint (served on one end of an in-memory
/// stream); the task ends, saying why, when the tunnel does.
async fn open_tunnel(
    tunnels: &Tunnels,
    node: &str,
    server_shutdown: &CancellationToken,
    agent_shutdown: &CancellationToken,
) -> JoinHandle<String> {
    let (agent_io, server_io) = tokio::io::duplex(64 << 10);
    let who = Identity::authenticated(format!("system:node:{node}"), vec![NODES_GROUP.into()]);
    let (tunnels, shutdown) = (tunnels.clone(), server_shutdown.clone());
    let endpoint = service_fn(move |req: Request<Incoming>| {
        let response: Response<ResponseBody> =
            handshake::accept(&tunnels, &who, true, &shutdown, req);
        async move { Ok::<_, Infallible>(response) }
    });
    tokio::spawn(
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), endpoint)
            .with_upgrades(),
    );
    let upgraded = dialer::upgrade(agent_io, "server:6443")
        .await
        .expect("the endpoint answers 101");
    let agent_shutdown = agent_shutdown.clone();
    tokio::spawn(async move { dialer::serve(upgraded, fake_kubelet(), &agent_shutdown).await })
}

/// Polls `f` until it holds or the deadline passes.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn requests_with_bodies_streaming_both_ways_reach_the_kubelet_behind_a_tunnel() {
    let tunnels = Tunnels::default();
    let (server, agent) = (CancellationToken::new(), CancellationToken::new());
    let _agent_task = open_tunnel(&tunnels, "pi-2", &server, &agent).await;
    eventually("the tunnel is registered", || {
        tunnels.sender("pi-2").is_some()
    })
    .await;
    let mut sender = tunnels.sender("pi-2").unwrap();

    sender.ready().await.unwrap();
    let health = sender
        .send_request(
            Request::get("https://pi-2:10250/healthz")
                .body(body::full(StatusCode::OK, "text/plain", "").into_body())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let text = health.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&text[..], b"ok");

    // Each chunk comes back before the next is sent: neither body waits for the other's end.
    let (to_kubelet, upload) = ChannelBody::channel(4);
    sender.ready().await.unwrap();
    let resp = sender
        .send_request(
            Request::post("https://pi-2:10250/echo")
                .body(upload)
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut download = resp.into_body();
    for i in 0..5 {
        let chunk = Bytes::from(format!("chunk {i}"));
        to_kubelet.send(chunk.clone()).await.unwrap();
        let echoed = tokio::time::timeout(DEADLINE, download.frame())
            .await
            .expect("the echo arrives while the upload is still open")
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        assert_eq!(echoed, chunk);
    }
    drop(to_kubelet);
    let rest = tokio::time::timeout(DEADLINE, download.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert!(rest.is_empty(), "the response ends with the upload");
}

#[tokio::test]
async fn a_closed_tunnel_leaves_the_table_and_a_newer_one_replaces_the_older() {
    let tunnels = Tunnels::default();
    let server = CancellationToken::new();
    let (first_agent, second_agent) = (CancellationToken::new(), CancellationToken::new());
    let first = open_tunnel(&tunnels, "pi-2", &server, &first_agent).await;
    eventually("the first tunnel is registered", || {
        tunnels.sender("pi-2").is_some()
    })
    .await;
    let first_sender = tunnels.sender("pi-2").unwrap();

    let _second = open_tunnel(&tunnels, "pi-2", &server, &second_agent).await;
    // the server closes the older tunnel, and the agent behind it sees its end
    let why = tokio::time::timeout(DEADLINE, first)
        .await
        .expect("the replaced tunnel is closed")
        .unwrap();
    assert_ne!(why, "shutting down");
    eventually("the older sender is closed", || first_sender.is_closed()).await;
    let second_sender = tunnels.sender("pi-2").expect("the newer tunnel stays");
    assert!(!second_sender.is_closed());

    // the agent going away removes its tunnel
    second_agent.cancel();
    eventually("the closed tunnel is removed", || {
        tunnels.sender("pi-2").is_none()
    })
    .await;
    eventually("the table is empty", || tunnels.nodes().is_empty()).await;
}

/// A client for a kubelet port nothing listens on.
fn closed_kubelet_port() -> Arc<crate::client::http::HttpClient> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    crate::client::http::HttpClient::with_tls(
        &format!("https://127.0.0.1:{port}"),
        Arc::new(tls),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn an_unreachable_kubelet_port_falls_back_to_the_tunnel_and_is_remembered() {
    use super::route::{Link, RouteError};
    let tunnels = Tunnels::default();
    let routes = super::Routes::new(tunnels.clone());
    let direct = closed_kubelet_port();

    // neither way: the direct failure is the answer, as without tunnels
    let no_tunnel = routes.link("pi-2", Some(direct.clone())).await;
    assert!(matches!(no_tunnel, Err(RouteError::Direct(_))));
    assert!(matches!(
        routes.link("pi-2", None).await,
        Err(RouteError::NoRoute)
    ));
    assert!(!routes.prefers_tunnel("pi-2"));

    let (server, agent) = (CancellationToken::new(), CancellationToken::new());
    let _agent_task = open_tunnel(&tunnels, "pi-2", &server, &agent).await;
    eventually("the tunnel is registered", || routes.has_tunnel("pi-2")).await;
    let link = routes.link("pi-2", Some(direct.clone())).await.unwrap();
    assert!(matches!(link, Link::Tunnel(_)));
    assert!(
        routes.prefers_tunnel("pi-2"),
        "the failed dial is remembered"
    );
    let empty = http_body_util::Full::new(Bytes::new()).boxed();
    let resp = link
        .send("pi-2", http::Method::GET, "/healthz", empty)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&text[..], b"ok");
    // a node that reports no address is reached through its tunnel too
    assert!(matches!(
        routes.link("pi-2", None).await,
        Ok(Link::Tunnel(_))
    ));
    // another node's tunnel is not this one's
    assert!(matches!(
        routes.link("pi-3", Some(direct)).await,
        Err(RouteError::Direct(_))
    ));
}
