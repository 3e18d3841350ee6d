//! Client libraries other than kubectl work against Bramble unmodified: the official
//! Kubernetes Python client (installed by `.ci/run` into `target/pyclient`) drives a real
//! server through its generated typed APIs and its watch helper, using only the admin
//! kubeconfig the server writes.

use crate::support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Cluster;

/// Upper bound for the whole script; its own waits are far shorter, so hitting this means
/// something hung rather than ran slowly.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(180);

/// The interpreter of the virtual environment `.ci/run` creates with the client installed.
fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyclient/bin/python")
}

#[test]
fn official_python_client_works_unmodified() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/run` (it creates the virtual environment and installs \
         the official Kubernetes Python client into target/pyclient)",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_client.py");
    let c = Cluster::start();

    let mut child = Command::new(&python)
        .arg(&script)
        .arg(c.kubeconfig())
        .env("HOME", c.dir.path())
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the Python client script");

    // Drain both pipes on their own threads so a chatty script cannot block on a full pipe
    // while this thread polls for its exit.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if start.elapsed() > SCRIPT_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        None => panic!(
            "the Python client script did not finish within {SCRIPT_DEADLINE:?}\n\
             --- stdout ---\n{out}\n--- stderr ---\n{err}"
        ),
        Some(status) => assert!(
            status.success(),
            "the Python client script failed ({status})\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
        ),
    }
    assert!(
        out.contains("ALL CHECKS PASSED"),
        "the script exited cleanly without finishing its checks:\n{out}\n{err}"
    );
}
