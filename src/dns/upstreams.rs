//! The node's upstream resolvers, from its resolv.conf as the kubelet and k3s choose it: the
//! `nameserver` lines of `/etc/resolv.conf`, except when the only one is systemd-resolved's
//! stub listener 127.0.0.53 — then `/run/systemd/resolve/resolv.conf`, which lists the real
//! servers. Our own listening addresses and the cluster DNS addresses are never upstreams, so
//! a forwarded query cannot come back to us.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::resolv_conf::ResolvConf;

/// systemd-resolved's stub resolver.
const SYSTEMD_STUB: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));
pub use crate::resolv_conf::SYSTEMD_RESOLV_CONF;
/// The `nameserver` addresses of a resolv.conf text, in order (at most three, as glibc;
/// an IPv6 zone index such as `%eth0` is dropped, unparsable addresses skipped).
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    ResolvConf::parse(text)
        .nameservers
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The upstream resolvers of this node: read from `resolv_conf`, or from `systemd_conf` when
/// `resolv_conf` names only the systemd stub; minus `exclude` (our own addresses). A file
/// that cannot be read gives no servers (and a warning).
pub fn from_files(
    resolv_conf: &Path,
    systemd_conf: &Path,
    exclude: &[SocketAddr],
) -> Vec<SocketAddr> {
    let read = |p: &Path| match std::fs::read_to_string(p) {
        Ok(text) => parse_resolv_conf(&text),
        Err(e) => {
            tracing::warn!(path = %p.display(), error = %e, "cannot read resolv.conf");
            Vec::new()
        }
    };
    let mut servers = read(resolv_conf);
    if servers == [SYSTEMD_STUB] {
        servers = read(systemd_conf);
    }
    without_self(
        servers.into_iter().map(|ip| SocketAddr::new(ip, 53)),
        exclude,
    )
}

/// `servers` without any that is one of our own addresses: the same address and port, or
/// any address on the port of a wildcard listener when it is local (loopback or ours).
pub fn without_self(
    servers: impl IntoIterator<Item = SocketAddr>,
    exclude: &[SocketAddr],
) -> Vec<SocketAddr> {
    servers
        .into_iter()
        .filter(|s| {
            !exclude.iter().any(|own| {
                own == s
                    || (own.port() == s.port()
                        && own.ip().is_unspecified()
                        && (s.ip().is_loopback() || s.ip().is_unspecified()))
                    || (own.port() == 0 && own.ip() == s.ip())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn nameserver_lines_are_read_in_order() {
        let text = "# generated\nsearch lan\nnameserver 192.168.1.1\n nameserver\tfe80::1%eth0\n\
                    nameserver bogus\noptions ndots:2\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n";
        assert_eq!(
            parse_resolv_conf(text),
            ips(&["192.168.1.1", "fe80::1", "1.1.1.1"])
        );
        assert!(parse_resolv_conf("search lan\n").is_empty());
    }

    #[test]
    fn the_systemd_stub_is_replaced_by_the_servers_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("resolv.conf");
        let systemd = dir.path().join("systemd-resolv.conf");
        std::fs::write(&main, "nameserver 127.0.0.53\noptions edns0 trust-ad\n").unwrap();
        std::fs::write(&systemd, "nameserver 192.0.2.1\nnameserver 192.0.2.2\n").unwrap();
        let got = from_files(&main, &systemd, &[]);
        assert_eq!(
            got,
            [
                "192.0.2.1:53".parse().unwrap(),
                "192.0.2.2:53".parse().unwrap()
            ]
        );

        // The stub next to another server is kept as it is.
        std::fs::write(&main, "nameserver 127.0.0.53\nnameserver 192.0.2.9\n").unwrap();
        let got = from_files(&main, &systemd, &[]);
        assert_eq!(
            got,
            [
                "127.0.0.53:53".parse().unwrap(),
                "192.0.2.9:53".parse().unwrap()
            ]
        );

        // A missing file gives no servers.
        assert!(from_files(&dir.path().join("none"), &systemd, &[]).is_empty());
    }

    #[test]
    fn our_own_addresses_are_never_upstreams() {
        let servers: Vec<SocketAddr> = ["127.0.0.1:53", "10.43.0.10:53", "192.0.2.1:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let own: Vec<SocketAddr> = vec![
            "0.0.0.0:53".parse().unwrap(),
            "10.43.0.10:0".parse().unwrap(),
        ];
        assert_eq!(
            without_self(servers, &own),
            ["192.0.2.1:53".parse().unwrap()]
        );
    }
}
