//! Errors of nf_tables transactions: the kernel's refusal names the message that failed (what
//! it was doing to which table, chain or set) and the errno, e.g. `adding rule 12 to chain
//! services: No such file or directory`.

use std::io;

/// Why a transaction could not be applied. Nothing of a failed transaction takes effect.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused a message of the transaction, so it applied none of them.
    #[error("{op}: {source}{}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
        if *others > 0 { format!("; {others} later messages of the transaction failed too") } else { String::new() })]
    Rejected {
        /// What the failed message did, e.g. "adding rule 12 to chain services".
        op: String,
        /// The kernel's errno.
        source: io::Error,
        /// The kernel's extended-ack text, when it gave one.
        detail: Option<String>,
        /// How many further messages failed (often as a consequence of the first).
        others: usize,
    },
    /// The transaction was built from something nf_tables cannot express.
    #[error("invalid nftables transaction: {0}")]
    Invalid(String),
    /// Opening, configuring, sending on or reading from the netlink socket failed.
    #[error("nf_tables netlink socket: {action}: {source}")]
    Socket {
        /// What was being done, e.g. "send the transaction".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Entering another network namespace to open the socket there failed.
    #[error("enter network namespace {path}: {source}")]
    Netns {
        /// The namespace file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// The errno of a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Rejected { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Whether the kernel refused because something named does not exist (ENOENT), e.g.
    /// deleting a table that is not there; idempotent callers may accept this.
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }

    /// Whether the kernel has no nf_tables at all (no nfnetlink socket, or no nf_tables
    /// subsystem behind it), so nothing of it can exist to be removed.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Error::Socket { source, .. } => source.raw_os_error() == Some(libc::EPROTONOSUPPORT),
            Error::Rejected { source, .. } => source.raw_os_error() == Some(libc::EOPNOTSUPP),
            _ => false,
        }
    }
}

/// Result of nf_tables operations.
pub type Result<T> = std::result::Result<T, Error>;
