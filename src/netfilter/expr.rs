//! nf_tables expressions, the instructions of a rule's virtual machine (what `nft --debug
//! netlink` prints), and their netlink encoding (`nf_tables.h`: one `NFTA_LIST_ELEM` per
//! expression holding its name and its `NFTA_EXPR_DATA`). Registers are numbered as the kernel
//! numbers them: [`REG_VERDICT`], the 16-byte [`REG_1`]/[`REG_2`] (what `nft` uses for single
//! values and nat), and the 4-byte [`reg32`] slots that concatenations fill one after another.

use std::time::Duration;

use super::attr::Writer;
use super::uapi::*;
use super::value::{write_value, Verdict};

/// The verdict register.
pub const REG_VERDICT: u32 = NFT_REG_VERDICT;
/// The first 16-byte data register (the same bytes as `reg32(0)`..`reg32(3)`).
pub const REG_1: u32 = NFT_REG_1;
/// The second 16-byte data register (the same bytes as `reg32(4)`..`reg32(7)`).
pub const REG_2: u32 = NFT_REG_2;

/// The 4-byte register `n` (0..16), None past the last.
pub fn reg32(n: u32) -> Option<u32> {
    (n < NFT_REG32_COUNT).then_some(NFT_REG32_00 + n)
}

/// Which header a payload offset counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBase {
    /// The IP header.
    Network,
    /// The transport (TCP/UDP/SCTP) header.
    Transport,
}

/// A `meta` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// `meta mark`
    Mark,
    /// `meta l4proto`
    L4Proto,
    /// `iifname`
    IifName,
    /// `oifname`
    OifName,
}

impl MetaKey {
    fn number(self) -> u32 {
        match self {
            MetaKey::Mark => NFT_META_MARK,
            MetaKey::L4Proto => NFT_META_L4PROTO,
            MetaKey::IifName => NFT_META_IIFNAME,
            MetaKey::OifName => NFT_META_OIFNAME,
        }
    }
}

/// A comparison operator of `cmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq = 0,
    /// `!=`
    Neq = 1,
    /// `<`
    Lt = 2,
    /// `<=`
    Lte = 3,
    /// `>`
    Gt = 4,
    /// `>=`
    Gte = 5,
}

/// Where a lookup's result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRef {
    /// A named set of the table.
    Named(String),
    /// An anonymous set added earlier in the same transaction, by its transaction id.
    Anonymous(u32),
}

/// Which address a `nat` statement rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// `snat`
    Snat,
    /// `dnat`
    Dnat,
}

