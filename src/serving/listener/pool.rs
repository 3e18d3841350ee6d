//! The connection pool of one listener: a global cap, a per-address cap, and a bounded share
//! for connections that have not authenticated yet, whose oldest member (at the address
//! holding the most) is evicted to make room for a newcomer. Why this rule, rather than a
//! semaphore before `accept` or a reserved share for client certificates, is in the
//! [module above](super).

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::ListenerLimits;

/// Why a connection was closed right after `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address already holds its share.
    #[error("the client address holds {0} connections already")]
    AddressFull(usize),
    /// Every connection is authenticated and the listener is full.
    #[error("all {0} connections are authenticated and busy")]
    Full(usize),
}

/// The connections admitted on one listener.
#[derive(Debug)]
pub struct ConnectionPool {
    limits: ListenerLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    total: usize,
    unauthenticated: usize,
    entries: HashMap<u64, Entry>,
    addresses: HashMap<IpAddr, Address>,
}

#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    authenticated: bool,
    evict: CancellationToken,
}

#[derive(Debug, Default)]
struct Address {
    total: usize,
    /// This address's unauthenticated connections, oldest first.
    waiting: VecDeque<u64>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Ticket {
    pool: Arc<ConnectionPool>,
    id: u64,
    evicted: CancellationToken,
}

impl ConnectionPool {
    /// An empty pool with `limits` (normalized).
    pub fn new(limits: &ListenerLimits) -> Arc<Self> {
        Arc::new(ConnectionPool {
            limits: limits.normalized(),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below only moves counters; one that panicked (impossible
        // without a bug, and the release build aborts) leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection from `ip` as unauthenticated, evicting the oldest unauthenticated
    /// connection of the busiest address if the pool or the listener is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let ip = ip.to_canonical();
        let mut state = self.lock();
        let held = state.addresses.get(&ip).map_or(0, |a| a.total);
        if held >= self.limits.max_per_address {
            return Err(Refusal::AddressFull(held));
        }
        let full = state.unauthenticated >= self.limits.max_unauthenticated
            || state.total >= self.limits.max_connections;
        if full && !state.evict_one() {
            return Err(Refusal::Full(state.total));
        }
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        let evicted = CancellationToken::new();
        state.entries.insert(
            id,
            Entry {
                ip,
                authenticated: false,
                evict: evicted.clone(),
            },
        );
        state.total += 1;
        state.unauthenticated += 1;
        let address = state.addresses.entry(ip).or_default();
        address.total += 1;
        address.waiting.push_back(id);
        Ok(Ticket {
            pool: self.clone(),
            id,
            evicted,
        })
    }

    /// (all, unauthenticated) connections held now.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.total, state.unauthenticated)
    }
}

impl State {
    /// Closes the oldest unauthenticated connection of the address holding the most of them;
    /// false when there is none.
    fn evict_one(&mut self) -> bool {
        // ties go to the address whose oldest waiter is oldest, so a client's fresh
        // connection is the last to go even when the flood spreads over many addresses
        let victim = self
            .addresses
            .values()
            .filter_map(|a| Some((a.waiting.len(), Reverse(*a.waiting.front()?))))
            .max()
            .map(|(_, Reverse(id))| id);
        match victim {
            Some(id) => {
                if let Some(entry) = self.remove(id) {
                    tracing::debug!(peer = %entry.ip, "closing the oldest unauthenticated connection to admit a new one");
                    entry.evict.cancel();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.total = self.total.saturating_sub(1);
        if !entry.authenticated {
            self.unauthenticated = self.unauthenticated.saturating_sub(1);
        }
        if let Some(address) = self.addresses.get_mut(&entry.ip) {
            address.total = address.total.saturating_sub(1);
            if !entry.authenticated {
                address.waiting.retain(|w| *w != id);
            }
            if address.total == 0 {
                self.addresses.remove(&entry.ip);
            }
        }
        Some(entry)
    }
}

impl Ticket {
    /// Moves the connection to the authenticated share: it can no longer be evicted.
    pub fn authenticated(&self) {
        let mut state = self.pool.lock();
        let Some(entry) = state.entries.get_mut(&self.id) else {
            return;
        };
        if entry.authenticated {
            return;
        }
        entry.authenticated = true;
        let ip = entry.ip;
        state.unauthenticated = state.unauthenticated.saturating_sub(1);
        if let Some(address) = state.addresses.get_mut(&ip) {
            address.waiting.retain(|w| *w != self.id);
        }
    }

    /// Completes when the pool closed this connection to admit another.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pool.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max: usize, per_address: usize, unauthenticated: usize) -> Arc<ConnectionPool> {
        ConnectionPool::new(&ListenerLimits {
            max_connections: max,
            max_per_address: per_address,
            max_unauthenticated: unauthenticated,
            ..ListenerLimits::default()
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn the_address_cap_refuses_the_next_connection() {
        let p = pool(10, 2, 10);
        let _a = p.admit(ip(2)).unwrap();
        let _b = p.admit(ip(2)).unwrap();
        assert_eq!(p.admit(ip(2)).unwrap_err(), Refusal::AddressFull(2));
        // IPv4-mapped IPv6 is the same client
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        assert!(p.admit(mapped).is_err());
        assert!(p.admit(ip(3)).is_ok());
    }

    #[test]
    fn a_flood_evicts_itself_and_never_an_authenticated_connection() {
        let p = pool(8, 8, 4);
        let admin = p.admit(ip(1)).unwrap();
        admin.authenticated();
        let flood: Vec<Ticket> = (0..40)
            .filter_map(|i| p.admit(ip(2 + i % 5)).ok())
            .collect();
        assert_eq!(
            flood.len(),
            40,
            "newcomers are admitted, old waiters evicted"
        );
        let live = flood.iter().filter(|t| !t.evicted.is_cancelled()).count();
        assert_eq!(live, 4, "the unauthenticated pool stays at its bound");
        assert!(!admin.evicted.is_cancelled());
        assert_eq!(p.counts(), (5, 4));
        // a new client is admitted despite the flood, and keeps its place once authenticated
        let client = p.admit(ip(1)).unwrap();
        client.authenticated();
        for i in 0..20 {
            let _ = p.admit(ip(2 + i % 5));
        }
        assert!(!client.evicted.is_cancelled());
    }

    #[test]
    fn the_busiest_address_loses_its_oldest_waiter() {
        let p = pool(10, 10, 3);
        let quiet = p.admit(ip(1)).unwrap();
        let a = p.admit(ip(2)).unwrap();
        let b = p.admit(ip(2)).unwrap();
        let _c = p.admit(ip(3)).unwrap();
        assert!(a.evicted.is_cancelled());
        assert!(!b.evicted.is_cancelled() && !quiet.evicted.is_cancelled());
    }

    #[test]
    fn among_equally_busy_addresses_the_oldest_waiter_goes() {
        let p = pool(10, 10, 3);
        let old = p.admit(ip(5)).unwrap();
        let mid = p.admit(ip(3)).unwrap();
        let new = p.admit(ip(4)).unwrap();
        let _newest = p.admit(ip(1)).unwrap();
        assert!(old.evicted.is_cancelled());
        assert!(!mid.evicted.is_cancelled() && !new.evicted.is_cancelled());
    }

    #[test]
    fn a_listener_full_of_authenticated_connections_refuses_newcomers() {
        let p = pool(2, 2, 2);
        let a = p.admit(ip(1)).unwrap();
        let b = p.admit(ip(2)).unwrap();
        a.authenticated();
        b.authenticated();
        assert_eq!(p.admit(ip(3)).unwrap_err(), Refusal::Full(2));
        drop(a);
        assert!(p.admit(ip(3)).is_ok());
    }

    #[test]
    fn dropping_an_evicted_ticket_does_not_free_a_place_twice() {
        let p = pool(2, 2, 1);
        let a = p.admit(ip(1)).unwrap();
        let b = p.admit(ip(2)).unwrap();
        assert!(a.evicted.is_cancelled());
        drop(a);
        assert_eq!(p.counts(), (1, 1));
        drop(b);
        assert_eq!(p.counts(), (0, 0));
    }
}
