//! The nftables ruleset of the proxy, kube-proxy's nftables mode in small, in a table of its
//! own (`ip <table>`):
//!
//! - `services` (jumped to from `nat-prerouting` and `nat-output`) sends a packet by
//!   `ip daddr . meta l4proto . th dport` through the `service-ips` map to a Service port's
//!   chain, and one to a node port on a local address through `service-nodeports`;
//! - `service-T` (cluster IP) marks traffic from outside the cluster network for masquerade,
//!   keeps a client on its endpoint (`affinity-E` sets, under `sessionAffinity: ClientIP`)
//!   and picks an endpoint with `numgen random`; `external-T` (node port, external and
//!   load-balancer IPs) masquerades, or under `externalTrafficPolicy: Local` sends outside
//!   traffic to `local-T` (this node's endpoints only) with the client's address kept;
//! - `endpoint-E` masquerades a pod reaching itself (hairpin), records affinity and DNATs;
//! - a Service port without endpoints is refused at once (`reject`, ICMP port unreachable)
//!   by the `no-endpoint-services`/`no-endpoint-nodeports` maps in the filter hooks, and any
//!   other address or port of the service range by `cluster-ips-check`, so nothing meant
//!   for a Service leaves the node.
//!
//! [`Ruleset`] is the desired state, pure; [`Ruleset::transaction`] turns it into one atomic
//! transaction from the state programmed before: the first after a start replaces the whole
//! table (whatever an earlier run left), later ones rewrite only the chains that changed,
//! refill the maps and drop what is gone — keeping the affinity sets' entries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::cidr::Ipv4Cidr;
use crate::netfilter::{
    priority, Chain, ChainType, CtState, DataType, Element, Field, Hook, Key, KeyType, MapData,
    Proto, Rule, Set, Transaction, Value, Verdict,
};

use super::model::{Backend, Protocol, ServicePort};

/// The mark bit of packets to masquerade (kube-proxy's).
const MASQUERADE_MARK: u32 = 0x4000;
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
const CLUSTER_IPS: &str = "cluster-ips";
const REJECT_CHAIN: &str = "reject-chain";
const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
/// Longest chain or set name written (the kernel takes 256; `nft` shows them whole).
const MAX_NAME: usize = 120;

/// What the ruleset depends on besides the Service ports.
#[derive(Debug, Clone)]
pub struct Context {
    /// The table (family `ip`).
    pub table: String,
    /// The pod network of the whole cluster: traffic from elsewhere to a cluster IP is
    /// masqueraded so replies come back through this node.
    pub cluster_cidr: Ipv4Cidr,
    /// The service range: an address in it that no Service port answers is refused.
    pub service_cidr: Ipv4Cidr,
    /// Addresses of the service range this node answers itself (the DNS Service's).
    pub local_service_ips: Vec<Ipv4Addr>,
}

/// The desired state of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    chains: BTreeMap<String, Vec<Rule>>,
    /// Affinity sets and their timeouts.
    affinity: BTreeMap<String, u32>,
    service_ips: Vec<Element>,
    node_ports: Vec<Element>,
    no_endpoint_services: Vec<Element>,
    no_endpoint_nodeports: Vec<Element>,
    cluster_ips: Vec<Element>,
}

fn proto(p: Protocol) -> Proto {
    match p {
        Protocol::Tcp => Proto::Tcp,
        Protocol::Udp => Proto::Udp,
        Protocol::Sctp => Proto::Sctp,
    }
}

