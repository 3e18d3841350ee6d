//! A typed builder of rules that reads like `nft`:
//! `Rule::new().ip_daddr().eq(addr).tcp_dport().eq(80).jump("mark-for-masquerade")`
//! is `ip daddr ADDR tcp dport 80 jump mark-for-masquerade`. A selector (`ip_daddr()`,
//! `th_dport()`, `mark()`, a [`Rule::concat`] of fields, ...) loads packet data into
//! registers the way `nft` does (the first field into register 1, further fields of a
//! concatenation into the following 4-byte registers), and a comparison, set lookup or map
//! consumes it. Statements (verdicts, nat, mark, set updates) end or extend the rule.

use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::expr::{
    reg32, CmpOp, Expr, MetaKey, NatKind, PayloadBase, SetRef, REG_1, REG_2, REG_VERDICT,
};
use super::value::{
    AddrType, CtState, DataType, FieldValue, IfName, IntoField, Key, KeyType, Proto, Verdict,
};
use crate::cidr::Ipv4Cidr;

/// A packet field that can be part of a set key, alone or concatenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `ip saddr`
    IpSaddr,
    /// `ip daddr`
    IpDaddr,
    /// `meta l4proto`
    L4Proto,
    /// `th sport` (any transport protocol with ports)
    ThSport,
    /// `th dport`
    ThDport,
    /// `meta mark`
    Mark,
}

impl Field {
    fn source(self) -> Source {
        match self {
            Field::IpSaddr => Source::Payload(PayloadBase::Network, 12, 4),
            Field::IpDaddr => Source::Payload(PayloadBase::Network, 16, 4),
            Field::L4Proto => Source::Meta(MetaKey::L4Proto, 1),
            Field::ThSport => Source::Payload(PayloadBase::Transport, 0, 2),
            Field::ThDport => Source::Payload(PayloadBase::Transport, 2, 2),
            Field::Mark => Source::Meta(MetaKey::Mark, 4),
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Field::IpSaddr | Field::IpDaddr => DataType::Ipv4Addr,
            Field::L4Proto => DataType::InetProto,
            Field::ThSport | Field::ThDport => DataType::InetService,
            Field::Mark => DataType::Mark,
        }
    }
}

/// Where a selector's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Payload(PayloadBase, u32, u32),
    Meta(MetaKey, u32),
    FibDaddrType,
    NumgenRandom(u32),
}

impl Source {
    fn len(self) -> u32 {
        match self {
            Source::Payload(_, _, len) | Source::Meta(_, len) => len,
            Source::FibDaddrType | Source::NumgenRandom(_) => 4,
        }
    }

    fn load(self, dreg: u32) -> Expr {
        match self {
            Source::Payload(base, offset, len) => Expr::Payload {
                base,
                offset,
                len,
                dreg,
            },
            Source::Meta(key, _) => Expr::Meta { key, dreg },
            Source::FibDaddrType => Expr::FibDaddrType { dreg },
            Source::NumgenRandom(modulus) => Expr::NumgenRandom { dreg, modulus },
        }
    }
}

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
        Selector {
            rule: self,
            sources,
            mask: None,
            _value: PhantomData,
        }
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

    /// One field.
    pub fn field<T>(self, f: Field) -> Selector<T> {
        self.select(vec![(f.source(), f.data_type())])
    }

    /// A concatenation of fields, `f1 . f2 . ...`, compared with a [`Key::concat`].
    pub fn concat(self, fields: &[Field]) -> Selector<Key> {
        self.select(fields.iter().map(|f| (f.source(), f.data_type())).collect())
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
        let sources = fields.iter().map(|f| (f.source(), f.data_type())).collect();
        let sel: Selector<Key> = self.select(sources);
        let (mut rule, sreg) = sel.load();
        rule.exprs.push(Expr::Dynset {
            set: set.to_string(),
            sreg_key: sreg,
            update: true,
            timeout,
        });
        rule
    }
}

/// Packet data selected for a comparison, lookup or map; `T` is the type of its values.
#[derive(Debug, Clone)]
#[must_use = "a selector does nothing until compared or looked up"]
pub struct Selector<T> {
    rule: Rule,
    sources: Vec<(Source, DataType)>,
    mask: Option<Vec<u8>>,
    _value: PhantomData<T>,
}

impl<T> Selector<T> {
    /// Emits the loads; returns the rule and the register holding the (first) value.
    fn load(self) -> (Rule, u32) {
        let mut rule = self.rule;
        let mut slot = 0u32;
        for (i, (source, _)) in self.sources.iter().enumerate() {
            let dreg = if i == 0 {
                REG_1
            } else {
                match reg32(slot) {
                    Some(r) => r,
                    None => {
                        rule.invalid.get_or_insert_with(|| {
                            "a concatenation longer than the 64 bytes of registers".into()
                        });
                        REG_1
                    }
                }
            };
            rule.exprs.push(source.load(dreg));
            slot += source.len().div_ceil(4);
        }
        if let Some(mask) = self.mask {
            let xor = vec![0; mask.len()];
            rule.exprs.push(Expr::Bitwise {
                sreg: REG_1,
                dreg: REG_1,
                mask,
                xor,
            });
        }
        (rule, REG_1)
    }

    fn key_type(&self) -> KeyType {
        KeyType(self.sources.iter().map(|(_, t)| *t).collect())
    }

