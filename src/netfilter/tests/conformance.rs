//! The same kube-proxy-like ruleset applied with `nft -f` and built with this module lists
//! identically.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::Netns;
use crate::netfilter::*;

/// kube-proxy's nftables mode in miniature, as nft text; `T` is the table.
pub(super) const RULESET: &str = r#"table ip T {
  set affinity-ep-a { type ipv4_addr; flags dynamic,timeout; timeout 3h; }
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
  map service-nodeports { type inet_proto . inet_service : verdict; }
  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }
  map endpoint-marks { type ipv4_addr : mark; flags timeout; }
  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }
  chain nat-output { type nat hook output priority -100; policy accept; jump services; }
  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }
  chain filter-forward { type filter hook forward priority -110; policy accept; ct state new jump service-endpoints-check; }
  chain filter-output { type filter hook output priority -110; policy accept; ct state new jump service-endpoints-check; }
  chain filter-input { type filter hook input priority 0; policy accept; ct state established,related counter accept; }
  chain service-endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services; }
  chain reject-chain { reject; }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips;
    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports;
  }
  chain mark-for-masquerade { meta mark set meta mark | 0x4000; }
  chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade fully-random; }
  chain endpoint-a { ip saddr 10.42.0.7 jump mark-for-masquerade; update @affinity-ep-a { ip saddr }; meta l4proto tcp dnat to 10.42.0.7:8080; }
  chain endpoint-b { ip saddr 10.42.1.9 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.9:8080; }
  chain service-web {
    ip daddr 10.43.0.5 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade;
    ip saddr @affinity-ep-a goto endpoint-a;
    numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b };
  }
  chain dns { ip daddr 10.43.0.10 udp dport 53 dnat to 10.42.0.1:53; }
  chain extras {
    ip saddr 10.1.0.0/17 ip daddr != @affinity-ep-a drop;
    meta mark set ip saddr map @endpoint-marks;
    meta mark set 0x10 meta mark set meta mark & 0xff;
    th dport < 1024 accept;
    th sport > 60000 accept;
    meta l4proto tcp snat to 10.0.0.1;
    iifname "lo" accept;
    oifname != "eth9" tcp dport 1000-2000 drop;
  }
}
add element ip T service-ips { 10.43.0.5 . tcp . 80 : goto service-web }
add element ip T service-nodeports { tcp . 30080 : goto service-web }
add element ip T no-endpoint-services { 10.43.0.9 . udp . 53 : goto reject-chain }
add element ip T endpoint-marks { 10.42.0.7 timeout 1h : 0x1, 10.42.1.9 : 0x2 }
"#;

pub(super) fn addr(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

pub(super) fn service_key(a: [u8; 4], proto: Proto, port: u16) -> Key {
    Key::concat(&[Value::Ipv4(addr(a)), Value::Proto(proto), Value::Port(port)])
}

pub(super) const SERVICE_KEY: [DataType; 3] = [
    DataType::Ipv4Addr,
    DataType::InetProto,
    DataType::InetService,
];

/// The rules of `service-web` with the endpoints given.
pub(super) fn service_web_rules(endpoints: &[&str]) -> Vec<Rule> {
    let entries = endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| (i as u32, Verdict::goto(ep)));
    vec![
        Rule::new()
            .ip_daddr()
            .eq([10, 43, 0, 5])
            .tcp_dport()
            .eq(80)
            .ip_saddr()
            .not_in_prefix("10.42.0.0/16".parse().unwrap())
            .jump("mark-for-masquerade"),
        Rule::new()
            .ip_saddr()
            .in_set("affinity-ep-a")
            .goto("endpoint-a"),
        Rule::new()
            .numgen_random(endpoints.len() as u32)
            .vmap_of(entries),
    ]
}

/// The endpoint chain `endpoint-X` for pod `ip`.
pub(super) fn endpoint_rules(ip: [u8; 4], affinity: bool) -> Vec<Rule> {
    let mut rules = vec![Rule::new().ip_saddr().eq(ip).jump("mark-for-masquerade")];
    if affinity {
        rules.push(Rule::new().update_set("affinity-ep-a", &[Field::IpSaddr], None));
    }
    rules.push(
        Rule::new()
            .l4proto()
            .eq(Proto::Tcp)
            .dnat(addr(ip), Some(8080)),
    );
    rules
}

