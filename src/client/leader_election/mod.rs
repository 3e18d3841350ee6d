//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's
//! `tools/leaderelection` does it: only one of several servers runs the scheduler and the
//! controllers at a time.
//!
//! A candidate acquires the Lease when nobody holds it or when the holder's record has not
//! changed for the lease duration, timed by this candidate's own clock from when it last
//! saw the record change (never by comparing `renewTime` with the local clock, so clock
//! skew between boards does not matter). The leader renews every retry period and keeps
//! leading while one renewal within the renew deadline succeeds; a failed or conflicting
//! write is retried and only the deadline passing ends leadership. On shutdown the leader
//! clears the holder, so a successor takes over at once.
//!
//! [`run_while_leading`] is the simple face of it: a future runs only while leading, is
//! cancelled when leadership ends, and the candidate campaigns again.

mod record;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::options::{PatchType, Subresource};
use super::status::ApiError;
use super::Client;
use crate::resources::lease;
pub use record::{micro_now, LeaseRecord};

/// The namespace of the control plane's leases (upstream's `kube-system`).
pub const LEASE_NAMESPACE: &str = "kube-system";
/// The scheduler's lease (kube-scheduler's `--leader-elect-resource-name`).
pub const SCHEDULER_LEASE: &str = "kube-scheduler";
/// The controllers' lease (kube-controller-manager's).
pub const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";

/// Released leases carry this duration, as client-go's `release` writes them.
const RELEASED_SECONDS: i64 = 1;
/// client-go's `JitterFactor`: a wait between attempts to acquire lasts up to 1.2 periods.
const JITTER_FACTOR: f64 = 1.2;

/// How long leases last and how often they are tried (upstream's defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionTimings {
    /// How long others wait after the record last changed before taking the lease.
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a renewal before it stops leading.
    pub renew_deadline: Duration,
    /// The wait between attempts.
    pub retry_period: Duration,
}