/// One nf_tables expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `payload load LEN @ BASE + OFFSET => reg DREG`
    Payload {
        /// The header.
        base: PayloadBase,
        /// Byte offset in it.
        offset: u32,
        /// Bytes to load.
        len: u32,
        /// Destination register.
        dreg: u32,
    },
    /// `meta load KEY => reg DREG`
    Meta {
        /// What to load.
        key: MetaKey,
        /// Destination register.
        dreg: u32,
    },
    /// `meta set KEY with reg SREG`
    MetaSet {
        /// What to set.
        key: MetaKey,
        /// Source register.
        sreg: u32,
    },
    /// `ct load state => reg DREG`
    CtState {
        /// Destination register.
        dreg: u32,
    },
    /// `cmp OP reg SREG DATA`
    Cmp {
        /// Source register.
        sreg: u32,
        /// Operator.
        op: CmpOp,
        /// The value compared with.
        data: Vec<u8>,
    },
    /// `bitwise reg DREG = (reg SREG & MASK) ^ XOR`, over `mask.len()` bytes.
    Bitwise {
        /// Source register.
        sreg: u32,
        /// Destination register.
        dreg: u32,
        /// AND mask.
        mask: Vec<u8>,
        /// XOR value, as long as the mask.
        xor: Vec<u8>,
    },
    /// `lookup reg SREG set S [dreg D]`, optionally inverted (`!= @set`).
    Lookup {
        /// The set or map.
        set: SetRef,
        /// Source register of the key.
        sreg: u32,
        /// Destination of a map's data (the verdict register for vmaps).
        dreg: Option<u32>,
        /// Match when the key is absent.
        invert: bool,
    },
    /// `dynset add|update reg_key SREG set S [timeout T]`
    Dynset {
        /// The set's name.
        set: String,
        /// Source register of the key.
        sreg_key: u32,
        /// Refresh the element's timeout when present (`update`), or only add (`add`).
        update: bool,
        /// The element timeout, if not the set's default.
        timeout: Option<Duration>,
    },
    /// `immediate reg DREG DATA` (a value)
    Immediate {
        /// Destination register.
        dreg: u32,
        /// The value.
        data: Vec<u8>,
    },
    /// `immediate reg 0 VERDICT`
    Verdict(Verdict),
    /// `numgen reg DREG = random mod MODULUS`
    NumgenRandom {
        /// Destination register.
        dreg: u32,
        /// Results are 0..modulus.
        modulus: u32,
    },
    /// `fib daddr type => reg DREG`
    FibDaddrType {
        /// Destination register.
        dreg: u32,
    },
    /// `nat dnat|snat ip addr_min reg A [proto_min reg P]`
    Nat {
        /// snat or dnat.
        kind: NatKind,
        /// Register holding the address.
        addr_reg: u32,
        /// Register holding the port, if any.
        port_reg: Option<u32>,
    },
    /// `masq [flags F]`
    Masquerade {
        /// `fully-random` port allocation.
        fully_random: bool,
    },
    /// `reject type 0 code 3`: ICMP port unreachable, nft's plain `reject` for IPv4.
    RejectPortUnreachable,
    /// `counter`
    Counter,
}

