//! `bramble ctl`: the laptop client, shaped like kubectl (`get`, `apply`, `delete`,
//! `describe`) so its output reads the same as the tool users already know.
//!
//! Every verb talks to the API server through [`HttpClient`] built from a kubeconfig found the
//! way kubectl finds it (`--kubeconfig`, then the first path of `KUBECONFIG`, then
//! `~/.kube/config`). Verbs write to the writers they are given, so tests can read what a
//! user would see; failures become one line on stderr and exit code 1.

mod api;
mod apply;
mod certs;
mod config;
mod delete;
mod describe;
mod describe_fields;
mod error;
mod get;
mod image;
mod kinds;
mod manifest;
mod output;
mod tabwriter;
mod three_way;
mod token;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use apply::ApplyArgs;
pub use delete::DeleteArgs;
pub use describe::DescribeArgs;
pub use error::CtlError;
pub use get::GetArgs;
pub use output::OutputFormat;

/// Arguments of `bramble ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Path to the kubeconfig file (default: first path of $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace for this request (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// The verb.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The verbs of `bramble ctl`.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Display one or many resources.
    Get(get::GetArgs),
    /// Apply a configuration to resources by file name or stdin.
    Apply(apply::ApplyArgs),
    /// Delete resources by kind and names, or by file name.
    Delete(delete::DeleteArgs),
    /// Show details of a resource, with its events.
    Describe(describe::DescribeArgs),
    /// Import and list images in this board's own store (no kubeconfig needed).
    Image(image::ImageArgs),
    /// Re-issue the server's own certificates from its CA (no kubeconfig needed).
    Certs(certs::CertsArgs),
    /// Create, list and delete join tokens for new boards.
    Token(token::TokenArgs),
}

/// What every verb needs: the API connection and the namespace scope.
pub(crate) struct Session {
    /// The API server.
    pub api: api::Api,
    /// The namespace for namespaced kinds (flag, context or `default`).
    pub namespace: String,
    /// Whether `-n` was given explicitly (manifests must then agree with it).
    pub namespace_explicit: bool,
    /// `-A`.
    pub all_namespaces: bool,
}

/// Runs `bramble ctl` on a fresh tokio runtime; prints any failure as one line on stderr and
/// returns the process exit code.
pub fn main(args: CtlArgs) -> std::process::ExitCode {
    let mut stderr = std::io::stderr();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let result = runtime.block_on(run(args, &mut stdout, &mut stderr));
    let _ = stdout.flush();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(line) = e.line() {
                let _ = writeln!(stderr, "{line}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs one verb, writing results to `out` and notices (kubectl's stderr lines) to `err`.
pub async fn run(args: CtlArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CtlError> {
    let command = match args.command {
        CtlCommand::Image(a) => return image::run(a, out).await,
        CtlCommand::Certs(a) => return certs::run(a, out),
        other => other,
    };
    let path = config::kubeconfig_path(args.kubeconfig.as_deref())?;
    let loaded = config::load(&path)?;
    let (namespace, namespace_explicit) = match args.namespace {
        Some(ns) => (ns, true),
        None => (loaded.namespace.unwrap_or_else(|| "default".into()), false),
    };
    let ca_pem = loaded.kubeconfig.ca_pem.clone();
    let session = Session {
        api: api::Api::new(&loaded.kubeconfig)?,
        namespace,
        namespace_explicit,
        all_namespaces: args.all_namespaces,
    };
    match command {
        CtlCommand::Image(_) | CtlCommand::Certs(_) => Ok(()), // answered above, without a kubeconfig
        CtlCommand::Get(a) => get::run(&session, a, out, err).await,
        CtlCommand::Apply(a) => apply::run(&session, a, out, err).await,
        CtlCommand::Delete(a) => delete::run(&session, a, out, err).await,
        CtlCommand::Describe(a) => describe::run(&session, a, out, err).await,
        CtlCommand::Token(a) => token::run(&session, &ca_pem, a, out).await,
    }
}
