//! A transaction: nf_tables messages encoded in memory, applied by the kernel all together or
//! not at all. On the wire it is one nfnetlink batch (`NFNL_MSG_BATCH_BEGIN` … `END` for the
//! nftables subsystem), what `nft -f` sends; [`super::NfSocket::commit`] sends it. Building is
//! pure, so the byte layout is unit-tested without a kernel.
//!
//! Adds are idempotent as with `nft add`: an existing table, chain or set is kept (a set must
//! be declared the same way), an existing element is refreshed. Deletes of something missing
//! fail with ENOENT ([`super::Error::is_not_found`]); adding a table in the same transaction
//! first makes a delete succeed either way.

use std::collections::HashMap;
use std::fmt;

use super::attr::Writer;
use super::expr::{millis, Expr, SetRef, ANONYMOUS_MAP_NAME};
use super::objects::{Chain, Element, ElementData, MapData, Set};
use super::rule::{AnonymousMap, Rule};
use super::uapi::*;
use super::value::{write_value, ByteOrder, KeyType, Verdict};

/// Elements per `NEWSETELEM` message are limited by the 64 KiB an attribute can hold; nested
/// lists are closed below that with room for one more element.
const MAX_ELEMENT_LIST: usize = 60 * 1024;

/// What one message of a transaction does, to name it when the kernel refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    AddTable(String),
    DeleteTable(String),
    AddChain(String),
    FlushChain(String),
    DeleteChain(String),
    AddSet(String),
    FlushSet(String),
    DeleteSet(String),
    AddElements {
        set: String,
        first: usize,
        last: usize,
    },
    DeleteElements {
        set: String,
        first: usize,
        last: usize,
    },
    AddRule {
        chain: String,
        index: usize,
    },
    AddAnonymousMap {
        chain: String,
        index: usize,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddTable(t) => write!(f, "adding table {t}"),
            Op::DeleteTable(t) => write!(f, "deleting table {t}"),
            Op::AddChain(c) => write!(f, "adding chain {c}"),
            Op::FlushChain(c) => write!(f, "flushing chain {c}"),
            Op::DeleteChain(c) => write!(f, "deleting chain {c}"),
            Op::AddSet(s) => write!(f, "adding set {s}"),
            Op::FlushSet(s) => write!(f, "flushing set {s}"),
            Op::DeleteSet(s) => write!(f, "deleting set {s}"),
            Op::AddElements { set, first, last } => {
                write!(f, "adding elements {first} to {last} to set {set}")
            }
            Op::DeleteElements { set, first, last } => {
                write!(f, "deleting elements {first} to {last} from set {set}")
            }
            Op::AddRule { chain, index } => write!(f, "adding rule {index} to chain {chain}"),
            Op::AddAnonymousMap { chain, index } => {
                write!(
                    f,
                    "adding the anonymous map of rule {index} to chain {chain}"
                )
            }
        }
    }
}

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
    pub(crate) fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
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
        self.element_messages(table, set, None, &encoded, true);
        self
    }

    /// `delete element ip TABLE SET { KEYS }`
    pub fn delete_elements(
        &mut self,
        table: &str,
        set: &str,
        keys: &[super::value::Key],
    ) -> &mut Self {
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
        self.element_messages(table, set, None, &encoded, false);
        self
    }

    /// Writes encoded elements in as many `NEWSETELEM`/`DELSETELEM` messages as their size
    /// needs.
    fn element_messages(
        &mut self,
        table: &str,
        set: &str,
        set_id: Option<(u32, String, usize)>,
        encoded: &[Writer],
        add: bool,
    ) {
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
            let op = match (&set_id, add) {
                (Some((_, chain, index)), _) => Op::AddAnonymousMap {
                    chain: chain.clone(),
                    index: *index,
                },
                (None, true) => Op::AddElements {
                    set: set.into(),
                    first: start + 1,
                    last: end,
                },
                (None, false) => Op::DeleteElements {
                    set: set.into(),
                    first: start + 1,
                    last: end,
                },
            };
            let msg = if add {
                NFT_MSG_NEWSETELEM
            } else {
                NFT_MSG_DELSETELEM
            };
            let m = self.begin(msg, if add { NLM_F_CREATE } else { 0 }, op);
            let w = &mut self.messages;
            w.str(NFTA_SET_ELEM_LIST_TABLE, table);
            w.str(NFTA_SET_ELEM_LIST_SET, set);
            if let Some((id, _, _)) = &set_id {
                w.u32(NFTA_SET_ELEM_LIST_SET_ID, *id);
            }
            let list = w.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            for e in &encoded[start..end] {
                w.raw(e.as_bytes());
            }
            if !w.end_nest(list) {
                self.invalid.get_or_insert_with(|| {
                    format!("an element of set {set} is larger than 64 KiB")
                });
            }
            w.end_msg(m);
            start = end;
        }
    }

    /// `add rule ip TABLE CHAIN RULE`: appends the rule, with the anonymous maps it uses.
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
        if !w.end_nest(list) {
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
            table,
            ANONYMOUS_MAP_NAME,
            Some((id, chain.to_string(), index)),
            &encoded,
            true,
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

struct SetHeader<'a> {
    table: &'a str,
    name: &'a str,
    flags: u32,
    key: &'a KeyType,
    id: u32,
}

