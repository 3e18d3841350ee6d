//! Creating and deleting an owner's pods, as upstream's `controller.PodControlInterface`
//! with `slowStartBatch`: creates go out in batches of 1, 2, 4, ... and stop after the
//! first batch with a failure, deletes go out together; each success is recorded as a
//! `SuccessfulCreate`/`SuccessfulDelete` event on the owner, a failed create as
//! `FailedCreate`, and every create or delete that failed (or will never be sent) is
//! marked observed in the owner's [`Expectations`] so the next sync is not held back.
//! The caller counts the pods it is about to create or delete in the expectations first.

use std::sync::Arc;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::expectations::Expectations;
use crate::client::events::{EventRecorder, EventType};
use crate::client::informer::{key_of, Key};
use crate::client::options::DeleteOptions;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::pod;

/// How creates are sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Batches {
    /// 1, 2, 4, ... at a time (upstream's `slowStartBatch`).
    SlowStart,
    /// One at a time: a Job stops at its first failed create without another request.
    OneAtATime,
}

/// One owner's pod control: the client, its recorder, its expectations under `key`, and
/// the owner's involved-object reference (`crate::client::events::reference`) for events.
pub struct PodControl<'a, C: Client> {
    /// Where the creates and deletes go.
    pub client: &'a C,
    /// The owner's event recorder.
    pub events: &'a EventRecorder<C>,
    /// The owner controller's expectations.
    pub expectations: &'a Expectations,
    /// The owner's key in `expectations`.
    pub key: &'a Key,
    /// The owner's involved-object reference, for its events.
    pub owner: &'a Value,
}

impl<'a, C: Client> PodControl<'a, C> {
    /// The pod control of the owner with `key` and involved-object reference `owner`.
    pub fn new(
        client: &'a C,
        events: &'a EventRecorder<C>,
        expectations: &'a Expectations,
        key: &'a Key,
        owner: &'a Value,
    ) -> Self {
        PodControl {
            client,
            events,
            expectations,
            key,
            owner,
        }
    }

    fn event(&self, kind: EventType, reason: &str, action: &str, message: &str) {
        self.events
            .record(self.owner, kind, reason, action, message);
    }

    /// Creates `pods` in namespace `ns`, each as given; stops after a batch with a failure
    /// and returns its first error.
    pub async fn create(
        &self,
        ns: &str,
        pods: Vec<Value>,
        batches: Batches,
    ) -> Result<(), ApiError> {
        let count = pods.len();
        let mut pods = pods.into_iter();
        let mut done = 0;
        let mut batch = 1usize;
        while done < count {
            let n = batch.min(count - done);
            let creates = pods
                .by_ref()
                .take(n)
                .map(|p| self.client.create_named(&pod::RESOURCE, ns, p));
            let mut failure = None;
            for r in join_all(creates).await {
                match r {
                    Ok(name) => {
                        self.event(
                            EventType::Normal,
                            "SuccessfulCreate",
                            "Create",
                            &format!("Created pod: {name}"),
                        );
                    }
                    Err(e) => {
                        self.expectations.creation_observed(self.key);
                        failure.get_or_insert(e);
                    }
                }
            }
            done += n;
            if let Some(e) = failure {
                // The pods of batches never sent will not come either.
                for _ in done..count {
                    self.expectations.creation_observed(self.key);
                }
                self.event(
                    EventType::Warning,
                    "FailedCreate",
                    "Create",
                    &format!("Error creating: {}", e.message),
                );
                return Err(e);
            }
            if batches == Batches::SlowStart {
                batch = batch.saturating_mul(2);
            }
        }
        Ok(())
    }

    /// Deletes `victims` all together; a pod already gone (404) is no error. Every other
    /// failure is a `FailedDelete` event, as upstream's `RealPodControl` records it, and
    /// the first is returned once all are done.
    pub async fn delete(&self, victims: &[Arc<Pod>]) -> Result<(), ApiError> {
        let all = victims.iter().map(|p| async move {
            let r = self.delete_one(p).await;
            (key_of(&**p).1, r)
        });
        let mut first_error = None;
        for (name, r) in join_all(all).await {
            if let Err(e) = self.outcome(&name, r) {
                self.event(
                    EventType::Warning,
                    "FailedDelete",
                    "Delete",
                    &format!("Error deleting: {}", e.message),
                );
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn delete_one(&self, p: &Pod) -> Result<(), ApiError> {
        let (ns, name) = key_of(p);
        self.client
            .delete(&pod::RESOURCE, &ns, &name, &DeleteOptions::default())
            .await
    }

    /// Records a delete's outcome; `Err` only for a failure other than 404.
    fn outcome(&self, name: &str, r: Result<(), ApiError>) -> Result<(), ApiError> {
        match r {
            Ok(()) => {
                self.event(
                    EventType::Normal,
                    "SuccessfulDelete",
                    "Delete",
                    &format!("Deleted pod: {name}"),
                );
                Ok(())
            }
            Err(e) => {
                self.expectations.deletion_observed(self.key);
                if e.code == 404 {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}
