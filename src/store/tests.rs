use std::convert::Infallible;

use serde_json::json;

use super::*;

#[derive(Debug)]
enum TestError {
    Store(#[allow(dead_code)] StoreError),
    Conflict,
}

impl From<StoreError> for TestError {
    fn from(e: StoreError) -> Self {
        TestError::Store(e)
    }
}

impl From<StoreError> for Infallible {
    fn from(e: StoreError) -> Self {
        panic!("store error in test: {e}")
    }
}

fn pod_key(name: &str) -> ObjectKey {
    ObjectKey::new("", "pods", "default", name)
}

async fn put(store: &Store, key: &ObjectKey, value: Value, ephemeral: bool) -> Arc<Object> {
    store
        .mutate::<Infallible, _>(key, ephemeral, |_| Ok(Mutation::Put(value.clone())))
        .await
        .unwrap()
        .object
        .unwrap()
}

#[tokio::test]
async fn writes_stamp_one_global_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    let a = put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}}),
        false,
    )
    .await;
    let b = put(
        &store,
        &ObjectKey::new("", "nodes", "", "n"),
        json!({"metadata": {"name": "n"}}),
        false,
    )
    .await;
    assert_eq!(b.revision, a.revision + 1);
    assert_eq!(
        a.value()["metadata"]["resourceVersion"],
        json!(a.revision.to_string())
    );
    assert_eq!(store.get(&pod_key("a")).unwrap().value(), a.value());
    let (pods, rev) = store.list(&KeyPrefix::resource("", "pods"));
    assert_eq!(pods.len(), 1);
    assert_eq!(rev, b.revision);
}

#[tokio::test]
async fn closure_sees_latest_state_and_can_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    let first = put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}}),
        false,
    )
    .await;
    let stale = first.revision - 1;
    let r = store
        .mutate(&pod_key("a"), false, |cur| {
            if cur.map(|c| c.revision) != Some(stale) {
                return Err(TestError::Conflict);
            }
            Ok(Mutation::Put(json!({})))
        })
        .await;
    assert!(matches!(r, Err(TestError::Conflict)));
    assert_eq!(
        store.revision(),
        first.revision,
        "a refused write takes no revision"
    );
}

#[tokio::test]
async fn durable_objects_survive_reopen_and_revisions_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let last;
    {
        let store = Store::open(dir.path(), 100).unwrap();
        put(
            &store,
            &pod_key("a"),
            json!({"metadata": {"name": "a"}}),
            false,
        )
        .await;
        let lease = ObjectKey::new("coordination.k8s.io", "leases", "kube-node-lease", "n1");
        for _ in 0..5 {
            put(&store, &lease, json!({"metadata": {"name": "n1"}}), true).await;
        }
        last = store.revision();
    }
    let store = Store::open(dir.path(), 100).unwrap();
    assert!(store.get(&pod_key("a")).is_some());
    let lease = ObjectKey::new("coordination.k8s.io", "leases", "kube-node-lease", "n1");
    assert!(
        store.get(&lease).is_none(),
        "ephemeral objects are not persisted"
    );
    let next = put(
        &store,
        &pod_key("b"),
        json!({"metadata": {"name": "b"}}),
        false,
    )
    .await;
    assert!(
        next.revision > last,
        "revision {} must exceed {last}",
        next.revision
    );
}

#[tokio::test]
async fn deletes_publish_the_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}}),
        false,
    )
    .await;
    let mut watch = store
        .watch(KeyPrefix::resource("", "pods"), Some(store.revision()))
        .unwrap();
    let out = store
        .mutate::<Infallible, _>(&pod_key("a"), false, |_| Ok(Mutation::Delete))
        .await
        .unwrap();
    assert_eq!(out.kind, Some(EventType::Deleted));
    let e = watch.next().await.unwrap();
    assert_eq!(e.kind, EventType::Deleted);
    assert_eq!(e.object.value()["metadata"]["name"], "a");
    assert!(store.get(&pod_key("a")).is_none());
}

