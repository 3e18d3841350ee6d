//! `bramble server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::control_plane::{self, ServerConfig};
use crate::host_path_policy::HostPathPolicy;
use crate::kubelet::agent::KubeletConfig;
use crate::kubelet::image::GcPolicy;
use crate::kubelet::storage::StorageConfig;

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
    /// This node's pod address range.
    #[arg(long, default_value = "10.42.0.0/24", env = "BRAMBLE_POD_CIDR")]
    pub pod_cidr: crate::kubelet::network::Ipv4Cidr,
    /// Name of the node bridge pods attach to.
    #[arg(long, default_value = "bramble0", env = "BRAMBLE_BRIDGE")]
    pub bridge: String,
    /// OCI runtime: the built-in one or an installed runc.
    #[arg(long, default_value = crate::kubelet::runtime::DEFAULT_RUNTIME, env = "BRAMBLE_RUNTIME")]
    pub runtime: crate::kubelet::runtime::RuntimeKind,
    /// Registry mirrors and credentials, in k3s' registries.yaml format.
    #[arg(
        long,
        default_value = "/etc/bramble/registries.yaml",
        env = "BRAMBLE_REGISTRIES"
    )]
    pub registries: PathBuf,
    /// Host path prefix pods and PersistentVolumes may use (repeatable; a trailing `/` allows
    /// only what is below it). Default: /mnt, /media, /srv, /opt, /tmp and /dev/ device
    /// nodes. /, /etc, /proc, /sys, /root, /boot and the data dir are always refused.
    #[arg(long = "host-path-allow", value_name = "PREFIX", value_parser = absolute_prefix)]
    pub host_path_allow: Vec<String>,
    /// Disk usage (percent) of the image filesystem at which unused images are removed.
    #[arg(long, default_value_t = 85, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_high_threshold: u8,
    /// Disk usage (percent) image garbage collection frees space down to.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_low_threshold: u8,
    /// Root of `bramble.io/local-path` volumes (default: DATA_DIR/storage/local-path).
    #[arg(long, env = "BRAMBLE_LOCAL_PATH_ROOT")]
    pub local_path_root: Option<PathBuf>,
    /// Root of `bramble.io/local-disk` image files (default: DATA_DIR/storage/local-disk).
    #[arg(long, env = "BRAMBLE_LOCAL_DISK_ROOT")]
    pub local_disk_root: Option<PathBuf>,
    /// A whole block device or partition for `bramble.io/local-disk` volumes (repeatable).
    /// Formatted on first use only if it holds no filesystem or one Bramble labelled.
    #[arg(long = "local-disk-device", value_name = "DEVICE")]
    pub local_disk_devices: Vec<PathBuf>,
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    if args.image_gc_low_threshold > args.image_gc_high_threshold {
        anyhow::bail!(
            "--image-gc-low-threshold ({}) must not exceed --image-gc-high-threshold ({})",
            args.image_gc_low_threshold,
            args.image_gc_high_threshold
        );
    }
    let node_name = match args.node_name {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .unwrap_or_else(|_| "bramble".into()),
    };
    let mut storage = StorageConfig::under(&args.data_dir);
    if let Some(root) = &args.local_path_root {
        storage.local_path_root.clone_from(root);
    }
    if let Some(root) = &args.local_disk_root {
        storage.local_disk_root.clone_from(root);
    }
    for device in &args.local_disk_devices {
        let meta = std::fs::metadata(device)
            .with_context(|| format!("--local-disk-device {}", device.display()))?;
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_block_device() {
            anyhow::bail!(
                "--local-disk-device {}: not a block device",
                device.display()
            );
        }
    }
    storage
        .local_disk_devices
        .clone_from(&args.local_disk_devices);
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signals.cancel();
    });
    let host_path_policy = HostPathPolicy::new(&args.host_path_allow, &args.data_dir);
    let cfg = ServerConfig {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        node_name,
        watch_history: args.watch_history,
        kubelet: (!args.no_agent).then(|| KubeletConfig {
            node_name: String::new(),
            data_dir: args.data_dir.clone(),
            runtime: args.runtime,
            registries: args.registries.clone(),
            pod_cidr: args.pod_cidr,
            bridge: args.bridge.clone(),
            labels: vec![(
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            )],
            bramble_exe: std::env::current_exe().unwrap_or_else(|_| "bramble".into()),
            image_gc: GcPolicy {
                high_threshold_percent: args.image_gc_high_threshold,
                low_threshold_percent: args.image_gc_low_threshold,
            },
            storage,
            host_path_policy: host_path_policy.clone(),
        }),
        host_path_policy,
    };
    control_plane::run(cfg, shutdown)
        .await
        .with_context(|| format!("bramble server (data dir {})", args.data_dir.display()))
}

/// `--host-path-allow` takes absolute prefixes only.
fn absolute_prefix(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an absolute path; give a prefix such as /mnt/data"
        ))
    }
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
