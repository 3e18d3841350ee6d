//! The kubelet's flags, shared by `bramble server` (whose board runs pods too) and
//! `bramble agent`, each with its `BRAMBLE_*` variable so an installed unit's settings file
//! can carry them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::cidr::Ipv4Cidr;
use crate::hardware::board_profile::BoardProfile;
use crate::hardware::sensor::SensorSpec;
use crate::hardware::HardwareOptions;
use crate::host_path_policy::HostPathPolicy;
use crate::kubelet::agent::{KubeletConfig, NodeSecurity};
use crate::kubelet::devices::DeviceDeclaration;
use crate::kubelet::image::GcPolicy;
use crate::kubelet::node_health::thresholds::parse_eviction_hard;
use crate::kubelet::node_health::NodeHealthConfig;
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
    /// A host device offered to pods as the extended resource `bramble.io/<file name>`, or
    /// as RESOURCE with `PATH=RESOURCE` (repeatable), e.g. `--device /dev/i2c-1`. Only
    /// devices that exist are advertised; a pod asking for one gets it alone. In
    /// `BRAMBLE_DEVICES`, comma-separated.
    #[arg(
        long = "device",
        value_name = "PATH[=RESOURCE]",
        value_parser = device,
        value_delimiter = ',',
        env = "BRAMBLE_DEVICES"
    )]
    pub devices: Vec<DeviceDeclaration>,
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
    /// A directory of static pod manifests (`*.yaml`, `*.yml`, `*.json`), run on this node
    /// with or without a server and shown in the API as mirror pods (the kubelet's
    /// staticPodPath); rescanned every 20 s.
    #[arg(long, value_name = "DIR", env = "BRAMBLE_POD_MANIFEST_PATH")]
    pub pod_manifest_path: Option<PathBuf>,
    /// Node health and eviction (boxed: the agent's arguments stay small).
    #[command(flatten)]
    pub health: Box<HealthArgs>,
}

/// A `--device` value.
fn device(s: &str) -> Result<DeviceDeclaration, String> {
    DeviceDeclaration::parse(s).map_err(|e| e.to_string())
}

/// The kubelet's eviction and board health flags.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Hard eviction thresholds, as the kubelet's --eviction-hard: comma-separated
    /// `signal<quantity` or `signal<percent%` (signals memory.available, nodefs.available,
    /// nodefs.inodesFree, imagefs.available, imagefs.inodesFree, pid.available); empty
    /// for none.
    #[arg(
        long,
        default_value = crate::kubelet::node_health::thresholds::DEFAULT_EVICTION_HARD,
        value_parser = eviction_hard,
        env = "BRAMBLE_EVICTION_HARD"
    )]
    pub eviction_hard: String,
    /// How long a pressure condition stays True after its threshold was last crossed.
    #[arg(long, default_value = "5m", value_parser = super::duration::parse, env = "BRAMBLE_EVICTION_PRESSURE_TRANSITION_PERIOD")]
    pub eviction_pressure_transition_period: std::time::Duration,
    /// The SoC's thermal zone directory; its `temp` file (millidegrees Celsius) drives the
    /// `bramble.io/Thermal` condition [default: the board profile's]
    #[arg(long, env = "BRAMBLE_THERMAL_ZONE")]
    pub thermal_zone: Option<PathBuf>,
    /// The firmware's `get_throttled` file (under-voltage and throttling flags), which drives
    /// the `bramble.io/Power` condition [default: the board profile's]
    #[arg(long, env = "BRAMBLE_THROTTLED_PATH")]
    pub throttled_path: Option<PathBuf>,
}

/// `--eviction-hard` as upstream parses it (checked here, kept as text).
fn eviction_hard(s: &str) -> Result<String, String> {
    crate::kubelet::node_health::thresholds::parse_eviction_hard(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

impl HealthArgs {
    /// The health settings these flags give on a board of `profile` (whose thermal zone
    /// and throttle file are the defaults).
    pub fn config(&self, profile: &BoardProfile) -> anyhow::Result<NodeHealthConfig> {
        let throttled = profile
            .throttled_file
            .as_deref()
            .unwrap_or(crate::kubelet::node_health::DEFAULT_THROTTLED);
        Ok(NodeHealthConfig {
            eviction_hard: parse_eviction_hard(&self.eviction_hard)
                .map_err(|e| anyhow::anyhow!("--eviction-hard: {e}"))?,
            pressure_transition_period: self.eviction_pressure_transition_period,
            thermal_zone: self
                .thermal_zone
                .clone()
                .unwrap_or_else(|| PathBuf::from(&profile.thermal_zone)),
            throttled: self
                .throttled_path
                .clone()
                .unwrap_or_else(|| PathBuf::from(throttled)),
        })
    }
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
        let profile = crate::hardware::profile::local();
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
            stats: Default::default(),
            health: self.health.config(profile)?,
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
            devices: with_profile_devices(&self.devices, profile),
            static_pod_path: self.pod_manifest_path.clone(),
        })
    }
}

