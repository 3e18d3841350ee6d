//! The `main` every Bramble benchmark shares: run the async phases on a multi-threaded tokio
//! runtime and report where the report went, or the failure, in one line.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

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
    match runtime.block_on(phases) {
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
