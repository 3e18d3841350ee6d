//! The `bramble` binary: parses the command line, sets up logging, runs the command.

mod allocator;

use std::io::IsTerminal;

use clap::Parser;

use bramble::cli::{Cli, Command, LogFormat};

/// mimalloc for `server` and `agent`, the system's allocator for every other command.
#[global_allocator]
static ALLOCATOR: allocator::ByCommand = allocator::ByCommand;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Kubeconfig(args) => bramble::cli::kubeconfig::run(args),
        Command::Install(args) => bramble::cli::install::run(args),
        Command::Uninstall(args) => bramble::cli::uninstall::run(args),
        Command::Check(args) => match bramble::cli::check::run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        // ctl prints its own errors the way kubectl does and owns its tokio runtime
        Command::Ctl(args) => return bramble::cli::ctl::main(args),
        // single-threaded on purpose: libcontainer forks and the supervisor must outlive us
        Command::Runtime(args) => return bramble::cli::runtime::main(args),
        Command::Server(args) => block_on(bramble::cli::server::run(*args)),
        Command::Agent(args) => block_on(bramble::cli::agent::run(*args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: library errors often carry their
/// source in their own message already, which `{:#}` would print again.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn block_on(job: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(job))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRAMBLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
