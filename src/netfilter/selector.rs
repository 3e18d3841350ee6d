//! Selectors: packet data loaded into registers the way `nft` loads it (the first field into
//! register 1, further fields of a concatenation into the following 4-byte registers), then
//! compared, looked up in a set, or mapped through a map. `Rule::new().ip_daddr()` is a
//! `Selector<Ipv4Addr>`; its `eq`, `in_set`, `vmap`, ... give the rule back.

use std::marker::PhantomData;
use std::net::Ipv4Addr;

use super::expr::{reg32, CmpOp, Expr, MetaKey, PayloadBase, SetRef, REG_1, REG_VERDICT};
use super::rule::{AnonymousMap, Rule};
use super::value::{DataType, FieldValue, IntoField, Key, KeyType, Verdict};
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
    /// Where the field is loaded from and its data type.
    pub(crate) fn typed_source(self) -> (Source, DataType) {
        (self.source(), self.data_type())
    }

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
pub(crate) enum Source {
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
    /// A selector of `sources` for `rule`.
    pub(crate) fn new(rule: Rule, sources: Vec<(Source, DataType)>) -> Self {
        Selector {
            rule,
            sources,
            mask: None,
            _value: PhantomData,
        }
    }

    /// Emits the loads; returns the rule and the register holding the (first) value.
    pub(crate) fn load(self) -> (Rule, u32) {
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
