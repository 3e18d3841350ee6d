//! `bramble check` on this machine: one line per check with `ok`, `warn` or `FAIL`, a fix
//! under every warning and failure, a summary, and an exit status that says whether
//! anything failed. This machine has what a board needs (memory cgroup, overlayfs,
//! namespaces, nftables, runc), so those checks must pass.

use std::process::{Command, Output};

const BRAMBLE: &str = env!("CARGO_BIN_EXE_bramble");

const CHECKS: [&str; 7] = [
    "cgroup memory",
    "overlayfs",
    "OCI runtime",
    "nftables",
    "free disk",
    "clock",
    "swap",
];

fn check(args: &[&str]) -> (Output, String) {
    let data = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BRAMBLE)
        .arg("check")
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .output()
        .expect("run bramble check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// The status word of the line for `name`.
fn status_of<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
}

#[test]
fn every_check_reports_and_the_ones_this_machine_meets_pass() {
    let (out, stdout) = check(&[]);
    let lines: Vec<&str> = stdout.lines().collect();
    for name in CHECKS {
        let status = status_of(&stdout, name);
        assert!(["ok", "warn", "FAIL"].contains(&status), "{name}: {status}");
    }
    for name in [
        "cgroup memory",
        "overlayfs",
        "OCI runtime",
        "nftables",
        "clock",
    ] {
        assert_eq!(status_of(&stdout, name), "ok", "{stdout}");
    }
    // a fix follows every line that is not ok
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("warn") || line.starts_with("FAIL") {
            let next = lines.get(i + 1).map(|l| l.trim_start()).unwrap_or("");
            assert!(
                next.starts_with("fix: "),
                "no fix after {line:?}:\n{stdout}"
            );
        }
    }
    let failed = CHECKS
        .iter()
        .filter(|n| status_of(&stdout, n) == "FAIL")
        .count();
    let summary = lines.last().expect("summary");
    assert!(summary.ends_with(&format!("{failed} FAIL")), "{summary}");
    assert_eq!(out.status.success(), failed == 0, "{stdout}");
}

#[test]
fn runc_is_checked_when_the_server_would_use_it() {
    let (_, stdout) = check(&["--runtime", "runc"]);
    let line = stdout
        .lines()
        .find(|l| l.contains("OCI runtime"))
        .expect("runtime line");
    assert!(line.starts_with("ok"), "{stdout}");
    assert!(line.contains("runc version"), "{line}");
}
