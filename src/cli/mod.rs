//! The command line: `bramble server`, `bramble ctl ...`, `bramble kubeconfig`,
//! `bramble check`, `bramble install` and `bramble uninstall`.

pub mod check;
pub mod ctl;
pub mod install;
pub mod kubeconfig;
pub mod runtime;
pub mod server;
pub mod service;
pub mod uninstall;

use clap::{Parser, Subcommand, ValueEnum};

/// One lean binary that turns a handful of boards into a Kubernetes-compatible cluster.
#[derive(Debug, Parser)]
#[command(name = "bramble", version, about)]
pub struct Cli {
    /// Log format: human-readable text or JSON lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BRAMBLE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (API server, store, scheduler) on this board.
    Server(server::ServerArgs),
    /// Issue a client kubeconfig signed by this server's CA.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// Talk to a cluster from a laptop, kubectl-style: get, apply, delete, describe.
    Ctl(ctl::CtlArgs),
    /// Preflight checks of this board (cgroups, overlayfs, runtime, nftables, disk, clock,
    /// swap), each failure with its fix.
    Check(check::CheckArgs),
    /// Install Bramble as a systemd service on this board.
    Install(install::InstallArgs),
    /// Remove the service, its containers, mounts, network rules, cgroups and data.
    Uninstall(uninstall::UninstallArgs),
    /// The built-in OCI runtime and container supervisor, run by the kubelet (internal).
    #[command(hide = true)]
    Runtime(runtime::RuntimeArgs),
}
