//! A typed builder of rules that reads like `nft`:
//! `Rule::new().ip_daddr().eq(addr).tcp_dport().eq(80).jump("mark-for-masquerade")`
//! is `ip daddr ADDR tcp dport 80 jump mark-for-masquerade`. Selectors ([`super::Selector`])
//! load packet data and compare or look it up; the statements here (verdicts, nat, marks, set
//! updates, counters) extend or end the rule.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::expr::{CmpOp, Expr, MetaKey, NatKind, REG_1, REG_2};
use super::selector::{Field, Selector, Source};
use super::value::{AddrType, CtState, DataType, IfName, Key, KeyType, Proto, Verdict};

/// An anonymous constant verdict map a rule carries (`vmap { 0 : goto a, 1 : goto b }`),
/// created in the same transaction as the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnonymousMap {
    pub(crate) key: KeyType,
    pub(crate) elements: Vec<(Vec<u8>, Verdict)>,
}

/// A rule: expressions in order, plus the anonymous maps they look up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub(crate) exprs: Vec<Expr>,
    pub(crate) anonymous_maps: Vec<AnonymousMap>,
    /// Why the rule cannot be encoded (reported when the transaction is committed).
    pub(crate) invalid: Option<String>,
}

impl Rule {
    /// An empty rule (matches every packet).
    pub fn new() -> Self {
        Rule::default()
    }

    /// Appends a raw expression.
    pub fn expr(mut self, e: Expr) -> Self {
        self.exprs.push(e);
        self
    }

    fn select<T>(self, sources: Vec<(Source, DataType)>) -> Selector<T> {
        Selector::new(self, sources)
    }

    /// `ip saddr`
    pub fn ip_saddr(self) -> Selector<Ipv4Addr> {
        self.field(Field::IpSaddr)
    }

    /// `ip daddr`
    pub fn ip_daddr(self) -> Selector<Ipv4Addr> {
        self.field(Field::IpDaddr)
    }

    /// `meta l4proto`
    pub fn l4proto(self) -> Selector<Proto> {
        self.field(Field::L4Proto)
    }

    /// `th sport`: the source port of whatever transport protocol the packet carries.
    pub fn th_sport(self) -> Selector<u16> {
        self.field(Field::ThSport)
    }

    /// `th dport`
    pub fn th_dport(self) -> Selector<u16> {
        self.field(Field::ThDport)
    }

    /// `tcp dport`: `meta l4proto tcp` and `th dport`, as nft expands it.
    pub fn tcp_dport(self) -> Selector<u16> {
        self.l4proto().eq(Proto::Tcp).th_dport()
    }

    /// `udp dport`: `meta l4proto udp` and `th dport`.
    pub fn udp_dport(self) -> Selector<u16> {
        self.l4proto().eq(Proto::Udp).th_dport()
    }

    /// `meta mark`
    pub fn mark(self) -> Selector<u32> {
        self.field(Field::Mark)
    }

    /// `iifname`
    pub fn iifname(self) -> Selector<IfName> {
        self.select(vec![(
            Source::Meta(MetaKey::IifName, 16),
            DataType::Integer,
        )])
    }

    /// `oifname`
    pub fn oifname(self) -> Selector<IfName> {
        self.select(vec![(
            Source::Meta(MetaKey::OifName, 16),
            DataType::Integer,
        )])
    }

    /// `fib daddr type`
    pub fn fib_daddr_type(self) -> Selector<AddrType> {
        self.select(vec![(Source::FibDaddrType, DataType::Integer)])
    }

    /// `numgen random mod MODULUS`: 0..modulus, uniformly.
    pub fn numgen_random(self, modulus: u32) -> Selector<u32> {
        self.select(vec![(Source::NumgenRandom(modulus), DataType::Integer)])
    }

    /// One field, as the typed selectors above give it.
    fn field<T>(self, f: Field) -> Selector<T> {
        self.select(vec![f.typed_source()])
    }

    /// A concatenation of fields, `f1 . f2 . ...`, compared with a [`Key::concat`].
    pub fn concat(self, fields: &[Field]) -> Selector<Key> {
        self.select(fields.iter().map(|f| f.typed_source()).collect())
    }

    /// `ct state S1,S2,...`: the connection is in any of `states`.
    pub fn ct_state(self, states: CtState) -> Self {
        self.expr(Expr::CtState { dreg: REG_1 })
            .expr(Expr::Bitwise {
                sreg: REG_1,
                dreg: REG_1,
                mask: states.0.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            })
            .expr(Expr::Cmp {
                sreg: REG_1,
                op: CmpOp::Neq,
                data: vec![0; 4],
            })
    }

