//! The HTTPS listener: TLS (rustls) with optional client certificates, HTTP/1.1 and HTTP/2,
//! authentication and authorization, then routing to discovery, health or resource handlers.
//! Connections are admitted and timed out by [`listener`](super::listener), requests are
//! bounded by [`request_limits`](super::request_limits); every task ends on the shutdown
//! token.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::auth::{self, Attributes, Authn, Decision, Identity};
use super::body::{self, ResponseBody};
use super::handlers::{self, ResourceRequest};
use super::listener::accept::accept_loop;
use super::listener::connection::{Handshake, Protocols, TlsConnections};
use super::listener::pool::{ConnectionPool, Ticket};
use super::listener::ListenerLimits;
use super::metrics_api::{self, Scraper};
use super::node_certificates::{self, NodeCertificates, JOIN_PATH, SERVING_PATH};
use super::node_proxy;
use super::pod_connect;
use super::pod_streams::Kubelets;
use super::registry::Registry;
use super::request_info::{self, RequestInfo, Target};
use super::request_limits::{self, RequestLimits};
use super::request_metrics::{RequestKind, RequestMetrics};
use super::server_metrics;
use super::status::ApiError;
use super::{discovery, openapi, reviews};
use crate::pki::tokens::TokenAuthenticator;
use crate::serving::prometheus;
use crate::tunnel::{self, Tunnels};

/// Everything a request needs.
pub struct ApiState {
    /// The object registry.
    pub registry: Registry,
    /// Bearer tokens.
    pub tokens: TokenAuthenticator,
    /// `host:port` clients reach the server at (for `/api`).
    pub advertise: String,
    /// Whether `/readyz` answers 200.
    pub ready: AtomicBool,
    /// Ends watches and connections.
    pub shutdown: CancellationToken,
    /// The kubelets answering logs and exec for each node.
    pub kubelets: Kubelets,
    /// Certificates for boards joining with the join token, and for their kubelets.
    pub node_certificates: Option<NodeCertificates>,
    /// What connections may hold (`--max-connections`, timeouts, HTTP/2 streams).
    pub connection_limits: ListenerLimits,
    /// In-flight limits and the request timeout.
    pub request_limits: RequestLimits,
    /// The nodes' summaries the metrics API is built from.
    pub metrics: Scraper,
    /// Request counts and latencies for `/metrics`.
    pub requests: RequestMetrics,
    /// The tunnels joined boards keep open to reach their kubelets through.
    pub tunnels: Tunnels,
}

/// Serves HTTPS on `listener` until `state.shutdown` is cancelled.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, state: Arc<ApiState>) {
    let connections = TlsConnections {
        acceptor: TlsAcceptor::from(tls),
        limits: state.connection_limits,
        protocols: Protocols::Http1AndHttp2,
        shutdown: state.shutdown.clone(),
    };
    let pool = ConnectionPool::new(&state.connection_limits);
    let shutdown = state.shutdown.clone();
    accept_loop(listener, pool, shutdown, |tcp, peer, ticket| {
        let state = state.clone();
        let make = move |handshake: Handshake| Some(service(state, handshake));
        connections.clone().serve(tcp, peer, ticket, make)
    })
    .await;
}

/// The service of one connection.
fn service(
    state: Arc<ApiState>,
    handshake: Handshake,
) -> impl Service<
    Request<Incoming>,
    Response = Response<ResponseBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send,