/// The attributes every set message has: table, name, flags, key and data types, id.
fn write_set(w: &mut Writer, h: SetHeader<'_>, data: Option<(u32, usize, ByteOrder)>) {
    w.str(NFTA_SET_TABLE, h.table);
    w.str(NFTA_SET_NAME, h.name);
    w.u32(NFTA_SET_FLAGS, h.flags);
    w.u32(NFTA_SET_KEY_TYPE, h.key.nft_type());
    w.u32(NFTA_SET_KEY_LEN, len32(h.key.len()));
    if let Some((ty, len, _)) = data {
        w.u32(NFTA_SET_DATA_TYPE, ty);
        w.u32(NFTA_SET_DATA_LEN, len32(len));
    }
    w.u32(NFTA_SET_ID, h.id);
}

fn len32(len: usize) -> u32 {
    // Keys and data are at most 64 bytes (NFT_DATA_VALUE_MAXLEN).
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The user data `nft` attaches to a set (byte orders, typeof hints), so that `nft list`
/// prints keys and values of a set made here as it prints its own.
fn set_userdata(key: &KeyType, data: Option<ByteOrder>, anonymous: bool) -> Vec<u8> {
    fn put_u32(out: &mut Vec<u8>, kind: u8, v: u32) {
        out.extend_from_slice(&[kind, 4]);
        out.extend_from_slice(&v.to_ne_bytes());
    }
    fn put_typeof(out: &mut Vec<u8>, kind: u8, expr: u32) {
        out.extend_from_slice(&[kind, 8, UDATA_TYPEOF_EXPR, 4]);
        out.extend_from_slice(&expr.to_ne_bytes());
        out.extend_from_slice(&[UDATA_TYPEOF_DATA, 0]);
    }
    let mut out = Vec::with_capacity(32);
    put_u32(&mut out, UDATA_SET_KEYBYTEORDER, key.byte_order() as u32);
    if let Some(order) = data {
        put_u32(&mut out, UDATA_SET_DATABYTEORDER, order as u32);
    }
    if key.is_concat() {
        put_typeof(&mut out, UDATA_SET_KEY_TYPEOF, NFT_EXPR_CONCAT);
    }
    if anonymous {
        put_typeof(&mut out, UDATA_SET_DATA_TYPEOF, NFT_EXPR_VERDICT);
    }
    if data.is_some() {
        put_u32(&mut out, UDATA_SET_DATA_INTERVAL, 0);
    }
    out
}

/// A set element's data: none (a set), a verdict or a value.
enum ElementBytes<'a> {
    None,
    Verdict(&'a Verdict),
    Value(Vec<u8>),
}

fn encode_element(e: &Element) -> Writer {
    let data = match &e.data {
        None => ElementBytes::None,
        Some(ElementData::Verdict(v)) => ElementBytes::Verdict(v),
        Some(ElementData::Value(value)) => ElementBytes::Value(value.bytes()),
    };
    encode_pair(&e.key.bytes(), data, e.timeout)
}

/// One `NFTA_LIST_ELEM` of an element list.
fn encode_pair(key: &[u8], data: ElementBytes<'_>, timeout: Option<std::time::Duration>) -> Writer {
    let mut w = Writer::new();
    w.nest(NFTA_LIST_ELEM, |w| {
        if let Some(t) = timeout {
            w.u64(NFTA_SET_ELEM_TIMEOUT, millis(t));
        }
        w.nest(NFTA_SET_ELEM_KEY, |w| write_value(w, key));
        match data {
            ElementBytes::None => {}
            ElementBytes::Verdict(v) => w.nest(NFTA_SET_ELEM_DATA, |w| v.write(w)),
            ElementBytes::Value(bytes) => w.nest(NFTA_SET_ELEM_DATA, |w| write_value(w, &bytes)),
        }
    });
    w
}
