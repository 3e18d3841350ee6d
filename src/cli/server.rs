//! `bramble server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::kubelet_args::{self, KubeletArgs};
use super::pod_security_args::PodSecurityArgs;
use super::serving_args::{DatastoreArgs, ServingArgs};
use crate::cidr::Ipv4Cidr;
use crate::control_plane::{self, ServerConfig};
use crate::resources::quantity::Quantity;
use crate::store::HistoryLimits;

/// Arguments of `bramble server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Directory for the store, certificates and kubeconfigs.
    #[arg(long, default_value = "/var/lib/bramble", env = "BRAMBLE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address and port the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443", env = "BRAMBLE_LISTEN")]
    pub listen: SocketAddr,
    /// This board's node name (default: the hostname).
    #[arg(long, env = "BRAMBLE_NODE_NAME")]
    pub node_name: Option<String>,
    /// Run only the control plane, no kubelet on this board.
    #[arg(long)]
    pub no_agent: bool,
    /// Recent changes kept in memory so watches can resume from a resourceVersion; older
    /// resumes get 410 Gone and re-list.
    #[arg(long, default_value_t = 4096, env = "BRAMBLE_WATCH_HISTORY")]
    pub watch_history: usize,
    /// The most memory those recent changes may take, as a quantity (`32Mi`), counted as
    /// the JSON size of each change's new and old object; the oldest go first.
    #[arg(long, default_value = "32Mi", value_parser = byte_quantity, env = "BRAMBLE_WATCH_HISTORY_BYTES")]
    pub watch_history_bytes: usize,
    /// How long recent changes are kept (as etcd keeps revisions until kube-apiserver
    /// compacts them): once the cluster is quiet, a burst of changes gives back its memory.
    #[arg(long, default_value = "5m", value_parser = super::duration::parse, env = "BRAMBLE_WATCH_HISTORY_AGE")]
    pub watch_history_age: Duration,
    /// The most all stored objects may take together (their JSON size), as a quantity;
    /// writes beyond it fail until objects are deleted, as etcd's backend quota does.
    #[arg(long, default_value = "256Mi", value_parser = byte_quantity, env = "BRAMBLE_STORE_QUOTA_BYTES")]
    pub store_quota_bytes: usize,
    /// The cluster's pod network; every node gets a /24 of it.
    #[arg(long, default_value = "10.42.0.0/16", env = "BRAMBLE_CLUSTER_CIDR")]
    pub cluster_cidr: Ipv4Cidr,
    /// How long a node's kubelet may stay silent before the node is marked NotReady.
    #[arg(long, default_value = "40s", value_parser = super::duration::parse, env = "BRAMBLE_NODE_MONITOR_GRACE_PERIOD")]
    pub node_monitor_grace_period: Duration,
    /// The longest life of a certificate signed for a kubelet (its client and serving
    /// certificates, renewed by the kubelet at 70-90 % of that): upstream's
    /// `--cluster-signing-duration`. Shorter than upstream's 10-minute minimum request
    /// only for tests.
    #[arg(long, default_value = "8760h", value_parser = super::duration::parse, env = "BRAMBLE_NODE_CERT_LIFETIME")]
    pub node_cert_lifetime: Duration,
    /// Connection and request limits of the API server.
    #[command(flatten)]
    pub serving: ServingArgs,
    /// The etcd cluster the store lives in, if any.
    #[command(flatten)]
    pub datastore: DatastoreArgs,
    /// The kubelet of this board.
    #[command(flatten)]
    pub kubelet: KubeletArgs,
    /// Pod Security Admission.
    #[command(flatten)]
    pub pod_security: PodSecurityArgs,
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let node_name = kubelet_args::node_name(args.node_name.as_deref());
    let labels = vec![(
        "node-role.kubernetes.io/control-plane".into(),
        "true".into(),
    )];
    let kubelet = if args.no_agent {
        None
    } else {
        Some(
            args.kubelet
                .config(&node_name, &args.data_dir, labels, Some(args.cluster_cidr))?,
        )
    };
    let shutdown = super::shutdown_on_signal();
    let cfg = ServerConfig {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        node_name,
        watch_history: HistoryLimits {
            entries: args.watch_history,
            bytes: args.watch_history_bytes,
            age: args.watch_history_age,
        },
        store_quota_bytes: args.store_quota_bytes,
        datastore: args.datastore.etcd(),
        kubelet,
        host_path_policy: args.kubelet.host_path_policy(&args.data_dir),
        cluster_cidr: args.cluster_cidr,
        node_monitor_grace: args.node_monitor_grace_period,
        node_cert_lifetime: args.node_cert_lifetime,
        connection_limits: args.serving.connection_limits(),
        request_limits: args.serving.request_limits(),
        pod_security: args.pod_security.config(),
    };
    control_plane::run(cfg, shutdown)
        .await
        .with_context(|| format!("bramble server (data dir {})", args.data_dir.display()))
}

/// A token cancelled on SIGTERM or SIGINT.
pub(super) fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A byte count written as a Kubernetes quantity (`64Mi`, `1G`, `1048576`).
fn byte_quantity(s: &str) -> Result<usize, String> {
    let q = Quantity::parse(s).map_err(|_| format!("{s:?} is not a quantity (e.g. 32Mi)"))?;
    if q.is_negative() {
        return Err(format!("{s:?} is negative"));
    }
    usize::try_from(q.value()).map_err(|_| format!("{s:?} is too large"))
}
