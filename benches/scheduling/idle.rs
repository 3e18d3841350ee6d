//! What the server costs while nothing happens but the hollow nodes' heartbeats: CPU time
//! over a window and resident memory at its end.

use std::time::Duration;

use crate::report::Reading;
use crate::server::Server;

/// One idle window.
#[derive(Debug, Default, Clone, Copy)]
pub struct Idle {
    /// Server CPU time (user + system) over the window.
    pub cpu: Duration,
    /// The window.
    pub window: Duration,
    /// Memory at the end of the window.
    pub memory: Reading,
}

impl Idle {
    /// CPU seconds per minute.
    pub fn cpu_per_minute(&self) -> f64 {
        let w = self.window.as_secs_f64();
        if w > 0.0 {
            self.cpu.as_secs_f64() * 60.0 / w
        } else {
            0.0
        }
    }
}

/// A slice of time the server must spend under [`QUIET_SHARE`] of one core to count as settled.
const SLICE: Duration = Duration::from_secs(5);
/// The share of one core below which the server counts as quiet.
const QUIET_SHARE: f64 = 0.1;

/// Waits until the server is quiet (a [`SLICE`] costing under [`QUIET_SHARE`] of a core), at
/// most `limit`; returns how long that took.
pub async fn settle(server: &Server, limit: Duration) -> anyhow::Result<Duration> {
    let start = std::time::Instant::now();
    loop {
        let before = server.cpu_time()?;
        tokio::time::sleep(SLICE).await;
        let used = server.cpu_time()?.saturating_sub(before);
        if used.as_secs_f64() < SLICE.as_secs_f64() * QUIET_SHARE || start.elapsed() >= limit {
            return Ok(start.elapsed());
        }
    }
}

/// Waits `window` and reads what the server spent meanwhile.
pub async fn measure(server: &Server, window: Duration) -> anyhow::Result<Idle> {
    let before = server.cpu_time()?;
    tokio::time::sleep(window).await;
    Ok(Idle {
        cpu: server.cpu_time()?.saturating_sub(before),
        window,
        memory: server.memory()?,
    })
}
