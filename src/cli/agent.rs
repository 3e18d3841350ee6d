//! `bramble agent`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::kubelet_args::{self, KubeletArgs};
use crate::agent::{self, AgentConfig, DEFAULT_KUBELET_PORT};
use crate::pki::join_token::JoinToken;

/// Arguments of `bramble agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The server to join, e.g. https://pi-1:6443; several (repeated or comma-separated)
    /// when the cluster has several servers: the agent uses the first that answers.
    #[arg(long, env = "BRAMBLE_SERVER", value_delimiter = ',', required = true)]
    pub server: Vec<String>,
    /// The server's join token (`sudo cat /var/lib/bramble/join-token` on the server);
    /// needed until this board has joined. A command line is visible to every user of the
    /// board: prefer --token-file or the BRAMBLE_TOKEN environment variable.
    #[arg(
        long,
        env = "BRAMBLE_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// A file holding the join token.
    #[arg(long, env = "BRAMBLE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Directory for this board's credentials, images, pods and logs.
    #[arg(long, default_value = "/var/lib/bramble", env = "BRAMBLE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// This board's node name (default: the hostname).
    #[arg(long, env = "BRAMBLE_NODE_NAME")]
    pub node_name: Option<String>,
    /// The port the API server reaches this board's kubelet on for logs and exec.
    #[arg(long, default_value_t = DEFAULT_KUBELET_PORT, env = "BRAMBLE_KUBELET_PORT")]
    pub kubelet_port: u16,
    /// Do not keep a tunnel open to the server: it then reaches this board's kubelet only
    /// on the kubelet port (a board the server cannot dial, e.g. behind NAT, then has no
    /// `kubectl logs`, `exec` or `port-forward`).
    #[arg(long, env = "BRAMBLE_NO_TUNNEL")]
    pub no_tunnel: bool,
    /// The kubelet of this board.
    #[command(flatten)]
    pub kubelet: KubeletArgs,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    if let Some(bad) = args.server.iter().find(|s| !s.starts_with("https://")) {
        anyhow::bail!("--server {bad:?}: give the server's URL, e.g. https://pi-1:6443");
    }
    let token_text = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--token-file {}", path.display()))?,
        ),
        (None, None) => None,
    };
    let token = token_text
        .map(|t| JoinToken::parse(&t))
        .transpose()
        .context("--token")?;
    let node_name = kubelet_args::node_name(args.node_name.as_deref());
    let kubelet = args
        .kubelet
        .config(&node_name, &args.data_dir, Vec::new(), None)?;
    let cfg = AgentConfig {
        servers: args
            .server
            .iter()
            .map(|s| s.trim_end_matches('/').to_string())
            .collect(),
        token,
        data_dir: args.data_dir.clone(),
        kubelet_port: args.kubelet_port,
        kubelet,
        tunnel: !args.no_tunnel,
    };
    agent::run(cfg, super::shutdown_on_signal())
        .await
        .with_context(|| {
            let servers = args.server.join(",");
            format!("bramble agent (node {node_name}, server {servers})")
        })
}