> + Send
       + 'static {
    let Handshake {
        peer,
        certificates,
        ticket,
    } = handshake;
    let certs = Arc::new(certificates);
    service_fn(move |req| {
        let state = state.clone();
        let certs = certs.clone();
        let ticket = ticket.clone();
        async move { Ok::<_, Infallible>(handle(state, certs.as_deref(), &ticket, peer, req).await) }
    })
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn handle(
    state: Arc<ApiState>,
    certs: Option<&[CertificateDer<'static>]>,
    ticket: &Ticket,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let authz = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authn = auth::authenticate(certs, authz, &state.tokens, Some(&state.registry));
    let credentials = !matches!(authn, Authn::NoCredentials);
    if matches!(authn, Authn::Authenticated(_)) {
        // a bearer token (or certificate) checked out: the connection leaves the pool of
        // unauthenticated connections that floods are evicted from
        ticket.authenticated();
    }
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), %peer, user = tracing::field::Empty);
    async move {
        let Some(identity) = authn.identity() else {
            return body::error(&ApiError::unauthorized());
        };
        tracing::Span::current().record("user", identity.user.as_str());
        let query = parse_query(req.uri().query());
        let watch = handlers::flag(&query, "watch");
        let info = request_info::parse(req.method(), req.uri().path(), watch);
        let started = Instant::now();
        let measured = info.clone();
        let apply = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/apply-patch"));
        let dry_run = query.contains_key("dryRun");
        let long_running = request_limits::long_running(&info);
        let response = if long_running {
            route(&state, &identity, credentials, info, query, req).await
        } else {
            let kind = if request_limits::is_read(&measured) {
                RequestKind::ReadOnly
            } else {
                RequestKind::Mutating
            };
            let _in_flight = state.requests.in_flight(kind);
            limited(state.clone(), identity, credentials, info, query, req).await
        };
        let status = response.status().as_u16();
        let took = (!long_running).then(|| started.elapsed());
        state
            .requests
            .record(&measured, apply, dry_run, status, took);
        tracing::debug!(status, "served");
        response
    }
    .instrument(span)
    .await
}

/// The object a list or watch is limited to by a `metadata.name=<name>` field selector:
/// upstream's `RequestInfo` takes it as the request's name, so a node may watch one Secret
/// it may get.
fn selected_name<'q>(verb: &str, query: &'q HashMap<String, String>) -> Option<&'q str> {
    if !matches!(verb, "list" | "watch") {
        return None;
    }
    query
        .get("fieldSelector")?
        .split(',')
        .find_map(|req| {
            let req = req.trim();
            req.strip_prefix("metadata.name==")
                .or_else(|| req.strip_prefix("metadata.name="))
        })
        .filter(|name| !name.is_empty())
}

/// Serves a request that is not long-running within the in-flight limits and the request
/// timeout. The handler runs in its own task, as upstream's timeout filter lets the handler
/// goroutine finish: a write is never cut half-way, only its answer is replaced by the 504.
async fn limited(
    state: Arc<ApiState>,
    identity: Identity,
    credentials: bool,
    info: RequestInfo,
    query: HashMap<String, String>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let in_flight = match state.request_limits.admit(&info, &identity) {
        Ok(p) => p,
        Err(e) => return body::error(&e),
    };
    let timeout = state.request_limits.request_timeout;
    let handler = tokio::spawn(
        async move { route(&state, &identity, credentials, info, query, req).await }
            .in_current_span(),
    );
    let response = match tokio::time::timeout(timeout, handler).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => body::error(&ApiError::internal(e)),
        Err(_) => body::error(&ApiError::request_timeout()),
    };
    // the place is given back with the answer, as upstream's filter returns: a handler that
    // outlived its timeout (e.g. still waiting for a trickling body) ends with its
    // connection, which is idle once the 504 is sent
    drop(in_flight);
    response
}

