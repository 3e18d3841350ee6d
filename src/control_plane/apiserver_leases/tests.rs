//! Two servers on one store: both listed while both renew, a silent one dropped after its
//! lease's duration, one shutting down dropped at once.

use super::*;
use crate::api::registry::WriteOptions;
use crate::resources::{endpoints, endpointslice, namespace};

const PORT: u16 = 6443;

async fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(crate::store::Store::open(dir.path(), 100).unwrap());
    for ns in ["default", LEASE_NAMESPACE] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        registry
            .create(&namespace::RESOURCE, "", obj, &WriteOptions::default())
            .await
            .unwrap();
    }
    (dir, registry)
}

fn server(registry: &Registry, node: &str, ip: &str) -> ApiServerLeases {
    let timings = LeaseTimings {
        interval: Duration::from_millis(100),
        duration: Duration::from_secs(1),
    };
    ApiServerLeases::with_timings(registry.clone(), node, Some(ip.into()), PORT, timings)
}

/// The addresses the Endpoints and the EndpointSlice list (checked to agree).
fn listed(registry: &Registry) -> Vec<String> {
    let eps = registry
        .get(&endpoints::RESOURCE, "default", "kubernetes")
        .unwrap();
    let mut from_endpoints: Vec<String> = eps["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect();
    from_endpoints.sort();
    let slice = registry
        .get(&endpointslice::RESOURCE, "default", "kubernetes")
        .unwrap();
    let mut from_slice: Vec<String> = slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["addresses"][0].as_str().unwrap().to_string())
        .collect();
    from_slice.sort();
    assert_eq!(from_endpoints, from_slice);
    if !from_slice.is_empty() {
        assert_eq!(slice["ports"][0]["port"], PORT);
    }
    from_endpoints
}

#[tokio::test]
async fn both_servers_are_listed_and_a_silent_one_is_dropped_after_its_lease() {
    let (_dir, registry) = registry().await;
    let mut a = server(&registry, "pi-1", "10.0.0.1");
    let mut b = server(&registry, "pi-2", "10.0.0.2");
    a.reconcile().await.unwrap();
    assert_eq!(listed(&registry), ["10.0.0.1"]);
    b.reconcile().await.unwrap();
    assert_eq!(listed(&registry), ["10.0.0.1", "10.0.0.2"]);
    let lease = registry
        .get(&lease::RESOURCE, LEASE_NAMESPACE, "apiserver-pi-2")
        .unwrap();
    assert_eq!(
        lease["metadata"]["annotations"][ADDRESS_ANNOTATION],
        "10.0.0.2"
    );
    assert_eq!(lease["spec"]["holderIdentity"], "pi-2");
    // pi-2 goes silent; pi-1 keeps reconciling and drops it once its lease has run out.
    let silent_from = Instant::now();
    let deadline = silent_from + Duration::from_secs(5);
    loop {
        a.reconcile().await.unwrap();
        if listed(&registry) == ["10.0.0.1"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pi-2 still listed: {:?}",
            listed(&registry)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(silent_from.elapsed() >= Duration::from_secs(1));
    // pi-2 comes back: listed again at its next renewal.
    b.reconcile().await.unwrap();
    assert_eq!(listed(&registry), ["10.0.0.1", "10.0.0.2"]);
}

#[tokio::test]
async fn a_server_shutting_down_takes_itself_out_at_once() {
    let (_dir, registry) = registry().await;
    let mut a = server(&registry, "pi-1", "10.0.0.1");
    let b = server(&registry, "pi-2", "10.0.0.2");
    a.reconcile().await.unwrap();
    let stop = CancellationToken::new();
    let running = tokio::spawn(b.run(stop.clone()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while listed(&registry) != ["10.0.0.1", "10.0.0.2"] {
        assert!(Instant::now() < deadline, "pi-2 never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.unwrap();
    assert_eq!(listed(&registry), ["10.0.0.1"]);
    let gone = registry.get(&lease::RESOURCE, LEASE_NAMESPACE, "apiserver-pi-2");
    assert!(gone.is_err());
}

#[test]
fn lease_names_are_valid_for_any_node_name() {
    assert_eq!(lease_name("pi-1"), "apiserver-pi-1");
    let long = format!("{}-b", "a".repeat(242));
    let name = lease_name(&long);
    assert!(name.len() <= MAX_NAME && !name.ends_with('-'), "{name}");
}