#[tokio::test]
async fn watch_replays_history_filters_prefix_and_reports_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 3).unwrap();
    let start = store.revision();
    for n in ["a", "b"] {
        put(&store, &pod_key(n), json!({"metadata": {"name": n}}), false).await;
    }
    put(
        &store,
        &ObjectKey::new("", "nodes", "", "n"),
        json!({}),
        false,
    )
    .await;
    let mut w = store
        .watch(KeyPrefix::namespace("", "pods", "default"), Some(start))
        .unwrap();
    assert_eq!(
        w.next().await.unwrap().object.value()["metadata"]["name"],
        "a"
    );
    assert_eq!(
        w.next().await.unwrap().object.value()["metadata"]["name"],
        "b"
    );
    put(
        &store,
        &pod_key("c"),
        json!({"metadata": {"name": "c"}}),
        false,
    )
    .await;
    let c = w.next().await.unwrap();
    assert_eq!(c.object.value()["metadata"]["name"], "c");
    assert_eq!(w.progress(), c.revision);
    // history holds 3 events: the first write has left the window
    assert_eq!(
        store.watch(KeyPrefix::all(), Some(start)).err(),
        Some(TooOld { oldest: start + 1 })
    );
}

#[tokio::test]
async fn watch_without_revision_starts_with_current_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}}),
        false,
    )
    .await;
    let mut w = store.watch(KeyPrefix::resource("", "pods"), None).unwrap();
    let first = w.next().await.unwrap();
    assert_eq!(first.kind, EventType::Added);
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a", "labels": {"x": "y"}}}),
        false,
    )
    .await;
    assert_eq!(w.next().await.unwrap().kind, EventType::Modified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_flushes_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), 1000).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let key = pod_key(&format!("p{i}"));
                put(
                    &s,
                    &key,
                    json!({"metadata": {"name": format!("p{i}")}}),
                    false,
                )
                .await
            }));
        }
        let before = store.syncs();
        let mut revs = Vec::new();
        for t in tasks {
            revs.push(t.await.unwrap().revision);
        }
        revs.sort();
        revs.dedup();
        assert_eq!(revs.len(), 200, "every write got its own revision");
        let syncs = store.syncs() - before;
        assert!(
            (1..200).contains(&syncs),
            "200 concurrent writes took {syncs} syncs; they should share them"
        );
    }
    let store = Store::open(dir.path(), 1000).unwrap();
    assert_eq!(store.list(&KeyPrefix::resource("", "pods")).0.len(), 200);
}

/// Concurrent read-modify-writes of one key, each adding one to a counter, while the commit
/// thread flushes and publishes earlier ones: every write reads the one before it (none is
/// lost), whether it is queued, being flushed or published. The object alternates between
/// stored inline and cut into parts, and reads back whole after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_modify_writes_of_one_key_lose_nothing() {
    const WRITES: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let key = pod_key("counter");
    // Random-looking text deflate cannot shrink below a part, every other write.
    let filler = |n: u64| -> String {
        if n % 2 == 0 {
            return String::new();
        }
        (0..3 * envelope::PART_BYTES as u64)
            .map(|i| char::from(b'a' + ((i * 7919 + n * 104_729) % 26) as u8))
            .collect()
    };
    {
        let store = Store::open(dir.path(), 1000).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..WRITES {
            let (s, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                s.mutate::<Infallible, _>(&key, false, |cur| {
                    let n = cur.map_or(0, |o| o.value()["count"].as_u64().unwrap()) + 1;
                    Ok(Mutation::Put(json!({"count": n, "filler": filler(n)})))
                })
                .await
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let held = store.get(&key).unwrap().value();
        assert_eq!(held["count"], json!(WRITES), "every increment landed");
    }
    let store = Store::open(dir.path(), 1000).unwrap();
    let read = store.get(&key).unwrap().value();
    assert_eq!(read["count"], json!(WRITES));
    assert_eq!(read["filler"], json!(filler(WRITES)));
    let mut prefix = envelope::part_key(key.as_str(), 0);
    prefix.truncate(prefix.len() - 4);
    let parts = store.sled().disk.count_prefix(&prefix);
    assert_eq!(
        parts, 0,
        "the last version is inline: no part of an earlier one is left"
    );
}

#[tokio::test]
async fn history_stays_within_its_byte_budget_and_late_watchers_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 1 << 20;
    let store = Store::open_with(
        dir.path(),
        HistoryLimits {
            entries: 4096,
            bytes: budget,
            age: HistoryLimits::DEFAULT_AGE,
        },
        DEFAULT_QUOTA_BYTES,
    )
    .unwrap();
    let start = store.revision();
    // a watcher that never reads while everything below is written
    let mut stalled = store.watch(KeyPrefix::all(), Some(start)).unwrap();
    let big = "x".repeat(100 << 10);
    for i in 0..50 {
        put(
            &store,
            &pod_key("big"),
            json!({"metadata": {"name": "big"}, "data": big, "n": i}),
            false,
        )
        .await;
        assert!(store.history_bytes() <= budget, "{}", store.history_bytes());
    }
    // each change holds two 100 KB states: about five fit
    assert!(store.history_bytes() > budget / 2);
    assert!(matches!(
        store.watch(KeyPrefix::all(), Some(start)),
        Err(TooOld { .. })
    ));
    assert!(matches!(stalled.next().await, Err(WatchEnd::Lagged)));
    // a watcher inside the window still gets every change after its revision
    let recent = store.revision() - 2;
    let mut w = store.watch(KeyPrefix::all(), Some(recent)).unwrap();
    assert_eq!(w.next().await.unwrap().object.value()["n"], 48);
    assert_eq!(w.next().await.unwrap().object.value()["n"], 49);
}

