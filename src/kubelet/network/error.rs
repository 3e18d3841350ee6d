//! Errors of pod networking: each names the link, namespace, file or table that failed and why,
//! so a node operator can fix the cause without reading the code.

use std::io;
use std::path::PathBuf;

/// Why setting up or tearing down pod networking failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A CIDR in the configuration could not be used.
    #[error("pod network: {0}")]
    InvalidCidr(#[from] crate::cidr::CidrError),
    /// Every address of the pod CIDR is taken.
    #[error("pod CIDR {cidr} has no free address for pod {pod_uid}: delete unused pods or give the node a larger pod CIDR")]
    Exhausted {
        /// The node's pod CIDR.
        cidr: String,
        /// The pod that asked for an address.
        pod_uid: String,
    },
    /// A pod uid cannot be used as a file name.
    #[error("pod uid {pod_uid:?} is not usable as a network namespace name: only letters, digits, '-' and '_' are allowed")]
    InvalidPodUid {
        /// The rejected uid.
        pod_uid: String,
    },
    /// A netlink request about a link (interface) failed.
    #[error("{action} link {link}: {source}")]
    Link {
        /// What was being done, e.g. "create bridge".
        action: &'static str,
        /// The interface name.
        link: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// Creating, entering or removing a network namespace failed.
    #[error("{action} network namespace {}: {source}", path.display())]
    Netns {
        /// What was being done, e.g. "enter".
        action: &'static str,
        /// The namespace's bind-mount path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading or writing the address allocation state failed.
    #[error("{action} IP allocation state {}: {source}", path.display())]
    State {
        /// What was being done, e.g. "claim".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The kernel refused Bramble's nftables transaction, or has no nf_tables.
    #[error("nftables table {table}: {source}{}", if source.is_unsupported() { " (is the nf_tables kernel module available?)" } else { "" })]
    Nft {
        /// The table Bramble manages.
        table: String,
        /// The kernel's refusal.
        source: crate::netfilter::Error,
    },
    /// Writing a kernel setting failed.
    #[error("set {} to {value}: {source}", path.display())]
    Sysctl {
        /// The /proc/sys path.
        path: PathBuf,
        /// The value written.
        value: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Adding, removing or listing a route to another node failed.
    #[error("{action} {cidr}: {source}")]
    Route {
        /// What was being done, e.g. "add the route to".
        action: &'static str,
        /// The route concerned.
        cidr: String,
        /// The kernel's answer (ENETUNREACH: the node is not on a network this board is on).
        source: io::Error,
    },
    /// A worker thread running the netlink calls died.
    #[error("pod network worker thread failed: {0}")]
    Worker(String),
}

/// Result of pod networking operations.
pub type Result<T> = std::result::Result<T, NetworkError>;
