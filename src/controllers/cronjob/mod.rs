//! The CronJob controller, as kube-controller-manager's v2 one: at each time of its
//! schedule (in `spec.timeZone`) a CronJob creates the Job `<cronjob>-<minutes since the
//! epoch>` from its `jobTemplate`, honouring `suspend`, `concurrencyPolicy` and
//! `startingDeadlineSeconds`; it tracks its running Jobs in `status.active`, records
//! `lastScheduleTime` and `lastSuccessfulTime`, deletes finished Jobs beyond its history
//! limits, and looks again at its next scheduled time. A Job change queues its CronJob.

mod schedule;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use serde_json::{json, Value};

use super::pods::{controller_of, owner_in};
use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::Action;
use crate::client::informer::{key_of, Informer, Informers, Unserved};
use crate::client::options::DeleteOptions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::status_patch::patch_status;
use crate::resources::cron::{Schedule, Zone};
use crate::resources::lookup_kind;

/// The component name, as upstream's.
pub const COMPONENT: &str = "cronjob-controller";
/// The annotation with the time a Job was scheduled for.
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const BY_CONTROLLER: &str = "cronjob-controller-uid";

/// The controller and what it reads.
pub struct CronJobController<C: Client> {
    client: C,
    crons: Informer<CronJob>,
    jobs: Informer<Job>,
}

fn job_controller_uid(j: &Job) -> Vec<String> {
    controller_of(&j.metadata)
        .filter(|r| r.kind == "CronJob")
        .map(|r| r.uid.clone())
        .into_iter()
        .collect()
}

impl<C: Client> CronJobController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(informers: &Informers<C>) -> Result<(Self, Informer<CronJob>, WorkQueue), Unserved> {
        let crons = informers.get::<CronJob>()?;
        let jobs = informers.get::<Job>()?;
        jobs.add_index(BY_CONTROLLER, job_controller_uid);
        let queue = WorkQueue::default();
        {
            let (queue, crons) = (queue.clone(), crons.clone());
            jobs.on_change(move |c| {
                if let Some(k) = owner_in(&crons, &c.object().metadata) {
                    queue.add(k);
                }
            });
        }
        Ok((
            CronJobController {
                client: informers.client().clone(),
                crons: crons.clone(),
                jobs,
            },
            crons,
            queue,
        ))
    }

    /// Resolves once the informers this controller reads have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (crons, jobs) = (self.crons.clone(), self.jobs.clone());
        async move {
            crons.wait_synced().await;
            jobs.wait_synced().await;
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `Complete` or `Failed`, with when, if the Job finished.
fn finished(j: &Job) -> Option<(bool, DateTime<Utc>)> {
    j.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find_map(|c| {
            (matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True").then(|| {
                let at = c
                    .last_transition_time
                    .as_ref()
                    .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0);
                (c.type_ == "Complete", at)
            })
        })
}

fn reference(j: &Job) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "name": j.metadata.name,
        "namespace": j.metadata.namespace, "uid": j.metadata.uid,
        "resourceVersion": j.metadata.resource_version})
}

impl<C: Client> CronJobController<C> {
    async fn delete_job(&self, j: &Job) -> Result<(), ApiError> {
        let rt = lookup_kind("batch/v1", "Job")
            .ok_or_else(|| ApiError::internal("the API serves no Job"))?;
        let (ns, name) = key_of(j);
        let opts = DeleteOptions {
            propagation_policy: Some("Background".into()),
            ..DeleteOptions::default()
        };
        match self.client.delete(rt, &ns, &name, &opts).await {
            Err(e) if e.code != 404 => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes the oldest finished Jobs beyond the history limits.
    async fn clean_history(&self, cj: &CronJob, jobs: &[Arc<Job>]) -> Result<(), ApiError> {
        let spec = cj.spec.as_ref();
        for (complete, limit) in [
            (
                true,
                spec.and_then(|s| s.successful_jobs_history_limit)
                    .unwrap_or(3),
            ),
            (
                false,
                spec.and_then(|s| s.failed_jobs_history_limit).unwrap_or(1),
            ),
        ] {
            let mut done: Vec<(DateTime<Utc>, &Arc<Job>)> = jobs
                .iter()
                .filter_map(|j| finished(j).filter(|f| f.0 == complete).map(|f| (f.1, j)))
                .collect();
            done.sort_by_key(|(at, _)| *at);
            let extra = done
                .len()
                .saturating_sub(usize::try_from(limit).unwrap_or(0));
            for (_, j) in done.into_iter().take(extra) {
                self.delete_job(j).await?;
            }
        }
        Ok(())
    }

    /// A Job for the run scheduled at `at`.
    fn new_job(cj: &CronJob, at: DateTime<Utc>) -> Value {
        let (ns, name) = key_of(cj);
        let template = cj
            .spec
            .as_ref()
            .map(|s| s.job_template.clone())
            .unwrap_or_default();
        let meta = template.metadata.unwrap_or_default();
        let mut annotations = meta.annotations.unwrap_or_default();
        annotations.insert(
            SCHEDULED_AT.into(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": format!("{name}-{}", at.timestamp().div_euclid(60)),
                "namespace": ns,
                "labels": meta.labels,
                "annotations": annotations,
                "ownerReferences": [super::pods::owner_reference("batch/v1", "CronJob", &name,
                    cj.metadata.uid.as_deref().unwrap_or_default())],
            },
            "spec": template.spec,
        })
    }
}

impl<C: Client> Controller for CronJobController<C> {
    type Kind = CronJob;

