//! The zone's rules one by one, against CoreDNS's `kubernetes` plugin's answers.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::*;
use crate::dns::test_records::{cluster_ip, external, headless, slice, MemoryRecords};

fn cluster() -> MemoryRecords {
    let mut r = MemoryRecords::new();
    r.namespaces.insert("empty".into());
    r.services = vec![
        cluster_ip(
            "default",
            "web",
            &["10.43.0.20"],
            &[("http", 80, "TCP"), ("dns", 53, "UDP")],
        ),
        cluster_ip(
            "default",
            "dual",
            &["10.43.0.21", "fd00:43::21"],
            &[("http", 80, "TCP")],
        ),
        headless("default", "db", &[("pg", 5432, "TCP")]),
        headless("default", "bare", &[]),
        external("default", "ext", "example.com"),
        external("default", "alias", "web.default.svc.cluster.local"),
        cluster_ip(
            "kube-system",
            "kube-dns",
            &["10.43.0.10"],
            &[("dns", 53, "UDP")],
        ),
    ];
    r.slices = vec![
        slice(
            "default",
            "db",
            &[
                ("10.42.0.7", Some("db-0"), Some(true)),
                ("10.42.0.8", Some("db-1"), None),
                ("10.42.0.9", Some("db-2"), Some(false)),
            ],
            &[("pg", 5432, "TCP")],
        ),
        slice(
            "default",
            "db",
            &[
                ("10.42.1.7", None, Some(true)),
                ("10.42.0.7", Some("db-0"), Some(true)),
            ],
            &[("pg", 5432, "TCP")],
        ),
        slice(
            "default",
            "web",
            &[("10.42.0.20", None, Some(true))],
            &[("http", 8080, "TCP")],
        ),
        slice("default", "bare", &[("10.42.2.2", None, Some(true))], &[]),
    ];
    r
}

fn zone_of(r: MemoryRecords) -> Zone<MemoryRecords> {
    Zone::new(
        Arc::new(r),
        "cluster.local",
        30,
        vec!["10.43.0.10".parse().unwrap()],
    )
    .unwrap()
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn ask(z: &Zone<MemoryRecords>, q: &str, t: RecordType) -> Reply {
    match z.answer(&name(q), t) {
        Outcome::Reply(r) => r,
        other => panic!("{q} {t}: expected a reply, got {other:?}"),
    }
}

fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name(), r.ttl(), r.record_type(), r.data()))
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// NOERROR with no answer and the SOA in authority.
fn assert_nodata(r: &Reply) {
    assert_eq!(r.rcode, ResponseCode::NoError, "{r:?}");
    assert!(r.answers.is_empty(), "{r:?}");
    assert_eq!(r.authority.len(), 1);
    assert_eq!(r.authority[0].record_type(), RecordType::SOA);
}

