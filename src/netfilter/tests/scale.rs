//! A kube-proxy-sized transaction: 10,000 services, each a map element, a chain and a rule.

use std::net::Ipv4Addr;

use super::Netns;
use crate::netfilter::*;

const SERVICES: u32 = 10_000;

#[test]
fn ten_thousand_services_commit_in_one_transaction() {
    let ns = Netns::new("scale");
    let table = format!("rust{}", std::process::id());
    let t = table.as_str();
    let key = [
        DataType::Ipv4Addr,
        DataType::InetProto,
        DataType::InetService,
    ];

    let mut tx = Transaction::new();
    tx.add_table(t)
        .add_set(
            t,
            &Set::new("service-ips", KeyType::concat(&key)).map(MapData::Verdict),
        )
        .add_chain(
            t,
            &Chain::base("nat-output", ChainType::Nat, Hook::Output, priority::DSTNAT),
        )
        .add_rule(
            t,
            "nat-output",
            &Rule::new()
                .concat(&[Field::IpDaddr, Field::L4Proto, Field::ThDport])
                .vmap("service-ips"),
        );
    let mut elements = Vec::with_capacity(SERVICES as usize);
    for i in 0..SERVICES {
        let chain = format!("svc-{i}");
        let [_, _, hi, lo] = i.to_be_bytes();
        tx.add_chain(t, &Chain::regular(&chain)).add_rule(
            t,
            &chain,
            &Rule::new()
                .l4proto()
                .eq(Proto::Tcp)
                .dnat(Ipv4Addr::new(10, 42, hi, lo), Some(8080)),
        );
        elements.push(Element::verdict(
            Key::concat(&[
                Value::Ipv4(Ipv4Addr::new(10, 43, hi, lo)),
                Value::Proto(Proto::Tcp),
                Value::Port(80),
            ]),
            Verdict::goto(&chain),
        ));
    }
    tx.add_elements(t, "service-ips", &elements);

    let mut socket = ns.socket();
    socket.commit(&tx).expect("commit 10,000 services");

    let listed = ns.nft(&["list", "table", "ip", t]);
    assert_eq!(listed.matches("\tchain svc-").count(), SERVICES as usize);
    assert_eq!(
        listed.matches("meta l4proto tcp dnat to 10.42.").count(),
        SERVICES as usize
    );
    assert_eq!(listed.matches(" : goto svc-").count(), SERVICES as usize);
    assert!(
        listed.contains("10.43.39.15 . tcp . 80 : goto svc-9999"),
        "the last service is there"
    );
}
