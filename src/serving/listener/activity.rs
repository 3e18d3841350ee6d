//! Whether a connection is idle, as Go's `http.Server.IdleTimeout` judges it for HTTP/1.1
//! keep-alive and HTTP/2 alike: no request in flight (a request is in flight from its head to
//! the end of its response body, so a watch keeps its connection busy). hyper has no idle
//! timeout of its own for either protocol; this module counts requests through a
//! [`Tracked`] service wrapper and [`Activity::idle`] completes once the connection has been
//! idle long enough.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::serving::body::ResponseBody;

/// Requests in flight on one connection, and since when it has had none.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    idle_since: Instant,
    served: bool,
}

/// One request in flight; dropping it (with the response body) ends it.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Activity {
    /// A connection that has served nothing yet, idle from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                served: false,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // only counters inside: usable even after a panic elsewhere
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        let mut s = self.lock();
        s.in_flight += 1;
        s.served = true;
        drop(s);
        self.changed.notify_waiters();
        Busy(self.clone())
    }

    /// Completes once no request has been in flight for `idle` (or, before the first
    /// request, for `first_request`).
    pub async fn idle(&self, first_request: Duration, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = {
                let s = self.lock();
                (s.in_flight == 0).then(|| {
                    let wait = if s.served { idle } else { first_request };
                    s.idle_since + wait
                })
            };
            match deadline {
                Some(d) if Instant::now() >= d => return,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(d) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
        drop(s);
        self.0.changed.notify_waiters();
    }
}

/// A service whose requests count as activity until their response bodies end.
#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`, counting its requests on `activity`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<ResponseBody>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let busy = self.activity.busy();
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            // the guard lives as long as the body: a watch is a request in flight
            Ok(response.map(|inner| HeldBody { inner, _busy: busy }.boxed()))
        })
    }
}

/// A response body that keeps its request in flight until it is dropped; length and end
/// pass through, so hyper still sends `Content-Length`.
struct HeldBody {
    inner: ResponseBody,
    _busy: Busy,
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_request_to_end() {
        let a = Activity::new();
        let first = Duration::from_millis(100);
        let idle = Duration::from_millis(300);
        let start = Instant::now();
        a.idle(first, idle).await;
        let waited = start.elapsed();
        assert!(
            waited >= first && waited < idle,
            "no request at all: the first-request deadline, got {waited:?}"
        );

        let busy = a.busy();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.idle(first, idle).await })
        };
        tokio::time::sleep(idle * 2).await;
        assert!(!waiter.is_finished(), "a request in flight is not idle");
        let released = Instant::now();
        drop(busy);
        waiter.await.unwrap();
        assert!(released.elapsed() >= idle);
    }
}