/// The `--device` declarations, then the devices the board profile knows that exist here
/// and no flag declares already.
fn with_profile_devices(
    flags: &[DeviceDeclaration],
    profile: &BoardProfile,
) -> Vec<DeviceDeclaration> {
    let mut devices = flags.to_vec();
    for path in &profile.devices {
        let declared = devices.iter().any(|d| d.path == Path::new(path));
        if declared || !Path::new(path).exists() {
            continue;
        }
        match DeviceDeclaration::parse(path) {
            Ok(d) => devices.push(d),
            Err(e) => tracing::warn!(device = %path, error = %e, "board profile device skipped"),
        }
    }
    devices
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        kubelet: KubeletArgs,
    }

    #[test]
    fn device_flags_are_repeatable_and_may_name_the_resource() {
        let cmd = Cmd::try_parse_from([
            "bramble",
            "--device",
            "/dev/i2c-1",
            "--device",
            "/dev/ttyUSB0=bramble.io/serial,/dev/spidev0.0",
        ])
        .unwrap();
        let got: Vec<(&str, &str)> = cmd
            .kubelet
            .devices
            .iter()
            .map(|d| (d.path.to_str().unwrap(), d.resource.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/dev/i2c-1", "bramble.io/i2c-1"),
                ("/dev/ttyUSB0", "bramble.io/serial"),
                ("/dev/spidev0.0", "bramble.io/spidev0.0")
            ]
        );
        let data = tempfile::tempdir().unwrap();
        let cfg = cmd.kubelet.config("n", data.path(), vec![], None).unwrap();
        assert_eq!(cfg.devices, cmd.kubelet.devices);
    }

    #[test]
    fn a_bad_device_flag_is_refused_with_the_reason() {
        let err = Cmd::try_parse_from(["bramble", "--device", "i2c-1"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("absolute path"), "{err}");
        assert!(Cmd::try_parse_from(["bramble", "--device", "/dev/x=kubernetes.io/x"]).is_err());
    }

    #[test]
    fn the_board_profiles_devices_that_exist_join_the_declared_ones() {
        let mut profile = crate::hardware::profile::detect(None, &[]);
        profile.devices = vec![
            "/dev/null".into(),
            "/dev/zero".into(),
            "/dev/bramble-no-such-device".into(),
        ];
        let flags = vec![DeviceDeclaration::parse("/dev/zero=bramble.io/zeros").unwrap()];
        let got: Vec<(String, String)> = with_profile_devices(&flags, &profile)
            .into_iter()
            .map(|d| (d.path.display().to_string(), d.resource))
            .collect();
        assert_eq!(
            got,
            [
                ("/dev/zero".to_string(), "bramble.io/zeros".to_string()),
                ("/dev/null".to_string(), "bramble.io/null".to_string()),
            ]
        );
    }

    #[test]
    fn health_flags_default_to_upstream_and_refuse_bad_thresholds() {
        let defaults = Cmd::try_parse_from(["bramble"]).unwrap().kubelet.health;
        let rpi4 = crate::hardware::profile::detect(Some("Raspberry Pi 4 Model B Rev 1.4"), &[]);
        let cfg = defaults.config(&rpi4).unwrap();
        assert_eq!(cfg.eviction_hard.len(), 4);
        assert_eq!(cfg.pressure_transition_period.as_secs(), 300);
        assert_eq!(
            cfg.thermal_zone,
            Path::new("/sys/class/thermal/thermal_zone0")
        );
        let set = Cmd::try_parse_from([
            "bramble",
            "--eviction-hard",
            "memory.available<1Gi,pid.available<5%",
            "--eviction-pressure-transition-period",
            "30s",
            "--thermal-zone",
            "/tmp/zone",
        ])
        .unwrap()
        .kubelet
        .health
        .config(&rpi4)
        .unwrap();
        assert_eq!(set.eviction_hard.len(), 2);
        assert_eq!(set.pressure_transition_period.as_secs(), 30);
        assert_eq!(set.thermal_zone, Path::new("/tmp/zone"));
        let bad = Cmd::try_parse_from(["bramble", "--eviction-hard", "memory.free<1Gi"]);
        let e = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("unsupported eviction signal memory.free"), "{e}");
    }
}
