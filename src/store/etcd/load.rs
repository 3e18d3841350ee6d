//! Reading the whole prefix: a paged range, every page at the revision of the first, so the
//! objects are one consistent snapshot; and the conversion of etcd's key-values into the
//! hub's objects, stamped with their `mod_revision`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::gateway::Gateway;
use super::wire::{self, KeyValue, RangeResponse};
use crate::store::{set_resource_version, Object, ObjectKey, StoreError};

/// Keys per page.
const PAGE: u64 = 100;
/// How often a list is started again when etcd compacts past its revision while paging.
const ATTEMPTS: usize = 5;

/// Every object under the prefix at one revision.
pub(super) struct Loaded {
    pub objects: BTreeMap<ObjectKey, Arc<Object>>,
    pub revision: u64,
}

/// Lists every object under `prefix`.
pub(super) async fn list(gateway: &Gateway, prefix: &str) -> Result<Loaded, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match list_once(gateway, prefix).await {
            Err(e) if is_compacted(&e) && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, "etcd compacted while listing; listing again");
            }
            other => return other,
        }
    }
}

async fn list_once(gateway: &Gateway, prefix: &str) -> Result<Loaded, StoreError> {
    let end = wire::prefix_end(prefix.as_bytes());
    let mut objects = BTreeMap::new();
    let mut from = prefix.as_bytes().to_vec();
    let mut revision = 0;
    loop {
        let page: RangeResponse = gateway
            .call("/v3/kv/range", &wire::range(&from, &end, revision, PAGE))
            .await?;
        if revision == 0 {
            revision = page.header.revision;
        }
        let Some(last) = page.kvs.last() else { break };
        // The next page starts just after this one's last key.
        from = last.key.clone();
        from.push(0);
        for kv in page.kvs {
            if let Some((key, object)) = object_of(prefix, &kv) {
                objects.insert(key, object);
            }
        }
        if !page.more {
            break;
        }
    }
    Ok(Loaded { objects, revision })
}

/// Whether etcd refused because the revision asked for has been compacted.
pub(super) fn is_compacted(e: &StoreError) -> bool {
    matches!(e, StoreError::Etcd { message, .. } if message.contains("compacted"))
}

/// The hub's key of an etcd key under `prefix`; `None` for keys that are not the store's.
pub(super) fn key_of(prefix: &str, key: &[u8]) -> Option<ObjectKey> {
    let text = std::str::from_utf8(key).ok()?;
    let rest = text.strip_prefix(prefix)?;
    rest.starts_with("o/")
        .then(|| ObjectKey::from_raw(rest.to_string()))
}

/// The object etcd holds in `kv`, stamped with its `mod_revision`; `None` (logged) when the
/// key is not the store's or the value is not a JSON object.
pub(super) fn object_of(prefix: &str, kv: &KeyValue) -> Option<(ObjectKey, Arc<Object>)> {
    let key = key_of(prefix, &kv.key)?;
    match stamped(&kv.value, kv.mod_revision) {
        Ok(object) => Some((key, Arc::new(object))),
        Err(e) => {
            tracing::warn!(%key, error = %e, "skipping an etcd value that is not a stored object");
            None
        }
    }
}

/// `json` as an object whose `metadata.resourceVersion` is `revision`.
pub(super) fn stamped(json: &[u8], revision: u64) -> Result<Object, StoreError> {
    let mut value: Value = serde_json::from_slice(json)?;
    if !value.is_object() {
        return Err(StoreError::Json(serde::de::Error::custom(
            "the value is not a JSON object",
        )));
    }
    set_resource_version(&mut value, revision);
    Object::from_value(revision, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stamped_with_etcds_revision_not_their_own() {
        let o = stamped(br#"{"metadata":{"name":"a","resourceVersion":"999"}}"#, 12).unwrap();
        assert_eq!(o.revision, 12);
        assert_eq!(o.value()["metadata"]["resourceVersion"], "12");
        assert!(stamped(b"[1]", 1).is_err());
        assert!(stamped(b"\xff", 1).is_err());
        assert!(key_of("/b/", b"/b/o//pods/ns/a").is_some());
        assert!(key_of("/b/", b"/b/compact_rev_key").is_none());
        assert!(key_of("/b/", b"/other/o//pods/ns/a").is_none());
    }
}
