//! The task that keeps the status LED showing the node's state. It reads the state from a
//! `tokio::sync::watch` the kubelet writes and needs nothing else, so it keeps double-blinking
//! "disconnected" for as long as the API server is away. A failing LED is logged once; the
//! task goes on (a later write may succeed, as when a trigger is set back by hand).

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::led::{pattern, Led, NodeState, Step};

/// Runs `led` until `shutdown`, then puts it out.
pub async fn run<L: Led>(led: L, state: watch::Receiver<NodeState>, shutdown: CancellationToken) {
    drive(led, state, shutdown, 1).await
}

/// [`run`] with every step `speedup` times shorter (tests).
async fn drive<L: Led>(
    mut led: L,
    mut state: watch::Receiver<NodeState>,
    shutdown: CancellationToken,
    speedup: u32,
) {
    let mut current = *state.borrow_and_update();
    let mut index = 0usize;
    let mut writer_gone = false;
    let mut failing = false;
    loop {
        let steps = pattern(current);
        let step = steps.get(index).copied().unwrap_or(Step {
            on: false,
            duration: Duration::from_secs(1),
        });
        match led.set(step.on) {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                tracing::warn!(error = %e, "status LED");
                failing = true;
            }
            Err(_) => {}
        }
        let wait = step.duration.checked_div(speedup).unwrap_or(step.duration);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    if let Err(e) = led.set(false) {
                        tracing::debug!(error = %e, "putting out the status LED");
                    }
                    return;
                }
                changed = state.changed(), if !writer_gone => match changed {
                    Ok(()) => {
                        current = *state.borrow_and_update();
                        index = 0;
                        break;
                    }
                    // the writer went away: the last state stays on show
                    Err(_) => writer_gone = true,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    index = index.checked_add(1).filter(|i| *i < steps.len()).unwrap_or(0);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::led::LedError;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<bool>>>);

    impl Led for Recorder {
        fn set(&mut self, on: bool) -> Result<(), LedError> {
            self.0.lock().unwrap().push(on);
            Ok(())
        }
    }

    impl Recorder {
        fn take(&self) -> Vec<bool> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }

        async fn wait_for(&self, count: usize) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.0.lock().unwrap().len() < count {
                assert!(tokio::time::Instant::now() < deadline, "LED stalled");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    #[tokio::test]
    async fn keeps_double_blinking_while_the_server_is_away() {
        let led = Recorder::default();
        let (tx, rx) = watch::channel(NodeState::Disconnected);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(drive(led.clone(), rx, shutdown.clone(), 50));
        // three whole cycles with nobody touching the state; the writer may even be gone
        drop(tx);
        led.wait_for(12).await;
        let seen = led.take();
        assert_eq!(
            seen[..12],
            [true, false, true, false, true, false, true, false, true, false, true, false]
        );
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(led.take().last(), Some(&false), "put out on shutdown");
    }

    #[tokio::test]
    async fn follows_the_node_state() {
        let led = Recorder::default();
        let (tx, rx) = watch::channel(NodeState::Joining);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(drive(led.clone(), rx, shutdown.clone(), 50));
        led.wait_for(1).await;
        tx.send(NodeState::Ready).unwrap();
        // steady on: every write lights it
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            seen.extend(led.take());
            if seen.len() >= 3 && seen.iter().rev().take(3).all(|on| *on) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never steady: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
    }
}
