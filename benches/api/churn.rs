//! Disk churn: the same objects rewritten many times, as status updates and controllers do.
//! Reports what the store's directory holds afterwards beside the live data, and the write
//! amplification: bytes the process wrote to storage (`write_bytes` of `/proc/self/io`) per
//! byte of JSON acknowledged.

use std::path::Path;
use std::time::{Duration, Instant};

use bramble::store::{HistoryLimits, Mutation, ObjectKey, Store, StoreError, DEFAULT_QUOTA_BYTES};
use serde_json::json;

use crate::machine::{self, DiskUsage};

/// One churn workload: `updates` writes spread round-robin over `objects` objects of about
/// `bytes` of JSON each.
#[derive(Debug, Clone, Copy)]
pub struct Churn {
    /// Distinct objects.
    pub objects: usize,
    /// Total updates.
    pub updates: usize,
    /// JSON bytes per object.
    pub bytes: usize,
}

/// What one churn run measured.
#[derive(Debug, Clone)]
pub struct ChurnResult {
    /// The workload.
    pub churn: Churn,
    /// Updates acknowledged (every one, or the run fails).
    pub done: usize,
    /// How long they took.
    pub elapsed: Duration,
    /// JSON bytes acknowledged.
    pub acknowledged: u64,
    /// Bytes written to storage meanwhile.
    pub written: u64,
    /// JSON bytes of the live objects at the end.
    pub live: u64,
    /// The store directory at the end, still open.
    pub disk: DiskUsage,
    /// The store directory after closing and reopening it.
    pub disk_reopened: DiskUsage,
}

/// Runs `churn` against a fresh store in `dir`.
pub async fn run(dir: &Path, churn: Churn) -> Result<ChurnResult, StoreError> {
    let limits = HistoryLimits {
        entries: 64,
        bytes: HistoryLimits::DEFAULT_BYTES,
        age: HistoryLimits::DEFAULT_AGE,
    };
    let store = Store::open_with(dir, limits, DEFAULT_QUOTA_BYTES)?;
    let written_before = machine::write_bytes();
    let started = Instant::now();
    let mut acknowledged = 0u64;
    let filler_len = churn.bytes.saturating_sub(120);
    for i in 0..churn.updates {
        // different bytes every round, so no write can be skipped as unchanged
        let filler = crate::api_load::text(i as u64, filler_len);
        let n = i % churn.objects;
        let key = ObjectKey::new("", "configmaps", "churn", &n.to_string());
        let mut value = Some(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": n.to_string(), "namespace": "churn"},
            "data": {"round": i.to_string(), "filler": filler},
        }));
        // The sled store runs the closure once: the value is moved, not copied.
        let out = store
            .mutate::<StoreError, _>(&key, false, |_| {
                Ok(Mutation::Put(value.take().unwrap_or_default()))
            })
            .await?;
        acknowledged += out.object.map_or(0, |o| o.size as u64);
    }
    let elapsed = started.elapsed();
    let written = machine::write_bytes().saturating_sub(written_before);
    let live = store
        .list(&bramble::store::KeyPrefix::all())
        .0
        .iter()
        .map(|o| o.size as u64)
        .sum();
    let disk = machine::disk_usage(dir);
    drop(store);
    let reopened = Store::open_with(dir, limits, DEFAULT_QUOTA_BYTES)?;
    drop(reopened);
    Ok(ChurnResult {
        churn,
        done: churn.updates,
        elapsed,
        acknowledged,
        written,
        live,
        disk,
        disk_reopened: machine::disk_usage(dir),
    })
}
