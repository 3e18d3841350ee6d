//! The `main` every Bramble benchmark shares: run the async phases on a multi-threaded tokio
//! runtime and report where the report went, or the failure, in one line; and what a run
//! notes and makes before its first phase.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

/// What a run notes before its first phase, and where it writes.
pub struct RunStart {
    /// The load average it started under.
    pub load_before: Option<f64>,
    /// When it started.
    pub started: Instant,
    /// The date for the report, `2026-12-07 13:34 UTC`.
    pub date: String,
    /// `target/bench`, where the report goes.
    pub out_dir: PathBuf,
    /// A scratch directory under `out_dir`, removed when dropped.
    pub scratch: tempfile::TempDir,
}

/// Notes the load, time and date, and makes `target/bench` and a scratch directory in it
/// named `<prefix>…`.
pub fn begin(prefix: &str) -> anyhow::Result<RunStart> {
    let load_before = crate::machine::load_average();
    let started = Instant::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out_dir).context("creating target/bench")?;
    let scratch = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&out_dir)
        .context("creating a scratch directory")?;
    Ok(RunStart {
        load_before,
        started,
        date,
        out_dir,
        scratch,
    })
}

/// Runs `phases` to completion; the exit code says whether a report was written.
pub fn run_to_report(phases: impl Future<Output = anyhow::Result<PathBuf>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    report_outcome(runtime.block_on(phases))
}

/// Says where the report went, or why there is none, in one line; the exit code says which.
pub fn report_outcome(outcome: anyhow::Result<PathBuf>) -> ExitCode {
    match outcome {
        Ok(path) => {
            eprintln!("report written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
