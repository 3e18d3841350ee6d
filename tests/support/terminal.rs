//! kubectl on a real pseudo-terminal, as a user at a terminal runs it: Python's `pty` module
//! plays the terminal (window size, typed input, resizes) and a script of expectations runs
//! against what is shown.

use std::path::Path;
use std::process::Command;

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
pub struct Session {
    /// kubectl's exit code.
    pub code: i32,
    /// Everything the terminal showed.
    pub transcript: String,
}

/// Runs kubectl with `args` on a terminal, playing `steps`.
pub fn on_terminal(
    kubeconfig: &Path,
    home: &Path,
    args: &[&str],
    steps: serde_json::Value,
) -> Session {
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
pub const PROMPT: &str = r"# (?:\x1b\[6n)?$";

/// kubectl's hint after attaching to a terminal whose prompt was shown before it attached.
pub const HINT: &str = "If you don't see a command prompt, try pressing enter.";

/// `regex` matching `text` literally.
pub fn regex_text(text: &str) -> String {
    text.chars()
        .map(|ch| {
            if ch.is_alphanumeric() || ch == ' ' {
                ch.to_string()
            } else {
                format!("\\{ch}")
            }
        })
        .collect()
}