/// The RULESET built with this module into `table`.
pub(super) fn miniature(table: &str) -> Transaction {
    let t = table;
    let mut tx = Transaction::new();
    tx.add_table(t)
        .add_set(
            t,
            &Set::new("affinity-ep-a", DataType::Ipv4Addr)
                .dynamic()
                .default_timeout(Duration::from_secs(3 * 3600)),
        )
        .add_set(
            t,
            &Set::new("service-ips", KeyType::concat(&SERVICE_KEY)).map(MapData::Verdict),
        )
        .add_set(
            t,
            &Set::new(
                "service-nodeports",
                KeyType::concat(&[DataType::InetProto, DataType::InetService]),
            )
            .map(MapData::Verdict),
        )
        .add_set(
            t,
            &Set::new("no-endpoint-services", KeyType::concat(&SERVICE_KEY)).map(MapData::Verdict),
        )
        .add_set(
            t,
            &Set::new("endpoint-marks", DataType::Ipv4Addr)
                .map(MapData::Value(DataType::Mark))
                .with_timeouts(),
        );
    let chains = [
        Chain::base(
            "nat-prerouting",
            ChainType::Nat,
            Hook::Prerouting,
            priority::DSTNAT,
        ),
        Chain::base("nat-output", ChainType::Nat, Hook::Output, -100),
        Chain::base(
            "nat-postrouting",
            ChainType::Nat,
            Hook::Postrouting,
            priority::SRCNAT,
        ),
        Chain::base("filter-forward", ChainType::Filter, Hook::Forward, -110),
        Chain::base("filter-output", ChainType::Filter, Hook::Output, -110),
        Chain::base(
            "filter-input",
            ChainType::Filter,
            Hook::Input,
            priority::FILTER,
        ),
        Chain::regular("service-endpoints-check"),
        Chain::regular("reject-chain"),
        Chain::regular("services"),
        Chain::regular("mark-for-masquerade"),
        Chain::regular("masquerading"),
        Chain::regular("endpoint-a"),
        Chain::regular("endpoint-b"),
        Chain::regular("service-web"),
        Chain::regular("dns"),
        Chain::regular("extras"),
    ];
    for c in &chains {
        tx.add_chain(t, c);
    }
    let svc = [Field::IpDaddr, Field::L4Proto, Field::ThDport];
    let rules: Vec<(&str, Rule)> = vec![
        ("nat-prerouting", Rule::new().jump("services")),
        ("nat-output", Rule::new().jump("services")),
        ("nat-postrouting", Rule::new().jump("masquerading")),
        (
            "filter-forward",
            Rule::new()
                .ct_state(CtState::NEW)
                .jump("service-endpoints-check"),
        ),
        (
            "filter-output",
            Rule::new()
                .ct_state(CtState::NEW)
                .jump("service-endpoints-check"),
        ),
        (
            "filter-input",
            Rule::new()
                .ct_state(CtState::ESTABLISHED | CtState::RELATED)
                .counter()
                .accept(),
        ),
        (
            "service-endpoints-check",
            Rule::new().concat(&svc).vmap("no-endpoint-services"),
        ),
        ("reject-chain", Rule::new().reject()),
        ("services", Rule::new().concat(&svc).vmap("service-ips")),
        (
            "services",
            Rule::new()
                .fib_daddr_type()
                .eq(AddrType::Local)
                .ip_daddr()
                .not_in_prefix("127.0.0.0/8".parse().unwrap())
                .concat(&[Field::L4Proto, Field::ThDport])
                .vmap("service-nodeports"),
        ),
        ("mark-for-masquerade", Rule::new().set_mark_or(0x4000)),
        (
            "masquerading",
            Rule::new().mark().and(0x4000).eq(0u32).ret(),
        ),
        ("masquerading", Rule::new().set_mark_xor(0x4000)),
        ("masquerading", Rule::new().masquerade_fully_random()),
    ];
    for (chain, rule) in &rules {
        tx.add_rule(t, chain, rule);
    }
    for r in endpoint_rules([10, 42, 0, 7], true) {
        tx.add_rule(t, "endpoint-a", &r);
    }
    for r in endpoint_rules([10, 42, 1, 9], false) {
        tx.add_rule(t, "endpoint-b", &r);
    }
    for r in service_web_rules(&["endpoint-a", "endpoint-b"]) {
        tx.add_rule(t, "service-web", &r);
    }
    tx.add_rule(
        t,
        "dns",
        &Rule::new()
            .ip_daddr()
            .eq([10, 43, 0, 10])
            .udp_dport()
            .eq(53)
            .dnat(addr([10, 42, 0, 1]), Some(53)),
    );
    let extras = [
        Rule::new()
            .ip_saddr()
            .in_prefix("10.1.0.0/17".parse().unwrap())
            .ip_daddr()
            .not_in_set("affinity-ep-a")
            .drop(),
        Rule::new().ip_saddr().map_to_mark("endpoint-marks"),
        Rule::new().set_mark(0x10).set_mark_and(0xff),
        Rule::new().th_dport().lt(1024).accept(),
        Rule::new().th_sport().gt(60000).accept(),
        Rule::new()
            .l4proto()
            .eq(Proto::Tcp)
            .snat(addr([10, 0, 0, 1]), None),
        Rule::new().iifname().eq("lo").accept(),
        Rule::new()
            .oifname()
            .neq("eth9")
            .tcp_dport()
            .in_range(1000, 2000)
            .drop(),
    ];
    for r in &extras {
        tx.add_rule(t, "extras", r);
    }
    tx.add_elements(
        t,
        "service-ips",
        &[Element::verdict(
            service_key([10, 43, 0, 5], Proto::Tcp, 80),
            Verdict::goto("service-web"),
        )],
    )
    .add_elements(
        t,
        "service-nodeports",
        &[Element::verdict(
            Key::concat(&[Value::Proto(Proto::Tcp), Value::Port(30080)]),
            Verdict::goto("service-web"),
        )],
    )
    .add_elements(
        t,
        "no-endpoint-services",
        &[Element::verdict(
            service_key([10, 43, 0, 9], Proto::Udp, 53),
            Verdict::goto("reject-chain"),
        )],
    )
    .add_elements(
        t,
        "endpoint-marks",
        &[
            Element::value(addr([10, 42, 0, 7]), Value::Mark(1)).timeout(Duration::from_secs(3600)),
            Element::value(addr([10, 42, 1, 9]), Value::Mark(2)),
        ],
    );
    tx
}

