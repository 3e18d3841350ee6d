//! `bramble server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::control_plane::{self, ServerConfig};

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
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let node_name = match args.node_name {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .unwrap_or_else(|_| "bramble".into()),
    };
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signals.cancel();
    });
    let cfg = ServerConfig {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        node_name,
        watch_history: args.watch_history,
    };
    control_plane::run(cfg, shutdown)
        .await
        .with_context(|| format!("bramble server (data dir {})", args.data_dir.display()))
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
