//! `bramble agent`: a board that joins a cluster and runs its pods. Gets its node
//! credentials ([`credentials`]), then runs the same kubelet the server runs, written
//! against the [`Client`](crate::client::Client) trait, with a
//! [`RemoteClient`] to the server instead of the in-process one, and serves the kubelet
//! port the API server reaches for `kubectl logs` and `exec`, and the same service through a
//! [tunnel](crate::tunnel) to the server for a board the server cannot dial. Both of the
//! node's certificates are renewed while it runs ([`cert_rotation`]).

pub mod cert_rotation;
pub mod credentials;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::pod_streams::PodStreams;
use crate::client::http::HttpClient;
use crate::client::RemoteClient;
use crate::kubelet::agent::{KubeletConfig, KubeletError};
use crate::kubelet::runtime::OciCliRuntime;
use crate::kubelet::streams::KubeletStreams;
use crate::pki::cert_slot::CertSlot;
use crate::pki::join_token::JoinToken;
use credentials::JoinError;

/// Upstream's kubelet port.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Settings of `bramble agent`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The servers' URLs, `https://host:port`, in order of preference.
    pub servers: Vec<String>,
    /// The join token (needed until the board has joined).
    pub token: Option<JoinToken>,
    /// State directory.
    pub data_dir: PathBuf,
    /// The port the kubelet serves logs and exec on.
    pub kubelet_port: u16,
    /// The kubelet; its node name is the board's.
    pub kubelet: KubeletConfig,
    /// Whether the kubelet is also served through a tunnel to the server
    /// ([`crate::tunnel`]), for a board the server cannot dial.
    pub tunnel: bool,
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Joining failed.
    #[error("{0}")]
    Join(#[from] JoinError),
    /// The stored credentials do not make a client.
    #[error("node credentials: {0}")]
    Client(#[from] crate::client::http::HttpError),
    /// The serving certificate does not make a TLS configuration.
    #[error("kubelet serving certificate: {0}")]
    Tls(#[from] crate::pki::PkiError),
    /// The kubelet port is taken.
    #[error(
        "cannot listen on the kubelet port {addr}: {source} (choose another with --kubelet-port)"
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// The kubelet stopped.
    #[error("{0}")]
    Kubelet(#[from] KubeletError),
    /// The kubelet serving certificate could not be had.
    #[error("kubelet serving certificate: {0}")]
    Serving(#[from] cert_rotation::RotationError),
}

/// Joins (or rejoins) the cluster and runs the kubelet until `shutdown`.
pub async fn run(cfg: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    let node = cfg.kubelet.node_name.clone();
    let kc = credentials::obtain(
        &cfg.servers,
        cfg.token.as_ref(),
        &cfg.data_dir,
        &node,
        &shutdown,
    )
    .await?;
    let (http, client_slot) = rotating_client(&kc, &cfg.servers)?;
    let servers = cfg.servers.join(",");
    // The tunnel presents the same, rotating, node certificate.
    let node_tls = crate::pki::client_tls_config_rotating(&kc.ca_pem, client_slot.clone())?;
    let client = RemoteClient::new(http.clone());
    tokio::spawn(cert_rotation::keep_renewed(
        client.clone(),
        node.clone(),
        cert_rotation::Wanted::Client,
        client_slot,
        cert_rotation::Store::Kubeconfig {
            kubeconfig: Box::new(kc.clone()),
            path: cfg.data_dir.join(credentials::KUBECONFIG_PATH),
            http: http.clone(),
        },
        shutdown.clone(),
    ));
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), cfg.kubelet_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        // a board with IPv6 disabled still has IPv4
        Err(_) => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], cfg.kubelet_port));
            TcpListener::bind(v4)
                .await
                .map_err(|source| AgentError::Listen { addr: v4, source })?
        }
    };
    let port = listener
        .local_addr()
        .map_err(|source| AgentError::Listen { addr, source })?
        .port();
    let runtime = Arc::new(OciCliRuntime::new(
        cfg.kubelet.runtime,
        &cfg.kubelet.data_dir.join("runtime"),
        cfg.kubelet.bramble_exe.clone(),
    ));
    let streams: Arc<dyn PodStreams> = Arc::new(
        KubeletStreams::new(
            client.clone(),
            cfg.kubelet.data_dir.clone(),
            runtime,
            crate::kubelet::network::netns_dir(&cfg.kubelet.run_dir),
        )
        .with_stats(cfg.kubelet.stats.clone()),
    );
    if cfg.tunnel {
        // A tunnel to every server: any of them may be asked for this board's logs.
        for server in &cfg.servers {
            let dialer = crate::tunnel::dialer::Dialer {
                server: server.clone(),
                tls: node_tls.clone(),
                handler: kubelet_handler(streams.clone()),
            };
            tokio::spawn(dialer.run(shutdown.clone()));
        }
    }
    // The kubelet port serves once the Node reports this board's address, so the serving
    // certificate names only addresses the server can check against the Node.
    let port_task = tokio::spawn(serve_kubelet_port(
        KubeletPort {
            client: client.clone(),
            serving_path: cfg.data_dir.join(cert_rotation::SERVING_PATH),
            node: node.clone(),
            ca_pem: kc.ca_pem.clone(),
            listener,
            streams,
        },
        shutdown.clone(),
    ));
    tracing::info!(%node, %servers, kubelet_port = port, "bramble agent ready");
    let mut kubelet = cfg.kubelet;
    kubelet.kubelet_port = Some(port);
    let informers = crate::client::informer::Informers::new(client.clone(), shutdown.clone());
    let result = crate::kubelet::agent::run(client, informers, kubelet, shutdown.clone()).await;
    shutdown.cancel();
    if let Ok(Err(e)) = port_task.await {
        return Err(e);
    }
    Ok(result?)
}

