//! A small synchronous rtnetlink client: the link, address and route requests pod networking
//! needs (what `ip link/addr/route` would do), answered by the kernel of the network namespace
//! the calling thread was in when the client was opened.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

/// An open rtnetlink socket bound to the current thread's network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// Whether an error means "already there" (EEXIST), which idempotent callers accept.
pub fn is_exists(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc_errno::EEXIST)
}

/// Whether an error means "no such route" (ESRCH), which idempotent callers accept.
pub fn is_no_route(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc_errno::ESRCH)
}

/// Whether an error means "no such link" (ENODEV), which idempotent callers accept.
pub fn is_no_device(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc_errno::ENODEV)
}

/// The errno values the callers test for (Linux numbers, identical on every architecture).
mod libc_errno {
    pub const ESRCH: i32 = 3;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the kernel's replies up to its acknowledgement.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut out = vec![0u8; req.buffer_len()];
        req.serialize(&mut out);
        self.socket.send(&out, 0)?;

        let mut replies = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.socket.recv(&mut &mut buf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::InnerMessage(m) => replies.push(m),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(replies),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            }
                        }
                        NetlinkPayload::Done(_) => return Ok(replies),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// The index of link `name`, or None if there is no such link.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if is_no_device(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge named `name`.
    pub fn add_bridge(&mut self, name: &str, mtu: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// Creates a veth pair: `host` here, `peer` created directly in the namespace `peer_netns`
    /// (so a pod-side name such as eth0 never clashes with the node's own interfaces).
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: RawFd,
        mtu: u32,
    ) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// Brings link `index` up, attaching it to bridge `controller` first when given.
    pub fn set_up(&mut self, index: u32, controller: Option<u32>) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags |= LinkFlags::Up;
        msg.header.change_mask |= LinkFlags::Up;
        if let Some(ctrl) = controller {
            msg.attributes.push(LinkAttribute::Controller(ctrl));
        }
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Turns on hairpin mode of bridge port `index` (`ip link set X type bridge_slave hairpin
    /// on`): the bridge may send a frame back out of the port it came in on, so a pod reaches
    /// itself through a Service address.
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), 0).map(drop)
    }

    /// Deletes link `index` (deleting one end of a veth pair deletes both).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(msg), 0).map(drop)
    }

    /// Adds `ip/prefix` to link `index`; an address already present is not an error.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if !is_exists(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Adds the IPv4 default route via `gateway`; a route already present is not an error.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        match self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if !is_exists(&e) => Err(e),
            _ => Ok(()),
        }
    }

    fn route_message(dst: Ipv4Addr, prefix: u8, protocol: u8) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::from(protocol);
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.header.destination_prefix_length = prefix;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        msg
    }

    /// Adds or replaces the route to `dst/prefix` via `gateway`, tagged with `protocol`
    /// (as `ip route replace ... proto N`), so its owner can find it again.
    pub fn replace_route(
        &mut self,
        dst: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
        protocol: u8,
    ) -> io::Result<()> {
        let mut msg = Self::route_message(dst, prefix, protocol);
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map(drop)
    }

    /// Deletes the route to `dst/prefix` tagged `protocol`; a missing route is not an error.
    pub fn delete_route(&mut self, dst: Ipv4Addr, prefix: u8, protocol: u8) -> io::Result<()> {
        let msg = Self::route_message(dst, prefix, protocol);
        match self.request(RouteNetlinkMessage::DelRoute(msg), 0) {
            Err(e) if !is_no_route(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The IPv4 routes of the main table tagged `protocol`: (destination, prefix, gateway).
    pub fn routes_of(&mut self, protocol: u8) -> io::Result<Vec<(Ipv4Addr, u8, Option<Ipv4Addr>)>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m)
                    if u8::from(m.header.protocol) == protocol
                        && m.header.table == RouteHeader::RT_TABLE_MAIN =>
                {
                    let mut dst = None;
                    let mut gw = None;
                    for a in &m.attributes {
                        match a {
                            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
                            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                            _ => {}
                        }
                    }
                    dst.map(|d| (d, m.header.destination_prefix_length, gw))
                }
                _ => None,
            })
            .collect())
    }
}
