//! `bramble server`: assembles the store, PKI, API server and scheduler in one process,
//! writes the admin kubeconfig, and supervises every task until shutdown.

mod apiserver_leases;
mod bootstrap_policy;
mod cluster_services;
mod join_token;
mod leading;
mod system_objects;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::apiserver_leases::ApiServerLeases;
use crate::api::admission::pod_security::PodSecurityConfig;
use crate::api::admission::AdmissionConfig;
use crate::api::auth::service_account::ServiceAccountTokens;
use crate::api::kubelet_client::RemoteKubelets;
use crate::api::listener::ListenerLimits;
use crate::api::metrics_api::Scraper;
use crate::api::node_certificates::NodeCertificates;
use crate::api::pod_streams::{Kubelets, PodStreams};
use crate::api::registry::Registry;
use crate::api::request_limits::{RequestLimitSettings, RequestLimits};
use crate::api::request_metrics::RequestMetrics;
use crate::api::server::{self, ApiState};
use crate::cidr::Ipv4Cidr;
use crate::client::informer::Informers;
use crate::client::leader_election::{lead, CONTROLLER_MANAGER_LEASE, SCHEDULER_LEASE};
use crate::client::LocalClient;
use crate::controllers::node_ipam;
use crate::host_path_policy::HostPathPolicy;
use crate::kubelet::agent::KubeletConfig;
use crate::kubelet::runtime::OciCliRuntime;
use crate::kubelet::streams::KubeletStreams;
use crate::pki::join_token::{JoinToken, JOIN_TOKEN_FILE};
use crate::pki::kubeconfig::{Credentials, Kubeconfig};
use crate::pki::tokens::TokenAuthenticator;
use crate::pki::SigningKey;
use crate::pki::{Pki, ServerNames};
use crate::resources::namespace;
use crate::store::Store;

/// Namespaces every cluster has, as kube-apiserver creates them.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];
/// Validity of the admin client certificate.
const ADMIN_CERT_DAYS: u64 = 365;

