//! Values as nf_tables holds them in registers, set keys and set data, with `nft`'s data
//! types: IPv4 addresses and ports in network byte order, protocol numbers as one byte, marks
//! and plain integers in the host's byte order (nft's `BYTEORDER_HOST_ENDIAN`). Concatenated
//! keys put each field in its own 4-byte slot, as `nft` does (`ip daddr . meta l4proto . th
//! dport` is 12 bytes).

use std::net::Ipv4Addr;

use super::attr::{align, Writer};
use super::uapi::{
    NFTA_DATA_VALUE, NFTA_DATA_VERDICT, NFTA_VERDICT_CHAIN, NFTA_VERDICT_CODE, NFT_CONTINUE,
    NFT_GOTO, NFT_JUMP, NFT_RETURN, NF_ACCEPT, NF_DROP,
};

/// An nft data type usable in set keys and map data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `ipv4_addr`: 4 bytes, network order.
    Ipv4Addr,
    /// `inet_proto`: 1 byte.
    InetProto,
    /// `inet_service`: a port, 2 bytes, network order.
    InetService,
    /// `mark`: 4 bytes, host order.
    Mark,
    /// `integer` of 32 bits, host order (what `numgen` produces).
    Integer,
}

/// How nft records a type's byte order in a set's user data (its `enum byteorder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    /// Several fields: no single order.
    Invalid = 0,
    /// Host order.
    Host = 1,
    /// Network order.
    Big = 2,
}

impl DataType {
    /// nft's type number (`enum datatypes`), sent as the set's key or data type.
    pub(crate) fn nft_type(self) -> u32 {
        match self {
            DataType::Integer => 4,
            DataType::Ipv4Addr => 7,
            DataType::InetProto => 12,
            DataType::InetService => 13,
            DataType::Mark => 19,
        }
    }

    /// Length of a value in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            DataType::InetProto => 1,
            DataType::InetService => 2,
            DataType::Ipv4Addr | DataType::Mark | DataType::Integer => 4,
        }
    }

    pub(crate) fn byte_order(self) -> ByteOrder {
        match self {
            DataType::Ipv4Addr | DataType::InetProto | DataType::InetService => ByteOrder::Big,
            DataType::Mark | DataType::Integer => ByteOrder::Host,
        }
    }
}

/// The key type of a set: one data type or a concatenation of several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyType(pub(crate) Vec<DataType>);

impl KeyType {
    /// A concatenation, e.g. `ipv4_addr . inet_proto . inet_service`.
    pub fn concat(types: &[DataType]) -> Self {
        KeyType(types.to_vec())
    }

    /// nft's type number: a concatenation packs its fields' numbers 6 bits each
    /// (`concat_subtype_add`), so `ipv4_addr . inet_service` is (7 << 6) | 13.
    pub(crate) fn nft_type(&self) -> u32 {
        match self.0.as_slice() {
            [one] => one.nft_type(),
            many => many
                .iter()
                .fold(0u32, |acc, t| acc.wrapping_shl(6) | t.nft_type()),
        }
    }

    /// Length of a key in bytes: fields of a concatenation take 4-byte slots.
    pub(crate) fn len(&self) -> usize {
        match self.0.as_slice() {
            [one] => one.len(),
            many => many.iter().map(|t| align(t.len())).sum(),
        }
    }

    pub(crate) fn is_concat(&self) -> bool {
        self.0.len() > 1
    }

    pub(crate) fn byte_order(&self) -> ByteOrder {
        match self.0.as_slice() {
            [one] => one.byte_order(),
            _ => ByteOrder::Invalid,
        }
    }
}

impl From<DataType> for KeyType {
    fn from(t: DataType) -> Self {
        KeyType(vec![t])
    }
}

/// A transport protocol number (`inet_proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP, 6.
    Tcp,
    /// UDP, 17.
    Udp,
    /// SCTP, 132.
    Sctp,
    /// Any other protocol number.
    Other(u8),
}

impl Proto {
    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
            Proto::Other(n) => n,
        }
    }
}

/// One field of a set key or a map's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// A transport protocol.
    Proto(Proto),
    /// A port.
    Port(u16),
    /// A packet mark.
    Mark(u32),
    /// A 32-bit integer (e.g. a `numgen` result).
    Integer(u32),
}

impl Value {
    /// The bytes nf_tables compares.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match *self {
            Value::Ipv4(a) => a.octets().to_vec(),
            Value::Proto(p) => vec![p.number()],
            Value::Port(p) => p.to_be_bytes().to_vec(),
            Value::Mark(m) | Value::Integer(m) => m.to_ne_bytes().to_vec(),
        }
    }
}

impl From<Ipv4Addr> for Value {
    fn from(a: Ipv4Addr) -> Self {
        Value::Ipv4(a)
    }
}

impl From<Proto> for Value {
    fn from(p: Proto) -> Self {
        Value::Proto(p)
    }
}

/// A set element's key (or a map element's value): one field or a concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<Value>);

impl Key {
    /// A concatenated key, e.g. `10.43.0.5 . tcp . 80`.
    pub fn concat(fields: &[Value]) -> Self {
        Key(fields.to_vec())
    }

    /// The bytes of the key: a single field as is, a concatenation in 4-byte slots.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self.0.as_slice() {
            [one] => one.bytes(),
            many => {
                let mut out = Vec::with_capacity(many.len() * 4);
                for v in many {
                    out.extend_from_slice(&v.bytes());
                    out.resize(align(out.len()), 0);
                }
                out
            }
        }
    }
}

