//! The kubelet's main loop: registers the Node (or, when the API does not answer and the
//! node's checkpoint knows its network, goes on without it and registers in the background),
//! keeps its lease and status current, and runs the sync loop
//! ([`pod_worker::dispatch`](super::pod_worker::dispatch)) with one pod worker per pod bound
//! to this node and per static pod (upstream's `syncLoop` and `podWorkers`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::checkpoint::Checkpoint;
use super::container_spec::env::Allocatable;
use super::container_spec::service_env;
use super::devices::{DeviceAllocator, DeviceDeclaration};
use super::image::{GcPolicy, ImageService, RegistryConfig};
use super::machine::Machine;
use super::network::{self, Ipv4Cidr, PodNetwork, PodNetworkConfig};
use super::node_health::{self, NodeHealth, NodeHealthConfig};
use super::node_status::{self, NodeIdentity};
use super::registration;
use super::runtime::{ContainerRuntime, OciCliRuntime, RuntimeKind};
use super::static_pods::source::ManifestDir;
use super::storage::provisioner::Provisioner;
use super::storage::{NodeStorage, StorageConfig};
use super::token_manager::TokenManager;
use super::volume::{HostPathPolicy, VolumeManager};
use super::{image_gc, lease, node_routes, pod_worker, sandbox, static_pods};
use crate::client::events::EventRecorder;
use crate::client::informer::{Informer, Informers};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::dns::{self, DnsConfig};
use crate::monitor::{sampler, NodeStats, SamplerConfig};
use crate::proxy::{self, ProxyConfig};
use crate::resources::meta;
use crate::resources::node;
use crate::resources::service_alloc;

/// How long the kubelet waits for the API at start before it runs from its checkpoint
/// (when it has one) and goes on trying in the background.
const OFFLINE_WAIT: Duration = Duration::from_secs(5);

/// How often an unchanged node status is still reported (upstream's
/// `nodeStatusReportFrequency`); a changed one is reported within [`STATUS_CHECK`].
const STATUS_REPORT: Duration = Duration::from_secs(5 * 60);
/// How often the kubelet computes its node's status and checks that the API still shows
/// its node Ready (upstream's `nodeStatusUpdateFrequency`).
const STATUS_CHECK: Duration = Duration::from_secs(10);

/// Settings of one node's kubelet.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// Node name.
    pub node_name: String,
    /// Data directory (images, pods, logs, runtime state).
    pub data_dir: PathBuf,
    /// Run directory (pinned pod namespaces), normally on tmpfs.
    pub run_dir: PathBuf,
    /// OCI runtime.
    pub runtime: RuntimeKind,
    /// `registries.yaml` (missing: no mirrors).
    pub registries: PathBuf,
    /// This node's pod CIDR (`None`: the one the server assigns).
    pub pod_cidr: Option<Ipv4Cidr>,
    /// The cluster's pod network (`None`: as the server publishes it).
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// Node bridge name.
    pub bridge: String,
    /// Extra node labels.
    pub labels: Vec<(String, String)>,
    /// The `bramble` executable (re-executed as the runtime helper).
    pub bramble_exe: PathBuf,
    /// When unused images are removed.
    pub image_gc: GcPolicy,
    /// Where provisioned volumes live.
    pub storage: StorageConfig,
    /// Which host paths pods may mount, checked again on this board's own filesystem.
    pub host_path_policy: HostPathPolicy,
    /// The port this kubelet serves logs and exec on, reported on its Node (`None` when
    /// the API server calls it in process).
    pub kubelet_port: Option<u16>,
    /// Seccomp directory and unsafe sysctls allowed.
    pub security: NodeSecurity,
    /// The cluster DNS Service's address, when this node serves cluster DNS there.
    pub cluster_dns: Option<Ipv4Addr>,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Runs the Service proxy on this node.
    pub proxy: bool,
    /// The node's container statistics: sampled by the kubelet, read by its endpoints
    /// (`KubeletStreams::with_stats` shares the same handle).
    pub stats: Arc<NodeStats>,
    /// Host devices offered to pods as extended resources.
    pub devices: Vec<DeviceDeclaration>,
    /// Eviction thresholds and the board's health files.
    pub health: NodeHealthConfig,
    /// The board's sensors.
    pub hardware: crate::hardware::HardwareOptions,
    /// The static pod manifest directory (`--pod-manifest-path`), if any.
    pub static_pod_path: Option<PathBuf>,
}

