//! `bramble kubeconfig`: issues a kubeconfig for another user (e.g. a read-only viewer) from
//! the server's CA.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::pki::kubeconfig::{Credentials, Kubeconfig};
use crate::pki::ClusterCa;

/// Arguments of `bramble kubeconfig`.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The server's data directory (holds `pki/`).
    #[arg(long, default_value = "/var/lib/bramble", env = "BRAMBLE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// User name (certificate CN).
    #[arg(long)]
    pub user: String,
    /// Groups (certificate O); `system:masters` is admin, `bramble:viewers` read-only.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// API server URL written into the kubeconfig.
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub server: String,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    pub days: u64,
    /// Where to write it.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Writes the kubeconfig.
pub fn run(args: KubeconfigArgs) -> anyhow::Result<()> {
    let pki_dir = args.data_dir.join("pki");
    if !pki_dir.join("ca.crt").exists() {
        anyhow::bail!(
            "no cluster CA in {}: start `bramble server --data-dir {}` first",
            pki_dir.display(),
            args.data_dir.display()
        );
    }
    let pki = ClusterCa::load(&pki_dir).context("loading the cluster CA")?;
    let groups: Vec<&str> = args.groups.iter().map(String::as_str).collect();
    let (cert_pem, key_pem) = pki.issue_client(&args.user, &groups, args.days)?;
    let kc = Kubeconfig {
        cluster_name: "bramble".into(),
        user_name: args.user.clone(),
        server: args.server.clone(),
        ca_pem: pki.ca_pem().into(),
        credentials: Credentials::ClientCertificate { cert_pem, key_pem },
    };
    kc.write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}