#[tokio::test]
async fn idle_history_forgets_changes_older_than_its_age() {
    let dir = tempfile::tempdir().unwrap();
    let age = std::time::Duration::from_millis(300);
    let store = Store::open_with(
        dir.path(),
        HistoryLimits {
            entries: 4096,
            bytes: HistoryLimits::DEFAULT_BYTES,
            age,
        },
        DEFAULT_QUOTA_BYTES,
    )
    .unwrap();
    let start = store.revision();
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}}),
        false,
    )
    .await;
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}, "n": 1}),
        false,
    )
    .await;
    // young changes are still there to resume from
    assert!(store.history_bytes() > 0);
    assert!(store.watch(KeyPrefix::all(), Some(start)).is_ok());
    // with no further write, the commit thread lets them age out
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.history_bytes() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "history still holds {} bytes",
            store.history_bytes()
        );
        tokio::time::sleep(age / 4).await;
    }
    assert!(matches!(
        store.watch(KeyPrefix::all(), Some(start)),
        Err(TooOld { .. })
    ));
    // a watch from the newest revision still sees what comes next, and the object stays
    let mut w = store
        .watch(KeyPrefix::all(), Some(store.revision()))
        .unwrap();
    put(
        &store,
        &pod_key("a"),
        json!({"metadata": {"name": "a"}, "n": 2}),
        false,
    )
    .await;
    assert_eq!(w.next().await.unwrap().object.value()["n"], 2);
    assert_eq!(store.get(&pod_key("a")).unwrap().value()["n"], 2);
}

#[tokio::test]
async fn objects_over_the_size_limit_are_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    let before = store.revision();
    let huge = json!({"metadata": {"name": "huge"}, "data": "x".repeat(MAX_OBJECT_BYTES)});
    let err = store
        .mutate::<TestError, _>(&pod_key("huge"), false, |_| Ok(Mutation::Put(huge.clone())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TestError::Store(StoreError::TooLarge { size }) if size > MAX_OBJECT_BYTES)
    );
    assert_eq!(store.get(&pod_key("huge")), None);
    assert_eq!(store.revision(), before);
}