/// `nft list table ip TABLE` with the table's name replaced by `T` and element expiry times
/// (which tick) removed.
pub(super) fn listing(ns: &Netns, table: &str) -> String {
    let text = ns.nft(&["list", "table", "ip", table]);
    let text = text.replace(&format!("table ip {table} "), "table ip T ");
    let re_expires = |s: &str| -> String {
        // "expires 59m59s990ms" differs by the milliseconds between the two commits.
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find(" expires ") {
            out.push_str(&rest[..i]);
            let after = &rest[i + " expires ".len()..];
            let end = after.find([' ', ',', '}']).unwrap_or(after.len());
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    };
    re_expires(&text)
}

#[test]
fn the_api_builds_what_nft_builds_from_text() {
    let ns = Netns::new("conf");
    let pid = std::process::id();
    let (text_table, rust_table) = (format!("text{pid}"), format!("rust{pid}"));
    let ruleset = RULESET
        .replace("table ip T ", &format!("table ip {text_table} "))
        .replace(
            "add element ip T ",
            &format!("add element ip {text_table} "),
        );
    ns.nft_file(&ruleset);

    let mut socket = ns.socket();
    socket
        .commit(&miniature(&rust_table))
        .expect("commit the miniature ruleset");

    let from_text = listing(&ns, &text_table);
    let from_api = listing(&ns, &rust_table);
    assert_eq!(
        from_api, from_text,
        "nft lists the API's table differently from its own"
    );
    assert!(
        from_api.contains("numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }")
    );

    // Adding the same objects again is idempotent (rules aside, which append).
    let mut again = Transaction::new();
    again
        .add_table(&rust_table)
        .add_chain(&rust_table, &Chain::regular("dns"))
        .add_set(
            &rust_table,
            &Set::new("service-ips", KeyType::concat(&SERVICE_KEY)).map(MapData::Verdict),
        );
    socket
        .commit(&again)
        .expect("re-adding existing objects succeeds");
    assert_eq!(listing(&ns, &rust_table), from_text);
}
