//! `bramble agent`: a board that joins a cluster and runs its pods. Gets its node
//! credentials ([`credentials`]), then runs the same kubelet the server runs, written
//! against the [`Client`](crate::client::Client) trait, with a
//! [`RemoteClient`] to the server instead of the in-process one, and serves the kubelet
//! port the API server reaches for `kubectl logs` and `exec`.

pub mod credentials;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::pod_streams::PodStreams;
use crate::client::http::HttpClient;
use crate::client::RemoteClient;
use crate::kubelet::agent::{KubeletConfig, KubeletError};
use crate::kubelet::runtime::OciCliRuntime;
use crate::kubelet::streams::KubeletStreams;
use crate::pki::join_token::JoinToken;
use credentials::JoinError;

/// Upstream's kubelet port.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Settings of `bramble agent`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The server's URL, `https://host:port`.
    pub server: String,
    /// The join token (needed until the board has joined).
    pub token: Option<JoinToken>,
    /// State directory.
    pub data_dir: PathBuf,
    /// The port the kubelet serves logs and exec on.
    pub kubelet_port: u16,
    /// The kubelet; its node name is the board's.
    pub kubelet: KubeletConfig,
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
}

/// Joins (or rejoins) the cluster and runs the kubelet until `shutdown`.
pub async fn run(cfg: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    let node = cfg.kubelet.node_name.clone();
    let kc = credentials::obtain(
        &cfg.server,
        cfg.token.as_ref(),
        &cfg.data_dir,
        &node,
        &shutdown,
    )
    .await?;
    let http = HttpClient::new(&kc)?;
    let client = RemoteClient::new(http.clone());
    let addresses: Vec<IpAddr> = crate::pki::ServerNames::discover().ips;
    let serving =
        credentials::serving_certificate_retrying(&http, &cfg.server, addresses, &shutdown).await?;
    let tls =
        crate::pki::kubelet_server_tls_config(&kc.ca_pem, &serving.certificate, &serving.key)?;
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
    let streams: Arc<dyn PodStreams> = Arc::new(KubeletStreams::new(
        client.clone(),
        cfg.kubelet.data_dir.clone(),
        runtime,
    ));
    let mut tasks = JoinSet::new();
    tasks.spawn(crate::kubelet::server::serve(
        listener,
        tls,
        streams,
        shutdown.clone(),
    ));
    tracing::info!(%node, server = %cfg.server, kubelet_port = port, "bramble agent ready");
    let mut kubelet = cfg.kubelet;
    kubelet.kubelet_port = Some(port);
    let result = crate::kubelet::agent::run(client, kubelet, shutdown.clone()).await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(result?)
}