impl<T: Into<Value>> From<T> for Key {
    fn from(v: T) -> Self {
        Key(vec![v.into()])
    }
}

/// What a rule or a verdict map decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`
    Accept,
    /// `drop`
    Drop,
    /// `continue`
    Continue,
    /// `return`
    Return,
    /// `jump CHAIN`
    Jump(String),
    /// `goto CHAIN`
    Goto(String),
}

impl Verdict {
    /// `jump chain`
    pub fn jump(chain: &str) -> Self {
        Verdict::Jump(chain.to_string())
    }

    /// `goto chain`
    pub fn goto(chain: &str) -> Self {
        Verdict::Goto(chain.to_string())
    }

    /// Writes the nested `NFTA_DATA_VERDICT` attribute.
    pub(crate) fn write(&self, w: &mut Writer) {
        let (code, chain) = match self {
            Verdict::Accept => (NF_ACCEPT, None),
            Verdict::Drop => (NF_DROP, None),
            Verdict::Continue => (NFT_CONTINUE, None),
            Verdict::Return => (NFT_RETURN, None),
            Verdict::Jump(c) => (NFT_JUMP, Some(c)),
            Verdict::Goto(c) => (NFT_GOTO, Some(c)),
        };
        w.nest(NFTA_DATA_VERDICT, |w| {
            w.u32(NFTA_VERDICT_CODE, code as u32);
            if let Some(chain) = chain {
                w.str(NFTA_VERDICT_CHAIN, chain);
            }
        });
    }
}

/// Writes a nested `NFTA_DATA_VALUE` attribute holding `bytes`.
pub(crate) fn write_value(w: &mut Writer, bytes: &[u8]) {
    w.bytes(NFTA_DATA_VALUE, bytes);
}

/// Connection tracking states (`ct state`), as the bits nf_conntrack reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtState(pub u32);

impl CtState {
    /// `invalid`
    pub const INVALID: CtState = CtState(1);
    /// `established`
    pub const ESTABLISHED: CtState = CtState(2);
    /// `related`
    pub const RELATED: CtState = CtState(4);
    /// `new`
    pub const NEW: CtState = CtState(8);
    /// `untracked`
    pub const UNTRACKED: CtState = CtState(64);
}

impl std::ops::BitOr for CtState {
    type Output = CtState;
    fn bitor(self, other: CtState) -> CtState {
        CtState(self.0 | other.0)
    }
}

/// Route types a `fib ... type` lookup yields (the kernel's RTN_* numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    /// `unicast`
    Unicast = 1,
    /// `local`: an address of this host.
    Local = 2,
    /// `broadcast`
    Broadcast = 3,
    /// `multicast`
    Multicast = 5,
}

/// An interface name as `iifname`/`oifname` compare it: 16 bytes (IFNAMSIZ), NUL-padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfName(pub String);

impl From<&str> for IfName {
    fn from(s: &str) -> Self {
        IfName(s.to_string())
    }
}

/// A value a rule compares a loaded field with.
pub trait FieldValue {
    /// The bytes the kernel compares (the field decides nothing: each type has one encoding).
    fn field_bytes(&self) -> Vec<u8>;
}

/// What a selector's comparison accepts for a value of type `T`: a `T`, or a shorthand for
/// one (`[10, 43, 0, 5]` for an address, `"eth0"` for an interface name).
pub trait IntoField<T> {
    /// The value.
    fn into_field(self) -> T;
}

impl<T: FieldValue> IntoField<T> for T {
    fn into_field(self) -> T {
        self
    }
}

impl IntoField<Ipv4Addr> for [u8; 4] {
    fn into_field(self) -> Ipv4Addr {
        Ipv4Addr::from(self)
    }
}

impl IntoField<IfName> for &str {
    fn into_field(self) -> IfName {
        IfName(self.to_string())
    }
}

impl FieldValue for Ipv4Addr {
    fn field_bytes(&self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

/// A port, compared in network order.
impl FieldValue for u16 {
    fn field_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
}

/// A mark or integer, compared in host order.
impl FieldValue for u32 {
    fn field_bytes(&self) -> Vec<u8> {
        self.to_ne_bytes().to_vec()
    }
}

impl FieldValue for Proto {
    fn field_bytes(&self) -> Vec<u8> {
        vec![self.number()]
    }
}

impl FieldValue for AddrType {
    fn field_bytes(&self) -> Vec<u8> {
        (*self as u32).to_ne_bytes().to_vec()
    }
}

impl FieldValue for IfName {
    fn field_bytes(&self) -> Vec<u8> {
        let mut b = self.0.as_bytes().to_vec();
        // Names longer than IFNAMSIZ - 1 cannot exist; such a rule simply never matches.
        b.resize(16, 0);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_keys_use_four_byte_slots_and_nft_type_numbers() {
        let key = Key::concat(&[
            Value::Ipv4(Ipv4Addr::new(10, 43, 0, 5)),
            Value::Proto(Proto::Tcp),
            Value::Port(80),
        ]);
        assert_eq!(
            key.bytes(),
            [10, 43, 0, 5, 6, 0, 0, 0, 0, 80, 0, 0],
            "as nft sends 10.43.0.5 . tcp . 80"
        );
        let ty = KeyType::concat(&[
            DataType::Ipv4Addr,
            DataType::InetProto,
            DataType::InetService,
        ]);
        assert_eq!(ty.nft_type(), 0x730d);
        assert_eq!(ty.len(), 12);
        assert_eq!(KeyType::from(DataType::InetService).len(), 2);
    }
}
