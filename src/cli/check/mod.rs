//! `bramble check`: preflight checks of a board before it runs Bramble.
//!
//! Each check reads the real files the kernel and the system expose and turns them into an
//! [`Outcome`] through a function that takes their contents, so the cases of a Raspberry Pi
//! (memory cgroup off by default, no real-time clock, a swap file) are unit-tested here
//! without such a board. Every line says `ok`, `warn` or `FAIL`; every warning and failure
//! carries a one-line fix. The exit status is non-zero when anything failed.

mod board;
mod certificates;
mod cgroups;
mod clock;
mod host;
mod kernel;
mod runtime;

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::kubelet::runtime::RuntimeKind;

/// Arguments of `bramble check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The data directory the server will use (free space, cluster CA).
    #[arg(long, default_value = "/var/lib/bramble", env = "BRAMBLE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The OCI runtime the server will use.
    #[arg(long, default_value = crate::kubelet::runtime::DEFAULT_RUNTIME, env = "BRAMBLE_RUNTIME")]
    pub runtime: RuntimeKind,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something will hurt later.
    Warn,
    /// Bramble cannot work this way.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What was checked, a few words.
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The one-line fix, for a warning or failure.
    pub fix: Option<String>,
}

impl Outcome {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Outcome {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Outcome {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Outcome {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check on this machine, in the order a board is usually fixed.
pub fn all(args: &CheckArgs) -> Vec<Outcome> {
    let mut outcomes = vec![
        cgroups::check(),
        kernel::overlayfs(),
        runtime::check(args.runtime),
        kernel::nftables(),
        host::disk(&args.data_dir),
        clock::check(&args.data_dir),
        host::swap(),
    ];
    outcomes.extend(certificates::check(&args.data_dir));
    outcomes.extend(board::check());
    outcomes
}

/// Prints the checks; exit status 1 when one failed.
pub fn run(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    let outcomes = all(&args);
    let mut out = std::io::stdout().lock();
    for o in &outcomes {
        let label = match o.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        writeln!(out, "{label:<5} {:<15} {}", o.name, o.detail)?;
        if let Some(fix) = &o.fix {
            writeln!(out, "{:<21} fix: {fix}", "")?;
        }
    }
    let count = |s| outcomes.iter().filter(|o| o.status == s).count();
    let failed = count(Status::Fail);
    writeln!(
        out,
        "{} ok, {} warn, {failed} FAIL",
        count(Status::Ok),
        count(Status::Warn)
    )?;
    Ok(if failed > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