/// Settings of `bramble server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// State directory.
    pub data_dir: PathBuf,
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// This board's node name.
    pub node_name: String,
    /// Changes kept in memory for watches resuming from a resourceVersion, in entries and
    /// bytes.
    pub watch_history: crate::store::HistoryLimits,
    /// The most JSON bytes all stored objects may take together.
    pub store_quota_bytes: usize,
    /// The etcd cluster the store lives in; `None` for the sled store in the data directory.
    pub datastore: Option<crate::store::EtcdConfig>,
    /// The kubelet on this board (`None` with `--no-agent`); its node name is `node_name`.
    pub kubelet: Option<KubeletConfig>,
    /// Which host paths pods and PersistentVolumes may use (admission).
    pub host_path_policy: HostPathPolicy,
    /// The cluster's pod network, split into node ranges.
    pub cluster_cidr: Ipv4Cidr,
    /// How long a silent kubelet's node stays Ready.
    pub node_monitor_grace: Duration,
    /// The longest life of a certificate signed for a kubelet's request.
    pub node_cert_lifetime: Duration,
    /// What the API server's connections may hold.
    pub connection_limits: ListenerLimits,
    /// The API server's in-flight limits and request timeout.
    pub request_limits: RequestLimitSettings,
    /// Pod Security Admission's defaults and exemptions.
    pub pod_security: PodSecurityConfig,
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A directory or file could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Certificates could not be created or loaded.
    #[error("cluster certificates: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// The token file is malformed.
    #[error("token file: {0}")]
    Tokens(#[from] crate::pki::tokens::TokenFileError),
    /// The kubeconfig could not be written.
    #[error("admin kubeconfig: {0}")]
    Kubeconfig(#[from] crate::pki::kubeconfig::KubeconfigError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// Creating a system object failed.
    #[error("creating {what}: {source}")]
    Bootstrap {
        /// What was being created.
        what: String,
        /// The failure.
        source: crate::api::status::ApiError,
    },
}

fn mkdir(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServerError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The URL clients on this machine use: loopback when listening on every address.
pub fn local_url(listen: SocketAddr) -> String {
    let host = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(host, listen.port()))
}

/// The cluster domain when the server runs no kubelet to name one (`--cluster-domain`).
const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Runs the control plane until `shutdown` is cancelled.
pub async fn run(cfg: ServerConfig, shutdown: CancellationToken) -> Result<(), ServerError> {
    run_with_pod_streams(cfg, None, shutdown).await
}

/// [`run`] with the source of this node's container logs and exec sessions (the kubelet).
pub async fn run_with_pod_streams(
    cfg: ServerConfig,
    pod_streams: Option<Arc<dyn PodStreams>>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    mkdir(&cfg.data_dir)?;
    let store = match &cfg.datastore {
        Some(etcd) => {
            Store::open_etcd(etcd.clone(), cfg.watch_history, cfg.store_quota_bytes).await?
        }
        None => Store::open_with(
            &cfg.data_dir.join("store"),
            cfg.watch_history,
            cfg.store_quota_bytes,
        )?,
    };
    let mut names = ServerNames::discover();
    if !cfg.listen.ip().is_unspecified() {
        names.ips.push(cfg.listen.ip());
    }
    let pki_dir = cfg.data_dir.join("pki");
    let pki = Arc::new(Pki::load_or_create(&pki_dir, &names)?);
    let cluster_domain = cfg
        .kubelet
        .as_ref()
        .map_or(DEFAULT_CLUSTER_DOMAIN, |k| k.cluster_domain.as_str());
    let service_account_tokens = Arc::new(ServiceAccountTokens::new(
        SigningKey::load_or_create(&pki_dir)?,
        cluster_domain,
    ));
    let registry = Registry::new(store)
        .with_admission(AdmissionConfig {
            host_path: cfg.host_path_policy.clone(),
            pod_security: cfg.pod_security.clone(),
        })
        .with_tokens(service_account_tokens);
    ensure_namespaces(&registry).await?;
    ensure_cluster_info(&registry, cfg.cluster_cidr).await?;
    bootstrap_policy::ensure(&registry).await?;
    // On a board that runs pods, its own kubelet answers `kubectl logs` and `exec`.
    let local_streams = pod_streams.or_else(|| {
        cfg.kubelet.as_ref().map(|k| {
            let runtime = Arc::new(OciCliRuntime::new(
                k.runtime,
                &k.data_dir.join("runtime"),
                k.bramble_exe.clone(),
            ));
            Arc::new(
                KubeletStreams::new(
                    LocalClient::new(registry.clone()),
                    k.data_dir.clone(),
                    runtime,
                    crate::kubelet::network::netns_dir(&k.run_dir),
                )
                .with_stats(k.stats.clone()),
            ) as Arc<dyn PodStreams>
        })
    });

    let tokens_path = cfg.data_dir.join("tokens.csv");
    let tokens = if tokens_path.exists() {
        TokenAuthenticator::load(&tokens_path)?
    } else {
        TokenAuthenticator::empty()
    };
    let tunnels = crate::tunnel::Tunnels::default();
    let kubelets = Kubelets {
        local: local_streams.map(|s| (cfg.node_name.clone(), s)),
        remote: Some(Arc::new(RemoteKubelets::new(
            registry.clone(),
            kubelet_client_tls(&pki)?,
            crate::tunnel::Routes::new(tunnels.clone()),
        ))),
    };
    let join_token = JoinToken::load_or_create(&cfg.data_dir.join(JOIN_TOKEN_FILE), pki.ca_pem())?;
    join_token::publish(&registry, &cfg.data_dir, &join_token).await?;

    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: cfg.listen,
            source,
        })?;
    cluster_services::ensure_kubernetes_service(&registry, bound.port()).await?;
    // The address pods reach the API on: the one listened on, or the board's own when it
    // listens on every address; none when it listens on loopback (or a single IPv6 address).
    let advertise = match cfg.listen.ip() {
        ip if ip.is_unspecified() => crate::kubelet::registration::node_ipv4(cfg.cluster_cidr),
        IpAddr::V4(ip) if !ip.is_loopback() => Some(ip.to_string()),
        _ => None,
    };
    let mut apiserver_leases =
        ApiServerLeases::new(registry.clone(), &cfg.node_name, advertise, bound.port());
    apiserver_leases.reconcile().await?;
    cluster_services::ensure_dns_service(&registry).await?;
    write_admin_kubeconfig(
        &pki,
        &cfg.data_dir.join("admin.kubeconfig"),
        &local_url(bound),
    )?;

    let state = Arc::new(ApiState {
        registry: registry.clone(),
        tokens,
        advertise: bound.to_string(),
        ready: AtomicBool::new(false),
        shutdown: shutdown.clone(),
        metrics: Scraper::new(kubelets.clone()),
        requests: RequestMetrics::default(),
        kubelets,
        node_certificates: Some(NodeCertificates::new(pki.clone(), cfg.node_cert_lifetime)),
        connection_limits: cfg.connection_limits,
        request_limits: RequestLimits::new(cfg.request_limits),
        tunnels,
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(server::serve(
        listener,
        pki.server_tls_config()?,
        state.clone(),
    ));
    tasks.spawn(apiserver_leases.run(shutdown.clone()));
    let client = LocalClient::new(registry.clone());
    // Per server: the API (above) and the kubelet (below). Per cluster, on whichever server
    // holds the lease: the controllers and the scheduler, each on informers of its own.
    let settings = Arc::new(leading::ControllerSettings {
        ca_pem: pki.ca_pem().to_string(),
        cluster_cidr: cfg.cluster_cidr,
        node_monitor_grace: cfg.node_monitor_grace,
        certificates: leading::certificate_settings(&pki, &pki_dir, cfg.node_cert_lifetime),
    });
    let (c, stop) = (client.clone(), shutdown.clone());
    tasks.spawn(lead(
        c.clone(),
        CONTROLLER_MANAGER_LEASE,
        stop,
        move |term| leading::controllers(c.clone(), settings.clone(), term),
    ));
    let (c, stop) = (client.clone(), shutdown.clone());
    tasks.spawn(lead(c.clone(), SCHEDULER_LEASE, stop, move |term| {
        leading::scheduler(c.clone(), term)
    }));
    // The kubelet's informers.
    let informers = Informers::new(client.clone(), shutdown.clone());
    if let Some(mut kubelet) = cfg.kubelet.clone() {
        kubelet.node_name.clone_from(&cfg.node_name);
        let stop = shutdown.clone();
        let shared = informers.clone();
        tasks.spawn(async move {
            if let Err(e) = crate::kubelet::agent::run(client, shared, kubelet, stop).await {
                tracing::error!(error = %e, "the kubelet stopped; this board runs no pods");
            }
        });
    }
    state.ready.store(true, Ordering::Release);
    tracing::info!(address = %bound, node = %cfg.node_name, "bramble server ready");

    shutdown.cancelled().await;
    tracing::info!("shutting down");
    while tasks.join_next().await.is_some() {}
    informers.stopped().await;
    Ok(())
}

async fn ensure_namespaces(registry: &Registry) -> Result<(), ServerError> {
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        system_objects::create_unless_present(registry, &namespace::RESOURCE, "", ns, obj).await?;
    }
    Ok(())
}

