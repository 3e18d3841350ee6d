//! One sync of a Job, as upstream's `syncJob`: count its pods, decide ([`super::decide`]),
//! start or stop pods (an Indexed Job's pods carry their index in an annotation, a label,
//! the `JOB_COMPLETION_INDEX` variable and the hostname `<job>-<index>`), write the
//! status with its conditions when it changed, and delete a finished Job whose
//! `ttlSecondsAfterFinished` has passed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::backoff;
use super::decide::{self, Finish, Next, Observed, Settings};
use super::pod::{index_of, new_pod};
use super::JobController;
use crate::client::events::{reference, EventType};
use crate::client::informer::key_of;
use crate::client::options::{DeleteOptions, Preconditions};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::pod_control::{Batches, PodControl};
use crate::controllers::pods;
use crate::controllers::status_patch::patch_status;
use crate::controllers::Action;
use crate::resources::lookup_kind;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The time the Job finished (`Complete` or `Failed` condition True), if it has.
fn finished_at(job: &Job) -> Option<DateTime<Utc>> {
    let s = job.status.as_ref()?;
    s.conditions.iter().flatten().find_map(|c| {
        (matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True").then(|| {
            s.completion_time
                .as_ref()
                .or(c.last_transition_time.as_ref())
                .map_or_else(Utc::now, |t| t.0)
        })
    })
}

/// Upstream's TTL-after-finished controller: delete the Job (dependents in the background)
/// once `ttlSecondsAfterFinished` has passed, else look again then.
async fn expire<C: Client>(
    c: &JobController<C>,
    job: &Job,
    at: DateTime<Utc>,
) -> Result<Action, ApiError> {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return Ok(Action::Done);
    };
    let due = at + chrono::Duration::seconds(i64::from(ttl));
    let now = Utc::now();
    if due > now {
        return Ok(Action::RequeueAfter(
            (due - now).to_std().unwrap_or_default(),
        ));
    }
    let rt = lookup_kind("batch/v1", "Job")
        .ok_or_else(|| ApiError::internal("the API serves no Job"))?;
    let (ns, name) = key_of(job);
    let opts = DeleteOptions {
        propagation_policy: Some("Background".into()),
        preconditions: Some(Preconditions {
            uid: job.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteOptions::default()
    };
    tracing::info!(namespace = %ns, name = %name, "deleting finished job past its ttlSecondsAfterFinished");
    match c.client.delete(rt, &ns, &name, &opts).await {
        Ok(()) => Ok(Action::Done),
        Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

async fn delete_pods<C: Client>(
    c: &JobController<C>,
    job: &Job,
    victims: &[Arc<Pod>],
) -> Result<(), ApiError> {
    if victims.is_empty() {
        return Ok(());
    }
    let (key, owner) = (key_of(job), reference(job));
    c.expectations.expect(&key, 0, victims.len());
    PodControl::new(&c.client, &c.events, &c.expectations, &key, &owner)
        .delete(victims)
        .await
}

async fn create_pods<C: Client>(
    c: &JobController<C>,
    job: &Job,
    n: usize,
    indexes: &[i32],
) -> Result<(), ApiError> {
    if n == 0 {
        return Ok(());
    }
    // Made before the expectations are raised: a Job whose pods cannot be made expects none.
    let pods = (0..n)
        .map(|k| new_pod(job, indexes.get(k).copied()))
        .collect::<Result<Vec<_>, _>>()?;
    let (key, owner) = (key_of(job), reference(job));
    c.expectations.expect(&key, n, 0);
    // One at a time, stopping at the first failure, as this controller has always done.
    PodControl::new(&c.client, &c.events, &c.expectations, &key, &owner)
        .create(&key.0, pods, Batches::OneAtATime)
        .await
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    old: &Value,
) -> Value {
    let kept = old["conditions"].as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c["type"] == type_ && c["status"] == status && c["reason"] == reason)
            .cloned()
    });
    kept.unwrap_or_else(|| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastProbeTime": now, "lastTransitionTime": now})
    })
}

