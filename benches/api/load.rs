//! A bounded closed-loop load driver: `concurrency` workers pull operation numbers from one
//! counter until `total` operations are done or the time limit passes, timing each one. A
//! bound on both count and time keeps the whole bench short on a slow board while still
//! giving stable figures on a fast machine.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much load one phase applies.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Operations to run at most.
    pub total: usize,
    /// Operations in flight at once.
    pub concurrency: usize,
    /// No operation starts after this much time has passed.
    pub time_limit: Duration,
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Operations that were in flight at once.
    pub concurrency: usize,
    /// Operations that succeeded.
    pub ok: usize,
    /// Operations that failed.
    pub errors: usize,
    /// The first failure, to show in the report.
    pub first_error: Option<String>,
    /// Wall time from the first start to the last completion.
    pub elapsed: Duration,
    /// Latency of every successful operation, sorted.
    pub latencies: Vec<Duration>,
}

impl Stats {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency (0.0..=1.0), nearest-rank.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The nearest-rank `p`-th percentile (0.0..=1.0) of sorted `values`; the default (zero)
/// when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The shape of a write-then-read workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Bytes of payload in each value.
    pub payload: usize,
    /// Writes one at a time.
    pub write_serial: Plan,
    /// Concurrent writes.
    pub write_parallel: Plan,
    /// Reads one at a time.
    pub read_serial: Plan,
    /// Concurrent reads.
    pub read_parallel: Plan,
}

/// What each phase of a write-then-read workload measured.
#[derive(Debug, Clone)]
pub struct Phases {
    /// Writes one at a time.
    pub write_serial: Stats,
    /// Concurrent writes.
    pub write_parallel: Stats,
    /// Reads one at a time.
    pub read_serial: Stats,
    /// Concurrent reads.
    pub read_parallel: Stats,
}

/// Runs `op(i)` for `i` in `0..plan.total` on `plan.concurrency` tasks, within the time limit.
pub async fn run<F, Fut>(plan: Plan, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency.max(1) {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Stats::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.total || start.elapsed() >= plan.time_limit {
                    return mine;
                }
                let began = Instant::now();
                match op(i).await {
                    Ok(()) => {
                        mine.ok += 1;
                        mine.latencies.push(began.elapsed());
                    }
                    Err(e) => {
                        mine.errors += 1;
                        mine.first_error.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut all = Stats {
        concurrency: plan.concurrency,
        ..Stats::default()
    };
    for worker in workers {
        let mine = match worker.await {
            Ok(mine) => mine,
            Err(e) => Stats {
                errors: 1,
                first_error: Some(format!("worker panicked: {e}")),
                ..Stats::default()
            },
        };
        all.ok += mine.ok;
        all.errors += mine.errors;
        if all.first_error.is_none() {
            all.first_error = mine.first_error;
        }
        all.latencies.extend(mine.latencies);
    }
    all.elapsed = start.elapsed();
    all.latencies.sort_unstable();
    all
}

/// Which write phase wrote a key; each phase writes its own keys, so every write is a create.
#[derive(Debug, Clone, Copy)]
pub enum KeySet {
    /// Keys written by the one-at-a-time phase.
    Serial,
    /// Keys written by the concurrent phase.
    Parallel,
}

impl KeySet {
    /// A short name to build keys from.
    pub fn label(self) -> &'static str {
        match self {
            KeySet::Serial => "serial",
            KeySet::Parallel => "parallel",
        }
    }
}

/// Runs the four phases of `workload` with the given write and read operations; reads go
/// to the keys the concurrent phase wrote.
pub async fn write_then_read<P, PF, G, GF>(workload: &Workload, put: P, get: G) -> Phases
where
    P: Fn(KeySet, usize) -> PF + Clone + Send + Sync + 'static,
    PF: Future<Output = Result<(), String>> + Send + 'static,
    G: Fn(KeySet, usize) -> GF + Clone + Send + Sync + 'static,
    GF: Future<Output = Result<(), String>> + Send + 'static,
{
    let serial_put = put.clone();
    let put_serial = run(workload.write_serial, move |i| {
        serial_put(KeySet::Serial, i)
    })
    .await;
    let put_parallel = run(workload.write_parallel, move |i| put(KeySet::Parallel, i)).await;
    // Workers take numbers in order, so without failures the keys written are exactly 0..ok.
    let stored = put_parallel.ok.max(1);
    let serial_get = get.clone();
    let get_serial = run(workload.read_serial, move |i| {
        serial_get(KeySet::Parallel, i % stored)
    })
    .await;
    let get_parallel = run(workload.read_parallel, move |i| {
        get(KeySet::Parallel, i % stored)
    })
    .await;
    Phases {
        write_serial: put_serial,
        write_parallel: put_parallel,
        read_serial: get_serial,
        read_parallel: get_parallel,
    }
}
