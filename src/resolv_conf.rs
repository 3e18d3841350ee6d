//! The resolver configuration file (`resolv.conf`): its nameservers, search domains and
//! options, parsed and written as glibc reads them, and the node's real resolver — the one
//! `/etc/resolv.conf` names, unless that names only loopback servers (systemd-resolved's stub
//! 127.0.0.53, unreachable from a pod's network), in which case
//! `/run/systemd/resolve/resolv.conf` lists the real upstreams, as k3s does.

use std::net::IpAddr;

/// At most this many nameservers (glibc reads three, `MAXNS`).
pub const MAX_NAMESERVERS: usize = 3;
/// The node resolver's file.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of real upstream servers.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// What a resolv.conf holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The `search` domains.
    pub searches: Vec<String>,
    /// `options`, e.g. `ndots:5`.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text; unknown lines and comments are skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut out = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") if out.nameservers.len() < MAX_NAMESERVERS => {
                    // An IPv6 zone index (`%eth0`) is dropped; what is no address is skipped.
                    let server = words
                        .next()
                        .and_then(|w| w.split('%').next())
                        .filter(|w| w.parse::<IpAddr>().is_ok());
                    out.nameservers.extend(server.map(str::to_string));
                }
                // The last search or domain line wins, as in glibc.
                Some("search" | "domain") => out.searches = words.map(str::to_string).collect(),
                Some("options") => out.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        out
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            text.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }

    fn only_loopback(&self) -> bool {
        !self.nameservers.is_empty()
            && self
                .nameservers
                .iter()
                .all(|n| n.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
    }
}

/// The node's resolver from the texts of `/etc/resolv.conf` and systemd-resolved's file
/// (`None` when absent).
pub fn host_resolver(etc: &str, systemd: Option<&str>) -> ResolvConf {
    let host = ResolvConf::parse(etc);
    match systemd.map(ResolvConf::parse) {
        Some(real) if host.only_loopback() && !real.nameservers.is_empty() => ResolvConf {
            nameservers: real.nameservers,
            searches: host.searches,
            options: host.options,
        },
        _ => host,
    }
}

/// Reads the node's resolver (see [`host_resolver`]).
pub fn read_host_resolver() -> ResolvConf {
    let etc = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let systemd = std::fs::read_to_string(SYSTEMD_RESOLV_CONF).ok();
    host_resolver(&etc, systemd.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_what_glibc_reads() {
        let conf = ResolvConf::parse(
            "# generated\nnameserver 192.168.1.1 ; router\nnameserver fe80::1%eth0\n\
             nameserver 1.1.1.1\nnameserver 8.8.8.8\ndomain lan\nsearch home lan\n\
             options edns0 ndots:2\n",
        );
        assert_eq!(conf.nameservers, ["192.168.1.1", "fe80::1", "1.1.1.1"]);
        assert_eq!(conf.searches, ["home", "lan"]);
        assert_eq!(
            conf.render(),
            "search home lan\nnameserver 192.168.1.1\nnameserver fe80::1\n\
             nameserver 1.1.1.1\noptions edns0 ndots:2\n"
        );
    }

    #[test]
    fn the_systemd_stub_is_replaced_by_the_real_upstreams() {
        let etc = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch home\n";
        let real = "nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch home\n";
        let conf = host_resolver(etc, Some(real));
        assert_eq!(conf.nameservers, ["192.168.1.1", "192.168.1.2"]);
        assert_eq!(conf.options, ["edns0", "trust-ad"]);
        assert_eq!(host_resolver(etc, None).nameservers, ["127.0.0.53"]);
        let plain = "nameserver 10.0.0.1\n";
        assert_eq!(host_resolver(plain, Some(real)).nameservers, ["10.0.0.1"]);
    }
}
