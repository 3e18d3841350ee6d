//! Interactive sessions as a user at a terminal has them: `kubectl exec -it` typed into
//! through a real pseudo-terminal (prompt, window size after a resize, Ctrl-C interrupting a
//! command, the exit code), `kubectl run -it --rm`, `kubectl attach -it` and `attach -i`
//! (containers with `stdin`, `stdinOnce` and `tty`), on both runtimes and on a joined
//! board. Needs root, runc and the kubelet tests' Debian packages; kubectl runs under
//! Python's `pty` module, which plays the user's terminal.

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;
use support::joined::{TwoBoards, BOARD};
use support::terminal::{on_terminal, regex_text, HINT, PROMPT};

fn wait_running(board: &Board, pod: &str) {
    eventually(&format!("{pod} to run"), || {
        let ready = board
            .cluster
            .pod_jsonpath(pod, "{.status.containerStatuses[0].ready}");
        (ready == "true").then_some(())
    });
}

/// `kubectl exec -it` into a shell: the prompt, `stty size` following a resize of the
/// user's terminal, Ctrl-C ending a running `sleep` (status 130), and `exit 3` becoming
/// kubectl's exit code.
fn exec_with_a_terminal(runtime: &str, tag: u8) {
    let board = Board::start(runtime, tag, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: shell}\nspec:\n  containers: [{name: c, image: box}]\n");
    wait_running(&board, "shell");
    let steps = serde_json::json!([
        ["expect", PROMPT, 20],
        ["send", "stty size; echo TERM=$TERM\r"],
        ["expect", r"\r\n30 100\r\nTERM=xterm\r\n", 10],
        ["expect", PROMPT, 10],
        ["resize", 40, 120],
        ["poll", "stty size\r", r"\r\n40 120\r\n", 15],
        ["expect", PROMPT, 10],
        // Ctrl-C ends the job whether it comes before or after the `exec`.
        ["send", "sh -c 'echo sleep\"\"ing; exec sleep 1000'\r"],
        ["expect", r"sleeping\r\n", 10],
        ["send", "\u{3}"],
        ["expect", PROMPT, 10],
        ["send", "echo rc=$?\r"],
        ["expect", r"rc=130\r\n", 10],
        ["send", "exit 3\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        board.work.path(),
        &["exec", "-it", "shell", "--", "sh"],
        steps,
    );
    assert_eq!(s.code, 3, "{}", s.transcript);

    // A command's own status through a terminal, without typing anything.
    let s = on_terminal(
        &c.kubeconfig(),
        board.work.path(),
        &["exec", "-it", "shell", "--", "sh", "-c", "tty; exit 0"],
        serde_json::json!([["expect", r"/dev/pts/\d+", 20]]),
    );
    assert_eq!(s.code, 0, "{}", s.transcript);
}

#[test]
fn exec_with_a_terminal_on_the_builtin_runtime() {
    exec_with_a_terminal("builtin", 90);
}

#[test]
fn exec_with_a_terminal_on_runc() {
    exec_with_a_terminal("runc", 91);
}

/// `kubectl run -it --rm`: a shell on the container's own terminal, typed into, ended with
/// `exit`, after which kubectl deletes the pod.
fn run_it_rm(runtime: &str, tag: u8) {
    let board = Board::start(runtime, tag, &[("library/box", IDLE)]);
    let c = &board.cluster;
    board.wait_node_ready();
    let steps = serde_json::json!([
        ["expect", regex_text(HINT), 60],
        ["poll", "\r", PROMPT, 15],
        ["send", "echo run$((40+2))\r"],
        ["expect", r"\r\nrun42\r\n", 10],
        ["expect", PROMPT, 10],
        ["send", "exit\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        board.work.path(),
        &[
            "run",
            "-it",
            "--rm",
            "x",
            "--image=box",
            "--restart=Never",
            "--",
            "sh",
        ],
        steps,
    );
    assert_eq!(s.code, 0, "{}", s.transcript);
    assert!(
        s.transcript.contains(r#"pod "x" deleted"#),
        "{}",
        s.transcript
    );
    eventually("the pod to be gone", || {
        let out = c.kubectl(&["get", "pod", "x"]);
        (!out.status.success()).then_some(())
    });
}

#[test]
fn run_it_rm_on_the_builtin_runtime() {
    run_it_rm("builtin", 92);
}

/// `kubectl run -i --rm` without a terminal shows a command's output from its first line,
/// written before kubectl could attach.
#[test]
fn run_i_shows_output_written_before_the_attach() {
    let board = Board::start("builtin", 96, &[("library/box", IDLE)]);
    let c = &board.cluster;
    board.wait_node_ready();
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &[
            "run",
            "-i",
            "--rm",
            "early",
            "--image=box",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "echo first-line; sleep 3; read l; echo got:$l",
        ],
        Some("typed\n"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("first-line\ngot:typed\n"), "{stdout}");
}

#[test]
fn run_it_rm_on_runc() {
    run_it_rm("runc", 93);
}

/// `kubectl attach -it` to a container started with `stdin` and `tty`: typed commands run in
/// its shell and still reach its log; `exit` ends the container and with it the attach.
/// `kubectl attach -i` to a `stdinOnce` container without a terminal: what is piped in
/// reaches its stdin, whose end (with the attach's) ends the container.
#[test]
fn attach_to_a_container_s_terminal_and_stdin() {
    let board = Board::start("builtin", 94, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: console}
spec:
  restartPolicy: Never
  containers: [{name: c, image: box, command: [sh], stdin: true, tty: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: box
    command: [sh, -c, "while read l; do echo got:$l; done; echo stdin-closed"]
    stdin: true
    stdinOnce: true
"#,
    );
    wait_running(&board, "console");
    wait_running(&board, "reader");
    // The shell outlives its first prompt: the container stays up waiting for input.
    let steps = serde_json::json!([
        ["expect", regex_text(HINT), 20],
        ["poll", "\r", PROMPT, 15],
        ["send", "echo att$((2+3))\r"],
        ["expect", r"\r\natt5\r\n", 10],
        ["expect", PROMPT, 10],
        ["resize", 33, 77],
        ["poll", "stty size\r", r"\r\n33 77\r\n", 15],
        ["send", "exit 4\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        board.work.path(),
        &["attach", "-it", "console"],
        steps,
    );
    assert_eq!(s.code, 0, "{}", s.transcript);
    let logs = c.kubectl_ok(&["logs", "console"]);
    assert!(logs.contains("att5"), "{logs}");
    eventually("console to end with the shell's code", || {
        let code = c.pod_jsonpath(
            "console",
            "{.status.containerStatuses[0].state.terminated.exitCode}",
        );
        (code == "4").then_some(())
    });

    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["attach", "-i", "reader"],
        Some("hello\nworld\n"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("got:hello\ngot:world\nstdin-closed"),
        "{stdout}"
    );
}

/// The same sessions with a joined board's kubelet, reached through the API server's
/// kubelet client: `exec -it` with a resize and an exit code, then `attach -it` to a
/// container's own terminal.
#[test]
fn exec_and_attach_with_a_terminal_on_a_joined_board() {
    let boards = TwoBoards::start(95, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: remote}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {BOARD}}}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers: [{{name: c, image: busybox, command: [sh], stdin: true, tty: true}}]
"#
    ));
    eventually("remote to run", || {
        (c.pod_jsonpath("remote", "{.status.phase}") == "Running").then_some(())
    });
    let steps = serde_json::json!([
        ["expect", PROMPT, 20],
        ["resize", 41, 121],
        ["poll", "stty size\r", r"\r\n41 121\r\n", 15],
        ["send", "exit 6\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        boards.work.path(),
        &["exec", "-it", "remote", "--", "sh"],
        steps,
    );
    assert_eq!(s.code, 6, "{}", s.transcript);

    let steps = serde_json::json!([
        ["expect", regex_text(HINT), 20],
        ["poll", "\r", PROMPT, 15],
        ["send", "echo far$((3*3))\r"],
        ["expect", r"\r\nfar9\r\n", 10],
        ["send", "exit\r"],
    ]);
    let s = on_terminal(
        &c.kubeconfig(),
        boards.work.path(),
        &["attach", "-it", "remote"],
        steps,
    );
    assert_eq!(s.code, 0, "{}", s.transcript);
    let logs = c.kubectl_ok(&["logs", "remote"]);
    assert!(logs.contains("far9"), "{logs}");
}