impl Default for ElectionTimings {
    fn default() -> Self {
        ElectionTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl ElectionTimings {
    /// The duration as the Lease writes it: whole seconds, at least one.
    fn lease_seconds(&self) -> i64 {
        i64::try_from(self.lease_duration.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

/// The identity a candidate campaigns under: `<hostname>_<uuid>`, as kube-scheduler and
/// kube-controller-manager build theirs (unique per process, readable in `kubectl get lease`).
pub fn candidate_identity() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bramble".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// The last record this candidate saw, and when it saw it change.
struct Observed {
    record: LeaseRecord,
    resource_version: String,
    at: Instant,
}

/// Why [`LeaderElector::renew`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewEnd {
    /// No renewal succeeded within the renew deadline: someone else may lead now.
    Lost,
    /// The stop token was cancelled while still leading.
    Stopped,
}

/// One candidate for one Lease.
pub struct LeaderElector<C> {
    client: C,
    namespace: String,
    name: String,
    identity: String,
    timings: ElectionTimings,
    observed: Option<Observed>,
}

impl<C: Client> LeaderElector<C> {
    /// A candidate named `identity` for Lease `namespace/name`.
    pub fn new(
        client: C,
        namespace: &str,
        name: &str,
        identity: String,
        timings: ElectionTimings,
    ) -> Self {
        LeaderElector {
            client,
            namespace: namespace.into(),
            name: name.into(),
            identity,
            timings,
            observed: None,
        }
    }

    /// The identity this candidate campaigns under.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether the last record seen names this candidate as the holder.
    pub fn is_leader(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.record.holder == self.identity)
    }

    /// Whether the last record seen is still within its duration, timed from when it was
    /// seen to change.
    fn lease_valid(&self, now: Instant) -> bool {
        self.observed.as_ref().is_some_and(|o| {
            let secs = u64::try_from(o.record.lease_duration_seconds).unwrap_or(0);
            o.at.checked_add(Duration::from_secs(secs))
                .map_or(true, |end| end > now)
        })
    }

    fn observe(&mut self, record: LeaseRecord, resource_version: String, now: Instant) {
        self.observed = Some(Observed {
            record,
            resource_version,
            at: now,
        });
    }

    /// One attempt (client-go's `tryAcquireOrRenew`): `Ok(true)` when this candidate holds
    /// the lease afterwards, `Ok(false)` when another valid holder has it, `Err` when the
    /// read or the write failed (a conflict included).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, ApiError> {
        let now = Instant::now();
        let stamp = micro_now();
        let mut record = LeaseRecord {
            holder: self.identity.clone(),
            lease_duration_seconds: self.timings.lease_seconds(),
            acquire_time: Some(stamp.clone()),
            renew_time: Some(stamp),
            lease_transitions: 0,
        };
        let current = match self
            .client
            .get(&lease::RESOURCE, &self.namespace, &self.name)
            .await
        {
            Ok(obj) => obj,
            Err(e) if e.code == 404 => {
                let obj = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": record.to_spec(),
                });
                let created = self
                    .client
                    .create(&lease::RESOURCE, &self.namespace, obj)
                    .await?;
                self.observe(record, resource_version(&created), now);
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let seen = LeaseRecord::from_spec(&current["spec"]);
        let rv = resource_version(&current);
        if self.observed.as_ref().map(|o| &o.record) != Some(&seen) {
            self.observe(seen.clone(), rv.clone(), now);
        } else if let Some(o) = self.observed.as_mut() {
            o.resource_version.clone_from(&rv);
        }
        if !seen.holder.is_empty() && self.lease_valid(now) && !self.is_leader() {
            return Ok(false);
        }
        if self.is_leader() {
            record.acquire_time = seen.acquire_time.clone();
            record.lease_transitions = seen.lease_transitions;
        } else {
            record.lease_transitions = seen.lease_transitions.saturating_add(1);
        }
        let patch = json!({"metadata": {"resourceVersion": rv}, "spec": record.to_spec()});
        let updated = self
            .client
            .patch(
                &lease::RESOURCE,
                &self.namespace,
                &self.name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        self.observe(record, resource_version(&updated), now);
        Ok(true)
    }

    /// Tries every retry period (with jitter) until this candidate holds the lease
    /// (`true`) or `stop` is cancelled (`false`). The first attempt is immediate.
    pub async fn acquire(&mut self, stop: &CancellationToken) -> bool {
        let mut logged_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.lease_name(), identity = %self.identity,
                        "acquired the lease");
                    return true;
                }
                Ok(false) => {
                    let holder = self.holder();
                    if holder != logged_holder {
                        tracing::info!(lease = %self.lease_name(), %holder,
                            "the lease is held by another candidate; waiting");
                        logged_holder = holder;
                    }
                }
                Err(e) => {
                    tracing::debug!(lease = %self.lease_name(), error = %e,
                        "could not acquire the lease")
                }
            }
            let wait = self
                .timings
                .retry_period
                .mul_f64(1.0 + rand::random::<f64>() * (JITTER_FACTOR - 1.0));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return false,
            }
        }
    }

    /// Renews every retry period while leading; ends when no renewal succeeded within the
    /// renew deadline ([`RenewEnd::Lost`]) or when `stop` is cancelled.
    pub async fn renew(&mut self, stop: &CancellationToken) -> RenewEnd {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.timings.retry_period) => {}
                _ = stop.cancelled() => return RenewEnd::Stopped,
            }
            let deadline = Instant::now() + self.timings.renew_deadline;
            loop {
                let attempt = tokio::time::timeout_at(deadline, self.try_acquire_or_renew());
                let failure = tokio::select! {
                    r = attempt => match r {
                        Ok(Ok(true)) => break,
                        Ok(Ok(false)) => "another candidate holds the lease".to_string(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "the renewal timed out".to_string(),
                    },
                    _ = stop.cancelled() => return RenewEnd::Stopped,
                };
                let next = Instant::now() + self.timings.retry_period;
                if next >= deadline {
                    tracing::warn!(lease = %self.lease_name(), reason = %failure,
                        "failed to renew the lease within the renew deadline; leadership lost");
                    return RenewEnd::Lost;
                }
                tracing::debug!(lease = %self.lease_name(), reason = %failure,
                    "could not renew the lease; retrying");
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stop.cancelled() => return RenewEnd::Stopped,
                }
            }
        }
    }

    /// Gives the lease up (client-go's `release`): the holder cleared and the duration
    /// shortened, so the next candidate takes over without waiting. Only the holder
    /// releases, and only the record it last wrote (a resourceVersion precondition).
    pub async fn release(&mut self) {
        if !self.is_leader() {
            return;
        }
        let Some(observed) = self.observed.as_ref() else {
            return;
        };
        let stamp = micro_now();
        let record = LeaseRecord {
            holder: String::new(),
            lease_duration_seconds: RELEASED_SECONDS,
            acquire_time: Some(stamp.clone()),
            renew_time: Some(stamp),
            lease_transitions: observed.record.lease_transitions,
        };
        let patch = json!({"metadata": {"resourceVersion": observed.resource_version},
                           "spec": record.to_spec()});
        match self
            .client
            .patch(
                &lease::RESOURCE,
                &self.namespace,
                &self.name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await
        {
            Ok(updated) => {
                tracing::info!(lease = %self.lease_name(), "released the lease");
                self.observe(record, resource_version(&updated), Instant::now());
            }
            Err(e) => {
                tracing::warn!(lease = %self.lease_name(), error = %e, "could not release the lease")
            }
        }
    }

    fn holder(&self) -> String {
        self.observed
            .as_ref()
            .map(|o| o.record.holder.clone())
            .unwrap_or_default()
    }

    fn lease_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn resource_version(obj: &Value) -> String {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs `work` only while `elector` holds its lease, until `stop` is cancelled: `work` gets
/// a token cancelled when leadership ends, and is awaited before the candidate campaigns
/// again or releases the lease, so two holders never run it at once in one process.
pub async fn run_while_leading<C, F, Fut>(
    mut elector: LeaderElector<C>,
    stop: CancellationToken,
    mut work: F,
) where
    C: Client,
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        if !elector.acquire(&stop).await {
            return;
        }
        let term = stop.child_token();
        let mut running = tokio::spawn(work(term.clone()));
        let renewed = tokio::select! {
            end = elector.renew(&stop) => Some(end),
            ended = &mut running => {
                if let Err(e) = ended {
                    tracing::error!(error = %e, "a leader's work failed");
                }
                None
            }
        };
        let end = match renewed {
            Some(end) => {
                term.cancel();
                if let Err(e) = running.await {
                    tracing::error!(error = %e, "a leader's work failed");
                }
                end
            }
            // The work ended by itself: keep the lease until stopped or lost, as the
            // upstream components do not give it up either.
            None => elector.renew(&stop).await,
        };
        term.cancel();
        if end == RenewEnd::Stopped {
            elector.release().await;
            return;
        }
    }
}

/// [`run_while_leading`] for Lease `kube-system/<lease>` with a fresh candidate identity and
/// upstream's timings: what the server uses for the scheduler and the controllers.
pub async fn lead<C, F, Fut>(client: C, lease: &str, stop: CancellationToken, work: F)
where
    C: Client,
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let elector = LeaderElector::new(
        client,
        LEASE_NAMESPACE,
        lease,
        candidate_identity(),
        ElectionTimings::default(),
    );
    run_while_leading(elector, stop, work).await
}
