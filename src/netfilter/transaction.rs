//! A transaction: nf_tables messages encoded in memory, applied by the kernel all together or
//! not at all. On the wire it is one nfnetlink batch (`NFNL_MSG_BATCH_BEGIN` … `END` for the
//! nftables subsystem), what `nft -f` sends; [`super::NfSocket::commit`] sends it. Building is
//! pure, so the byte layout is unit-tested without a kernel.
//!
//! Adds are idempotent as with `nft add`: an existing table, chain or set is kept (a set must
//! be declared the same way), and so is an existing element, but a map element that maps to
//! something else is refused (EEXIST): to change it, delete it first in the same transaction,
//! or flush the map and add all its elements again. Deletes of something missing
//! fail with ENOENT ([`super::Error::is_not_found`]); adding a table in the same transaction
//! first makes a delete succeed either way.

use std::collections::HashMap;

use super::attr::Writer;
use super::expr::{millis, Expr, SetRef, ANONYMOUS_MAP_NAME};
use super::objects::{Chain, Element, MapData, Set};
use super::op::Op;
use super::rule::{AnonymousMap, Rule};
use super::set_encoding::{
    encode_element, encode_pair, set_userdata, write_set, ElementBytes, SetHeader,
};
use super::uapi::*;
use super::value::{write_value, ByteOrder, Key};

/// Elements per `NEWSETELEM` message are limited by the 64 KiB an attribute can hold; nested
/// lists are closed below that with room for one more element.
const MAX_ELEMENT_LIST: usize = 60 * 1024;

/// An nf_tables transaction for tables of the `ip` family, built in memory.
#[derive(Debug, Default, Clone)]
pub struct Transaction {
    messages: Writer,
    ops: Vec<Op>,
    next_set_id: u32,
    rules_per_chain: HashMap<String, usize>,
    invalid: Option<String>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Self {
        Transaction::default()
    }

    /// Number of messages (the batch delimiters aside).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Why the transaction cannot be sent, if a part of it was invalid.
    pub(crate) fn invalid(&self) -> Option<String> {
        self.invalid.clone().or_else(|| {
            self.messages.overflowed().then(|| {
                "a name or element list is longer than the 64 KiB a netlink attribute holds".into()
            })
        })
    }

    /// What message `index` (0-based, after the batch begin) does.
    pub(crate) fn describe(&self, index: usize) -> Option<String> {
        self.ops.get(index).map(Op::to_string)
    }

    fn begin(&mut self, msg: u16, flags: u16, op: Op) -> super::attr::Mark {
        self.ops.push(op);
        // Message i of the batch carries sequence number i + 1 (the batch begin is 0), which
        // is how the kernel's error replies are matched to it.
        let seq = u32::try_from(self.ops.len()).unwrap_or(u32::MAX);
        let msg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
        self.messages
            .begin_msg(msg_type, NLM_F_REQUEST | flags, seq, NFPROTO_IPV4, 0)
    }

    fn set_id(&mut self) -> u32 {
        self.next_set_id = self.next_set_id.wrapping_add(1);
        self.next_set_id
    }