#[tokio::test]
async fn writes_past_the_quota_fail_until_something_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let history = HistoryLimits {
        entries: 100,
        bytes: 1 << 20,
        age: HistoryLimits::DEFAULT_AGE,
    };
    let store = Store::open_with(dir.path(), history, 100_000).unwrap();
    let big = |name: &str| json!({"metadata": {"name": name}, "data": "x".repeat(40_000)});
    put(&store, &pod_key("a"), big("a"), false).await;
    put(&store, &pod_key("b"), big("b"), true).await;
    let full = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .mutate::<TestError, _>(&pod_key(name), false, |_| Ok(Mutation::Put(big(name))))
                .await
        }
    };
    assert!(matches!(
        full("c").await,
        Err(TestError::Store(StoreError::QuotaExceeded {
            quota: 100_000,
            ..
        }))
    ));
    assert_eq!(store.get(&pod_key("c")), None);
    // rewriting an object at its size, shrinking one and deleting are still allowed
    put(&store, &pod_key("a"), big("a"), false).await;
    store
        .mutate::<Infallible, _>(&pod_key("b"), true, |_| Ok(Mutation::Delete))
        .await
        .unwrap();
    assert!(full("c").await.is_ok());
    // the count survives a restart
    drop(store);
    let store = Store::open_with(dir.path(), history, 100_000).unwrap();
    let err = store
        .mutate::<TestError, _>(&pod_key("d"), false, |_| Ok(Mutation::Put(big("d"))))
        .await;
    assert!(matches!(
        err,
        Err(TestError::Store(StoreError::QuotaExceeded { .. }))
    ));
}

#[tokio::test]
async fn every_acknowledged_write_follows_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    for i in 0..5 {
        let before = store.syncs();
        put(
            &store,
            &pod_key("a"),
            json!({"metadata": {"name": "a"}, "n": i}),
            false,
        )
        .await;
        assert!(
            store.syncs() > before,
            "write {i} was acknowledged without a sync"
        );
    }
    let before = store.syncs();
    put(
        &store,
        &ObjectKey::new("coordination.k8s.io", "leases", "n", "l"),
        json!({"metadata": {"name": "l"}}),
        true,
    )
    .await;
    assert_eq!(store.syncs(), before, "an ephemeral write touched the disk");
}

/// An object whose data is `len` characters starting with `first`, the rest pseudo-random
/// letters so it does not deflate to a few bytes.
fn big(name: &str, first: char, len: usize) -> Value {
    let mut x = u64::from(first);
    let d: String = std::iter::once(first)
        .chain((1..len).map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + ((x >> 59) as u8 % 26))
        }))
        .collect();
    json!({"metadata": {"name": name}, "data": {"d": d}})
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn large_objects_round_trip_shrink_and_leave_no_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = pod_key("big");
    {
        let store = Store::open(dir.path(), 100).unwrap();
        put(&store, &key, big("big", 'a', 1 << 20), false).await;
        put(&store, &key, big("big", 'b', 300_000), false).await;
        put(&store, &pod_key("small"), big("small", 'c', 10), false).await;
    }
    {
        let store = Store::open(dir.path(), 100).unwrap();
        let got = store.get(&key).unwrap();
        assert_eq!(got.value()["data"]["d"].as_str().unwrap().len(), 300_000);
        assert!(got.value()["data"]["d"].as_str().unwrap().starts_with('b'));
        // the 1 MiB version's extra parts are gone: shrinking to a small object leaves only
        // its one record
        put(&store, &key, big("big", 'd', 5), false).await;
        store
            .mutate::<Infallible, _>(&pod_key("small"), false, |_| Ok(Mutation::Delete))
            .await
            .unwrap();
        let parts = store.sled().disk.count_prefix(b"p/");
        assert_eq!(parts, 0, "parts of replaced versions were left behind");
    }
    let store = Store::open(dir.path(), 100).unwrap();
    assert_eq!(
        store.get(&key).unwrap().value()["data"],
        big("big", 'd', 5)["data"]
    );
    assert!(store.get(&pod_key("small")).is_none());
    let blobs: Vec<_> = files_under(dir.path())
        .into_iter()
        .filter(|f| f.contains("/blobs/"))
        .collect();
    assert!(blobs.is_empty(), "sled wrote blob files: {blobs:?}");
}

