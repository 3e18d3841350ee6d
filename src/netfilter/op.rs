//! What each message of a transaction does, kept beside the encoded bytes so a refusal from
//! the kernel names it: "adding rule 12 to chain services".

use std::fmt;

/// What one message of a transaction does, to name it when the kernel refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
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
