//! The objects of an nf_tables table that a transaction creates: chains (base chains hooked
//! into netfilter, and regular chains reached by jump/goto), named sets and maps, and their
//! elements. The table family is always `ip` (IPv4), what Bramble's pod and service networks
//! use.

use std::time::Duration;

use super::value::{DataType, Key, KeyType, Value, Verdict};

/// A chain's type (`type filter|nat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    /// `filter`
    Filter,
    /// `nat`: only the first packet of a connection passes, its rules set up the translation.
    Nat,
}

impl ChainType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
        }
    }
}

/// A netfilter hook of the IPv4 family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `prerouting` (NF_INET_PRE_ROUTING)
    Prerouting = 0,
    /// `input`
    Input = 1,
    /// `forward`
    Forward = 2,
    /// `output`
    Output = 3,
    /// `postrouting`
    Postrouting = 4,
}

/// Standard chain priorities, as nft names them.
pub mod priority {
    /// `dstnat`: nat in prerouting (and output), before routing decides.
    pub const DSTNAT: i32 = -100;
    /// `filter`
    pub const FILTER: i32 = 0;
    /// `srcnat`: nat in postrouting.
    pub const SRCNAT: i32 = 100;
}

/// A chain: a base chain has a hook, a type, a priority and a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub(crate) name: String,
    pub(crate) base: Option<BaseChain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseChain {
    pub(crate) kind: ChainType,
    pub(crate) hook: Hook,
    pub(crate) priority: i32,
    pub(crate) accept: bool,
}

impl Chain {
    /// A regular chain, entered only by jump or goto.
    pub fn regular(name: &str) -> Self {
        Chain {
            name: name.to_string(),
            base: None,
        }
    }

    /// A base chain `type KIND hook HOOK priority PRIORITY; policy accept;`.
    pub fn base(name: &str, kind: ChainType, hook: Hook, priority: i32) -> Self {
        Chain {
            name: name.to_string(),
            base: Some(BaseChain {
                kind,
                hook,
                priority,
                accept: true,
            }),
        }
    }

    /// Makes a base chain's policy `drop` (a regular chain has no policy).
    pub fn policy_drop(mut self) -> Self {
        if let Some(b) = self.base.as_mut() {
            b.accept = false;
        }
        self
    }

    /// The chain's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a map's elements map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapData {
    /// A verdict map (`: verdict`).
    Verdict,
    /// A value of this type (`: ipv4_addr`, `: mark`, ...).
    Value(DataType),
}

/// A named set or map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub(crate) name: String,
    pub(crate) key: KeyType,
    pub(crate) data: Option<MapData>,
    pub(crate) dynamic: bool,
    pub(crate) timeouts: bool,
    pub(crate) timeout: Option<Duration>,
}

impl Set {
    /// A set of keys of type `key` (one type or a [`KeyType::concat`]).
    pub fn new(name: &str, key: impl Into<KeyType>) -> Self {
        Set {
            name: name.to_string(),
            key: key.into(),
            data: None,
            dynamic: false,
            timeouts: false,
            timeout: None,
        }
    }

    /// Makes it a map to `data`.
    pub fn map(mut self, data: MapData) -> Self {
        self.data = Some(data);
        self
    }

    /// `flags dynamic`: rules may add elements (`update @set { ... }`).
    pub fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }

    /// `flags timeout`: elements may expire.
    pub fn with_timeouts(mut self) -> Self {
        self.timeouts = true;
        self
    }

    /// `timeout T`: elements expire after `t` unless they give their own (implies
    /// [`Set::with_timeouts`]).
    pub fn default_timeout(mut self, t: Duration) -> Self {
        self.timeouts = true;
        self.timeout = Some(t);
        self
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a map element maps its key to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementData {
    /// In a verdict map.
    Verdict(Verdict),
    /// In a value map.
    Value(Key),
}

/// An element of a set or map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub(crate) key: Key,
    pub(crate) data: Option<ElementData>,
    pub(crate) timeout: Option<Duration>,
}

impl Element {
    /// A set element.
    pub fn new(key: impl Into<Key>) -> Self {
        Element {
            key: key.into(),
            data: None,
            timeout: None,
        }
    }

    /// A verdict map element `KEY : VERDICT`.
    pub fn verdict(key: impl Into<Key>, verdict: Verdict) -> Self {
        Element {
            key: key.into(),
            data: Some(ElementData::Verdict(verdict)),
            timeout: None,
        }
    }

    /// A value map element `KEY : VALUE`.
    pub fn value(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        Element {
            key: key.into(),
            data: Some(ElementData::Value(Key::from(value.into()))),
            timeout: None,
        }
    }

    /// The element expires after `t` (the set needs timeouts).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}
