//! `bramble uninstall`: undoes `bramble install` and everything the server did on the board.
//!
//! As k3s' `k3s-uninstall.sh`, it stops and disables the service, kills the containers that
//! outlive it, unmounts their filesystems and namespaces, deletes the node bridge, Bramble's
//! nftables table and its cgroups, then removes the unit, `/etc/bramble`, the binary and the
//! data directory (`--keep-data` keeps the store, certificates and images). The data
//! directory and bridge are read from the installed settings file, so a board installed with
//! `--data-dir` is cleaned where it keeps its data.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use super::service::{self, Layout};
use crate::kubelet::teardown::{self, Footprint};

/// Arguments of `bramble uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Uninstall from this directory instead of the running system (as `install --root`).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Keep the data directory (cluster store, certificates, images).
    #[arg(long)]
    pub keep_data: bool,
    /// The cgroup parent of pods (default `/bramble` on the running system; under another
    /// `--root` cgroups are left alone unless this is given).
    #[arg(long, hide = true)]
    pub cgroup_parent: Option<String>,
}

/// Removes the service, the node's runtime state and the installed files.
pub fn run(args: UninstallArgs) -> anyhow::Result<()> {
    let layout = Layout::new(&args.root);
    if layout.is_live() && !nix::unistd::geteuid().is_root() {
        bail!("bramble uninstall kills containers and changes /etc: run it as root (sudo bramble uninstall)");
    }
    let mut out = std::io::stdout().lock();
    let settings = std::fs::read_to_string(layout.env_file())
        .map(|t| service::parse_env(&t))
        .unwrap_or_default();
    let setting = |key: &str| {
        settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let data_dir = layout
        .host(setting("BRAMBLE_DATA_DIR").unwrap_or_else(|| service::DEFAULT_DATA_DIR.into()));
    let run_dir = setting("BRAMBLE_RUN_DIR").map_or_else(|| layout.run_dir(), |d| layout.host(d));
    // Bridges, nftables tables and cgroups belong to the running kernel, not to a root: under
    // another root only what its settings or the command line name is removed, so preparing
    // an image never disturbs pods running on the machine doing it.
    let live_default = |value: &str| layout.is_live().then(|| value.to_string());
    let bridge = setting("BRAMBLE_BRIDGE").or_else(|| live_default(service::DEFAULT_BRIDGE));
    let cgroup_parent = args
        .cgroup_parent
        .clone()
        .or_else(|| live_default("/bramble"));

    let systemd = layout.is_live() && service::systemd_running();
    if systemd {
        // a board that never had the unit answers "not loaded": nothing to stop
        if let Err(e) = service::systemctl(&["disable", "--now", service::UNIT]) {
            writeln!(out, "note: {e}")?;
        } else {
            writeln!(out, "stopped and disabled {}", service::UNIT)?;
        }
    }

    let footprint = Footprint {
        data_dir: data_dir.clone(),
        run_dir: run_dir.clone(),
        cgroup_parent: cgroup_parent.clone(),
        bridge: bridge.clone(),
        node_routes: layout.is_live(),
    };
    let removed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(teardown::remove(&footprint))
        .context("cleaning up the node")?;
    writeln!(
        out,
        "killed {} process(es), unmounted {} mount(s)",
        removed.processes, removed.mounts
    )?;
    if let Some(bridge) = &bridge {
        writeln!(out, "removed bridge and nftables table {bridge}")?;
    }
    if let Some(parent) = &cgroup_parent {
        writeln!(out, "removed cgroup {parent}")?;
    }

    let mut doomed = vec![
        super::install::wants_link(&layout),
        layout.unit(),
        layout.config_dir(),
        layout.binary(),
        run_dir,
    ];
    if args.keep_data {
        writeln!(out, "kept {}", data_dir.display())?;
    } else {
        doomed.push(data_dir);
    }
    let dirs: Vec<&Path> = doomed.iter().map(PathBuf::as_path).collect();
    let left = teardown::remaining_mounts(&dirs)?;
    if let Some(first) = left.first() {
        bail!(
            "{} is still mounted: unmount it and run bramble uninstall again (nothing was deleted through it)",
            first.display()
        );
    }
    for path in &doomed {
        if remove_path(path)? {
            writeln!(out, "removed {}", path.display())?;
        }
    }
    if systemd {
        service::systemctl(&["daemon-reload"]).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Removes a file, link or directory tree; `Ok(false)` if there was nothing.
fn remove_path(path: &Path) -> anyhow::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let result = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    result.with_context(|| format!("removing {}", path.display()))?;
    Ok(true)
}
