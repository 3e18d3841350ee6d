//! Writes: a read-modify-write becomes one etcd transaction that compares the key's
//! `mod_revision` with the state the caller's closure decided on (`create_revision == 0`
//! when it saw no object) and puts or deletes. When another server got there first, the
//! transaction's failure branch returns the key's fresh state and the closure decides again.
//! A write etcd accepted at revision R is acknowledged once the follower has published R
//! into the hub, so the writer reads its own write from this server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::follow::restamped;
use super::gateway;
use super::lease::is_event;
use super::load::{object_of, stamped};
use super::wire::{self, RangeResponse, TxnResponse};
use super::Backend;
use crate::store::hub::EventType;
use crate::store::{
    set_resource_version, Mutation, Object, ObjectKey, Outcome, StoreError, MAX_OBJECT_BYTES,
};

/// How long a write keeps trying while etcd has no leader or cannot be reached.
const RETRY_FOR: Duration = Duration::from_secs(15);
/// The first wait between those tries; it doubles up to a second.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// How long an accepted write may take to come back through the watch.
const PUBLISH_WAIT: Duration = Duration::from_secs(30);

impl Backend {
    /// The read-modify-write of [`crate::store::Store::mutate`] on etcd.
    pub(in crate::store) async fn mutate<E, F>(
        &self,
        key: &ObjectKey,
        _ephemeral: bool,
        mut f: F,
    ) -> Result<Outcome, E>
    where
        F: FnMut(Option<&Object>) -> Result<Mutation, E>,
        E: From<StoreError>,
    {
        let etcd_key = self.etcd_key(key);
        let mut current = self.hub_lock().get(key);
        // Whether `current` was read from etcd rather than from the hub, which may lag.
        let mut fresh = false;
        let started = Instant::now();
        loop {
            let mutation = match f(current.as_deref()) {
                Ok(m) => m,
                Err(e) if !fresh => {
                    // The closure refused what the hub holds; decide again on etcd's
                    // own state if the hub was behind.
                    let latest = self.read(&etcd_key).await?;
                    fresh = true;
                    if latest.as_ref().map(|o| o.revision) == current.as_ref().map(|o| o.revision) {
                        return Err(e);
                    }
                    current = latest;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (operation, value, written) = match mutation {
                Mutation::Unchanged => {
                    return Ok(Outcome {
                        kind: None,
                        object: current,
                    })
                }
                Mutation::Put(mut value) => {
                    // The revision is etcd's, stamped when read: the stored text has none.
                    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.remove("resourceVersion");
                    }
                    let text = serde_json::to_vec(&value).map_err(StoreError::from)?;
                    self.check_size(text.len(), current.as_deref())?;
                    let mut put = json!({"key": wire::b64(&etcd_key), "value": wire::b64(&text)});
                    if is_event(key) {
                        put["lease"] = json!(self.events.get(&self.gateway).await?.to_string());
                    }
                    (json!({"request_put": put}), Some(value), Some(text))
                }
                Mutation::Delete => {
                    if current.is_none() {
                        return Ok(Outcome {
                            kind: None,
                            object: None,
                        });
                    }
                    (
                        json!({"request_delete_range": {"key": wire::b64(&etcd_key)}}),
                        None,
                        None,
                    )
                }
            };
            let compare = match &current {
                Some(o) => json!({"key": wire::b64(&etcd_key), "target": "MOD",
                    "result": "EQUAL", "mod_revision": o.revision.to_string()}),
                None => json!({"key": wire::b64(&etcd_key), "target": "CREATE",
                    "result": "EQUAL", "create_revision": "0"}),
            };
            let txn = json!({
                "compare": [compare],
                "success": [operation],
                "failure": [{"request_range": {"key": wire::b64(&etcd_key)}}],
            });
            let (answer, retried) = match self.call_retrying(&txn, started).await {
                Ok(a) => a,
                Err(e) if e.to_string().contains("lease not found") => {
                    self.events.forget().await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // The compare failed: the key's state now, returned by the failure branch.
            let kv = (!answer.succeeded)
                .then(|| {
                    answer
                        .responses
                        .into_iter()
                        .next()
                        .and_then(|r| r.response_range)
                        .and_then(|r| r.kvs.into_iter().next())
                })
                .flatten();
            let applied_at = if answer.succeeded {
                Some(answer.header.revision)
            } else if retried {
                lost_answer_applied(written.as_deref(), kv.as_ref(), answer.header.revision)
            } else {
                None
            };
            if let Some(revision) = applied_at {
                self.published(revision).await?;
                let (kind, object) = match value {
                    Some(mut value) => {
                        set_resource_version(&mut value, revision);
                        let kind = if current.is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        };
                        (kind, Object::from_value(revision, &value)?)
                    }
                    None => {
                        let last = current
                            .as_deref()
                            .ok_or(StoreError::EtcdBehind { revision })?;
                        (EventType::Deleted, restamped(last, revision))
                    }
                };
                return Ok(Outcome {
                    kind: Some(kind),
                    object: Some(Arc::new(object)),
                });
            }
            // Someone else changed the object: decide again on its fresh state.
            current = match kv {
                None => None,
                Some(kv) => Some(self.object(&kv)?),
            };
            fresh = true;
        }
    }

    /// The object etcd holds at `etcd_key`, read now.
    async fn read(&self, etcd_key: &[u8]) -> Result<Option<Arc<Object>>, StoreError> {
        let answer: RangeResponse = self
            .gateway
            .call("/v3/kv/range", &wire::range(etcd_key, &[], 0, 0))
            .await?;
        match answer.kvs.into_iter().next() {
            None => Ok(None),
            Some(kv) => self.object(&kv).map(Some),
        }
    }

    /// The object in a key-value read for a write; one that is not a stored object cannot
    /// be decided on.
    fn object(&self, kv: &wire::KeyValue) -> Result<Arc<Object>, StoreError> {
        match object_of(&self.prefix, kv) {
            Some((_, o)) => Ok(o),
            None => Err(stamped(&kv.value, kv.mod_revision)
                .err()
                .unwrap_or_else(|| StoreError::EtcdConfig("the key is not an object's".into()))),
        }
    }

    /// The object limit and the quota, as the sled backend checks them.
    fn check_size(&self, size: usize, current: Option<&Object>) -> Result<(), StoreError> {
        if size > MAX_OBJECT_BYTES {
            return Err(StoreError::TooLarge { size });
        }
        let old = current.map_or(0, |c| c.size);
        let stored = self.hub_lock().object_bytes();
        let needed = stored.saturating_sub(old).saturating_add(size);
        if size > old && needed > self.quota {
            return Err(StoreError::QuotaExceeded {
                needed,
                quota: self.quota,
            });
        }
        Ok(())
    }

    /// A transaction, tried again while etcd has no leader or no endpoint answers, for up
    /// to [`RETRY_FOR`] from `started`; with the answer, whether an earlier try failed. A
    /// try whose answer was lost may have been applied: the next then fails its compare,
    /// and [`lost_answer_applied`] tells whether the state it finds is that write.
    async fn call_retrying(
        &self,
        txn: &Value,
        started: Instant,
    ) -> Result<(TxnResponse, bool), StoreError> {
        let mut backoff = FIRST_BACKOFF;
        let mut retried = false;
        loop {
            match self.gateway.call_noting_failures("/v3/kv/txn", txn).await {
                Err(e) if gateway::is_transient(&e) && started.elapsed() < RETRY_FOR => {
                    tracing::debug!(error = %e, "etcd write failed; trying again");
                    retried = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                other => return other.map(|(answer, failed)| (answer, retried || failed)),
            }
        }
    }

    /// Waits until the follower has published `revision` into the hub.
    async fn published(&self, revision: u64) -> Result<(), StoreError> {
        let mut published = self.hub_lock().subscribe();
        let wait = async {
            loop {
                if *published.borrow_and_update() >= revision {
                    return true;
                }
                if published.changed().await.is_err() {
                    return false;
                }
            }
        };
        match tokio::time::timeout(PUBLISH_WAIT, wait).await {
            Ok(true) => Ok(()),
            _ => Err(StoreError::EtcdBehind { revision }),
        }
    }

    fn hub_lock(&self) -> std::sync::MutexGuard<'_, crate::store::hub::Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a write whose first try lost its answer was applied by that try, judged from the
/// key's state found by a later try whose compare failed: a put was applied when the key
/// holds exactly the bytes it wrote (an object's text carries its uid, generation and
/// timestamps, so no other write leaves the same bytes), a delete when the key is gone.
/// Returns the revision to acknowledge: the put's own, or for a delete the revision the
/// later try was served at, which is at or after it.
fn lost_answer_applied(
    written: Option<&[u8]>,
    found: Option<&wire::KeyValue>,
    served_at: u64,
) -> Option<u64> {
    match (written, found) {
        (Some(text), Some(kv)) => (kv.value == text).then_some(kv.mod_revision),
        (None, None) => Some(served_at),
        _ => None,
    }
}

#[cfg(test)]
mod lost_answer_tests {
    use super::*;

    fn kv(value: &[u8], mod_revision: u64) -> wire::KeyValue {
        wire::KeyValue {
            value: value.to_vec(),
            mod_revision,
            ..Default::default()
        }
    }

    #[test]
    fn a_put_found_in_place_was_applied_at_its_own_revision() {
        let text = br#"{"metadata":{"uid":"a"}}"#;
        assert_eq!(
            lost_answer_applied(Some(text), Some(&kv(text, 41)), 45),
            Some(41)
        );
    }

    #[test]
    fn a_put_finding_other_bytes_or_no_key_was_not_applied() {
        let text = br#"{"metadata":{"uid":"a"}}"#;
        let other = br#"{"metadata":{"uid":"b"}}"#;
        assert_eq!(
            lost_answer_applied(Some(text), Some(&kv(other, 41)), 45),
            None
        );
        assert_eq!(lost_answer_applied(Some(text), None, 45), None);
    }

    #[test]
    fn a_delete_finding_the_key_gone_was_applied() {
        assert_eq!(lost_answer_applied(None, None, 45), Some(45));
        assert_eq!(lost_answer_applied(None, Some(&kv(b"{}", 41)), 45), None);
    }
}
