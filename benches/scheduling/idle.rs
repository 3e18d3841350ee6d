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
