//! Real packets: a DNAT rule built here makes a connection to a made-up service address reach
//! a listener in another namespace, and a reject path refuses a connection at once.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

use super::Netns;
use crate::netfilter::*;

/// Runs `f` on a new thread inside the namespace at `path`.
fn in_netns<T: Send + 'static>(
    path: PathBuf,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        let ns = File::open(&path).expect("open the namespace");
        setns(&ns, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
        f()
    })
}

#[test]
fn dnat_reaches_the_endpoint_and_reject_refuses_at_once() {
    let x = (std::process::id() % 250) as u8 + 1;
    let client = Netns::new("client");
    let server = Netns::new("server");
    client.ip(&[
        "link",
        "add",
        "veth0",
        "type",
        "veth",
        "peer",
        "name",
        "veth1",
        "netns",
        server.name(),
    ]);
    client.ip(&["addr", "add", &format!("10.99.{x}.1/24"), "dev", "veth0"]);
    client.ip(&["link", "set", "veth0", "up"]);
    server.ip(&["addr", "add", &format!("10.99.{x}.2/24"), "dev", "veth1"]);
    server.ip(&["link", "set", "veth1", "up"]);
    client.ip(&["route", "add", "default", "via", &format!("10.99.{x}.2")]);

    // The endpoint: a listener in the server namespace that greets one connection.
    let server_ip = Ipv4Addr::new(10, 99, x, 2);
    let (port_tx, port_rx) = mpsc::channel();
    let listener = in_netns(server.path(), move || -> std::io::Result<()> {
        let listener = TcpListener::bind((server_ip, 0))?;
        port_tx
            .send(listener.local_addr()?.port())
            .expect("the test waits for the port");
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match listener.accept() {
                Ok((mut conn, _)) => return conn.write_all(b"hello"),
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the listener's port");

    let t = format!("rust{}", std::process::id());
    let t = t.as_str();
    let key = [
        DataType::Ipv4Addr,
        DataType::InetProto,
        DataType::InetService,
    ];
    let service = Ipv4Addr::new(10, 43, x, 5);
    let no_endpoints = Ipv4Addr::new(10, 43, x, 9);
    let mut tx = Transaction::new();
    tx.add_table(t)
        .add_set(
            t,
            &Set::new("no-endpoint-services", KeyType::concat(&key)).map(MapData::Verdict),
        )
        .add_chain(
            t,
            &Chain::base("nat-output", ChainType::Nat, Hook::Output, priority::DSTNAT),
        )
        .add_chain(
            t,
            &Chain::base("filter-output", ChainType::Filter, Hook::Output, -110),
        )
        .add_chain(t, &Chain::regular("reject-chain"))
        .add_rule(t, "reject-chain", &Rule::new().reject())
        .add_rule(
            t,
            "filter-output",
            &Rule::new()
                .ct_state(CtState::NEW)
                .concat(&[Field::IpDaddr, Field::L4Proto, Field::ThDport])
                .vmap("no-endpoint-services"),
        )
        .add_rule(
            t,
            "nat-output",
            &Rule::new()
                .ip_daddr()
                .eq(service)
                .tcp_dport()
                .eq(80)
                .dnat(server_ip, Some(port)),
        )
        .add_elements(
            t,
            "no-endpoint-services",
            &[Element::verdict(
                Key::concat(&[
                    Value::Ipv4(no_endpoints),
                    Value::Proto(Proto::Tcp),
                    Value::Port(80),
                ]),
                Verdict::goto("reject-chain"),
            )],
        );
    client
        .socket()
        .commit(&tx)
        .expect("commit the service rules");

    let connecting = in_netns(client.path(), move || {
        let timeout = Duration::from_secs(5);
        let mut greeting = String::new();
        let reached = TcpStream::connect_timeout(&SocketAddr::from((service, 80)), timeout)
            .and_then(|mut s| s.read_to_string(&mut greeting))
            .map(|_| greeting);
        let started = Instant::now();
        let refused = TcpStream::connect_timeout(&SocketAddr::from((no_endpoints, 80)), timeout);
        (reached, refused.map(drop), started.elapsed())
    });
    let (reached, refused, refused_after) = connecting.join().expect("the client thread");
    assert_eq!(reached.expect("connect to the service address"), "hello");
    listener
        .join()
        .expect("the listener thread")
        .expect("the listener greeted the client");
    let err = refused.expect_err("a service without endpoints refuses connections");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(
        refused_after < Duration::from_secs(2),
        "refused at once, not after a timeout: {refused_after:?}"
    );
}
