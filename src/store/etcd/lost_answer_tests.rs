//! Writes whose answer is lost on the way back: etcd applied them, the server never heard,
//! and the write is tried again. A relay in front of a real etcd member cuts the connection
//! that carries the next transaction as etcd's answer arrives.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::test_etcd::TestEtcd;
use crate::store::{
    EventType, HistoryLimits, Mutation, ObjectKey, Store, StoreError, DEFAULT_QUOTA_BYTES,
};

/// A TCP relay to one etcd member that, once armed, drops etcd's answer to the next
/// transaction and closes that connection.
struct AnswerCutter {
    url: String,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl AnswerCutter {
    async fn start(member_url: &str) -> AnswerCutter {
        let upstream = member_url
            .strip_prefix("http://")
            .expect("a plain-HTTP member")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("http://{}", listener.local_addr().expect("relay address"));
        let armed = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let accepting = tokio::spawn({
            let (armed, cuts) = (armed.clone(), cuts.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(member) = TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    tokio::spawn(relay(client, member, armed.clone(), cuts.clone()));
                }
            }
        });
        AnswerCutter {
            url,
            armed,
            cuts,
            accepting,
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for AnswerCutter {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn relay(
    client: TcpStream,
    member: TcpStream,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_member, mut to_member) = member.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    let forward = {
        let cut = cut.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from_client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                if chunk.windows(10).any(|w| w == b"/v3/kv/txn")
                    && armed.swap(false, Ordering::SeqCst)
                {
                    cut.store(true, Ordering::SeqCst);
                }
                if to_member.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let back = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_member.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if cut.load(Ordering::SeqCst) {
                cuts.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if to_client.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever way ends first ends the connection: both sockets close when dropped.
    tokio::select! {
        () = forward => {}
        () = back => {}
    }
}

#[derive(Debug)]
enum WriteError {
    Exists,
    // Shown through Debug when a write fails the test.
    #[allow(dead_code)]
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

fn key() -> ObjectKey {
    ObjectKey::new("", "configmaps", "default", "counted")
}

async fn store_behind_cutter() -> (TestEtcd, AnswerCutter, Store) {
    let etcd = TestEtcd::start().await.ready().await;
    let mut config = etcd.config();
    let cutter = AnswerCutter::start(&config.endpoints[0]).await;
    config.endpoints = vec![cutter.url.clone()];
    let history = HistoryLimits {
        entries: 1000,
        bytes: HistoryLimits::DEFAULT_BYTES,
        age: HistoryLimits::DEFAULT_AGE,
    };
    let store = Store::open_etcd(config, history, DEFAULT_QUOTA_BYTES)
        .await
        .expect("opening the store on etcd");
    (etcd, cutter, store)
}

#[tokio::test]
async fn a_create_or_update_whose_answer_was_lost_is_acknowledged_once() {
    let (_etcd, cutter, store) = store_behind_cutter().await;

    cutter.arm();
    let created = store
        .mutate(&key(), false, |current| match current {
            Some(_) => Err(WriteError::Exists),
            None => Ok(Mutation::Put(
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "counted", "namespace": "default", "uid": "u-1"},
                "data": {"n": "0"}}),
            )),
        })
        .await
        .expect("the create is acknowledged, not refused as existing");
    assert_eq!(cutter.cuts(), 1, "the relay lost the create's answer");
    assert_eq!(created.kind, Some(EventType::Added));

    cutter.arm();
    let mut calls = 0;
    let updated = store
        .mutate(&key(), false, |current| {
            calls += 1;
            let mut v = current.ok_or(WriteError::Exists)?.value();
            let n: u64 = v["data"]["n"].as_str().unwrap_or("0").parse().unwrap_or(0);
            v["data"]["n"] = json!((n + 1).to_string());
            Ok::<_, WriteError>(Mutation::Put(v))
        })
        .await
        .expect("the update is acknowledged");
    assert_eq!(cutter.cuts(), 2, "the relay lost the update's answer");
    assert_eq!(
        calls, 1,
        "the update was decided once, not again on its own result"
    );
    let object = updated.object.expect("the updated object");
    assert_eq!(
        object.value()["data"]["n"],
        "1",
        "the update was applied once"
    );
    assert_eq!(store.get(&key()).map(|o| o.revision), Some(object.revision));
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_acknowledged() {
    let (_etcd, cutter, store) = store_behind_cutter().await;
    store
        .mutate(&key(), false, |_| {
            Ok::<_, StoreError>(Mutation::Put(
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "counted", "namespace": "default"}}),
            ))
        })
        .await
        .expect("create");
    cutter.arm();
    let deleted = store
        .mutate(&key(), false, |_| Ok::<_, StoreError>(Mutation::Delete))
        .await
        .expect("the delete is acknowledged");
    assert_eq!(cutter.cuts(), 1, "the relay lost the delete's answer");
    assert_eq!(deleted.kind, Some(EventType::Deleted));
    assert!(store.get(&key()).is_none());
}