/// Counts the pods, decides, acts and writes the status.
pub(super) async fn sync<C: Client>(
    c: &JobController<C>,
    job: &Job,
    owned: Vec<Arc<Pod>>,
) -> Result<Action, ApiError> {
    let now = Utc::now();
    let active: Vec<Arc<Pod>> = owned
        .iter()
        .filter(|p| pods::is_active(p))
        .cloned()
        .collect();
    if let Some(at) = finished_at(job) {
        delete_pods(c, job, &active).await?;
        return expire(c, job, at).await;
    }
    let spec = job.spec.clone().unwrap_or_default();
    let old = serde_json::to_value(job.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let succeeded_pods: Vec<&Arc<Pod>> = owned
        .iter()
        .filter(|p| pods::phase(p) == "Succeeded")
        .collect();
    let mut completed: BTreeSet<i32> =
        decide::parse_indexes(old["completedIndexes"].as_str().unwrap_or(""));
    if indexed {
        let n = spec.completions.unwrap_or(0);
        completed.extend(
            succeeded_pods
                .iter()
                .filter_map(|p| index_of(p))
                .filter(|i| (0..n).contains(i)),
        );
    }
    let old_count = |f: &str| i32::try_from(old[f].as_i64().unwrap_or(0)).unwrap_or(0);
    // Pods that ended may be removed (pod GC): the counts never go back.
    let succeeded = if indexed {
        count(completed.len())
    } else {
        old_count("succeeded").max(count(succeeded_pods.len()))
    };
    let failed = old_count("failed").max(count(
        owned.iter().filter(|p| pods::phase(p) == "Failed").count(),
    ));
    let suspended = spec.suspend == Some(true);
    let start_time = match old["startTime"].as_str() {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        None if !suspended => Some(now),
        None => None,
    };
    let settings = Settings {
        parallelism: spec.parallelism.unwrap_or(1),
        completions: spec.completions,
        backoff_limit: spec.backoff_limit.unwrap_or(6),
        indexed,
        suspended,
        running_for: start_time
            .filter(|_| !suspended)
            .map(|t| (now - t).num_seconds()),
        active_deadline: spec.active_deadline_seconds,
    };
    let observed = Observed {
        active: count(active.len()),
        succeeded,
        failed,
        running: active.iter().filter_map(|p| index_of(p)).collect(),
        completed: completed.clone(),
    };
    let decision = decide::next(&settings, &observed);
    let key = key_of(job);
    let ts = stamp(now);
    let mut conditions: Vec<Value> = old["conditions"].as_array().cloned().unwrap_or_default();
    conditions.retain(|c| c["type"] != "Suspended");
    let mut completion_time = old.get("completionTime").cloned();
    let mut failure = None;
    let mut finished = false;
    // Recorded once the status saying so is written.
    let mut news: Option<(EventType, &str, &str)> = None;
    let mut backing_off = None;
    let was_suspended = old["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Suspended" && c["status"] == "True")
    });
    match &decision {
        Next::Finished(f) => {
            finished = true;
            delete_pods(c, job, &active).await?;
            let (reason, message, targets) = match f {
                Finish::Complete => {
                    completion_time = Some(json!(ts));
                    news = Some((EventType::Normal, "Completed", "Job completed"));
                    (
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        ["SuccessCriteriaMet", "Complete"],
                    )
                }
                Finish::Failed { reason, message } => {
                    news = Some((EventType::Warning, *reason, *message));
                    (*reason, *message, ["FailureTarget", "Failed"])
                }
            };
            for t in targets {
                conditions.retain(|c| c["type"] != t);
                conditions.push(condition(t, "True", reason, message, &ts, &old));
            }
        }
        Next::Run {
            create,
            indexes,
            surplus,
        } => {
            if c.expectations.satisfied(&key) {
                let mut victims = active.clone();
                pods::sort_for_deletion(&mut victims);
                victims.truncate(*surplus);
                backing_off = (*create > 0)
                    .then(|| backoff::remaining(&owned, now))
                    .flatten();
                let create = if backing_off.is_some() { 0 } else { *create };
                if let Err(e) = delete_pods(c, job, &victims).await {
                    failure = Some(e);
                } else if let Err(e) = create_pods(c, job, create, indexes).await {
                    failure = Some(e);
                }
            }
            if suspended && !was_suspended {
                news = Some((EventType::Normal, "Suspended", "Job suspended"));
            } else if !suspended && was_suspended {
                news = Some((EventType::Normal, "Resumed", "Job resumed"));
            }
            if suspended {
                conditions.push(condition(
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    &ts,
                    &old,
                ));
            }
        }
    }
    let ready = count(active.iter().filter(|p| pods::is_ready(p)).count());
    let terminating = count(
        owned
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_some()
                    && !matches!(pods::phase(p), "Succeeded" | "Failed")
            })
            .count(),
    );
    let mut status = json!({
        "active": if finished { 0 } else { count(active.len()) },
        "ready": ready,
        "succeeded": succeeded,
        "failed": failed,
        "terminating": terminating,
        "conditions": conditions,
    });
    if let Some(t) = start_time {
        status["startTime"] = json!(stamp(t));
    }
    if let Some(t) = completion_time.filter(|t| !t.is_null()) {
        status["completionTime"] = t;
    }
    if indexed {
        status["completedIndexes"] = json!(decide::format_indexes(&completed));
    }
    let unchanged = status.as_object().into_iter().flatten().all(|(k, v)| {
        old.get(k).unwrap_or(&json!(0)) == v
            || (old.get(k).is_none() && v.as_array().is_some_and(Vec::is_empty))
    });
    if !unchanged {
        if !patch_status(&c.client, job, status).await? {
            return Ok(Action::Done);
        }
        if let Some((kind, reason, message)) = news {
            c.events.record(&reference(job), kind, reason, "", message);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // The deadline passes, or the backoff ends, without any pod changing: look again then.
    let deadline = match (settings.running_for, settings.active_deadline) {
        (Some(ran), Some(d)) if !finished && d > ran => {
            Some(Duration::from_secs(u64::try_from(d - ran).unwrap_or(0)))
        }
        _ => None,
    };
    match deadline.into_iter().chain(backing_off).min() {
        Some(d) => Ok(Action::RequeueAfter(d)),
        None => Ok(Action::Done),
    }
}
