//! A container's status as read from its record and, while it runs, from the OCI runtime.
//!
//! Once the init exits the supervisor's `exit.json` is the truth; between the runtime
//! reporting "stopped" and the supervisor finishing its log drain there is a short window,
//! which readers wait out here instead of reporting an exit without its code.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::record::RecordDir;
use super::{ContainerState, ContainerStatus, Result};

/// How long `state`/`delete` wait for the supervisor to record an exit it is finishing.
pub const EXIT_RECORD_WAIT: Duration = Duration::from_secs(3);

/// The exited status recorded by the supervisor, if the init has exited.
pub fn exited(
    record: &RecordDir,
    started_at: Option<DateTime<Utc>>,
) -> Result<Option<ContainerStatus>> {
    Ok(record.exit()?.map(|exit| ContainerStatus {
        state: ContainerState::Exited,
        pid: None,
        exit_code: exit.exit_code,
        signal: exit.signal,
        started_at,
        finished_at: Some(exit.finished_at),
        oom_killed: exit.oom_killed,
    }))
}

/// The init is gone: wait for its supervisor to finish recording, or report an unknown exit
/// if the supervisor itself is gone.
pub async fn wait_for_exit(
    record: &RecordDir,
    started_at: Option<DateTime<Utc>>,
) -> Result<ContainerStatus> {
    let deadline = Instant::now() + EXIT_RECORD_WAIT;
    loop {
        if let Some(status) = exited(record, started_at)? {
            return Ok(status);
        }
        let shim_alive = record.shim_pid()?.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        if !shim_alive || Instant::now() > deadline {
            return Ok(ContainerStatus {
                state: ContainerState::Exited,
                pid: None,
                exit_code: None,
                signal: None,
                started_at,
                finished_at: None,
                oom_killed: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