async fn route(
    state: &ApiState,
    who: &Identity,
    credentials: bool,
    info: RequestInfo,
    query: HashMap<String, String>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let path = req.uri().path().to_string();
    if path == tunnel::TUNNEL_PATH {
        // a node's own tunnel: authorized by the Node authorizer's rule in `tunnel`
        return tunnel::handshake::accept(&state.tunnels, who, credentials, &state.shutdown, req);
    }
    let selected = selected_name(info.verb, &query);
    let attrs = match &info.target {
        Target::Resource(rp) => {
            let a = Attributes::resource(
                info.verb,
                &rp.group,
                &rp.resource,
                rp.namespace.as_deref().unwrap_or(""),
                rp.name.as_deref().or(selected).unwrap_or(""),
            );
            a.with_subresource(rp.subresource.as_deref().unwrap_or(""))
        }
        _ => Attributes::non_resource(info.verb, &path),
    };
    if let Decision::Deny(reason) = auth::authorize(who, &attrs, &state.registry) {
        if !credentials {
            return body::error(&ApiError::unauthorized());
        }
        return body::error(&ApiError::forbidden(auth::forbidden_message(
            who, &attrs, &reason,
        )));
    }
    let method = req.method().clone();
    match info.target {
        // Streaming pod subresources need the raw request (upgrades, repeated parameters).
        Target::Resource(rp) if pod_connect::handles(&rp) => {
            let kubelets = &state.kubelets;
            pod_connect::serve(&state.registry, kubelets, &state.shutdown, &rp, &query, req).await
        }
        Target::Resource(rp) if node_proxy::handles(&rp) => {
            node_proxy::serve(&state.registry, &state.kubelets, &rp, &req).await
        }
        Target::Resource(rp) if metrics_api::handles(&rp) => {
            metrics_api::serve(&state.registry, &state.metrics, &rp, info.verb, &query).await
        }
        Target::Resource(rp) if reviews::handles(&rp).is_some() => {
            let authorize = |who: &Identity, attrs: &Attributes<'_>| {
                auth::authorize(who, attrs, &state.registry)
            };
            let cx = reviews::Context {
                registry: &state.registry,
                tokens: &state.tokens,
                authorize: &authorize,
            };
            reviews::serve(&cx, &rp, info.verb, who, req).await
        }
        Target::Resource(rp) => {
            let (parts, incoming) = req.into_parts();
            let bytes = if matches!(method, Method::GET | Method::HEAD) {
                bytes::Bytes::new()
            } else {
                match body::read(incoming).await {
                    Ok(b) => b,
                    Err(e) => return body::error(&e),
                }
            };
            let rr = ResourceRequest {
                verb: info.verb,
                path: &rp,
                query: &query,
                headers: &parts.headers,
                body: bytes,
                user: who,
            };
            handlers::serve(&state.registry, &state.shutdown, rr).await
        }
        Target::NonResource(p)
            if (p == JOIN_PATH || p == SERVING_PATH) && method == Method::POST =>
        {
            let issuer = state.node_certificates.as_ref();
            node_certificates::serve(issuer, &state.registry, who, &p, req).await
        }
        _ if method != Method::GET && method != Method::HEAD => {
            body::error(&ApiError::method_not_allowed())
        }
        Target::GroupVersion { group, version }
            if discovery::serves(&state.registry.resource_types(), &group, &version) =>
        {
            let types = state.registry.resource_types();
            body::json(
                StatusCode::OK,
                &discovery::resource_list(&types, &group, &version),
            )
        }
        Target::Group(group) => {
            match discovery::group_doc(&state.registry.resource_types(), &group) {
                Some(doc) => body::json(StatusCode::OK, &doc),
                None => body::error(&ApiError::path_not_found()),
            }
        }
        // Rendering a document inflates and walks the embedded schemas: tens of
        // milliseconds on a board, kept off the async workers.
        Target::NonResource(p) if p.starts_with("/openapi/") => {
            let headers = req.headers().clone();
            let path = p.trim_end_matches('/').to_string();
            let custom = state.registry.custom_types();
            let render = move || openapi::serve(&path, &query, &headers, &custom);
            match tokio::task::spawn_blocking(render).await {
                Ok(Some(response)) => response,
                Ok(None) => body::error(&ApiError::path_not_found()),
                Err(e) => body::error(&ApiError::internal(e)),
            }
        }
        Target::NonResource(p) => non_resource(state, &p, req.headers()),
        Target::GroupVersion { .. } => body::error(&ApiError::path_not_found()),
    }
}

fn non_resource(state: &ApiState, path: &str, headers: &http::HeaderMap) -> Response<ResponseBody> {
    match path.trim_end_matches('/') {
        "/livez" | "/healthz" => body::full(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
        "/readyz" if state.ready.load(Ordering::Acquire) => {
            body::full(StatusCode::OK, "text/plain; charset=utf-8", "ok")
        }
        "/readyz" => body::full(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            "[-]bramble not ready\nreadyz check failed",
        ),
        "/version" => body::json(StatusCode::OK, &discovery::version()),
        "/metrics" => {
            let census = state.registry.store().census();
            let text = server_metrics::render(&state.requests, &census);
            body::full(StatusCode::OK, prometheus::CONTENT_TYPE, text)
        }
        "/api" => discovery::serve_core(headers, &state.advertise),
        "/apis" => discovery::serve_groups(&state.registry.resource_types(), headers),
        _ => body::error(&ApiError::path_not_found()),
    }
}