    fn cmp(self, op: CmpOp, data: Vec<u8>) -> Rule {
        let (rule, sreg) = self.load();
        rule.expr(Expr::Cmp { sreg, op, data })
    }

    fn lookup(self, set: SetRef, dreg: Option<u32>, invert: bool) -> Rule {
        let (rule, sreg) = self.load();
        rule.expr(Expr::Lookup {
            set,
            sreg,
            dreg,
            invert,
        })
    }

    /// `@SET`: the value is in the named set.
    pub fn in_set(self, set: &str) -> Rule {
        self.lookup(SetRef::Named(set.to_string()), None, false)
    }

    /// `!= @SET`
    pub fn not_in_set(self, set: &str) -> Rule {
        self.lookup(SetRef::Named(set.to_string()), None, true)
    }

    /// `vmap @MAP`: the verdict the named verdict map holds for the value (none: go on).
    pub fn vmap(self, map: &str) -> Rule {
        self.lookup(SetRef::Named(map.to_string()), Some(REG_VERDICT), false)
    }

    /// `meta mark set VALUE map @MAP`: the mark the named map holds for the value (none: the
    /// rule stops matching).
    pub fn map_to_mark(self, map: &str) -> Rule {
        self.lookup(SetRef::Named(map.to_string()), Some(REG_1), false)
            .expr(Expr::MetaSet {
                key: MetaKey::Mark,
                sreg: REG_1,
            })
    }
}

impl<T: FieldValue> Selector<T> {
    /// `== VALUE`
    pub fn eq(self, v: impl IntoField<T>) -> Rule {
        let data = v.into_field().field_bytes();
        self.cmp(CmpOp::Eq, data)
    }

    /// `!= VALUE`
    pub fn neq(self, v: impl IntoField<T>) -> Rule {
        let data = v.into_field().field_bytes();
        self.cmp(CmpOp::Neq, data)
    }

    /// `< VALUE` (ports compare in network order, as the kernel compares bytes)
    pub fn lt(self, v: impl IntoField<T>) -> Rule {
        let data = v.into_field().field_bytes();
        self.cmp(CmpOp::Lt, data)
    }

    /// `> VALUE`
    pub fn gt(self, v: impl IntoField<T>) -> Rule {
        let data = v.into_field().field_bytes();
        self.cmp(CmpOp::Gt, data)
    }

    /// `LOW-HIGH`, both ends included.
    pub fn in_range(self, low: impl IntoField<T>, high: impl IntoField<T>) -> Rule {
        let (low, high) = (
            low.into_field().field_bytes(),
            high.into_field().field_bytes(),
        );
        let (rule, sreg) = self.load();
        rule.expr(Expr::Cmp {
            sreg,
            op: CmpOp::Gte,
            data: low,
        })
        .expr(Expr::Cmp {
            sreg,
            op: CmpOp::Lte,
            data: high,
        })
    }

    /// `vmap { K1 : V1, K2 : V2, ... }`: an anonymous constant verdict map made with the rule.
    pub fn vmap_of(self, entries: impl IntoIterator<Item = (T, Verdict)>) -> Rule {
        let key = self.key_type();
        let elements = entries
            .into_iter()
            .map(|(k, v)| (k.field_bytes(), v))
            .collect();
        let (mut rule, sreg) = self.load();
        let index = u32::try_from(rule.anonymous_maps.len()).unwrap_or(u32::MAX);
        rule.anonymous_maps.push(AnonymousMap { key, elements });
        rule.expr(Expr::Lookup {
            set: SetRef::Anonymous(index),
            sreg,
            dreg: Some(REG_VERDICT),
            invert: false,
        })
    }
}

impl Selector<u32> {
    /// `& MASK`: compares only these bits (`meta mark & 0x4000 == 0`).
    pub fn and(mut self, mask: u32) -> Self {
        self.mask = Some(mask.to_ne_bytes().to_vec());
        self
    }
}

impl Selector<Ipv4Addr> {
    fn prefix(self, cidr: Ipv4Cidr, op: CmpOp) -> Rule {
        let prefix = u32::from(cidr.prefix()).min(32);
        let network = cidr.network().octets();
        if prefix % 8 == 0 && prefix > 0 {
            // As nft does: a prefix of whole bytes loads only those bytes.
            let len = prefix / 8;
            let mut sel = self;
            if let Some((Source::Payload(base, offset, _), t)) = sel.sources.first().copied() {
                sel.sources[0] = (Source::Payload(base, offset, len), t);
            }
            // len is 1..=4, so the slice is in bounds.
            let data = network[..len as usize].to_vec();
            sel.cmp(op, data)
        } else {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let mut sel = self;
            sel.mask = Some(mask.to_be_bytes().to_vec());
            sel.cmp(op, network.to_vec())
        }
    }

    /// `ADDR/PREFIX`: the address is in `cidr`.
    pub fn in_prefix(self, cidr: Ipv4Cidr) -> Rule {
        self.prefix(cidr, CmpOp::Eq)
    }

    /// `!= ADDR/PREFIX`
    pub fn not_in_prefix(self, cidr: Ipv4Cidr) -> Rule {
        self.prefix(cidr, CmpOp::Neq)
    }
}

/// Concatenated keys compare as their 4-byte-slotted bytes.
impl FieldValue for Key {
    fn field_bytes(&self) -> Vec<u8> {
        self.bytes()
    }
}