fn assert_nxdomain(r: &Reply) {
    assert_eq!(r.rcode, ResponseCode::NXDomain, "{r:?}");
    assert!(r.answers.is_empty());
    assert_eq!(r.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn a_cluster_ip_service_answers_its_address() {
    let z = zone_of(cluster());
    let r = ask(&z, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.rcode, ResponseCode::NoError);
    assert_eq!(
        texts(&r.answers),
        ["web.default.svc.cluster.local. 30 A 10.43.0.20"]
    );
    assert!(r.authority.is_empty());
    // The owner keeps the case the client asked with; matching ignores it.
    let r = ask(&z, "Web.DEFAULT.svc.Cluster.Local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["Web.DEFAULT.svc.Cluster.Local. 30 A 10.43.0.20"]
    );
}

#[test]
fn aaaa_of_an_ipv4_service_is_nodata_and_dual_stack_answers_both() {
    let z = zone_of(cluster());
    assert_nodata(&ask(&z, "web.default.svc.cluster.local.", RecordType::AAAA));
    let r = ask(&z, "dual.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(
        texts(&r.answers),
        ["dual.default.svc.cluster.local. 30 AAAA fd00:43::21"]
    );
    let r = ask(&z, "dual.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["dual.default.svc.cluster.local. 30 A 10.43.0.21"]
    );
}

#[test]
fn a_headless_service_answers_each_ready_address_once() {
    let z = zone_of(cluster());
    let r = ask(&z, "db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        sorted(texts(&r.answers)),
        [
            "db.default.svc.cluster.local. 30 A 10.42.0.7",
            "db.default.svc.cluster.local. 30 A 10.42.0.8",
            "db.default.svc.cluster.local. 30 A 10.42.1.7",
        ]
    );
    // Endpoints without ports still answer A.
    let r = ask(&z, "bare.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["bare.default.svc.cluster.local. 30 A 10.42.2.2"]
    );
}

#[test]
fn endpoints_are_named_by_hostname_or_dashed_address() {
    let z = zone_of(cluster());
    let r = ask(&z, "db-0.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["db-0.db.default.svc.cluster.local. 30 A 10.42.0.7"]
    );
    let r = ask(&z, "10-42-1-7.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["10-42-1-7.db.default.svc.cluster.local. 30 A 10.42.1.7"]
    );
    // A not-ready endpoint has no name; neither has an address under its hostname.
    assert_nxdomain(&ask(
        &z,
        "db-2.db.default.svc.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(&ask(
        &z,
        "10-42-0-7.db.default.svc.cluster.local.",
        RecordType::A,
    ));
    // Endpoints of a ClusterIP Service have names too.
    let r = ask(
        &z,
        "10-42-0-20.web.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        texts(&r.answers),
        ["10-42-0-20.web.default.svc.cluster.local. 30 A 10.42.0.20"]
    );
}

#[test]
fn srv_of_a_cluster_ip_service_targets_the_service_name() {
    let z = zone_of(cluster());
    let r = ask(
        &z,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        texts(&r.answers),
        ["_http._tcp.web.default.svc.cluster.local. 30 SRV 0 100 80 web.default.svc.cluster.local."]
    );
    assert_eq!(
        texts(&r.additionals),
        ["web.default.svc.cluster.local. 30 A 10.43.0.20"]
    );
    // At the Service's own name: every port, the weight shared.
    let r = ask(&z, "web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        texts(&r.answers),
        [
            "web.default.svc.cluster.local. 30 SRV 0 50 80 web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 30 SRV 0 50 53 web.default.svc.cluster.local.",
        ]
    );
    assert_eq!(r.additionals.len(), 1);
    // A port of another protocol does not exist; the protocol may be left out.
    assert_nxdomain(&ask(
        &z,
        "_http._udp.web.default.svc.cluster.local.",
        RecordType::SRV,
    ));
    let r = ask(
        &z,
        "_dns._udp.web.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        texts(&r.answers),
        ["_dns._udp.web.default.svc.cluster.local. 30 A 10.43.0.20"]
    );
}

#[test]
fn srv_of_a_headless_service_targets_each_endpoint() {
    let z = zone_of(cluster());
    let r = ask(
        &z,
        "_pg._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    );
    // Four endpoint entries (db-0 is in both slices): weight 100 / 4.
    assert_eq!(
        sorted(texts(&r.answers)),
        [
            "_pg._tcp.db.default.svc.cluster.local. 30 SRV 0 25 5432 10-42-1-7.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. 30 SRV 0 25 5432 db-0.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. 30 SRV 0 25 5432 db-1.db.default.svc.cluster.local.",
        ]
    );
    assert_eq!(
        sorted(texts(&r.additionals)),
        [
            "10-42-1-7.db.default.svc.cluster.local. 30 A 10.42.1.7",
            "db-0.db.default.svc.cluster.local. 30 A 10.42.0.7",
            "db-1.db.default.svc.cluster.local. 30 A 10.42.0.8",
        ]
    );
    // Endpoints without ports give no SRV: NODATA.
    assert_nodata(&ask(&z, "bare.default.svc.cluster.local.", RecordType::SRV));
}

#[test]
fn ptr_names_cluster_ips_and_ready_endpoints_and_passes_the_rest_on() {
    let z = zone_of(cluster());
    let r = ask(&z, "20.0.43.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        texts(&r.answers),
        ["20.0.43.10.in-addr.arpa. 30 PTR web.default.svc.cluster.local."]
    );
    let r = ask(&z, "7.0.42.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        texts(&r.answers),
        ["7.0.42.10.in-addr.arpa. 30 PTR db-0.db.default.svc.cluster.local."]
    );
    let r = ask(&z, "7.1.42.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        texts(&r.answers),
        ["7.1.42.10.in-addr.arpa. 30 PTR 10-42-1-7.db.default.svc.cluster.local."]
    );
    let nibbles: String = "fd000043000000000000000000000021"
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect();
    let v6 = format!("{nibbles}ip6.arpa.");
    let v6 = v6.as_str();
    let r = ask(&z, v6, RecordType::PTR);
    assert_eq!(
        texts(&r.answers),
        [format!("{v6} 30 PTR dual.default.svc.cluster.local.")]
    );
    // Not the cluster's (or not ready): the upstream resolvers answer.
    for q in [
        "9.0.42.10.in-addr.arpa.",
        "1.1.168.192.in-addr.arpa.",
        "42.10.in-addr.arpa.",
    ] {
        assert_eq!(z.answer(&name(q), RecordType::PTR), Outcome::Forward, "{q}");
    }
    assert_eq!(
        z.answer(&name("20.0.43.10.in-addr.arpa."), RecordType::A),
        Outcome::Forward
    );
}

#[test]
fn external_name_is_a_cname_followed_in_the_zone_or_upstream() {
    let z = zone_of(cluster());
    let r = ask(&z, "ext.default.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(
        texts(&r.answers),
        ["ext.default.svc.cluster.local. 30 CNAME example.com."]
    );
    let Outcome::Chase { chain, target } =
        z.answer(&name("ext.default.svc.cluster.local."), RecordType::A)
    else {
        panic!("an external target is looked up upstream");
    };
    assert_eq!(target, name("example.com."));
    assert_eq!(
        texts(&chain),
        ["ext.default.svc.cluster.local. 30 CNAME example.com."]
    );
    // No upstream answer: NODATA, as CoreDNS gives.
    assert_nodata(&z.chased(chain.clone(), None));
    let up = Record::from_rdata(
        name("example.com."),
        60,
        RData::A(hickory_proto::rr::rdata::A([192, 0, 2, 1].into())),
    );
    let r = z.chased(chain, Some(vec![up]));
    assert_eq!(
        texts(&r.answers),
        [
            "ext.default.svc.cluster.local. 30 CNAME example.com.",
            "example.com. 60 A 192.0.2.1"
        ]
    );
    // A target inside the zone is followed here.
    let r = ask(&z, "alias.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        [
            "alias.default.svc.cluster.local. 30 CNAME web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 30 A 10.43.0.20",
        ]
    );
    // ExternalName has no SRV, and a ClusterIP Service no CNAME.
    assert_nodata(&ask(&z, "ext.default.svc.cluster.local.", RecordType::SRV));
    assert_nodata(&ask(
        &z,
        "web.default.svc.cluster.local.",
        RecordType::CNAME,
    ));
}

#[test]
fn missing_names_are_nxdomain_and_existing_ones_nodata() {
    let z = zone_of(cluster());
    for q in [
        "nope.default.svc.cluster.local.",
        "web.missing.svc.cluster.local.",
        "missing.svc.cluster.local.",
        "foo.cluster.local.",
        "web.default.nodes.cluster.local.",
        "a.b.c.web.default.svc.cluster.local.",
    ] {
        assert_nxdomain(&ask(&z, q, RecordType::A));
    }
    for q in [
        "cluster.local.",
        "svc.cluster.local.",
        "pod.cluster.local.",
        "default.svc.cluster.local.",
        "empty.svc.cluster.local.",
        "default.pod.cluster.local.",
    ] {
        assert_nodata(&ask(&z, q, RecordType::A));
    }
    // Other types: NODATA where the name exists, NXDOMAIN where it does not.
    assert_nodata(&ask(&z, "web.default.svc.cluster.local.", RecordType::MX));
    assert_nxdomain(&ask(&z, "nope.default.svc.cluster.local.", RecordType::MX));
    assert_nodata(&ask(&z, "web.default.svc.cluster.local.", RecordType::NS));
    assert_nodata(&ask(&z, "web.default.svc.cluster.local.", RecordType::TXT));
    assert_nodata(&ask(&z, "web.default.svc.cluster.local.", RecordType::SOA));
    // The negative answer's SOA is the zone's, with the record TTL.
    let r = ask(&z, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.authority),
        ["cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1765000000 7200 1800 86400 30"]
    );
}

#[test]
fn before_the_caches_are_filled_a_missing_name_is_servfail() {
    let mut r = cluster();
    r.synced = false;
    let z = zone_of(r);
    let r = ask(&z, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.rcode, ResponseCode::ServFail);
    // What is known is answered.
    let r = ask(&z, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn pods_answer_any_address_in_an_existing_namespace() {
    let z = zone_of(cluster());
    let r = ask(&z, "10-42-0-5.default.pod.cluster.local.", RecordType::A);
    assert_eq!(
        texts(&r.answers),
        ["10-42-0-5.default.pod.cluster.local. 30 A 10.42.0.5"]
    );
    let r = ask(&z, "fd00--5.default.pod.cluster.local.", RecordType::AAAA);
    assert_eq!(
        texts(&r.answers),
        ["fd00--5.default.pod.cluster.local. 30 AAAA fd00::5"]
    );
    assert_nodata(&ask(
        &z,
        "10-42-0-5.default.pod.cluster.local.",
        RecordType::AAAA,
    ));
    assert_nxdomain(&ask(
        &z,
        "10-42-0-5.missing.pod.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(&ask(&z, "web.default.pod.cluster.local.", RecordType::A));
}

#[test]
fn the_apex_has_soa_ns_and_the_schema_version() {
    let z = zone_of(cluster());
    let r = ask(&z, "cluster.local.", RecordType::SOA);
    assert_eq!(
        texts(&r.answers),
        ["cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1765000000 7200 1800 86400 30"]
    );
    // The name server is the Service holding the cluster DNS address, as in k3s…
    let r = ask(&z, "cluster.local.", RecordType::NS);
    assert_eq!(
        texts(&r.answers),
        ["cluster.local. 30 NS kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        texts(&r.additionals),
        ["kube-dns.kube-system.svc.cluster.local. 30 A 10.43.0.10"]
    );
    // …or `ns.dns.<zone>` without one.
    let bare = zone_of(MemoryRecords::new());
    let r = ask(&bare, "cluster.local.", RecordType::NS);
    assert_eq!(
        texts(&r.answers),
        ["cluster.local. 30 NS ns.dns.cluster.local."]
    );
    assert_eq!(
        texts(&r.additionals),
        ["ns.dns.cluster.local. 30 A 10.43.0.10"]
    );
    let r = ask(&z, "ns.dns.cluster.local.", RecordType::A);
    assert_eq!(texts(&r.answers), ["ns.dns.cluster.local. 30 A 10.43.0.10"]);
    let r = ask(&z, "dns-version.cluster.local.", RecordType::TXT);
    match r.answers[0].data() {
        RData::TXT(t) => assert_eq!(t.txt_data(), [b"1.1.0".to_vec().into_boxed_slice()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.answers[0].ttl(), 28800);
    assert_eq!(
        ask(&z, "cluster.local.", RecordType::AXFR).rcode,
        ResponseCode::Refused
    );
    // Other names are not the zone's.
    assert_eq!(
        z.answer(&name("example.com."), RecordType::A),
        Outcome::Forward
    );
    assert_eq!(z.answer(&name("local."), RecordType::SOA), Outcome::Forward);
}

/// Records that change: a different set of objects behind each generation.
struct Changing {
    now: std::sync::Mutex<Arc<MemoryRecords>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Changing {
    fn current(&self) -> Arc<MemoryRecords> {
        self.now.lock().unwrap().clone()
    }

    /// Swaps the objects; `count` says whether the change is counted (as informers do).
    fn swap(&self, r: MemoryRecords, count: bool) {
        *self.now.lock().unwrap() = Arc::new(r);
        if count {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl ClusterRecords for Changing {
    fn namespace_exists(&self, namespace: &str) -> bool {
        self.current().namespace_exists(namespace)
    }
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.current().service(namespace, name)
    }
    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        self.current().endpoint_slices(namespace, service)
    }
    fn services_with_cluster_ip(&self, ip: IpAddr) -> Vec<Arc<Service>> {
        self.current().services_with_cluster_ip(ip)
    }
    fn slices_with_address(&self, ip: IpAddr) -> Vec<Arc<EndpointSlice>> {
        self.current().slices_with_address(ip)
    }
    fn has_synced(&self) -> bool {
        true
    }
    fn serial(&self) -> u32 {
        1
    }
    fn generation(&self) -> Option<u64> {
        Some(self.generation.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[test]
fn answers_are_reused_until_the_objects_change() {
    let with = |ip: &str| {
        let mut r = MemoryRecords::new();
        r.services = vec![cluster_ip("default", "web", &[ip], &[("http", 80, "TCP")])];
        r
    };
    let records = Arc::new(Changing {
        now: std::sync::Mutex::new(Arc::new(with("10.43.0.5"))),
        generation: std::sync::atomic::AtomicU64::new(0),
    });
    let zone = Zone::new(records.clone(), "cluster.local", 30, Vec::new()).unwrap();
    let a = |q: &str| match zone.answer(&name(q), RecordType::A) {
        Outcome::Reply(r) => texts(&r.answers),
        other => panic!("{other:?}"),
    };
    let first = a("web.default.svc.cluster.local.");
    assert_eq!(first, ["web.default.svc.cluster.local. 30 A 10.43.0.5"]);
    // Not counted yet: the answer worked out before is reused, whatever the case of the name.
    records.swap(with("10.43.0.6"), false);
    assert_eq!(a("WEB.default.svc.cluster.local."), first);
    // Counted: worked out again from the objects.
    records.swap(with("10.43.0.7"), true);
    assert_eq!(
        a("web.default.svc.cluster.local."),
        ["web.default.svc.cluster.local. 30 A 10.43.0.7"]
    );
}