/// The kubelet's container security settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSecurity {
    /// Where `Localhost` seccomp profiles live (upstream `<root-dir>/seccomp`).
    pub seccomp_root: PathBuf,
    /// `--allowed-unsafe-sysctls` patterns (a name, or a prefix ending in `*`).
    pub allowed_unsafe_sysctls: Vec<String>,
}

/// Why the kubelet could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The image store.
    #[error("image store: {0}")]
    Image(#[from] super::image::PullError),
    /// The registries file.
    #[error("registries file: {0}")]
    Registries(#[from] super::image::registries::ConfigError),
    /// Pod networking.
    #[error("pod network: {0}")]
    Network(#[from] super::network::NetworkError),
    /// Registering the node.
    #[error("registering node: {0}")]
    Registration(#[from] ApiError),
}

/// Everything a pod worker uses.
pub struct NodeContext<C: Client> {
    /// API client.
    pub client: C,
    /// Node name.
    pub node: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Where pods' IPC and UTS namespaces are pinned.
    pub sandbox_dir: PathBuf,
    /// Images.
    pub images: ImageService,
    /// Containers.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Pod networks.
    pub network: PodNetwork,
    /// Pod volumes.
    pub volumes: VolumeManager,
    /// The node's address (`hostIP`).
    pub host_ip: String,
    /// What pods may use at most (the default of `resourceFieldRef` limits).
    pub allocatable: Allocatable,
    /// Service account tokens for pods' projected volumes.
    pub tokens: TokenManager,
    /// Events about pods (`Unhealthy`, `Killing`, ...), reported as the `kubelet`.
    pub events: EventRecorder<C>,
    /// Wakes image garbage collection (a pod was removed).
    pub image_gc: Arc<Notify>,
    /// Wakes the storage task (a pod was removed: its volumes may be resized offline now).
    pub storage_wake: Arc<Notify>,
    /// Seccomp directory and unsafe sysctls allowed.
    pub security: NodeSecurity,
    /// The cluster DNS Service's address, when this node serves cluster DNS.
    pub cluster_dns: Option<String>,
    /// The cluster's DNS domain.
    pub cluster_domain: String,
    /// The Services, for containers' Service variables (the process's shared informer).
    pub services: Option<Informer<Service>>,
    /// Where pod workers publish what they run, for the stats sampler.
    pub stats: Arc<NodeStats>,
    /// The node's host devices and which pod holds which.
    pub devices: DeviceAllocator,
    /// The node's health conditions and the evictions asked of pod workers.
    pub health: Arc<NodeHealth>,
    /// What the node runs, kept on the board for a start without the server.
    pub checkpoint: Arc<Checkpoint>,
}

impl<C: Client> NodeContext<C> {
    /// The Service variables for `pod`'s containers, from the node's Service cache as it
    /// stands (a board that lost the server keeps starting containers with what it knew).
    pub fn service_env(&self, pod: &Pod) -> BTreeMap<String, String> {
        let Some(services) = &self.services else {
            return BTreeMap::new();
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let links = pod
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        let mut chosen: Vec<Arc<Service>> =
            services.get("default", "kubernetes").into_iter().collect();
        if links {
            chosen.extend(services.list_namespace(ns));
        }
        service_env::service_env(chosen.iter().map(Arc::as_ref), ns, links)
    }
}

/// Runs the kubelet until `shutdown`; running containers are left running on shutdown.
/// `informers` are the process's shared informers (the node's DNS and proxy read Services
/// and EndpointSlices through them; in the server, the controllers' own).
pub async fn run<C: Client>(
    client: C,
    informers: Arc<Informers<C>>,
    cfg: KubeletConfig,
    shutdown: CancellationToken,
) -> Result<(), KubeletError> {
    let board = super::node_hardware::start(&cfg.hardware, &shutdown);
    cfg.stats.attach_sensors(board.readings());
    let registries = RegistryConfig::load(&cfg.registries)?;
    let images = ImageService::new(&cfg.data_dir, registries)?;
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(OciCliRuntime::new(
        cfg.runtime,
        &cfg.data_dir.join("runtime"),
        cfg.bramble_exe.clone(),
    ));
    let checkpoint = Checkpoint::open(&cfg.data_dir);
    let (saved_cluster, saved_pod) = checkpoint.network();
    let saved_cluster: Option<Ipv4Cidr> = saved_cluster.and_then(|c| c.parse().ok());
    let saved_pod: Option<Ipv4Cidr> = saved_pod.and_then(|c| c.parse().ok());
    let cluster_cidr = match cfg.cluster_cidr {
        Some(c) => c,
        None => {
            let online = registration::retrying("reading the cluster network", &shutdown, || {
                registration::cluster_cidr(&client)
            });
            or_saved(online, saved_cluster, "the cluster network").await?
        }
    };
    let machine = Machine::collect(&cfg.data_dir);
    let host_ip = registration::node_ipv4(cluster_cidr).unwrap_or_else(|| "127.0.0.1".into());
    let identity = NodeIdentity {
        name: cfg.node_name.clone(),
        internal_ip: Some(host_ip.clone()),
        runtime_version: format!("{}://{}", cfg.runtime.name(), env!("CARGO_PKG_VERSION")),
        labels: cfg.labels.clone(),
        kubelet_port: cfg.kubelet_port,
        devices: cfg.devices.clone(),
    };
    let mut tasks = JoinSet::new();
    let registering = {
        let (client, identity, machine, stop) = (
            client.clone(),
            identity.clone(),
            machine.clone(),
            shutdown.clone(),
        );
        let pod_cidr = cfg.pod_cidr;
        tokio::spawn(async move {
            registration::retrying("registering the node", &stop, || {
                registration::register(&client, &identity, &machine, pod_cidr)
            })
            .await
        })
    };
    // A board that ran before knows its pod range: it need not wait for the server.
    let known_range = cfg.pod_cidr.or(saved_pod);
    let registered = match known_range {
        None => Some(joined(registering).await?),
        Some(_) => {
            let mut registering = registering;
            match tokio::time::timeout(OFFLINE_WAIT, &mut registering).await {
                Ok(done) => {
                    done.map_err(|e| ApiError::internal(format!("registration task: {e}")))??;
                    Some(())
                }
                Err(_) => {
                    tracing::warn!("the API server is unreachable: running this node's pods from its checkpoint; registration goes on in the background");
                    tasks.spawn(async move {
                        match joined(registering).await {
                            Ok(()) => tracing::info!("node registered"),
                            Err(e) => tracing::error!(error = %e, "registering the node failed"),
                        }
                    });
                    None
                }
            }
        }
    };
    if registered.is_some() {
        board.registered();
    }
    let pod_cidr = match (cfg.pod_cidr, saved_pod, registered) {
        (Some(c), _, _) => c,
        (None, Some(saved), None) => saved,
        (None, saved, _) => {
            let online = registration::pod_cidr(&client, &cfg.node_name, &shutdown);
            or_saved(online, saved, "this node's pod range").await?
        }
    };
    checkpoint.set_network(cluster_cidr.to_string(), pod_cidr.to_string());
    let mut net_cfg = PodNetworkConfig::new(&cfg.bridge, pod_cidr, cfg.data_dir.join("network"));
    net_cfg.netns_dir = network::netns_dir(&cfg.run_dir);
    net_cfg.cluster_cidr = cluster_cidr;
    // one nftables table per bridge: Bramble's own, never shared with another node's rules
    net_cfg.nft_table.clone_from(&cfg.bridge);
    net_cfg.local_addresses.extend(cfg.cluster_dns);
    let network = PodNetwork::new(net_cfg)?;
    network.ensure_node().await?;
    let services = informers.get::<Service>().ok();
    let cluster_dns =
        start_node_services(informers, &cfg, cluster_cidr, &mut tasks, &shutdown).await;
    let allocatable = Allocatable {
        cpu_milli: i64::try_from(machine.cpus * 1000).unwrap_or(i64::MAX),
        memory_bytes: i64::try_from(
            machine
                .memory_bytes
                .saturating_sub(node_status::EVICTION_MEMORY_BYTES),
        )
        .unwrap_or(i64::MAX),
        ephemeral_storage_bytes: i64::try_from(
            machine.disk_bytes / 100 * (100 - node_status::EVICTION_DISK_PERCENT),
        )
        .unwrap_or(i64::MAX),
    };
    let volumes = VolumeManager::new(&cfg.data_dir, cfg.host_path_policy.clone())
        .with_node_allocatable_memory(
            machine
                .memory_bytes
                .saturating_sub(node_status::EVICTION_MEMORY_BYTES),
        )
        .with_allocatable(allocatable);
    let ctx = Arc::new(NodeContext {
        security: cfg.security.clone(),
        cluster_dns: cluster_dns.map(|ip| ip.to_string()),
        cluster_domain: cfg.cluster_domain.clone(),
        services,
        events: EventRecorder::new(client.clone(), "kubelet"),
        image_gc: Arc::new(Notify::new()),
        storage_wake: Arc::new(Notify::new()),
        client: client.clone(),
        node: cfg.node_name.clone(),
        data_dir: cfg.data_dir.clone(),
        sandbox_dir: sandbox::sandbox_dir(&cfg.run_dir),
        images,
        runtime,
        network,
        volumes,
        host_ip,
        allocatable,
        tokens: TokenManager::default(),
        stats: cfg.stats.clone(),
        devices: DeviceAllocator::new(cfg.devices.clone()),
        health: Arc::new(NodeHealth::default()),
        checkpoint: checkpoint.clone(),
    });
    tasks.spawn(checkpoint.run(shutdown.clone()));
    let statics = match &cfg.static_pod_path {
        Some(dir) => Some(static_source(dir, &cfg.node_name, &mut tasks, &shutdown).await),
        None => None,
    };
    tasks.spawn(sampler::run(
        cfg.stats.clone(),
        SamplerConfig::for_host(&cfg.node_name, cfg.data_dir.clone(), &cfg.bridge),
        shutdown.clone(),
    ));
    tasks.spawn(node_routes::run(
        client.clone(),
        ctx.network.clone(),
        cfg.node_name.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(board.follow(client.clone(), cfg.node_name.clone()));
    tasks.spawn(lease::run(
        client.clone(),
        cfg.node_name.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(node_health::run(
        ctx.clone(),
        cfg.health.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(status_loop(
        client.clone(),
        identity,
        cfg.data_dir.clone(),
        ctx.health.clone(),
        shutdown.clone(),
    ));
    let provisioner = Provisioner::new(
        client.clone(),
        cfg.node_name.clone(),
        NodeStorage::new(&cfg.storage),
    );
    tasks.spawn(provisioner.run(ctx.storage_wake.clone(), shutdown.clone()));
    tasks.spawn(image_gc::run(ctx.clone(), cfg.image_gc, shutdown.clone()));
    pod_worker::dispatch::run(ctx, statics, OFFLINE_WAIT, shutdown).await;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The outcome of a spawned registration (a task that panicked is an internal error).
async fn joined(handle: tokio::task::JoinHandle<Result<(), ApiError>>) -> Result<(), ApiError> {
    handle
        .await
        .map_err(|e| ApiError::internal(format!("registration task: {e}")))?
}

/// `online`'s answer, or `saved` when the API has not answered within [`OFFLINE_WAIT`]
/// (without `saved`, `online` is waited for).
async fn or_saved<T: std::fmt::Display>(
    online: impl std::future::Future<Output = Result<T, ApiError>>,
    saved: Option<T>,
    what: &str,
) -> Result<T, ApiError> {
    let Some(saved) = saved else {
        return online.await;
    };
    match tokio::time::timeout(OFFLINE_WAIT, online).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(value = %saved, "the API server is unreachable: using {what} from the checkpoint");
            Ok(saved)
        }
    }
}

/// Reads the static pod directory once and keeps rescanning it in `tasks`; answers the
/// static pods as they change.
async fn static_source(
    dir: &std::path::Path,
    node: &str,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> watch::Receiver<Vec<Value>> {
    let mut source = ManifestDir::new(dir, node);
    let first = tokio::task::spawn_blocking(move || {
        let pods = source.scan();
        (source, pods)
    })
    .await;
    let (source, pods) = match first {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "reading the static pod directory failed");
            (ManifestDir::new(dir, node), Vec::new())
        }
    };
    tracing::info!(dir = %dir.display(), pods = pods.len(), "static pods");
    let (tx, rx) = watch::channel(pods);
    tasks.spawn(static_pods::source::run(source, tx, shutdown.clone()));
    rx
}

/// Starts what every node serves besides pods, on one set of informers: cluster DNS on the
/// DNS Service's address (a failure to bind is logged, and pods then use the node's
/// resolver) and the Service proxy. Answers the address DNS is served on.
async fn start_node_services<C: Client>(
    informers: Arc<Informers<C>>,
    cfg: &KubeletConfig,
    cluster_cidr: Ipv4Cidr,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Option<Ipv4Addr> {
    if cfg.cluster_dns.is_none() && !cfg.proxy {
        return None;
    }
    let mut served = None;
    if let Some(ip) = cfg.cluster_dns {
        let config = DnsConfig {
            listen: vec![SocketAddr::from((ip, 53))],
            domain: cfg.cluster_domain.clone(),
            dns_service_ips: vec![ip.into()],
            ..DnsConfig::default()
        };
        let started = match dns::InformerRecords::new(&informers) {
            Ok(records) => dns::serve(config, records, shutdown.clone())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match started {
            Ok(_) => served = Some(ip),
            Err(e) => {
                tracing::error!(error = %e, "cluster DNS cannot run on this node; pods use the node's resolver")
            }
        }
    }
    if cfg.proxy {
        let proxy = ProxyConfig {
            node: cfg.node_name.clone(),
            table: proxy::table_for(&cfg.bridge),
            cluster_cidr,
            service_cidr: service_alloc::service_cidr(),
            local_service_ips: served.into_iter().collect(),
        };
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = proxy::run(informers, proxy, stop).await {
                tracing::error!(error = %e, "the service proxy stopped");
            }
        });
    }
    served
}

/// Computes the node's status every [`STATUS_CHECK`] and posts it when it changed, when the
/// API shows the node other than Ready (the node lifecycle controller marked it Unknown
/// while this board was unreachable), or when [`STATUS_REPORT`] passed since the last post,
/// as upstream's kubelet does; the Lease, kept in memory, is the heartbeat in between. An
/// idle board so writes its Node to flash a dozen times an hour. A change of the node's
/// health conditions is checked at once.
async fn status_loop<C: Client>(
    client: C,
    id: NodeIdentity,
    data_dir: PathBuf,
    health: Arc<NodeHealth>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(STATUS_CHECK);
    tick.tick().await;
    let mut last: Option<(Value, tokio::time::Instant)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = health.changed() => {}
            _ = shutdown.cancelled() => return,
        }
        let mut status = node_status::status(&id, &Machine::collect(&data_dir));
        node_health::apply_conditions(&mut status, health.conditions_json(&meta::now()));
        let due = match &last {
            None => true,
            Some((posted, at)) => {
                node_status::keep_transition_times(posted, &mut status);
                at.elapsed() >= STATUS_REPORT || node_status::changed(posted, &status)
            }
        };
        if !due {
            let ready = match client.get(&node::RESOURCE, "", &id.name).await {
                Ok(n) => node_status::is_ready(&n),
                Err(_) => true, // unreachable: nothing to correct until it answers
            };
            if ready {
                continue;
            }
        }
        match client
            .patch(
                &node::RESOURCE,
                "",
                &id.name,
                PatchType::Merge,
                &json!({ "status": status }),
                Subresource::Status,
            )
            .await
        {
            Ok(_) => last = Some((status, tokio::time::Instant::now())),
            Err(e) => tracing::warn!(error = %e, "could not update node status"),
        }
    }
}
