//! `bramble ctl certs rotate`: re-issues the server's own certificates from the cluster CA
//! in `DATA_DIR/pki` (the serving certificate for this host's current names and addresses,
//! the API server's client certificate towards kubelets, the admin kubeconfig's client
//! certificate), as `kubeadm certs renew all` does. Runs on the server's board against its
//! data directory, no kubeconfig needed; a running server uses the new certificates from
//! its next handshake on.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::error::CtlError;
use crate::pki::ServerNames;

/// Arguments of `bramble ctl certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The server's data directory.
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/bramble",
        env = "BRAMBLE_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: CertsCommand,
}

/// The verbs of `bramble ctl certs`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Re-issue the serving, kubelet-client and admin certificates from the cluster CA.
    Rotate {
        /// Another DNS name or address the serving certificate must cover (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
    },
}

/// Runs `bramble ctl certs …`, writing what changed to `out`.
pub fn run(args: CertsArgs, out: &mut dyn Write) -> Result<(), CtlError> {
    let pki = args.data_dir.join("pki");
    if !pki.join(crate::pki::CA_KEY_FILE).is_file() {
        return Err(CtlError::Usage(format!(
            "no cluster CA at {}: pass --data-dir (the server's) or set BRAMBLE_DATA_DIR",
            pki.display()
        )));
    }
    let CertsCommand::Rotate { sans } = args.command;
    let mut names = ServerNames::discover();
    for san in sans {
        match san.parse() {
            Ok(ip) => names.ips.push(ip),
            Err(_) => names.dns.push(san),
        }
    }
    let rotated = crate::pki::rotate::rotate(&args.data_dir, &names)
        .map_err(|e| CtlError::Usage(format!("rotating certificates: {e}")))?;
    for file in rotated.files {
        writeln!(out, "renewed {}", file.display()).map_err(CtlError::Output)?;
    }
    Ok(())
}
