//! Interactive sessions as a user at a terminal has them: `kubectl exec -it` typed into
//! through a real pseudo-terminal (prompt, window size after a resize, Ctrl-C interrupting a
//! command, the exit code), on both runtimes. Needs root, runc and the kubelet tests' Debian
//! packages; kubectl runs under Python's `pty` module, which plays the user's terminal.

use std::path::Path;
use std::process::Command;

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// Runs a command on a pseudo-terminal of `ROWS`x`COLS` and plays a script against it.
/// Steps (JSON): `["expect", regex, seconds]`, `["send", text]`, `["resize", rows, cols]`,
/// `["poll", text, regex, seconds]` (send `text` again every second until `regex` shows).
/// Prints the command's exit code on the last line of stdout after `EXIT `; any failure
/// prints the transcript and exits 99.
const PTY_DRIVER: &str = r#"
import fcntl, json, os, pty, re, select, struct, sys, termios, time
steps = json.loads(sys.argv[1]); rows, cols = int(sys.argv[2]), int(sys.argv[3]); cmd = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(cmd[0], cmd)
seen = b''
buf = b''
def fail(why):
    sys.stdout.write('FAILED: %s\nTRANSCRIPT: %r\n' % (why, seen)); sys.stdout.flush()
    os.kill(pid, 9); sys.exit(99)
def fill(timeout):
    global buf, seen
    r, _, _ = select.select([fd], [], [], max(timeout, 0))
    if not r: return True
    try: data = os.read(fd, 4096)
    except OSError: data = b''
    if not data: return False
    buf += data; seen += data
    return True
def expect(pat, timeout):
    global buf
    rx = re.compile(pat.encode(), re.S)
    deadline = time.time() + timeout
    while True:
        m = rx.search(buf)
        if m:
            buf = buf[m.end():]
            return True
        left = deadline - time.time()
        if left <= 0: return False
        if not fill(min(left, 1.0)) and not rx.search(buf): fail('end of output waiting for %r' % pat)
for step in steps:
    if step[0] == 'send': os.write(fd, step[1].encode())
    elif step[0] == 'expect':
        if not expect(step[1], step[2]): fail('timed out waiting for %r' % step[1])
    elif step[0] == 'resize': fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', step[1], step[2], 0, 0))
    elif step[0] == 'poll':
        deadline = time.time() + step[3]
        while True:
            os.write(fd, step[1].encode())
            if expect(step[2], 1.0): break
            if time.time() > deadline: fail('timed out polling for %r' % step[2])
deadline = time.time() + 30
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done: break
    fill(0.2)
else:
    fail('the command did not exit')
while fill(0.2) and len(buf) < 1 << 20: pass
sys.stdout.write('TRANSCRIPT: %r\nEXIT %d\n' % (seen, os.waitstatus_to_exitcode(status)))
"#;

/// The outcome of a [`PTY_DRIVER`] session: the exit code and everything shown.
struct Session {
    code: i32,
    transcript: String,
}

/// Runs kubectl with `args` on a terminal, playing `steps`.
fn on_terminal(kubeconfig: &Path, home: &Path, args: &[&str], steps: serde_json::Value) -> Session {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg(steps.to_string())
        .args(["30", "100", "kubectl", "--kubeconfig"])
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "terminal session failed:\n{text}");
    let code = text
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("EXIT "))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no exit code in {text}"));
    Session {
        code,
        transcript: text,
    }
}

/// busybox sh's root prompt at the end of what was shown (its line editor then asks the
/// terminal where the cursor is, `ESC [6n`, which needs no answer).
const PROMPT: &str = r"# (?:\x1b\[6n)?$";

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
        ["send", "echo sleep''ing; sleep 1000\r"],
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