    fn name(&self) -> &'static str {
        COMPONENT
    }

    async fn reconcile(&self, cj: Arc<CronJob>) -> Result<Action, ApiError> {
        let now = Utc::now();
        let (ns, name) = key_of(&*cj);
        let uid = cj.metadata.uid.clone().unwrap_or_default();
        let jobs = self.jobs.by_index(BY_CONTROLLER, &uid);
        let old =
            serde_json::to_value(cj.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        let mut active: Vec<Value> = jobs
            .iter()
            .filter(|j| finished(j).is_none())
            .map(|j| reference(j))
            .collect();
        let mut last_success = old.get("lastSuccessfulTime").cloned();
        for j in &jobs {
            if let Some((true, at)) = finished(j) {
                let newer = last_success
                    .as_ref()
                    .and_then(Value::as_str)
                    .map_or(true, |t| *t < *stamp(at));
                if newer {
                    last_success = Some(json!(stamp(at)));
                }
            }
        }
        let mut last_schedule = old.get("lastScheduleTime").cloned();
        let mut requeue = Action::Done;
        let spec = cj.spec.clone().unwrap_or_default();
        if cj.metadata.deletion_timestamp.is_none() {
            let parsed = Schedule::parse(&spec.schedule)
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    Zone::load(spec.time_zone.as_deref().unwrap_or("UTC"))
                        .map(|z| (s, z))
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Err(e) => {
                    tracing::warn!(namespace = %ns, name = %name, error = %e, "unparseable schedule")
                }
                Ok((sched, zone)) => {
                    let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
                    let mut earliest = last_schedule
                        .as_ref()
                        .and_then(Value::as_str)
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map_or(created, |t| t.with_timezone(&Utc));
                    if let Some(sds) = spec.starting_deadline_seconds {
                        earliest = earliest.max(now - chrono::Duration::seconds(sds));
                    }
                    if spec.suspend != Some(true) {
                        if let Some(due) = schedule::most_recent(&sched, &zone, earliest, now) {
                            if due.many_missed {
                                tracing::warn!(namespace = %ns, name = %name, "too many missed start times; running only the most recent");
                            }
                            let job_name = format!("{name}-{}", due.at.timestamp().div_euclid(60));
                            let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
                            let exists = jobs
                                .iter()
                                .any(|j| j.metadata.name.as_deref() == Some(&*job_name));
                            if exists {
                                // This run's Job was made already; wait for the next one.
                            } else if policy == "Forbid" && !active.is_empty() {
                                tracing::debug!(namespace = %ns, name = %name, "not starting a job: one is still running");
                            } else {
                                if policy == "Replace" {
                                    for j in jobs.iter().filter(|j| finished(j).is_none()) {
                                        self.delete_job(j).await?;
                                    }
                                    active.clear();
                                }
                                let rt = lookup_kind("batch/v1", "Job")
                                    .ok_or_else(|| ApiError::internal("the API serves no Job"))?;
                                match self.client.create(rt, &ns, Self::new_job(&cj, due.at)).await {
                                    Ok(created) => active.push(json!({"apiVersion": "batch/v1", "kind": "Job",
                                        "name": job_name, "namespace": ns, "uid": created["metadata"]["uid"],
                                        "resourceVersion": created["metadata"]["resourceVersion"]})),
                                    Err(e) if e.code == 409 => {}
                                    Err(e) => return Err(e),
                                }
                                last_schedule = Some(json!(stamp(due.at)));
                            }
                        }
                    }
                    if let Some(next) = sched.next_after(now, &zone) {
                        let wait = (next - now).to_std().unwrap_or_default();
                        requeue = Action::RequeueAfter(wait + Duration::from_millis(100));
                    }
                }
            }
        }
        self.clean_history(&cj, &jobs).await?;
        // An empty list is left out, as upstream's `omitempty`: null removes it.
        let active = if active.is_empty() {
            Value::Null
        } else {
            json!(active)
        };
        let status = json!({"active": active, "lastScheduleTime": last_schedule, "lastSuccessfulTime": last_success});
        let same = status.as_object().into_iter().flatten().all(|(k, v)| {
            let o = old.get(k).cloned().unwrap_or(Value::Null);
            o == *v || (o.is_null() && v.as_array().is_some_and(Vec::is_empty))
        });
        if !same && !patch_status(&self.client, &*cj, status).await? {
            return Ok(Action::Done);
        }
        Ok(requeue)
    }
}
