//! The kubelet's flags, shared by `bramble server` (whose board runs pods too) and
//! `bramble agent`, each with its `BRAMBLE_*` variable so an installed unit's settings file
//! can carry them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::cidr::Ipv4Cidr;
use crate::hardware::sensor::SensorSpec;
use crate::hardware::HardwareOptions;
use crate::host_path_policy::HostPathPolicy;
use crate::kubelet::agent::{KubeletConfig, NodeSecurity};
use crate::kubelet::image::GcPolicy;
use crate::kubelet::runtime::RuntimeKind;
use crate::kubelet::storage::StorageConfig;

/// Flags of the kubelet.
#[derive(Debug, Clone, Args)]
pub struct KubeletArgs {
    /// This node's pod address range (default: the one the server assigns, a /24 of the
    /// cluster network).
    #[arg(long, env = "BRAMBLE_POD_CIDR")]
    pub pod_cidr: Option<Ipv4Cidr>,
    /// Where pod namespaces are pinned; on tmpfs, so a reboot clears them.
    #[arg(long, default_value = crate::kubelet::network::DEFAULT_RUN_DIR, env = "BRAMBLE_RUN_DIR")]
    pub run_dir: PathBuf,
    /// Name of the node bridge pods attach to.
    #[arg(long, default_value = "bramble0", env = "BRAMBLE_BRIDGE")]
    pub bridge: String,
    /// OCI runtime: the built-in one or an installed runc.
    #[arg(long, default_value = crate::kubelet::runtime::DEFAULT_RUNTIME, env = "BRAMBLE_RUNTIME")]
    pub runtime: RuntimeKind,
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
    /// Directory of `Localhost` seccomp profiles (default: DATA_DIR/seccomp).
    #[arg(long, env = "BRAMBLE_SECCOMP_PROFILE_ROOT")]
    pub seccomp_profile_root: Option<PathBuf>,
    /// Unsafe sysctls (or prefixes ending in `*`, e.g. `kernel.msg*`) pods may set, as the
    /// kubelet's --allowed-unsafe-sysctls; comma-separated or repeated. Only namespaced
    /// sysctls can ever be allowed.
    #[arg(long, value_delimiter = ',', env = "BRAMBLE_ALLOWED_UNSAFE_SYSCTLS")]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Do not run the Service proxy on this node (Services then route only where another
    /// proxy programs them), as k3s' --disable-kube-proxy.
    #[arg(long, env = "BRAMBLE_DISABLE_KUBE_PROXY")]
    pub disable_kube_proxy: bool,
    /// Do not serve cluster DNS on this node; pods then resolve through the node's own
    /// resolver.
    #[arg(long, env = "BRAMBLE_DISABLE_CLUSTER_DNS")]
    pub disable_cluster_dns: bool,
    /// The cluster's DNS domain (pods' search path, Service and pod names).
    #[arg(long, default_value = "cluster.local", value_parser = cluster_domain, env = "BRAMBLE_CLUSTER_DOMAIN")]
    pub cluster_domain: String,
    /// An I2C environmental sensor to read every 30 s into metrics and Node annotations, as
    /// CHIP@BUS:ADDRESS with CHIP bme280 or sht3x (e.g. `bme280@/dev/i2c-1:0x76`);
    /// comma-separated or repeated.
    #[arg(
        long = "sensor",
        value_name = "CHIP@BUS:ADDRESS",
        value_delimiter = ',',
        env = "BRAMBLE_SENSORS"
    )]
    pub sensors: Vec<SensorSpec>,
}

/// A cluster domain: a DNS subdomain, without a trailing dot.
fn cluster_domain(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('.');
    let errs = crate::resources::validation::is_dns1123_subdomain(s);
    if errs.is_empty() {
        Ok(s.to_string())
    } else {
        Err(errs.join("; "))
    }
}

impl KubeletArgs {
    /// The host-path policy these flags give a board whose data directory is `data_dir`.
    pub fn host_path_policy(&self, data_dir: &Path) -> HostPathPolicy {
        HostPathPolicy::new(&self.host_path_allow, data_dir)
    }

    /// The kubelet settings for node `node_name` keeping its state in `data_dir`; checks
    /// what the flags name on this board.
    pub fn config(
        &self,
        node_name: &str,
        data_dir: &Path,
        labels: Vec<(String, String)>,
        cluster_cidr: Option<Ipv4Cidr>,
    ) -> anyhow::Result<KubeletConfig> {
        if self.image_gc_low_threshold > self.image_gc_high_threshold {
            anyhow::bail!(
                "--image-gc-low-threshold ({}) must not exceed --image-gc-high-threshold ({})",
                self.image_gc_low_threshold,
                self.image_gc_high_threshold
            );
        }
        let mut storage = StorageConfig::under(data_dir);
        if let Some(root) = &self.local_path_root {
            storage.local_path_root.clone_from(root);
        }
        if let Some(root) = &self.local_disk_root {
            storage.local_disk_root.clone_from(root);
        }
        for device in &self.local_disk_devices {
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
            .clone_from(&self.local_disk_devices);
        for pattern in &self.allowed_unsafe_sysctls {
            crate::kubelet::sysctl::check_pattern(pattern)
                .map_err(|e| anyhow::anyhow!("--allowed-unsafe-sysctls: {e}"))?;
        }
        Ok(KubeletConfig {
            node_name: node_name.to_string(),
            data_dir: data_dir.to_path_buf(),
            run_dir: self.run_dir.clone(),
            runtime: self.runtime,
            registries: self.registries.clone(),
            pod_cidr: self.pod_cidr,
            cluster_cidr,
            bridge: self.bridge.clone(),
            labels,
            bramble_exe: std::env::current_exe().unwrap_or_else(|_| "bramble".into()),
            image_gc: GcPolicy {
                high_threshold_percent: self.image_gc_high_threshold,
                low_threshold_percent: self.image_gc_low_threshold,
            },
            storage,
            host_path_policy: self.host_path_policy(data_dir),
            kubelet_port: None,
            cluster_dns: (!self.disable_cluster_dns)
                .then_some(crate::resources::service_alloc::DNS_SERVICE_IP),
            cluster_domain: self.cluster_domain.clone(),
            proxy: !self.disable_kube_proxy,
            hardware: HardwareOptions {
                sensors: self.sensors.clone(),
            },
            security: NodeSecurity {
                seccomp_root: self
                    .seccomp_profile_root
                    .clone()
                    .unwrap_or_else(|| data_dir.join("seccomp")),
                allowed_unsafe_sysctls: self.allowed_unsafe_sysctls.clone(),
            },
        })
    }
}

/// The node name: the flag, else the hostname in lower case (as the kubelet does).
pub fn node_name(flag: Option<&str>) -> String {
    match flag {
        Some(n) => n.to_string(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .unwrap_or_else(|_| "bramble".into()),
    }
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
