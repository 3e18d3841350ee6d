//! One key-value workload run against two durable stores: Bramble's [`Store`] (called in
//! process, as the API server calls it) and etcd (through its JSON gateway, as a separate
//! daemon must be reached). Values are the same ~1 KiB JSON object; puts run one at a time
//! and then concurrently (where group commit shares one fsync between writers), then gets read
//! back the objects the concurrent phase wrote.

use std::sync::Arc;

use bramble::store::{Mutation, ObjectKey, Store, StoreError};
use serde_json::Value;

use crate::api_load::config_map;
use crate::etcd::EtcdClient;
use crate::load::{self, KeySet, Phases, Workload};

/// The workload against Bramble's store; every put is durable before it returns.
pub async fn bramble(store: Store, workload: &Workload) -> Phases {
    let value = Arc::new(config_map("bench", workload.payload));
    let key = |set: KeySet, i: usize| {
        ObjectKey::new(
            "",
            "configmaps",
            &format!("bench-{}", set.label()),
            &i.to_string(),
        )
    };
    let writer = store.clone();
    let put = move |set, i| {
        let (store, value) = (writer.clone(), value.clone());
        async move {
            store
                .mutate::<StoreError, _>(&key(set, i), false, |_| {
                    Ok(Mutation::Put(Value::clone(&value)))
                })
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    let get = move |set, i| {
        let found = store.get(&key(set, i)).is_some();
        async move {
            found
                .then_some(())
                .ok_or_else(|| format!("key {i} not found"))
        }
    };
    load::write_then_read(workload, put, get).await
}

/// The workload against etcd; etcd acknowledges a put once its WAL entry is fsynced.
pub async fn etcd(client: EtcdClient, workload: &Workload) -> Phases {
    let value = Arc::new(
        config_map("bench", workload.payload)
            .to_string()
            .into_bytes(),
    );
    let key = |set: KeySet, i: usize| format!("/bench/{}/{i}", set.label()).into_bytes();
    let writer = client.clone();
    let put = move |set, i| {
        let (client, value) = (writer.clone(), value.clone());
        async move { client.put(&key(set, i), &value).await }
    };
    let get = move |set, i| {
        let client = client.clone();
        async move { client.get(&key(set, i)).await.map(drop) }
    };
    load::write_then_read(workload, put, get).await
}
