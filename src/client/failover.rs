//! Several API servers behind one client, as k3s's agent load balancer treats them: requests
//! go to one server while it answers; when it stops (connection refused, TLS failure, no
//! answer within [`CONNECT_TIMEOUT`]) the next one in the list is tried; a server that works
//! is kept; after [`RETURN_AFTER`] on a later server the list is tried again from the top,
//! so clients come back to the first server once it is up again.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How long connecting to one server (TCP and TLS) may take before the next is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client stays on a server other than the first before trying the list again
/// from the top.
pub const RETURN_AFTER: Duration = Duration::from_secs(300);

/// One server's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `https://host[:port][/...]`; `None` when it is not such a URL.
    pub fn parse(server: &str) -> Option<Endpoint> {
        let rest = server.strip_prefix("https://")?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)
            }
            _ => (authority.trim_matches(['[', ']']).to_string(), 443),
        };
        (!host.is_empty()).then_some(Endpoint { host, port })
    }

    /// `host:port` for messages, and the authority of request URIs.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug)]
struct Choice {
    current: usize,
    /// When the client moved off the first server, while it is elsewhere.
    away_since: Option<Instant>,
}

/// The servers of one client, in the order given, and the one in use.
#[derive(Debug)]
pub struct ServerList {
    endpoints: Vec<Endpoint>,
    return_after: Duration,
    choice: Mutex<Choice>,
}

impl ServerList {
    /// The list of `endpoints` (at least one), starting with the first.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self::returning_after(endpoints, RETURN_AFTER)
    }

    /// [`ServerList::new`], trying the list from the top after `return_after` away.
    pub fn returning_after(endpoints: Vec<Endpoint>, return_after: Duration) -> Self {
        ServerList {
            endpoints,
            return_after,
            choice: Mutex::new(Choice {
                current: 0,
                away_since: None,
            }),
        }
    }

    fn choice(&self) -> std::sync::MutexGuard<'_, Choice> {
        self.choice.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server at `index`.
    pub fn get(&self, index: usize) -> Option<&Endpoint> {
        self.endpoints.get(index)
    }

    /// How many servers there are.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The order to try servers in for a new connection: the one in use first, then the
    /// rest of the list after it, wrapping around; from the top once the client has been
    /// away from the first server for [`RETURN_AFTER`].
    pub fn attempt_order(&self) -> Vec<usize> {
        let n = self.endpoints.len();
        let start = if self.time_to_return() {
            0
        } else {
            self.choice().current
        };
        (0..n).map(|i| (start + i) % n).collect()
    }

    /// Whether the client is on a later server and has been for [`RETURN_AFTER`].
    pub fn time_to_return(&self) -> bool {
        self.choice()
            .away_since
            .is_some_and(|since| since.elapsed() >= self.return_after)
    }

    /// Records that `index` answered: it is the one in use from now on.
    pub fn connected(&self, index: usize) {
        let mut choice = self.choice();
        if choice.current != index {
            if let Some(to) = self.endpoints.get(index) {
                tracing::info!(server = %to.authority(), "now using this API server");
            }
        }
        choice.away_since = match (index, choice.away_since) {
            (0, _) => None,
            (_, Some(since)) if choice.current == index && since.elapsed() < self.return_after => {
                Some(since)
            }
            _ => Some(Instant::now()),
        };
        choice.current = index;
    }
}

#[cfg(test)]
mod tests;