    /// `add table ip NAME`
    pub fn add_table(&mut self, table: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_NEWTABLE, NLM_F_CREATE, Op::AddTable(table.into()));
        self.messages.str(NFTA_TABLE_NAME, table);
        self.messages.u32(NFTA_TABLE_FLAGS, 0);
        self.messages.end_msg(m);
        self
    }

    /// `delete table ip NAME`, with everything in it.
    pub fn delete_table(&mut self, table: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_DELTABLE, 0, Op::DeleteTable(table.into()));
        self.messages.str(NFTA_TABLE_NAME, table);
        self.messages.end_msg(m);
        self
    }

    /// `add chain ip TABLE NAME [{ type ... hook ... priority ...; policy ...; }]`
    pub fn add_chain(&mut self, table: &str, chain: &Chain) -> &mut Self {
        let m = self.begin(
            NFT_MSG_NEWCHAIN,
            NLM_F_CREATE,
            Op::AddChain(chain.name.clone()),
        );
        let w = &mut self.messages;
        w.str(NFTA_CHAIN_TABLE, table);
        w.str(NFTA_CHAIN_NAME, &chain.name);
        if let Some(base) = &chain.base {
            w.nest(NFTA_CHAIN_HOOK, |w| {
                w.u32(NFTA_HOOK_HOOKNUM, base.hook as u32);
                // The kernel reads the priority as a big-endian signed 32-bit number.
                w.bytes(NFTA_HOOK_PRIORITY, &base.priority.to_be_bytes());
            });
            w.u32(
                NFTA_CHAIN_POLICY,
                if base.accept {
                    NF_ACCEPT as u32
                } else {
                    NF_DROP as u32
                },
            );
            w.str(NFTA_CHAIN_TYPE, base.kind.name());
        }
        w.end_msg(m);
        self
    }

    /// `flush chain ip TABLE NAME`: deletes all its rules.
    pub fn flush_chain(&mut self, table: &str, chain: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_DELRULE, 0, Op::FlushChain(chain.into()));
        self.messages.str(NFTA_RULE_TABLE, table);
        self.messages.str(NFTA_RULE_CHAIN, chain);
        self.messages.end_msg(m);
        self.rules_per_chain.remove(chain);
        self
    }

    /// `delete chain ip TABLE NAME` (it must be empty and unreferenced by then).
    pub fn delete_chain(&mut self, table: &str, chain: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_DELCHAIN, 0, Op::DeleteChain(chain.into()));
        self.messages.str(NFTA_CHAIN_TABLE, table);
        self.messages.str(NFTA_CHAIN_NAME, chain);
        self.messages.end_msg(m);
        self
    }

    /// `add set|map ip TABLE NAME { ... }`
    pub fn add_set(&mut self, table: &str, set: &Set) -> &mut Self {
        let id = self.set_id();
        let m = self.begin(NFT_MSG_NEWSET, NLM_F_CREATE, Op::AddSet(set.name.clone()));
        let mut flags = 0;
        if set.data.is_some() {
            flags |= NFT_SET_MAP;
        }
        if set.timeouts {
            flags |= NFT_SET_TIMEOUT;
        }
        if set.dynamic {
            flags |= NFT_SET_EVAL;
        }
        let data = set.data.as_ref().map(|d| match d {
            MapData::Verdict => (NFT_DATA_VERDICT, 0, ByteOrder::Invalid),
            MapData::Value(t) => (t.nft_type(), t.len(), t.byte_order()),
        });
        write_set(
            &mut self.messages,
            SetHeader {
                table,
                name: &set.name,
                flags,
                key: &set.key,
                id,
            },
            data,
        );
        let data_order = data.map(|(_, _, order)| order);
        if let Some(t) = set.timeout {
            self.messages.u64(NFTA_SET_TIMEOUT, millis(t));
        }
        let udata = set_userdata(&set.key, data_order, false);
        self.messages.bytes(NFTA_SET_USERDATA, &udata);
        self.messages.end_msg(m);
        self
    }

    /// `flush set ip TABLE NAME`: removes all its elements.
    pub fn flush_set(&mut self, table: &str, set: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_DELSETELEM, 0, Op::FlushSet(set.into()));
        self.messages.str(NFTA_SET_ELEM_LIST_TABLE, table);
        self.messages.str(NFTA_SET_ELEM_LIST_SET, set);
        self.messages.end_msg(m);
        self
    }

    /// `delete set ip TABLE NAME` (no rule may still refer to it by then).
    pub fn delete_set(&mut self, table: &str, set: &str) -> &mut Self {
        let m = self.begin(NFT_MSG_DELSET, 0, Op::DeleteSet(set.into()));
        self.messages.str(NFTA_SET_TABLE, table);
        self.messages.str(NFTA_SET_NAME, set);
        self.messages.end_msg(m);
        self
    }

    /// `add element ip TABLE SET { ... }`
    pub fn add_elements(&mut self, table: &str, set: &str, elements: &[Element]) -> &mut Self {
        let encoded: Vec<Writer> = elements.iter().map(encode_element).collect();
        self.element_messages((table, set, None), &encoded, true, |first, last| {
            Op::AddElements {
                set: set.into(),
                first,
                last,
            }
        });
        self
    }

    /// `delete element ip TABLE SET { KEYS }`
    pub fn delete_elements(&mut self, table: &str, set: &str, keys: &[Key]) -> &mut Self {
        let encoded: Vec<Writer> = keys
            .iter()
            .map(|k| {
                let mut w = Writer::new();
                w.nest(NFTA_LIST_ELEM, |w| {
                    w.nest(NFTA_SET_ELEM_KEY, |w| write_value(w, &k.bytes()));
                });
                w
            })
            .collect();
        self.element_messages((table, set, None), &encoded, false, |first, last| {
            Op::DeleteElements {
                set: set.into(),
                first,
                last,
            }
        });
        self
    }

    /// Writes encoded elements in as many `NEWSETELEM` (`add`) or `DELSETELEM` messages as
    /// their size needs; `op` names the message holding elements `first..=last` (1-based).
    fn element_messages(
        &mut self,
        target: (&str, &str, Option<u32>),
        encoded: &[Writer],
        add: bool,
        op: impl Fn(usize, usize) -> Op,
    ) {
        let (table, set, set_id) = target;
        let (msg, flags) = if add {
            (NFT_MSG_NEWSETELEM, NLM_F_CREATE)
        } else {
            (NFT_MSG_DELSETELEM, 0)
        };
        let mut start = 0;
        while start < encoded.len() {
            let mut end = start;
            let mut size = 0;
            while end < encoded.len()
                && (end == start || size + encoded[end].len() <= MAX_ELEMENT_LIST)
            {
                size += encoded[end].len();
                end += 1;
            }
            let m = self.begin(msg, flags, op(start + 1, end));
            let w = &mut self.messages;
            w.str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.str(NFTA_SET_ELEM_LIST_SET, set);
            if let Some(id) = set_id {
                w.u32(NFTA_SET_ELEM_LIST_SET_ID, id);
            }
            let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            for e in &encoded[start..end] {
                w.raw(e.as_bytes());
            }
            w.end_nest(list);
            w.end_msg(m);
            start = end;
        }
    }

    /// `add rule ip TABLE CHAIN RULE`: appends the rule, with the anonymous maps it uses. Errors
    /// name it as rule N of the chain: the Nth this transaction appends there (after the
    /// chain's flush, if the transaction flushes it).
    pub fn add_rule(&mut self, table: &str, chain: &str, rule: &Rule) -> &mut Self {
        let count = self.rules_per_chain.entry(chain.to_string()).or_insert(0);
        *count += 1;
        let index = *count;
        if let Some(why) = &rule.invalid {
            self.invalid
                .get_or_insert_with(|| format!("rule {index} of chain {chain}: {why}"));
        }
        let mut ids = Vec::with_capacity(rule.anonymous_maps.len());
        for map in &rule.anonymous_maps {
            let id = self.set_id();
            ids.push(id);
            self.anonymous_map(table, chain, index, id, map);
        }
        let m = self.begin(
            NFT_MSG_NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            Op::AddRule {
                chain: chain.into(),
                index,
            },
        );
        let w = &mut self.messages;
        w.str(NFTA_RULE_TABLE, table);
        w.str(NFTA_RULE_CHAIN, chain);
        let overflowed_before = w.overflowed();
        let list = w.begin_nest(NFTA_RULE_EXPRESSIONS);
        for e in &rule.exprs {
            match e {
                Expr::Lookup {
                    set: SetRef::Anonymous(i),
                    sreg,
                    dreg,
                    invert,
                } => {
                    let id = usize::try_from(*i)
                        .ok()
                        .and_then(|i| ids.get(i))
                        .copied()
                        .unwrap_or(0);
                    Expr::Lookup {
                        set: SetRef::Anonymous(id),
                        sreg: *sreg,
                        dreg: *dreg,
                        invert: *invert,
                    }
                    .write(w)
                }
                e => e.write(w),
            }
        }
        w.end_nest(list);
        if w.overflowed() && !overflowed_before {
            self.invalid.get_or_insert_with(|| {
                format!("rule {index} of chain {chain} is larger than 64 KiB")
            });
        }
        w.end_msg(m);
        self
    }

    /// An anonymous constant verdict map (`vmap { ... }`) and its elements.
    fn anonymous_map(
        &mut self,
        table: &str,
        chain: &str,
        index: usize,
        id: u32,
        map: &AnonymousMap,
    ) {
        let m = self.begin(
            NFT_MSG_NEWSET,
            NLM_F_CREATE,
            Op::AddAnonymousMap {
                chain: chain.into(),
                index,
            },
        );
        let w = &mut self.messages;
        write_set(
            w,
            SetHeader {
                table,
                name: ANONYMOUS_MAP_NAME,
                flags: NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP,
                key: &map.key,
                id,
            },
            Some((NFT_DATA_VERDICT, 0, ByteOrder::Invalid)),
        );
        let size = u32::try_from(map.elements.len()).unwrap_or(u32::MAX);
        w.nest(NFTA_SET_DESC, |w| w.u32(NFTA_SET_DESC_SIZE, size));
        w.bytes(
            NFTA_SET_USERDATA,
            &set_userdata(&map.key, Some(ByteOrder::Invalid), true),
        );
        w.end_msg(m);
        let encoded: Vec<Writer> = map
            .elements
            .iter()
            .map(|(key, verdict)| encode_pair(key, ElementBytes::Verdict(verdict), None))
            .collect();
        self.element_messages(
            (table, ANONYMOUS_MAP_NAME, Some(id)),
            &encoded,
            true,
            |_, _| Op::AddAnonymousMap {
                chain: chain.into(),
                index,
            },
        );
    }

    /// The whole batch: begin, the messages, end.
    pub fn to_batch(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let begin = w.begin_msg(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            0,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        w.end_msg(begin);
        let mut out = Vec::with_capacity(self.messages.len() + 2 * w.len());
        out.extend_from_slice(w.as_bytes());
        out.extend_from_slice(self.messages.as_bytes());
        let mut end = Writer::new();
        let seq = u32::try_from(self.ops.len() + 1).unwrap_or(u32::MAX);
        let m = end.begin_msg(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            NFPROTO_UNSPEC,
            NFNL_SUBSYS_NFTABLES,
        );
        end.end_msg(m);
        out.extend_from_slice(end.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::netfilter::value::{Proto, Value, Verdict};

    /// (type, flags, seq, length) of each message of a batch.
    fn headers(batch: &[u8]) -> Vec<(u16, u16, u32, usize)> {
        let mut out = Vec::new();
        let mut rest = batch;
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            let flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
            let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            out.push((kind, flags, seq, len));
            rest = &rest[len..];
        }
        assert!(rest.is_empty(), "messages fill the batch exactly");
        out
    }

    #[test]
    fn a_batch_is_begin_the_messages_and_end_numbered_in_order() {
        let mut tx = Transaction::new();
        tx.add_table("t");
        let batch = tx.to_batch();
        let mut begin = Vec::new();
        begin.extend_from_slice(&20u32.to_ne_bytes());
        begin.extend_from_slice(&NFNL_MSG_BATCH_BEGIN.to_ne_bytes());
        begin.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        begin.extend_from_slice(&[0; 8]); // sequence 0, port id 0
        begin.extend_from_slice(&[0, 0, 0, 10]); // AF_UNSPEC, version 0, res_id NFNL_SUBSYS_NFTABLES
        assert_eq!(&batch[..20], &begin[..]);
        let table = &batch[20..56];
        assert_eq!(&table[16..20], &[2, 0, 0, 0], "nfgenmsg: NFPROTO_IPV4");
        assert_eq!(
            &table[20..28],
            &[6, 0, 1, 0, b't', 0, 0, 0],
            "NFTA_TABLE_NAME"
        );
        assert_eq!(
            &table[28..36],
            &[8, 0, 2, 0, 0, 0, 0, 0],
            "NFTA_TABLE_FLAGS"
        );
        assert_eq!(
            headers(&batch),
            vec![
                (NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 20),
                (0x0a00, NLM_F_REQUEST | NLM_F_CREATE, 1, 36),
                (NFNL_MSG_BATCH_END, NLM_F_REQUEST, 2, 20),
            ]
        );
        assert_eq!(tx.describe(0).as_deref(), Some("adding table t"));
    }

    #[test]
    fn large_element_lists_are_split_below_the_attribute_limit() {
        let elements: Vec<Element> = (0..5000u32)
            .map(|i| {
                let key = Key::concat(&[
                    Value::Ipv4(Ipv4Addr::from(0x0a2b_0000 + i)),
                    Value::Proto(Proto::Tcp),
                    Value::Port(80),
                ]);
                Element::verdict(key, Verdict::goto(&format!("svc-{i}")))
            })
            .collect();
        let mut tx = Transaction::new();
        tx.add_elements("t", "service-ips", &elements);
        let messages = headers(&tx.to_batch());
        assert!(
            messages.len() > 3,
            "several element messages: {}",
            messages.len()
        );
        for (kind, _, _, len) in &messages[1..messages.len() - 1] {
            assert_eq!(*kind, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM);
            assert!(*len < 65536, "{len}");
        }
        assert_eq!(
            tx.describe(0).unwrap().split(" to ").next(),
            Some("adding elements 1")
        );
        let last = tx.describe(tx.len() - 1).unwrap();
        assert!(last.ends_with(" to 5000 to set service-ips"), "{last}");
        assert!(tx.invalid().is_none());
    }

    #[test]
    fn a_name_longer_than_an_attribute_makes_the_transaction_invalid() {
        let mut tx = Transaction::new();
        tx.add_table(&"x".repeat(70_000));
        assert!(tx.invalid().is_some());
    }
}
