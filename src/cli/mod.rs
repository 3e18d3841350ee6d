//! The command line: `bramble server`, `bramble agent`, `bramble ctl ...`,
//! `bramble kubeconfig`, `bramble check`, `bramble install` and `bramble uninstall`.

pub mod agent;
pub mod check;
pub mod ctl;
mod duration;
pub mod install;
pub mod kubeconfig;
pub mod kubelet_args;
pub mod pod_security_args;
pub mod runtime;
pub mod server;
pub mod service;
mod serving_args;
pub mod uninstall;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

/// A shutdown token cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    server::cancel_on_signal(token.clone());
    token
}

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
    Server(Box<server::ServerArgs>),
    /// Join this board to a cluster and run its pods (the kubelet).
    Agent(Box<agent::AgentArgs>),
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
