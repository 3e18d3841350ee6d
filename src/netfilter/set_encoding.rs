//! The encoding of sets and their elements that transactions share: a set's attributes and
//! the user data `nft` attaches to it, and element lists (`NFTA_LIST_ELEM` entries of key,
//! data and timeout).

use super::attr::Writer;
use super::expr::millis;
use super::objects::{Element, ElementData};
use super::uapi::*;
use super::value::{write_value, ByteOrder, KeyType, Verdict};

/// What every set message names.
pub(crate) struct SetHeader<'a> {
    pub(crate) table: &'a str,
    pub(crate) name: &'a str,
    pub(crate) flags: u32,
    pub(crate) key: &'a KeyType,
    pub(crate) id: u32,
}

/// The attributes every set message has: table, name, flags, key and data types, id.
pub(crate) fn write_set(w: &mut Writer, h: SetHeader<'_>, data: Option<(u32, usize, ByteOrder)>) {
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
pub(crate) fn set_userdata(key: &KeyType, data: Option<ByteOrder>, anonymous: bool) -> Vec<u8> {
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
pub(crate) enum ElementBytes<'a> {
    None,
    Verdict(&'a Verdict),
    Value(Vec<u8>),
}

pub(crate) fn encode_element(e: &Element) -> Writer {
    let data = match &e.data {
        None => ElementBytes::None,
        Some(ElementData::Verdict(v)) => ElementBytes::Verdict(v),
        Some(ElementData::Value(value)) => ElementBytes::Value(value.bytes()),
    };
    encode_pair(&e.key.bytes(), data, e.timeout)
}

/// One `NFTA_LIST_ELEM` of an element list.
pub(crate) fn encode_pair(
    key: &[u8],
    data: ElementBytes<'_>,
    timeout: Option<std::time::Duration>,
) -> Writer {
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