/// A client of the API server presenting the node's client certificate through a slot
/// the certificate manager refills.
fn rotating_client(
    kc: &crate::pki::kubeconfig::Kubeconfig,
    servers: &[String],
) -> Result<(Arc<HttpClient>, Arc<CertSlot>), AgentError> {
    let crate::pki::kubeconfig::Credentials::ClientCertificate { cert_pem, key_pem } =
        &kc.credentials
    else {
        return Err(AgentError::Join(JoinError::Protocol(
            "the node credentials hold no client certificate".into(),
        )));
    };
    let slot = CertSlot::new(cert_pem, key_pem)?;
    let tls = crate::pki::client_tls_config_rotating(&kc.ca_pem, slot.clone())?;
    Ok((HttpClient::with_tls_servers(servers, tls, None)?, slot))
}

/// The kubelet port's request handler, for the tunnel to serve.
fn kubelet_handler(streams: Arc<dyn PodStreams>) -> crate::tunnel::dialer::Handler {
    Arc::new(move |req| {
        let streams = streams.clone();
        Box::pin(async move { crate::kubelet::server::route(streams.as_ref(), req).await })
    })
}

/// What the kubelet port needs.
struct KubeletPort {
    client: RemoteClient,
    serving_path: PathBuf,
    node: String,
    ca_pem: String,
    listener: TcpListener,
    streams: Arc<dyn PodStreams>,
}

/// Waits for the Node, gets the serving certificate for the addresses it reports, and
/// serves the kubelet port until `shutdown`; a refused certificate stops the agent.
async fn serve_kubelet_port(
    port: KubeletPort,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let served = async {
        let Some(addresses) = node_addresses(&port.client, &port.node, &shutdown).await else {
            return Ok(());
        };
        let wanted = cert_rotation::Wanted::Serving(addresses);
        let (cert, key) = match stored_serving(&port.serving_path, &port.node, &wanted) {
            Some(pair) => pair,
            None => {
                let pair =
                    serving_certificate(&port.client, &port.node, &wanted, &shutdown).await?;
                cert_rotation::write_pem_pair(&port.serving_path, &pair.0, &pair.1)?;
                pair
            }
        };
        let slot = CertSlot::new(&cert, &key)?;
        let tls = crate::pki::kubelet_server_tls_config_rotating(&port.ca_pem, slot.clone())?;
        tokio::spawn(cert_rotation::keep_renewed(
            port.client.clone(),
            port.node.clone(),
            wanted,
            slot,
            cert_rotation::Store::Pem(port.serving_path.clone()),
            shutdown.clone(),
        ));
        crate::kubelet::server::serve(port.listener, tls, port.streams, shutdown.clone()).await;
        Ok(())
    };
    let result = served.await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "cannot serve the kubelet port");
        shutdown.cancel();
    }
    result
}

/// The stored serving certificate when it is still valid and names exactly this node and
/// `wanted`'s addresses (a board whose address changed asks for a new one).
fn stored_serving(
    path: &std::path::Path,
    node: &str,
    wanted: &cert_rotation::Wanted,
) -> Option<(String, String)> {
    let cert_rotation::Wanted::Serving(addresses) = wanted else {
        return None;
    };
    let (cert, key) = cert_rotation::read_pem_pair(path)?;
    let (_, not_after) = cert_rotation::validity(&cert)?;
    if not_after <= chrono::Utc::now().timestamp() {
        return None;
    }
    let (dns, ips) = crate::pki::certificate_names(&cert)?;
    let want_ips: std::collections::BTreeSet<IpAddr> = addresses.iter().copied().collect();
    (dns == std::collections::BTreeSet::from([node.to_ascii_lowercase()]) && ips == want_ips)
        .then_some((cert, key))
}

/// A new serving certificate, waiting out an unreachable server; a denied request is final.
async fn serving_certificate(
    client: &RemoteClient,
    node: &str,
    wanted: &cert_rotation::Wanted,
    shutdown: &CancellationToken,
) -> Result<(String, String), AgentError> {
    crate::client::retry::retry(
        "kubelet serving certificate",
        shutdown,
        |e: &cert_rotation::RotationError| {
            !matches!(
                e,
                cert_rotation::RotationError::Refused { .. }
                    | cert_rotation::RotationError::Shutdown
            )
        },
        || cert_rotation::request_certificate(client, node, wanted, shutdown),
    )
    .await
    .map_err(AgentError::Serving)
}

/// How often the Node is read while waiting for it to report this board's address.
const NODE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The addresses this board's Node reports that are this board's own, once the Node
/// reports one (registration refreshes a stale one); `None` at shutdown.
async fn node_addresses(
    client: &RemoteClient,
    node: &str,
    shutdown: &CancellationToken,
) -> Option<Vec<IpAddr>> {
    use crate::client::Client;
    loop {
        if let Ok(obj) = client
            .get(&crate::resources::node::RESOURCE, "", node)
            .await
        {
            let local = crate::pki::ServerNames::discover().ips;
            let reported: Vec<IpAddr> = obj
                .pointer("/status/addresses")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a["address"].as_str()?.parse().ok())
                .collect();
            let own: Vec<IpAddr> = reported
                .iter()
                .filter(|ip| local.contains(ip) && !ip.is_loopback())
                .copied()
                .collect();
            // A board without a routable address reports loopback: its name is all there is.
            if !own.is_empty() || (!reported.is_empty() && reported.iter().all(IpAddr::is_loopback))
            {
                return Some(own);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(NODE_POLL) => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}