    /// `counter`
    pub fn counter(self) -> Self {
        self.expr(Expr::Counter)
    }

    /// A verdict statement.
    pub fn verdict(self, v: Verdict) -> Self {
        self.expr(Expr::Verdict(v))
    }

    /// `accept`
    pub fn accept(self) -> Self {
        self.verdict(Verdict::Accept)
    }

    /// `drop`
    pub fn drop(self) -> Self {
        self.verdict(Verdict::Drop)
    }

    /// `return`
    pub fn ret(self) -> Self {
        self.verdict(Verdict::Return)
    }

    /// `jump CHAIN`
    pub fn jump(self, chain: &str) -> Self {
        self.verdict(Verdict::jump(chain))
    }

    /// `goto CHAIN`
    pub fn goto(self, chain: &str) -> Self {
        self.verdict(Verdict::goto(chain))
    }

    /// `reject`: an ICMP port unreachable, so a TCP or UDP client fails at once.
    pub fn reject(self) -> Self {
        self.expr(Expr::RejectPortUnreachable)
    }

    /// `masquerade`
    pub fn masquerade(self) -> Self {
        self.expr(Expr::Masquerade {
            fully_random: false,
        })
    }

    /// `masquerade fully-random`
    pub fn masquerade_fully_random(self) -> Self {
        self.expr(Expr::Masquerade { fully_random: true })
    }

    fn nat(self, kind: NatKind, addr: Ipv4Addr, port: Option<u16>) -> Self {
        let mut rule = self.expr(Expr::Immediate {
            dreg: REG_1,
            data: addr.octets().to_vec(),
        });
        if let Some(p) = port {
            rule = rule.expr(Expr::Immediate {
                dreg: REG_2,
                data: p.to_be_bytes().to_vec(),
            });
        }
        rule.expr(Expr::Nat {
            kind,
            addr_reg: REG_1,
            port_reg: port.map(|_| REG_2),
        })
    }

    /// `dnat to ADDR[:PORT]` (a port needs a protocol match before it, e.g. `l4proto`).
    pub fn dnat(self, addr: Ipv4Addr, port: Option<u16>) -> Self {
        self.nat(NatKind::Dnat, addr, port)
    }

    /// `snat to ADDR[:PORT]`
    pub fn snat(self, addr: Ipv4Addr, port: Option<u16>) -> Self {
        self.nat(NatKind::Snat, addr, port)
    }

    /// `meta mark set VALUE`
    pub fn set_mark(self, value: u32) -> Self {
        self.expr(Expr::Immediate {
            dreg: REG_1,
            data: value.to_ne_bytes().to_vec(),
        })
        .expr(Expr::MetaSet {
            key: MetaKey::Mark,
            sreg: REG_1,
        })
    }

    fn set_mark_bitwise(self, mask: u32, xor: u32) -> Self {
        self.expr(Expr::Meta {
            key: MetaKey::Mark,
            dreg: REG_1,
        })
        .expr(Expr::Bitwise {
            sreg: REG_1,
            dreg: REG_1,
            mask: mask.to_ne_bytes().to_vec(),
            xor: xor.to_ne_bytes().to_vec(),
        })
        .expr(Expr::MetaSet {
            key: MetaKey::Mark,
            sreg: REG_1,
        })
    }

    /// `meta mark set meta mark | BITS`
    pub fn set_mark_or(self, bits: u32) -> Self {
        self.set_mark_bitwise(!bits, bits)
    }

    /// `meta mark set meta mark ^ BITS`
    pub fn set_mark_xor(self, bits: u32) -> Self {
        self.set_mark_bitwise(u32::MAX, bits)
    }

    /// `meta mark set meta mark & MASK`
    pub fn set_mark_and(self, mask: u32) -> Self {
        self.set_mark_bitwise(mask, 0)
    }

    /// `update @SET { FIELDS [timeout T] }`: adds the packet's key to a dynamic set, or
    /// refreshes its timeout (session affinity).
    pub fn update_set(self, set: &str, fields: &[Field], timeout: Option<Duration>) -> Self {
        let (mut rule, sreg) = self.concat(fields).load();
        rule.exprs.push(Expr::Dynset {
            set: set.to_string(),
            sreg_key: sreg,
            update: true,
            timeout,
        });
        rule
    }
}