fn clip(name: String) -> String {
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut end = MAX_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

fn service_key(ip: Ipv4Addr, p: Protocol, port: u16) -> Key {
    Key::concat(&[Value::Ipv4(ip), Value::Proto(proto(p)), Value::Port(port)])
}

fn node_port_key(p: Protocol, port: u16) -> Key {
    Key::concat(&[Value::Proto(proto(p)), Value::Port(port)])
}

const SERVICE_KEY: [DataType; 3] = [
    DataType::Ipv4Addr,
    DataType::InetProto,
    DataType::InetService,
];
const NODE_PORT_KEY: [DataType; 2] = [DataType::InetProto, DataType::InetService];

/// The base chains: hook, priority and the one jump each makes.
fn base_chains() -> Vec<(Chain, Vec<Rule>)> {
    let new = || Rule::new().ct_state(CtState::NEW);
    vec![
        (
            Chain::base(
                "nat-prerouting",
                ChainType::Nat,
                Hook::Prerouting,
                priority::DSTNAT,
            ),
            vec![Rule::new().jump("services")],
        ),
        (
            Chain::base("nat-output", ChainType::Nat, Hook::Output, priority::DSTNAT),
            vec![Rule::new().jump("services")],
        ),
        (
            Chain::base(
                "nat-postrouting",
                ChainType::Nat,
                Hook::Postrouting,
                priority::SRCNAT,
            ),
            vec![Rule::new().jump("masquerading")],
        ),
        (
            Chain::base(
                "filter-input",
                ChainType::Filter,
                Hook::Input,
                priority::DSTNAT - 10,
            ),
            vec![new().jump("nodeport-endpoints-check")],
        ),
        (
            Chain::base(
                "filter-forward",
                ChainType::Filter,
                Hook::Forward,
                priority::DSTNAT - 10,
            ),
            vec![
                new().jump("service-endpoints-check"),
                new().jump("cluster-ips-check"),
            ],
        ),
        (
            Chain::base(
                "filter-output",
                ChainType::Filter,
                Hook::Output,
                priority::DSTNAT - 10,
            ),
            vec![new().jump("service-endpoints-check")],
        ),
        (
            Chain::base(
                "filter-output-post-dnat",
                ChainType::Filter,
                Hook::Output,
                priority::DSTNAT + 10,
            ),
            vec![new().jump("cluster-ips-check")],
        ),
    ]
}

fn service_fields() -> [Field; 3] {
    [Field::IpDaddr, Field::L4Proto, Field::ThDport]
}

/// The regular chains whose rules depend only on the context.
fn static_chains(ctx: &Context) -> Vec<(String, Vec<Rule>)> {
    let loopback = Ipv4Cidr::LOOPBACK;
    let on_local_address = || {
        Rule::new()
            .fib_daddr_type()
            .eq(crate::netfilter::AddrType::Local)
            .ip_daddr()
            .not_in_prefix(loopback)
    };
    let mut cluster_ips_check: Vec<Rule> = ctx
        .local_service_ips
        .iter()
        .map(|ip| Rule::new().ip_daddr().eq(*ip).ret())
        .collect();
    cluster_ips_check.push(Rule::new().ip_daddr().in_set(CLUSTER_IPS).reject());
    cluster_ips_check.push(Rule::new().ip_daddr().in_prefix(ctx.service_cidr).reject());
    vec![
        (
            "services".into(),
            vec![
                Rule::new().concat(&service_fields()).vmap(SERVICE_IPS),
                on_local_address()
                    .concat(&[Field::L4Proto, Field::ThDport])
                    .vmap(SERVICE_NODEPORTS),
            ],
        ),
        (
            "service-endpoints-check".into(),
            vec![Rule::new()
                .concat(&service_fields())
                .vmap(NO_ENDPOINT_SERVICES)],
        ),
        (
            "nodeport-endpoints-check".into(),
            vec![on_local_address()
                .concat(&[Field::L4Proto, Field::ThDport])
                .vmap(NO_ENDPOINT_NODEPORTS)],
        ),
        ("cluster-ips-check".into(), cluster_ips_check),
        (REJECT_CHAIN.into(), vec![Rule::new().reject()]),
        (
            MARK_FOR_MASQUERADE.into(),
            vec![Rule::new().set_mark_or(MASQUERADE_MARK)],
        ),
        (
            "masquerading".into(),
            vec![
                Rule::new().mark().and(MASQUERADE_MARK).eq(0u32).ret(),
                Rule::new().set_mark_xor(MASQUERADE_MARK),
                Rule::new().masquerade_fully_random(),
            ],
        ),
    ]
}

/// Names of one Service port's objects.
struct Names {
    service: String,
    external: String,
    local: String,
}

impl Names {
    fn of(sp: &ServicePort) -> Names {
        Names {
            service: clip(format!("service-{}-{}", sp.tag, sp.id)),
            external: clip(format!("external-{}-{}", sp.tag, sp.id)),
            local: clip(format!("local-{}-{}", sp.tag, sp.id)),
        }
    }

    fn endpoint(sp: &ServicePort, b: &Backend) -> String {
        let tag = super::model::tag_of(&format!("{}/{}:{}", sp.id, b.ip, b.port));
        clip(format!(
            "endpoint-{tag}-{}/{}__{}/{}",
            sp.id,
            sp.protocol.name(),
            b.ip,
            b.port
        ))
    }

    fn affinity(sp: &ServicePort, b: &Backend) -> String {
        let tag = super::model::tag_of(&format!("{}/{}:{}", sp.id, b.ip, b.port));
        clip(format!("affinity-{tag}-{}__{}/{}", sp.id, b.ip, b.port))
    }
}

impl Ruleset {
    /// The desired state for `ports`.
    pub fn new(ctx: &Context, ports: &[ServicePort]) -> Ruleset {
        let mut rs = Ruleset::default();
        for (name, rules) in static_chains(ctx) {
            rs.chains.insert(name, rules);
        }
        let mut cluster_ips = BTreeSet::new();
        for sp in ports {
            cluster_ips.insert(sp.cluster_ip);
            rs.add_service_port(ctx, sp);
        }
        rs.cluster_ips = cluster_ips.into_iter().map(Element::new).collect();
        rs
    }

    /// The endpoint chains of `backends` and the rules choosing among them.
    fn balance(&mut self, sp: &ServicePort, backends: &[Backend]) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut targets = Vec::new();
        for b in backends {
            let chain = Names::endpoint(sp, b);
            if let Some(timeout) = sp.affinity_seconds {
                let set = Names::affinity(sp, b);
                rules.push(Rule::new().ip_saddr().in_set(&set).goto(&chain));
                self.affinity.insert(set, timeout);
            }
            if !self.chains.contains_key(&chain) {
                let mut ep = vec![Rule::new().ip_saddr().eq(b.ip).jump(MARK_FOR_MASQUERADE)];
                if sp.affinity_seconds.is_some() {
                    ep.push(Rule::new().update_set(
                        &Names::affinity(sp, b),
                        &[Field::IpSaddr],
                        None,
                    ));
                }
                ep.push(
                    Rule::new()
                        .l4proto()
                        .eq(proto(sp.protocol))
                        .dnat(b.ip, Some(b.port)),
                );
                self.chains.insert(chain.clone(), ep);
            }
            targets.push(chain);
        }
        match targets.len() {
            0 => {}
            1 => rules.push(Rule::new().goto(&targets[0])),
            n => {
                rules.push(
                    Rule::new()
                        .numgen_random(u32::try_from(n).unwrap_or(u32::MAX))
                        .vmap_of(targets.iter().enumerate().map(|(i, t)| {
                            (u32::try_from(i).unwrap_or(u32::MAX), Verdict::goto(t))
                        })),
                )
            }
        }
        rules
    }

    fn add_service_port(&mut self, ctx: &Context, sp: &ServicePort) {
        let names = Names::of(sp);
        let refuse = |local_only_with_others: bool| {
            if local_only_with_others {
                Verdict::Drop
            } else {
                Verdict::goto(REJECT_CHAIN)
            }
        };
        // The cluster-IP path.
        let key = service_key(sp.cluster_ip, sp.protocol, sp.port);
        if sp.internal.is_empty() {
            self.no_endpoint_services
                .push(Element::verdict(key, refuse(false)));
        } else {
            let mut rules = vec![Rule::new()
                .ip_saddr()
                .not_in_prefix(ctx.cluster_cidr)
                .jump(MARK_FOR_MASQUERADE)];
            rules.extend(self.balance(sp, &sp.internal));
            self.chains.insert(names.service.clone(), rules);
            self.service_ips
                .push(Element::verdict(key, Verdict::goto(&names.service)));
        }
        // The outside paths: node port, external and load-balancer IPs.
        if sp.node_port.is_none() && sp.external_ips.is_empty() {
            return;
        }
        let external_verdict = if sp.external.is_empty() {
            None
        } else if sp.external_local {
            let rules = self.balance(sp, &sp.external);
            self.chains.insert(names.local.clone(), rules);
            let mut rules = Vec::new();
            if !sp.internal.is_empty() {
                // Pods of the cluster take the cluster path, as kube-proxy short-circuits.
                rules.push(
                    Rule::new()
                        .ip_saddr()
                        .in_prefix(ctx.cluster_cidr)
                        .goto(&names.service),
                );
            }
            rules.push(Rule::new().goto(&names.local));
            self.chains.insert(names.external.clone(), rules);
            Some(Verdict::goto(&names.external))
        } else if sp.internal.is_empty() {
            None
        } else {
            self.chains.insert(
                names.external.clone(),
                vec![
                    Rule::new().jump(MARK_FOR_MASQUERADE),
                    Rule::new().goto(&names.service),
                ],
            );
            Some(Verdict::goto(&names.external))
        };
        let has_any = !sp.internal.is_empty() || !sp.external.is_empty();
        for ip in &sp.external_ips {
            let key = service_key(*ip, sp.protocol, sp.port);
            match &external_verdict {
                Some(v) => self.service_ips.push(Element::verdict(key, v.clone())),
                None => self
                    .no_endpoint_services
                    .push(Element::verdict(key, refuse(sp.external_local && has_any))),
            }
        }
        if let Some(node_port) = sp.node_port {
            let key = node_port_key(sp.protocol, node_port);
            match &external_verdict {
                Some(v) => self.node_ports.push(Element::verdict(key, v.clone())),
                None => self
                    .no_endpoint_nodeports
                    .push(Element::verdict(key, refuse(sp.external_local && has_any))),
            }
        }
    }

    /// The transaction from `previous` (the state programmed last, `None` after a start) to
    /// this state.
    pub fn transaction(&self, table: &str, previous: Option<&Ruleset>) -> Transaction {
        let t = table;
        let mut tx = Transaction::new();
        let empty = Ruleset::default();
        let fresh = previous.is_none();
        let previous = previous.unwrap_or(&empty);
        if fresh {
            // Whatever an earlier run left goes with the table, in this same transaction.
            tx.add_table(t).delete_table(t).add_table(t);
            for (name, key) in [
                (SERVICE_IPS, KeyType::concat(&SERVICE_KEY)),
                (NO_ENDPOINT_SERVICES, KeyType::concat(&SERVICE_KEY)),
                (SERVICE_NODEPORTS, KeyType::concat(&NODE_PORT_KEY)),
                (NO_ENDPOINT_NODEPORTS, KeyType::concat(&NODE_PORT_KEY)),
            ] {
                tx.add_set(t, &Set::new(name, key).map(MapData::Verdict));
            }
            tx.add_set(t, &Set::new(CLUSTER_IPS, DataType::Ipv4Addr));
        }
        for (set, timeout) in &self.affinity {
            if previous.affinity.get(set) != Some(timeout) {
                if previous.affinity.contains_key(set) {
                    tx.delete_set(t, set);
                }
                tx.add_set(
                    t,
                    &Set::new(set, DataType::Ipv4Addr)
                        .dynamic()
                        .default_timeout(Duration::from_secs(u64::from(*timeout))),
                );
            }
        }
        for name in self.chains.keys() {
            if !previous.chains.contains_key(name) {
                tx.add_chain(t, &Chain::regular(name));
            }
        }
        if fresh {
            for (chain, _) in base_chains() {
                tx.add_chain(t, &chain);
            }
        }
        for set in [
            SERVICE_IPS,
            SERVICE_NODEPORTS,
            NO_ENDPOINT_SERVICES,
            NO_ENDPOINT_NODEPORTS,
            CLUSTER_IPS,
        ] {
            if !fresh {
                tx.flush_set(t, set);
            }
        }
        let changed: Vec<&String> = self
            .chains
            .iter()
            .filter(|(name, rules)| previous.chains.get(*name) != Some(*rules))
            .map(|(name, _)| name)
            .collect();
        for name in &changed {
            if previous.chains.contains_key(*name) {
                tx.flush_chain(t, name);
            }
        }
        for name in previous.chains.keys() {
            if !self.chains.contains_key(name) {
                tx.flush_chain(t, name);
            }
        }
        for name in previous.chains.keys() {
            if !self.chains.contains_key(name) {
                tx.delete_chain(t, name);
            }
        }
        for set in previous.affinity.keys() {
            if !self.affinity.contains_key(set) {
                tx.delete_set(t, set);
            }
        }
        for name in changed {
            for rule in &self.chains[name] {
                tx.add_rule(t, name, rule);
            }
        }
        if fresh {
            for (chain, rules) in base_chains() {
                for rule in &rules {
                    tx.add_rule(t, chain.name(), rule);
                }
            }
        }
        for (set, elements) in [
            (SERVICE_IPS, &self.service_ips),
            (SERVICE_NODEPORTS, &self.node_ports),
            (NO_ENDPOINT_SERVICES, &self.no_endpoint_services),
            (NO_ENDPOINT_NODEPORTS, &self.no_endpoint_nodeports),
            (CLUSTER_IPS, &self.cluster_ips),
        ] {
            if !elements.is_empty() {
                tx.add_elements(t, set, elements);
            }
        }
        tx
    }

    /// How many Service-port and endpoint chains the state holds (for logs).
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Backend, Protocol, ServicePort};
    use super::*;

    fn ctx() -> Context {
        Context {
            table: "t".into(),
            cluster_cidr: "10.42.0.0/16".parse().unwrap(),
            service_cidr: "10.43.0.0/16".parse().unwrap(),
            local_service_ips: vec![Ipv4Addr::new(10, 43, 0, 10)],
        }
    }

    fn port(internal: &[[u8; 4]], node_port: Option<u16>, affinity: Option<u32>) -> ServicePort {
        let backends: Vec<Backend> = internal
            .iter()
            .map(|ip| Backend {
                ip: Ipv4Addr::from(*ip),
                port: 8080,
                local: false,
            })
            .collect();
        ServicePort {
            id: "default/web/tcp/http".into(),
            tag: "ABCDEFGH".into(),
            protocol: Protocol::Tcp,
            cluster_ip: Ipv4Addr::new(10, 43, 0, 5),
            port: 80,
            node_port,
            external_ips: Vec::new(),
            internal: backends.clone(),
            external: backends,
            external_local: false,
            affinity_seconds: affinity,
        }
    }

    fn names(rs: &Ruleset, prefix: &str) -> Vec<String> {
        rs.chains
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect()
    }

    #[test]
    fn a_port_with_endpoints_gets_its_chains_and_map_entries() {
        let rs = Ruleset::new(
            &ctx(),
            &[port(
                &[[10, 42, 0, 5], [10, 42, 1, 5]],
                Some(30080),
                Some(60),
            )],
        );
        assert_eq!(
            names(&rs, "service-ABCDEFGH"),
            ["service-ABCDEFGH-default/web/tcp/http"]
        );
        assert_eq!(names(&rs, "external-").len(), 1);
        assert_eq!(names(&rs, "endpoint-").len(), 2);
        assert_eq!(rs.affinity.len(), 2);
        assert!(rs.affinity.values().all(|t| *t == 60));
        assert_eq!(rs.service_ips.len(), 1);
        assert_eq!(rs.node_ports.len(), 1);
        assert!(rs.no_endpoint_services.is_empty());
        // The DNS address is let through before the service range is refused.
        let check = &rs.chains["cluster-ips-check"];
        assert_eq!(check.len(), 3);
    }

    #[test]
    fn a_port_without_endpoints_is_refused_on_every_path() {
        let rs = Ruleset::new(&ctx(), &[port(&[], Some(30080), None)]);
        assert!(names(&rs, "service-ABCDEFGH").is_empty());
        assert_eq!(rs.no_endpoint_services.len(), 1);
        assert_eq!(rs.no_endpoint_nodeports.len(), 1);
        assert!(rs.service_ips.is_empty() && rs.node_ports.is_empty());
    }

    #[test]
    fn later_transactions_touch_only_what_changed() {
        let ctx = ctx();
        let two = Ruleset::new(&ctx, &[port(&[[10, 42, 0, 5], [10, 42, 1, 5]], None, None)]);
        let first = two.transaction("t", None);
        // Unchanged: the maps are refilled, no chain is touched.
        let same = two.transaction("t", Some(&two));
        assert!(
            same.len() < first.len() / 4,
            "{} vs {}",
            same.len(),
            first.len()
        );
        // One endpoint gone: its chain goes, the service chain is rewritten.
        let one = Ruleset::new(&ctx, &[port(&[[10, 42, 0, 5]], None, None)]);
        let shrink = one.transaction("t", Some(&two));
        assert!(shrink.len() > same.len() && shrink.len() < first.len());
        assert_eq!(names(&one, "endpoint-").len(), 1);
    }
}
