//! Waiting out a server that is not answering: a board often boots before the server it
//! joins, and a server restarts under its agents. Attempts back off from half a second to
//! ten seconds; an error that is not passing ends the wait at once, and so does shutdown
//! (with the last error).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// First pause between attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// Longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Runs `attempt` until it succeeds, fails with an error `passing` does not accept, or
/// `shutdown` is cancelled; `what` names the attempt in the log.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    passing: fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt().await {
            Err(e) if passing(&e) => {
                tracing::warn!(error = %e, "{what}: retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => return Err(e),
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passing_errors_are_waited_out_and_others_end_the_wait() {
        let shutdown = CancellationToken::new();
        let mut calls = 0;
        let v = retry(
            "x",
            &shutdown,
            |e: &u16| *e == 503,
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(503u16)
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(v, Ok(3));
        let e = retry(
            "x",
            &shutdown,
            |e: &u16| *e == 503,
            || async { Err::<(), _>(403u16) },
        )
        .await;
        assert_eq!(e, Err(403));
        shutdown.cancel();
        let e = retry(
            "x",
            &shutdown,
            |e: &u16| *e == 503,
            || async { Err::<(), _>(503u16) },
        )
        .await;
        assert_eq!(e, Err(503));
    }
}