/// Publishes the cluster network for kubelets on joined boards (ConfigMap
/// `kube-system/bramble-cluster`), replacing a stale one.
async fn ensure_cluster_info(
    registry: &Registry,
    cluster_cidr: Ipv4Cidr,
) -> Result<(), ServerError> {
    system_objects::upsert(
        registry,
        &crate::resources::configmap::RESOURCE,
        "kube-system",
        node_ipam::CLUSTER_INFO_CONFIGMAP,
        node_ipam::cluster_info(cluster_cidr),
        &["data"],
    )
    .await
}

/// The API server's TLS settings towards kubelets: trusts the cluster CA and presents a
/// client certificate in `system:masters` (kubeadm's `apiserver-kubelet-client`, kept in
/// `pki/` so `bramble ctl certs rotate` can replace it).
fn kubelet_client_tls(pki: &Pki) -> Result<Arc<rustls::ClientConfig>, ServerError> {
    Ok(pki.kubelet_client_tls_config()?)
}

/// Writes `DIR/admin.kubeconfig` unless one for the same server URL is already there.
fn write_admin_kubeconfig(pki: &Pki, path: &Path, server: &str) -> Result<(), ServerError> {
    if let Ok(existing) = Kubeconfig::load(path) {
        if existing.server == server && existing.ca_pem == pki.ca_pem() {
            return Ok(());
        }
    }
    let (cert_pem, key_pem) =
        pki.ca()
            .issue_client("admin", &["system:masters"], ADMIN_CERT_DAYS)?;
    let kc = Kubeconfig {
        cluster_name: "bramble".into(),
        user_name: "admin".into(),
        server: server.into(),
        ca_pem: pki.ca_pem().into(),
        credentials: Credentials::ClientCertificate { cert_pem, key_pem },
    };
    kc.write(path)?;
    tracing::info!(path = %path.display(), "wrote admin kubeconfig");
    Ok(())
}