impl Expr {
    /// The expression's kernel name.
    fn name(&self) -> &'static str {
        match self {
            Expr::Payload { .. } => "payload",
            Expr::Meta { .. } | Expr::MetaSet { .. } => "meta",
            Expr::CtState { .. } => "ct",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Dynset { .. } => "dynset",
            Expr::Immediate { .. } | Expr::Verdict(_) => "immediate",
            Expr::NumgenRandom { .. } => "numgen",
            Expr::FibDaddrType { .. } => "fib",
            Expr::Nat { .. } => "nat",
            Expr::Masquerade { .. } => "masq",
            Expr::RejectPortUnreachable => "reject",
            Expr::Counter => "counter",
        }
    }

    /// Writes the expression as one `NFTA_LIST_ELEM` of a rule's expression list.
    pub fn write(&self, w: &mut Writer) {
        w.nest(NFTA_LIST_ELEM, |w| {
            w.str(NFTA_EXPR_NAME, self.name());
            w.nest(NFTA_EXPR_DATA, |w| self.write_data(w));
        });
    }

    fn write_data(&self, w: &mut Writer) {
        match self {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.u32(NFTA_PAYLOAD_DREG, *dreg);
                w.u32(
                    NFTA_PAYLOAD_BASE,
                    match base {
                        PayloadBase::Network => NFT_PAYLOAD_NETWORK_HEADER,
                        PayloadBase::Transport => NFT_PAYLOAD_TRANSPORT_HEADER,
                    },
                );
                w.u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.u32(NFTA_PAYLOAD_LEN, *len);
            }
            Expr::Meta { key, dreg } => {
                w.u32(NFTA_META_DREG, *dreg);
                w.u32(NFTA_META_KEY, key.number());
            }
            Expr::MetaSet { key, sreg } => {
                w.u32(NFTA_META_KEY, key.number());
                w.u32(NFTA_META_SREG, *sreg);
            }
            Expr::CtState { dreg } => {
                w.u32(NFTA_CT_DREG, *dreg);
                w.u32(NFTA_CT_KEY, NFT_CT_STATE);
            }
            Expr::Cmp { sreg, op, data } => {
                w.u32(NFTA_CMP_SREG, *sreg);
                w.u32(NFTA_CMP_OP, *op as u32);
                w.nest(NFTA_CMP_DATA, |w| write_value(w, data));
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                w.u32(NFTA_BITWISE_SREG, *sreg);
                w.u32(NFTA_BITWISE_DREG, *dreg);
                // Masks are register-sized (≤ 16 bytes), so the length always fits.
                w.u32(
                    NFTA_BITWISE_LEN,
                    u32::try_from(mask.len()).unwrap_or(u32::MAX),
                );
                w.nest(NFTA_BITWISE_MASK, |w| write_value(w, mask));
                w.nest(NFTA_BITWISE_XOR, |w| write_value(w, xor));
            }
            Expr::Lookup {
                set,
                sreg,
                dreg,
                invert,
            } => {
                match set {
                    SetRef::Named(name) => w.str(NFTA_LOOKUP_SET, name),
                    SetRef::Anonymous(id) => {
                        w.str(NFTA_LOOKUP_SET, ANONYMOUS_MAP_NAME);
                        w.u32(NFTA_LOOKUP_SET_ID, *id);
                    }
                }
                w.u32(NFTA_LOOKUP_SREG, *sreg);
                if let Some(dreg) = dreg {
                    w.u32(NFTA_LOOKUP_DREG, *dreg);
                }
                if *invert {
                    w.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
                }
            }
            Expr::Dynset {
                set,
                sreg_key,
                update,
                timeout,
            } => {
                w.str(NFTA_DYNSET_SET_NAME, set);
                w.u32(
                    NFTA_DYNSET_OP,
                    if *update {
                        NFT_DYNSET_OP_UPDATE
                    } else {
                        NFT_DYNSET_OP_ADD
                    },
                );
                w.u32(NFTA_DYNSET_SREG_KEY, *sreg_key);
                if let Some(t) = timeout {
                    w.u64(NFTA_DYNSET_TIMEOUT, millis(*t));
                }
            }
            Expr::Immediate { dreg, data } => {
                w.u32(NFTA_IMMEDIATE_DREG, *dreg);
                w.nest(NFTA_IMMEDIATE_DATA, |w| write_value(w, data));
            }
            Expr::Verdict(v) => {
                w.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                w.nest(NFTA_IMMEDIATE_DATA, |w| v.write(w));
            }
            Expr::NumgenRandom { dreg, modulus } => {
                w.u32(NFTA_NG_DREG, *dreg);
                w.u32(NFTA_NG_MODULUS, *modulus);
                w.u32(NFTA_NG_TYPE, NFT_NG_RANDOM);
                w.u32(NFTA_NG_OFFSET, 0);
            }
            Expr::FibDaddrType { dreg } => {
                w.u32(NFTA_FIB_DREG, *dreg);
                w.u32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                w.u32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
            }
            Expr::Nat {
                kind,
                addr_reg,
                port_reg,
            } => {
                w.u32(
                    NFTA_NAT_TYPE,
                    match kind {
                        NatKind::Snat => NFT_NAT_SNAT,
                        NatKind::Dnat => NFT_NAT_DNAT,
                    },
                );
                w.u32(NFTA_NAT_FAMILY, u32::from(NFPROTO_IPV4));
                w.u32(NFTA_NAT_REG_ADDR_MIN, *addr_reg);
                if let Some(port) = port_reg {
                    w.u32(NFTA_NAT_REG_PROTO_MIN, *port);
                    w.u32(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            }
            Expr::Masquerade { fully_random } => {
                if *fully_random {
                    w.u32(NFTA_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
                }
            }
            Expr::RejectPortUnreachable => {
                w.u32(NFTA_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
                w.bytes(NFTA_REJECT_ICMP_CODE, &[ICMP_PORT_UNREACH]);
            }
            Expr::Counter => {}
        }
    }
}

/// The name an anonymous set is created with; the kernel replaces `%d` with a free number.
pub(crate) const ANONYMOUS_MAP_NAME: &str = "__map%d";

/// A duration in whole milliseconds, as nf_tables takes timeouts (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(e: &Expr) -> Vec<u8> {
        let mut w = Writer::new();
        e.write(&mut w);
        w.as_bytes().to_vec()
    }

    /// `payload load 4b @ network header + 16 => reg 1` (ip daddr), attribute by attribute
    /// from `enum nft_payload_attributes`.
    #[test]
    fn payload_load_of_ip_daddr() {
        let bytes = encode(&Expr::Payload {
            base: PayloadBase::Network,
            offset: 16,
            len: 4,
            dreg: REG_1,
        });
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            52, 0, 1, 0x80,                          // NFTA_LIST_ELEM, nested, 52 bytes
              12, 0, 1, 0, b'p', b'a', b'y', b'l', b'o', b'a', b'd', 0, // NFTA_EXPR_NAME
              36, 0, 2, 0x80,                        // NFTA_EXPR_DATA, nested
                8, 0, 1, 0, 0, 0, 0, 1,              // NFTA_PAYLOAD_DREG = NFT_REG_1
                8, 0, 2, 0, 0, 0, 0, 1,              // NFTA_PAYLOAD_BASE = network header
                8, 0, 3, 0, 0, 0, 0, 16,             // NFTA_PAYLOAD_OFFSET = 16
                8, 0, 4, 0, 0, 0, 0, 4,              // NFTA_PAYLOAD_LEN = 4
        ];
        assert_eq!(bytes, want);
    }

    /// `immediate reg 0 goto -> endpoint-a`: a verdict with its chain, code NFT_GOTO (-4).
    #[test]
    fn goto_verdict() {
        let bytes = encode(&Expr::Verdict(Verdict::goto("ep")));
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            56, 0, 1, 0x80,                          // NFTA_LIST_ELEM
              14, 0, 1, 0, b'i', b'm', b'm', b'e', b'd', b'i', b'a', b't', b'e', 0, 0, 0,
              36, 0, 2, 0x80,                        // NFTA_EXPR_DATA
                8, 0, 1, 0, 0, 0, 0, 0,              // NFTA_IMMEDIATE_DREG = verdict register
                24, 0, 2, 0x80,                      // NFTA_IMMEDIATE_DATA
                  20, 0, 2, 0x80,                    // NFTA_DATA_VERDICT
                    8, 0, 1, 0, 0xff, 0xff, 0xff, 0xfc, // NFTA_VERDICT_CODE = -4
                    7, 0, 2, 0, b'e', b'p', 0, 0,    // NFTA_VERDICT_CHAIN = "ep"
        ];
        assert_eq!(bytes, want);
    }

    /// `cmp neq reg 1 0x0000007f` over one byte, and a 4-byte host-order bitwise mask.
    #[test]
    fn cmp_and_bitwise() {
        let cmp = encode(&Expr::Cmp {
            sreg: REG_1,
            op: CmpOp::Neq,
            data: vec![127],
        });
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            44, 0, 1, 0x80,
              8, 0, 1, 0, b'c', b'm', b'p', 0,
              32, 0, 2, 0x80,
                8, 0, 1, 0, 0, 0, 0, 1,              // NFTA_CMP_SREG
                8, 0, 2, 0, 0, 0, 0, 1,              // NFTA_CMP_OP = NFT_CMP_NEQ
                12, 0, 3, 0x80,                      // NFTA_CMP_DATA
                  5, 0, 1, 0, 127, 0, 0, 0,          // NFTA_DATA_VALUE, 1 byte + padding
        ];
        assert_eq!(cmp, want);

        let bitwise = encode(&Expr::Bitwise {
            sreg: REG_1,
            dreg: REG_1,
            mask: 0x4000u32.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        });
        let data = &bitwise[20..]; // after the list element, name and data headers
        assert_eq!(
            &data[..24],
            &[8, 0, 1, 0, 0, 0, 0, 1, 8, 0, 2, 0, 0, 0, 0, 1, 8, 0, 3, 0, 0, 0, 0, 4]
        );
        let mut mask = vec![12, 0, 4, 0x80, 8, 0, 1, 0];
        mask.extend_from_slice(&0x4000u32.to_ne_bytes());
        assert_eq!(&data[24..36], &mask[..]);
    }

    #[test]
    fn registers() {
        assert_eq!(reg32(0), Some(8));
        assert_eq!(reg32(15), Some(23));
        assert_eq!(reg32(16), None);
    }
}
