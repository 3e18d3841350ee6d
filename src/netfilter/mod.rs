//! nf_tables over netlink: tables, chains, sets and maps, and rules of the `ip` family,
//! changed in atomic transactions, without the `nft` binary or libnftnl. This is what a
//! kube-proxy in nftables mode and the pod network's masquerade program into the kernel.
//!
//! A [`Transaction`] is built in memory from [`Chain`]s, [`Set`]s, [`Element`]s and [`Rule`]s
//! (a typed builder that reads like nft), then [`NfSocket::commit`] applies it in one batch:
//! all of it or nothing. Encodings follow the kernel's uapi (`nf_tables.h`) and what `nft`
//! sends for the same ruleset, so `nft list table` prints a table made here exactly as it
//! prints one made from nft's text.
//!
//! ```no_run
//! use bramble::netfilter::*;
//! # fn main() -> Result<()> {
//! let mut tx = Transaction::new();
//! tx.add_table("svc")
//!     .add_chain("svc", &Chain::base("out", ChainType::Nat, Hook::Output, priority::DSTNAT))
//!     .add_rule(
//!         "svc",
//!         "out",
//!         &Rule::new()
//!             .ip_daddr()
//!             .eq([10, 43, 0, 5])
//!             .tcp_dport()
//!             .eq(80)
//!             .dnat([10, 42, 0, 7].into(), Some(8080)),
//!     );
//! NfSocket::open()?.commit(&tx)?;
//! # Ok(())
//! # }
//! ```

mod attr;
mod error;
pub mod expr;
mod objects;
mod op;
mod rule;
mod selector;
mod set_encoding;
mod socket;
mod transaction;
mod uapi;
mod value;

pub use error::{Error, Result};
pub use objects::{priority, Chain, ChainType, Element, ElementData, Hook, MapData, Set};
pub use rule::Rule;
pub use selector::{Field, Selector};
pub use socket::NfSocket;
pub use transaction::Transaction;
pub use value::{
    AddrType, CtState, DataType, FieldValue, IfName, IntoField, Key, KeyType, Proto, Value, Verdict,
};

#[cfg(test)]
mod tests;
