//! The etcd backend against real etcd members.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::compact;
use super::gateway::Gateway;
use super::test_etcd::{TestEtcd, TlsFiles};
use super::wire::{self, RangeResponse};
use super::EtcdTls;
use crate::store::{
    Backend, EventType, HistoryLimits, KeyPrefix, Mutation, Object, ObjectKey, Store, StoreError,
    DEFAULT_QUOTA_BYTES,
};

fn history() -> HistoryLimits {
    HistoryLimits {
        entries: 1000,
        bytes: HistoryLimits::DEFAULT_BYTES,
        age: HistoryLimits::DEFAULT_AGE,
    }
}

async fn open(config: super::EtcdConfig) -> Store {
    Store::open_etcd(config, history(), DEFAULT_QUOTA_BYTES)
        .await
        .expect("opening the store on etcd")
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("", "configmaps", "default", name)
}

fn configmap(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
        "data": {"v": value}})
}

async fn put(store: &Store, name: &str, value: &str) -> Arc<Object> {
    let v = configmap(name, value);
    store
        .mutate(&key(name), false, |_| {
            Ok::<_, StoreError>(Mutation::Put(v.clone()))
        })
        .await
        .expect("write")
        .object
        .expect("written object")
}

async fn delete(store: &Store, name: &str) -> Arc<Object> {
    store
        .mutate(&key(name), false, |_| Ok::<_, StoreError>(Mutation::Delete))
        .await
        .expect("delete")
        .object
        .expect("deleted object")
}

