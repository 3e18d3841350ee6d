use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record};

use super::*;

/// A query for `name` (dotted, with the root dot) of type A with id `id`, recursion
/// desired, with an OPT record; written by hand, as hickory writes names lower-cased.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

/// An answer to `query`: a CNAME and an A record with TTL 3600, and an OPT record.
fn response(query: &[u8]) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let name = q.query().unwrap().name().clone();
    let target = Name::from_str("edge.example.net.").unwrap();
    let mut msg = Message::new();
    msg.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .add_query(q.query().unwrap().clone())
        .add_answer(Record::from_rdata(
            name,
            3600,
            RData::CNAME(CNAME(target.clone())),
        ))
        .add_answer(Record::from_rdata(
            target,
            3600,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
        ));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}

fn ttls(bytes: &[u8]) -> Vec<u32> {
    let msg = Message::from_vec(bytes).unwrap();
    msg.answers().iter().map(Record::ttl).collect()
}

#[test]
fn a_replayed_answer_has_the_seconds_left_its_own_id_and_spelling() {
    let replay = ForwardedReplay::default();
    let t0 = Instant::now();
    let first = query(7, "www.example.org.");
    replay.put(&first, Transport::Udp, &response(&first), 30, t0);

    let again = query(9, "WWW.Example.org.");
    let got = replay
        .get(&again, Transport::Udp, t0 + Duration::from_secs(10))
        .unwrap();
    let msg = Message::from_vec(&got).unwrap();
    assert_eq!(msg.id(), 9);
    assert_eq!(
        msg.query().unwrap().name().to_ascii(),
        "WWW.Example.org.",
        "the question as this query spelt it"
    );
    assert_eq!(ttls(&got), [20, 20]);
    let edns = msg.extensions().as_ref().expect("the OPT record is kept");
    assert_eq!(edns.max_payload(), 1232, "OPT's fields are not TTLs");
    assert_eq!(
        msg.answers()[1].data(),
        &RData::A(A(Ipv4Addr::new(192, 0, 2, 7)))
    );
}

#[test]
fn an_answer_past_its_time_is_gone() {
    let replay = ForwardedReplay::default();
    let t0 = Instant::now();
    let q = query(7, "www.example.org.");
    replay.put(&q, Transport::Udp, &response(&q), 30, t0);
    let last = replay.get(&q, Transport::Udp, t0 + Duration::from_millis(29_999));
    assert_eq!(ttls(&last.unwrap()), [1, 1]);
    assert!(replay
        .get(&q, Transport::Udp, t0 + Duration::from_secs(30))
        .is_none());
    assert!(replay.inner().by_query.is_empty() && replay.inner().bytes == 0);
}

#[test]
fn another_question_flag_or_transport_misses() {
    let replay = ForwardedReplay::default();
    let t0 = Instant::now();
    let q = query(7, "www.example.org.");
    replay.put(&q, Transport::Udp, &response(&q), 30, t0);
    assert!(replay.get(&q, Transport::Tcp, t0).is_none());
    assert!(replay
        .get(&query(7, "ftp.example.org."), Transport::Udp, t0)
        .is_none());
    let mut no_recursion = q.clone();
    no_recursion[2] &= !0x01;
    assert!(replay.get(&no_recursion, Transport::Udp, t0).is_none());
}

#[test]
fn a_message_that_does_not_read_whole_is_not_kept() {
    let replay = ForwardedReplay::default();
    let t0 = Instant::now();
    let q = query(7, "www.example.org.");
    let r = response(&q);
    replay.put(&q, Transport::Udp, &r[..r.len() - 1], 30, t0);
    let mut longer = r.clone();
    longer.push(0);
    replay.put(&q, Transport::Udp, &longer, 30, t0);
    assert!(replay.get(&q, Transport::Udp, t0).is_none());
}

#[test]
fn the_bytes_kept_stay_bounded() {
    let replay = ForwardedReplay::default();
    let t0 = Instant::now();
    for i in 0..(MAX_ANSWERS + 10) {
        let q = query(1, &format!("host{i}.example.org."));
        replay.put(&q, Transport::Udp, &response(&q), 30, t0);
        let inner = replay.inner();
        assert!(inner.by_query.len() <= MAX_ANSWERS && inner.bytes <= MAX_BYTES);
        let counted: usize = inner.by_query.values().map(|k| k.response.len()).sum();
        assert_eq!(inner.bytes, counted);
    }
    let last = query(1, &format!("host{}.example.org.", MAX_ANSWERS + 9));
    assert!(replay.get(&last, Transport::Udp, t0).is_some());
}