#[tokio::test]
async fn data_written_before_parts_existed_is_read_updated_and_its_blob_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let key = pod_key("old");
    let json = serde_json::to_vec(&big("old", 'o', 300_000)).unwrap();
    {
        // what an earlier version wrote: one format-1 record, large enough to be a blob
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let record = postcard::to_stdvec(&envelope::Envelope::new(5, json.clone())).unwrap();
        db.insert(key.as_str(), record).unwrap();
        db.insert(REVISION_KEY, &5u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let blobs = || {
        files_under(dir.path())
            .into_iter()
            .filter(|f| f.contains("/blobs/"))
            .count()
    };
    assert!(blobs() > 0, "the old layout should have made a blob");
    let store = Store::open(dir.path(), 100).unwrap();
    let got = store.get(&key).unwrap();
    assert_eq!(got.revision, 5);
    assert_eq!(got.size, json.len());
    for i in 0..200 {
        put(&store, &key, big("old", 'n', 300_000 + i), false).await;
    }
    drop(store);
    let store = Store::open(dir.path(), 100).unwrap();
    let data = store.get(&key).unwrap().value()["data"]["d"].clone();
    assert_eq!(data.as_str().unwrap().len(), 300_199);
    assert!(store.get(&key).unwrap().revision > 5);
    assert_eq!(blobs(), 0, "the old value's blob file outlived it");
}

#[tokio::test]
async fn a_change_keeps_the_state_it_replaces_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    let key = pod_key("a");
    let first = put(
        &store,
        &key,
        json!({"metadata": {"name": "a"}, "v": 1}),
        false,
    )
    .await;
    let mut w = store
        .watch(KeyPrefix::resource("", "pods"), Some(first.revision))
        .unwrap();
    let second = put(
        &store,
        &key,
        json!({"metadata": {"name": "a"}, "v": 2}),
        false,
    )
    .await;
    let e = w.next().await.unwrap();
    // The history's old state is the copy memory held, not a second one read from disk.
    assert!(Arc::ptr_eq(e.previous.as_ref().unwrap(), &first));
    assert!(Arc::ptr_eq(&e.object, &second));
    assert!(Arc::ptr_eq(&store.get(&key).unwrap(), &second));
    let gone = store
        .mutate::<Infallible, _>(&key, false, |_| Ok(Mutation::Delete))
        .await
        .unwrap()
        .object
        .unwrap();
    let last = gone.value();
    assert_eq!(last["v"], 2);
    assert_eq!(
        last["metadata"]["resourceVersion"],
        json!(gone.revision.to_string())
    );
    assert_eq!(gone.size, gone.json().len());
}

#[tokio::test]
async fn lists_start_at_a_key_within_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    for n in ["a", "b", "c"] {
        put(&store, &pod_key(n), json!({"metadata": {"name": n}}), false).await;
    }
    let prefix = KeyPrefix::resource("", "pods");
    let names = |start: &str| -> Vec<String> {
        let (objects, _) = store.list_from(&prefix, start);
        objects
            .iter()
            .map(|o| o.value()["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(""), ["a", "b", "c"]);
    assert_eq!(names(&format!("{}\u{0}", pod_key("a"))), ["b", "c"]);
    assert_eq!(names("o/"), ["a", "b", "c"]);
    assert!(names("p/").is_empty());
}

#[tokio::test]
async fn objects_too_deep_to_read_back_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!({ "a": deep });
    }
    let r = store
        .mutate(&pod_key("deep"), false, |_| {
            Ok::<_, TestError>(Mutation::Put(deep.clone()))
        })
        .await;
    assert!(matches!(r, Err(TestError::Store(StoreError::Json(_)))));
    assert!(store.get(&pod_key("deep")).is_none());
}

#[tokio::test]
async fn census_counts_objects_per_resource_and_watchers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 100).unwrap();
    for name in ["a", "b"] {
        put(
            &store,
            &pod_key(name),
            json!({"metadata": {"name": name}}),
            false,
        )
        .await;
    }
    let deploy = ObjectKey::new("apps", "deployments", "default", "web");
    put(&store, &deploy, json!({"metadata": {"name": "web"}}), false).await;
    let _watch = store.watch(KeyPrefix::all(), None).unwrap();
    let c = store.census();
    assert_eq!(
        c.resources,
        vec![
            ("/pods".to_string(), 2),
            ("apps/deployments".to_string(), 1)
        ]
    );
    assert_eq!(c.revision, store.revision());
    assert_eq!(c.history_entries, 3);
    assert!(c.object_bytes > 0);
    assert_eq!(c.watchers, 1);
}