fn data(o: &Object) -> String {
    o.value()["data"]["v"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn etcd_backend(store: &Store) -> &super::Backend {
    match &store.backend {
        Backend::Etcd(b) => b,
        Backend::Sled { .. } => panic!("not an etcd store"),
    }
}

/// The `mod_revision` etcd holds for `name`, read straight from etcd.
async fn etcd_revision(gateway: &Gateway, prefix: &str, name: &str) -> Option<u64> {
    let k = format!("{prefix}{}", key(name));
    let answer: RangeResponse = gateway
        .call("/v3/kv/range", &wire::range(k.as_bytes(), &[], 0, 0))
        .await
        .expect("range");
    answer.kvs.first().map(|kv| kv.mod_revision)
}

/// Polls `check` until it holds, failing after ten seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn objects_carry_etcds_revisions_through_create_update_and_delete() {
    let etcd = TestEtcd::start().await.ready().await;
    let config = etcd.config();
    let gateway = Gateway::new(&config).unwrap();
    let store = open(config.clone()).await;
    let prefix = config.prefix.as_str();

    let a = put(&store, "a", "one").await;
    assert_eq!(Some(a.revision), etcd_revision(&gateway, prefix, "a").await);
    assert_eq!(
        a.value()["metadata"]["resourceVersion"],
        a.revision.to_string()
    );
    assert_eq!(store.get(&key("a")).as_deref(), Some(&*a));
    assert_eq!(store.revision(), a.revision);

    let b = put(&store, "b", "two").await;
    let (listed, at) = store.list(&KeyPrefix::resource("", "configmaps"));
    assert_eq!(
        listed.iter().map(|o| data(o)).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(at, b.revision);

    let a2 = put(&store, "a", "three").await;
    assert!(a2.revision > b.revision);
    assert_eq!(
        Some(a2.revision),
        etcd_revision(&gateway, prefix, "a").await
    );
    assert_eq!(data(&store.get(&key("a")).unwrap()), "three");

    let gone = delete(&store, "a").await;
    assert!(gone.revision > a2.revision);
    assert_eq!(data(&gone), "three");
    assert!(store.get(&key("a")).is_none());
    assert_eq!(etcd_revision(&gateway, prefix, "a").await, None);

    // A value under the prefix that is not an object is skipped, by the follower and by a
    // store that loads it, and the store goes on.
    let junk = format!("{prefix}o//configmaps/default/junk");
    let _: serde_json::Value = gateway
        .call(
            "/v3/kv/put",
            &json!({"key": wire::b64(junk.as_bytes()), "value": wire::b64(b"{not json")}),
        )
        .await
        .unwrap();
    let c = put(&store, "c", "four").await;
    let reopened = open(config).await;
    assert_eq!(reopened.get(&key("c")).as_deref(), Some(&*c));
    assert_eq!(reopened.get(&key("b")).as_deref(), Some(&*b));
    assert!(reopened
        .get(&ObjectKey::from_raw("o//configmaps/default/junk".into()))
        .is_none());
    assert_eq!(reopened.list(&KeyPrefix::all()).0.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_see_each_others_writes_and_a_conflict_reruns_the_closure() {
    let etcd = TestEtcd::start().await.ready().await;
    let a = open(etcd.config()).await;
    let b = open(etcd.config()).await;
    let prefix = KeyPrefix::resource("", "configmaps");
    let mut watch_a = a.watch(prefix.clone(), Some(a.revision())).unwrap();
    let mut watch_b = b.watch(prefix.clone(), Some(b.revision())).unwrap();

    let x = put(&a, "x", "from a").await;
    let seen = watch_b.next().await.unwrap();
    assert_eq!(
        (seen.kind, seen.revision, &*seen.object),
        (EventType::Added, x.revision, &*x)
    );
    let y = put(&b, "y", "from b").await;
    let seen = watch_a.next().await.unwrap();
    assert_eq!(seen.revision, x.revision);
    let seen = watch_a.next().await.unwrap();
    assert_eq!((seen.kind, &*seen.object), (EventType::Added, &*y));

    // B stops hearing from etcd, so it decides on a stale x; A updates x meanwhile.
    etcd_backend(&b).stop_following();
    let x2 = put(&a, "x", "a's update").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_by_closure = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = {
        let (b, calls, seen_by_closure) = (b.clone(), calls.clone(), seen_by_closure.clone());
        tokio::spawn(async move {
            b.mutate(&key("x"), false, |current| {
                calls.fetch_add(1, Ordering::SeqCst);
                let current = current.expect("x exists");
                seen_by_closure.lock().unwrap().push(current.revision);
                let mut v = current.value();
                v["data"]["v"] = json!(format!("{} + b's update", data(current)));
                Ok::<_, StoreError>(Mutation::Put(v))
            })
            .await
        })
    };
    eventually("the closure rerunning", || {
        calls.load(Ordering::SeqCst) >= 2
    })
    .await;
    etcd_backend(&b).start_following();
    let out = writer.await.unwrap().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(*seen_by_closure.lock().unwrap(), [x.revision, x2.revision]);
    let x3 = out.object.unwrap();
    assert_eq!(data(&x3), "a's update + b's update");
    // Read-your-writes on B, and A hears of it.
    assert_eq!(b.get(&key("x")).as_deref(), Some(&*x3));
    eventually("A seeing B's update", || {
        a.get(&key("x")).is_some_and(|o| o.revision == x3.revision)
    })
    .await;

    // A create racing another server's create of the same name: one of them wins.
    let results = futures_util::future::join(
        a.mutate(&key("z"), false, |c| match c {
            Some(_) => Err(StoreError::EtcdConfig("exists".into())),
            None => Ok(Mutation::Put(configmap("z", "a"))),
        }),
        b.mutate(&key("z"), false, |c| match c {
            Some(_) => Err(StoreError::EtcdConfig("exists".into())),
            None => Ok(Mutation::Put(configmap("z", "b"))),
        }),
    )
    .await;
    assert_eq!(
        [results.0.is_ok(), results.1.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{results:?}"
    );
}

#[tokio::test]
async fn a_watch_from_a_revision_gets_every_later_change() {
    let etcd = TestEtcd::start().await.ready().await;
    let a = open(etcd.config()).await;
    let b = open(etcd.config()).await;
    let one = put(&a, "one", "1").await;
    let two = put(&a, "two", "2").await;
    let gone = delete(&a, "one").await;
    eventually("B catching up", || b.revision() >= gone.revision).await;
    let mut w = b.watch(KeyPrefix::all(), Some(one.revision)).unwrap();
    let e = w.next().await.unwrap();
    assert_eq!(
        (e.kind, e.revision, &*e.object),
        (EventType::Added, two.revision, &*two)
    );
    let e = w.next().await.unwrap();
    assert_eq!((e.kind, e.revision), (EventType::Deleted, gone.revision));
    assert_eq!(e.previous.as_deref(), Some(&*one));
    assert_eq!(
        e.object.value()["metadata"]["resourceVersion"],
        gone.revision.to_string()
    );
}

#[tokio::test]
async fn a_follower_behind_a_compaction_lists_again_and_reports_the_differences() {
    let etcd = TestEtcd::start().await.ready().await;
    let config = etcd.config();
    let gateway = Gateway::new(&config).unwrap();
    let a = open(config.clone()).await;
    let b = open(config.clone()).await;
    put(&a, "kept", "same").await;
    put(&a, "changed", "old").await;
    let removed = put(&a, "removed", "x").await;
    eventually("B catching up", || b.revision() >= removed.revision).await;
    let mut w = b.watch(KeyPrefix::all(), Some(b.revision())).unwrap();

    etcd_backend(&b).stop_following();
    let changed = put(&a, "changed", "new").await;
    delete(&a, "removed").await;
    let added = put(&a, "added", "y").await;
    compact::compact(&gateway, added.revision).await;
    // etcd refuses the old revision now.
    let old = gateway
        .call::<RangeResponse>("/v3/kv/range", &wire::range(b"x", &[], removed.revision, 0))
        .await;
    assert!(old.is_err_and(|e| e.to_string().contains("compacted")));

    etcd_backend(&b).start_following();
    let mut events = Vec::new();
    for _ in 0..3 {
        let e = w.next().await.unwrap();
        events.push((
            e.kind,
            e.key.as_str().rsplit('/').next().unwrap().to_string(),
        ));
    }
    events.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        events,
        [
            (EventType::Added, "added".to_string()),
            (EventType::Modified, "changed".to_string()),
            (EventType::Deleted, "removed".to_string()),
        ]
    );
    assert_eq!(b.get(&key("changed")).as_deref(), Some(&*changed));
    assert_eq!(b.get(&key("added")).as_deref(), Some(&*added));
    assert!(b.get(&key("removed")).is_none());
    assert!(b.revision() >= added.revision);
    // And it follows on as before.
    let later = put(&a, "later", "z").await;
    eventually("B following again", || {
        b.get(&key("later")).as_deref() == Some(&*later)
    })
    .await;
    // A store opened after the compaction loads the same objects.
    let c = open(config).await;
    assert_eq!(c.list(&KeyPrefix::all()).0, b.list(&KeyPrefix::all()).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_the_etcd_leader_being_killed() {
    let mut etcd = TestEtcd::cluster(3, None).await.ready().await;
    let config = etcd.config();
    let a = open(config.clone()).await;
    let mut reversed = config.clone();
    reversed.endpoints.reverse();
    let b = open(reversed).await;
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = |store: Store, name: &'static str| {
        let acknowledged = acknowledged.clone();
        tokio::spawn(async move {
            for i in 0..80 {
                let n = format!("{name}-{i}");
                let v = configmap(&n, name);
                let out = store
                    .mutate(&key(&n), false, |_| {
                        Ok::<_, StoreError>(Mutation::Put(v.clone()))
                    })
                    .await;
                if let Ok(out) = out {
                    acknowledged.lock().unwrap().push((n, out.object.unwrap()));
                }
            }
        })
    };
    let writers = [writer(a.clone(), "a"), writer(b.clone(), "b")];
    eventually("some writes", || acknowledged.lock().unwrap().len() >= 20).await;
    let leader = etcd.leader().await;
    etcd.kill(leader);
    let before = acknowledged.lock().unwrap().len();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > before + 20,
        "writes did not go on after the leader died"
    );
    let mut survivors = config.clone();
    survivors.endpoints.remove(leader);
    let c = open(survivors).await;
    for (name, object) in &acknowledged {
        assert_eq!(c.get(&key(name)).as_deref(), Some(&**object), "{name}");
        for store in [&a, &b] {
            eventually("both servers holding every write", || {
                store
                    .get(&key(name))
                    .is_some_and(|o| o.revision >= object.revision)
            })
            .await;
        }
    }
}

/// A throwaway CA in `dir`, a serving certificate for 127.0.0.1 (client use too: etcd's
/// gateway presents it to etcd's own gRPC server) and a client certificate.
fn throwaway_pki(dir: &std::path::Path) -> TlsFiles {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "bramble etcd test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let issue = |name: &str, usages: Vec<Eku>| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = usages;
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    issue("server", vec![Eku::ServerAuth, Eku::ClientAuth]);
    issue("client", vec![Eku::ClientAuth]);
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca: dir.join("ca.crt"),
    }
}

#[tokio::test]
async fn speaks_tls_with_client_certificates() {
    let pki = tempfile::Builder::new()
        .prefix(&format!("bramble-etcd-pki-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let files = throwaway_pki(pki.path());
    let tls = EtcdTls {
        ca_file: files.ca.clone(),
        client: Some((pki.path().join("client.crt"), pki.path().join("client.key"))),
    };
    let etcd = TestEtcd::cluster(1, Some(&files))
        .await
        .with_client_tls(tls.clone())
        .ready()
        .await;
    let config = etcd.config();
    assert!(config.endpoints[0].starts_with("https://"));
    let store = open(config.clone()).await;
    let a = put(&store, "a", "over tls").await;
    assert_eq!(store.get(&key("a")).as_deref(), Some(&*a));

    // Without a client certificate etcd refuses, and the error names the endpoint.
    let mut anonymous = config.clone();
    anonymous.tls = Some(EtcdTls {
        client: None,
        ..tls
    });
    let refused = Store::open_etcd(anonymous, history(), DEFAULT_QUOTA_BYTES).await;
    let e = refused.err().expect("etcd requires a client certificate");
    assert!(e.to_string().contains(&config.endpoints[0]), "{e}");
}

#[tokio::test]
async fn an_unreachable_etcd_fails_the_open_naming_the_endpoint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = Store::open_etcd(
        super::EtcdConfig::new(vec![url.clone()]),
        history(),
        DEFAULT_QUOTA_BYTES,
    )
    .await
    .err()
    .expect("nothing listens there");
    assert!(matches!(e, StoreError::EtcdUnreachable { .. }), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
    let e = Store::open_etcd(
        super::EtcdConfig::new(vec!["etcd:2379".into()]),
        history(),
        1,
    )
    .await
    .err()
    .expect("not a URL");
    assert!(matches!(e, StoreError::EtcdConfig(_)), "{e}");
}

#[tokio::test]
async fn events_expire_through_their_etcd_lease_and_other_kinds_stay() {
    let etcd = TestEtcd::start().await.ready().await;
    let mut config = etcd.config();
    config.event_ttl = Duration::from_secs(1);
    let store = open(config).await;
    let event = ObjectKey::new("", "events", "default", "e1");
    let lease = ObjectKey::new("coordination.k8s.io", "leases", "kube-node-lease", "n1");
    for k in [&event, &lease] {
        store
            .mutate(k, true, |_| {
                Ok::<_, StoreError>(Mutation::Put(json!({"metadata": {"name": "x"}})))
            })
            .await
            .unwrap();
    }
    assert!(store.get(&event).is_some());
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.get(&event).is_some() {
        assert!(Instant::now() < deadline, "the event did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.get(&lease).is_some());
}

#[tokio::test]
async fn writes_over_the_quota_or_the_object_limit_are_refused() {
    let etcd = TestEtcd::start().await.ready().await;
    let store = Store::open_etcd(etcd.config(), history(), 600)
        .await
        .unwrap();
    put(&store, "a", &"x".repeat(100)).await;
    let big = configmap("b", &"x".repeat(600));
    let e = store
        .mutate(&key("b"), false, |_| {
            Ok::<_, StoreError>(Mutation::Put(big.clone()))
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::QuotaExceeded { .. }), "{e}");
    let huge = configmap("c", &"x".repeat(crate::store::MAX_OBJECT_BYTES));
    let e = store
        .mutate(&key("c"), false, |_| {
            Ok::<_, StoreError>(Mutation::Put(huge.clone()))
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { .. }), "{e}");
}

#[tokio::test]
async fn old_revisions_are_compacted_one_interval_later() {
    let etcd = TestEtcd::start().await.ready().await;
    let mut config = etcd.config();
    config.compaction_interval = Duration::from_millis(200);
    let gateway = Gateway::new(&config).unwrap();
    let store = open(config).await;
    let first = put(&store, "a", "1").await;
    put(&store, "a", "2").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let old = gateway
            .call::<RangeResponse>("/v3/kv/range", &wire::range(b"x", &[], first.revision, 0))
            .await;
        if old.is_err_and(|e| e.to_string().contains("compacted")) {
            break;
        }
        assert!(Instant::now() < deadline, "etcd was not compacted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The newest state is kept.
    assert_eq!(data(&store.get(&key("a")).unwrap()), "2");
}
