use std::net::Ipv4Addr;

use hickory_proto::rr::rdata::{A, SOA};

use super::*;

fn limits() -> CacheLimits {
    CacheLimits {
        entries: 3,
        bytes: 1000,
        max_ttl: Duration::from_secs(300),
        max_negative_ttl: Duration::from_secs(60),
    }
}

fn key(name: &str) -> Key {
    Key {
        name: Name::from_ascii(name).unwrap(),
        qtype: RecordType::A,
        class: DNSClass::IN,
    }
}

fn a(name: &str, ttl: u32) -> Answer {
    Answer {
        rcode: ResponseCode::NoError,
        recursion_available: true,
        authentic_data: false,
        answers: vec![Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        )],
        authority: Vec::new(),
        additionals: Vec::new(),
    }
}

fn negative(rcode: ResponseCode, soa_ttl: u32, minimum: u32) -> Answer {
    let n = Name::from_ascii("example.").unwrap();
    let soa = SOA::new(n.clone(), n.clone(), 1, 7200, 1800, 86400, minimum);
    Answer {
        rcode,
        recursion_available: true,
        authentic_data: false,
        answers: Vec::new(),
        authority: vec![Record::from_rdata(n, soa_ttl, RData::SOA(soa))],
        additionals: Vec::new(),
    }
}

#[test]
fn a_hit_has_its_ttl_lowered_by_its_age_and_expires() {
    let mut c = Cache::new(limits());
    let t0 = Instant::now();
    c.insert(key("www.example."), a("www.example.", 20), 100, t0);
    let hit = c
        .get(&key("WWW.Example."), t0 + Duration::from_secs(7))
        .unwrap();
    assert_eq!(hit.answers[0].ttl(), 13);
    assert!(c
        .get(&key("www.example."), t0 + Duration::from_secs(20))
        .is_none());
    assert_eq!(c.len(), 0);
}

#[test]
fn ttls_are_capped() {
    let mut c = Cache::new(limits());
    let t0 = Instant::now();
    c.insert(key("long.example."), a("long.example.", 86400), 100, t0);
    assert_eq!(
        c.get(&key("long.example."), t0).unwrap().answers[0].ttl(),
        300
    );
}

#[test]
fn negative_answers_live_for_the_soa_minimum_capped() {
    let l = limits();
    assert_eq!(
        keep_for(&negative(ResponseCode::NXDomain, 3600, 30), &l),
        Some(30)
    );
    assert_eq!(
        keep_for(&negative(ResponseCode::NoError, 10, 30), &l),
        Some(10)
    );
    assert_eq!(
        keep_for(&negative(ResponseCode::NXDomain, 3600, 3600), &l),
        Some(60)
    );
    // No SOA: not kept (RFC 2308 section 5); failures never.
    let mut bare = negative(ResponseCode::NXDomain, 1, 1);
    bare.authority.clear();
    assert_eq!(keep_for(&bare, &l), None);
    assert_eq!(
        keep_for(&negative(ResponseCode::ServFail, 60, 60), &l),
        None
    );
    assert_eq!(keep_for(&a("zero.example.", 0), &l), None);

    let mut c = Cache::new(l);
    let t0 = Instant::now();
    c.insert(
        key("gone.example."),
        negative(ResponseCode::NXDomain, 3600, 30),
        80,
        t0,
    );
    let hit = c
        .get(&key("gone.example."), t0 + Duration::from_secs(29))
        .unwrap();
    assert_eq!(hit.rcode, ResponseCode::NXDomain);
    assert_eq!(hit.authority[0].ttl(), 1);
    assert!(c
        .get(&key("gone.example."), t0 + Duration::from_secs(30))
        .is_none());
}

#[test]
fn entries_and_bytes_are_bounded_least_recently_used_first() {
    let mut c = Cache::new(limits());
    let t0 = Instant::now();
    for n in ["a.", "b.", "c."] {
        c.insert(key(n), a(n, 60), 100, t0);
    }
    // Using "a." makes "b." the oldest.
    assert!(c.get(&key("a."), t0).is_some());
    c.insert(key("d."), a("d.", 60), 100, t0);
    assert_eq!(c.len(), 3);
    assert!(c.get(&key("b."), t0).is_none());
    assert!(c.get(&key("a."), t0).is_some());

    // A large answer pushes out as many as it needs; one larger than the cache is not kept.
    // (The cache holds a, c, d: 300 bytes; 900 more fit after the two oldest go.)
    c.insert(key("big."), a("big.", 60), 900, t0);
    assert!(c.get(&key("big."), t0).is_some());
    assert!(c.get(&key("c."), t0).is_none() && c.get(&key("d."), t0).is_none());
    assert_eq!(c.len(), 2);
    c.insert(key("huge."), a("huge.", 60), 1001, t0);
    assert!(c.get(&key("huge."), t0).is_none());
    assert!(c.get(&key("big."), t0).is_some());
}
