//! Atomic changes: a replacing transaction leaves exactly the new state, a failing one
//! changes nothing and names the message that failed; deleting the table removes everything.

use super::conformance::{listing, miniature, service_key, service_web_rules, RULESET};
use super::Netns;
use crate::netfilter::*;

/// RULESET after `service-web` lost endpoint-b, `service-ips` gained a service and
/// `no-endpoint-services` lost its element.
fn expected_after_replace(table: &str) -> String {
    RULESET
        .replace(
            "  chain endpoint-b { ip saddr 10.42.1.9 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.9:8080; }\n",
            "",
        )
        .replace(
            "numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b };",
            "numgen random mod 1 vmap { 0 : goto endpoint-a };",
        )
        .replace(
            "{ 10.43.0.5 . tcp . 80 : goto service-web }",
            "{ 10.43.0.5 . tcp . 80 : goto service-web, 10.43.0.6 . tcp . 443 : goto service-web }",
        )
        .replace("add element ip T no-endpoint-services { 10.43.0.9 . udp . 53 : goto reject-chain }\n", "")
        .replace("table ip T ", &format!("table ip {table} "))
        .replace("add element ip T ", &format!("add element ip {table} "))
}

#[test]
fn a_replacing_transaction_is_applied_whole_and_a_failing_one_not_at_all() {
    let ns = Netns::new("replace");
    let pid = std::process::id();
    let (table, expected_table) = (format!("rust{pid}"), format!("text{pid}"));
    let mut socket = ns.socket();
    socket
        .commit(&miniature(&table))
        .expect("commit the miniature ruleset");

    let t = table.as_str();
    let mut tx = Transaction::new();
    tx.flush_chain(t, "service-web")
        .flush_set(t, "service-ips")
        .flush_chain(t, "endpoint-b")
        .delete_chain(t, "endpoint-b");
    for rule in service_web_rules(&["endpoint-a"]) {
        tx.add_rule(t, "service-web", &rule);
    }
    tx.add_elements(
        t,
        "service-ips",
        &[
            Element::verdict(
                service_key([10, 43, 0, 5], Proto::Tcp, 80),
                Verdict::goto("service-web"),
            ),
            Element::verdict(
                service_key([10, 43, 0, 6], Proto::Tcp, 443),
                Verdict::goto("service-web"),
            ),
        ],
    );
    tx.delete_elements(
        t,
        "no-endpoint-services",
        &[service_key([10, 43, 0, 9], Proto::Udp, 53)],
    );
    socket
        .commit(&tx)
        .expect("commit the replacing transaction");

    ns.nft_file(&expected_after_replace(&expected_table));
    let after = listing(&ns, t);
    assert_eq!(after, listing(&ns, &expected_table));

    // A transaction that fails part-way: the flush and the element would apply, but a rule
    // jumps to a chain that does not exist, so none of it may.
    let mut bad = Transaction::new();
    bad.flush_chain(t, "dns")
        .add_elements(
            t,
            "service-ips",
            &[Element::verdict(
                service_key([10, 43, 0, 7], Proto::Udp, 53),
                Verdict::goto("dns"),
            )],
        )
        .add_rule(
            t,
            "services",
            &Rule::new().ip_daddr().eq([10, 43, 0, 7]).counter(),
        )
        .add_rule(t, "services", &Rule::new().jump("no-such-chain"));
    let err = socket
        .commit(&bad)
        .expect_err("a jump to a missing chain is refused");
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("adding rule 2 to chain services: No such file or directory"),
        "the error names the failed message and the kernel's reason: {err}"
    );
    assert_eq!(
        listing(&ns, t),
        after,
        "a failed transaction changed nothing"
    );
}

#[test]
fn deleting_the_table_removes_everything_and_a_missing_table_is_reported() {
    let ns = Netns::new("delete");
    let table = format!("rust{}", std::process::id());
    let mut socket = ns.socket();
    socket
        .commit(&miniature(&table))
        .expect("commit the miniature ruleset");
    assert!(ns.nft(&["list", "tables"]).contains(&table));

    let mut set = Transaction::new();
    set.add_set(&table, &Set::new("unused", DataType::InetService));
    socket.commit(&set).expect("add a set");
    assert!(ns
        .nft(&["list", "table", "ip", &table])
        .contains("set unused {"));
    let mut delete_set = Transaction::new();
    delete_set.delete_set(&table, "unused");
    socket.commit(&delete_set).expect("delete the set");
    assert!(!ns
        .nft(&["list", "table", "ip", &table])
        .contains("set unused"));

    let mut delete = Transaction::new();
    delete.delete_table(&table);
    socket.commit(&delete).expect("delete the table");
    assert_eq!(ns.nft(&["list", "ruleset"]).trim(), "", "nothing is left");

    let err = socket.commit(&delete).expect_err("the table is gone");
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("deleting table {table}: ")),
        "{err}"
    );

    // Adding the table first in the same transaction makes the delete succeed either way.
    let mut ensure_gone = Transaction::new();
    ensure_gone.add_table(&table).delete_table(&table);
    socket
        .commit(&ensure_gone)
        .expect("add-then-delete of a missing table");
    assert_eq!(ns.nft(&["list", "ruleset"]).trim(), "");
}
