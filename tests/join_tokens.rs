//! Join tokens made with `bramble ctl token`: one made for a board joins it while it lives,
//! `list` shows it beside the server's own, `delete` revokes it (and the server's own too),
//! and one whose time is up is refused and then cleaned away. Needs root.

use crate::support;

use std::process::{Command, Output};

use support::eventually;
use support::joined::{TwoBoards, BOARD};

fn ctl(boards: &TwoBoards, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bramble"))
        .arg("ctl")
        .arg("--kubeconfig")
        .arg(boards.cluster.kubeconfig())
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run bramble ctl")
}

fn ctl_ok(boards: &TwoBoards, args: &[&str]) -> String {
    let out = ctl(boards, args);
    assert!(
        out.status.success(),
        "bramble ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_token_from_ctl_joins_a_board_until_it_is_deleted_or_expires() {
    let mut boards = TwoBoards::prepare(5, &[], &[]);
    let own = boards.token();
    let (own_bearer, pin) = own.split_once("::").expect("token shape");
    let own_id = own_bearer.split('.').next().expect("id").to_string();

    let made = ctl_ok(
        &boards,
        &[
            "token",
            "create",
            "--ttl",
            "10m",
            "--description",
            "shed board",
        ],
    );
    let made = made.trim().to_string();
    let (bearer, made_pin) = made.split_once("::").expect("join token shape");
    assert_eq!(made_pin, pin, "a new token pins the same CA");
    assert_ne!(bearer, own_bearer);
    let id = bearer.split('.').next().expect("id").to_string();

    let listed = ctl_ok(&boards, &["token", "list"]);
    let header = listed.lines().next().unwrap_or_default();
    for column in [
        "TOKEN",
        "TTL",
        "EXPIRES",
        "USAGES",
        "DESCRIPTION",
        "EXTRA GROUPS",
    ] {
        assert!(header.contains(column), "{listed}");
    }
    let row = listed
        .lines()
        .find(|l| l.starts_with(bearer))
        .unwrap_or_else(|| panic!("the new token is listed:\n{listed}"));
    assert!(
        row.contains("shed board") && row.contains("authentication,signing"),
        "{row}"
    );
    assert!(
        row.contains(" 9m ") || row.contains(" 10m "),
        "TTL as kubeadm shows it: {row}"
    );
    let own_row = listed
        .lines()
        .find(|l| l.starts_with(own_bearer))
        .unwrap_or_else(|| panic!("the server's own token is listed:\n{listed}"));
    assert!(
        own_row.contains("<forever>") && own_row.contains("<never>"),
        "{own_row}"
    );

    // The made token joins the board.
    boards.agent.start(&["--token", &made]);
    boards.wait_ready(BOARD);

    // Deleted, it joins nothing more; nor does the server's own once deleted.
    let deleted = ctl_ok(&boards, &["token", "delete", &id, &own]);
    assert!(
        deleted.contains(&format!("bootstrap token \"{id}\" deleted")),
        "{deleted}"
    );
    assert!(
        deleted.contains(&format!("bootstrap token \"{own_id}\" deleted")),
        "{deleted}"
    );
    let elsewhere = boards.work.path().join("second-board");
    for token in [&made, &own] {
        let out = boards
            .agent
            .run_elsewhere_to_exit(&elsewhere, &["--token", token, "--kubelet-port", "10251"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("the server refused the join token"),
            "{}",
            stderr(&out)
        );
    }

    // A token whose time is up is refused at once and deleted by the cleaner.
    let short = ctl_ok(&boards, &["token", "create", "--ttl", "1s"]);
    let short = short.trim().to_string();
    let short_id = short.split('.').next().expect("id").to_string();
    eventually("the expired token to be cleaned away", || {
        let listed = ctl_ok(&boards, &["token", "list"]);
        (!listed.contains(&short_id)).then_some(())
    });
    let out = boards
        .agent
        .run_elsewhere_to_exit(&elsewhere, &["--token", &short, "--kubelet-port", "10251"]);
    assert!(!out.status.success(), "an expired token joined a board");

    // Bad input gets one actionable line.
    let bad = ctl(&boards, &["token", "create", "NOT-A-TOKEN"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("must look like abcdef.0123456789abcdef"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(stderr(&bad).trim().lines().count(), 1);
}
