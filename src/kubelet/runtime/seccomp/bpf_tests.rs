//! The compiled filter run by the kernel in a forked child.

use super::*;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

/// Forks, installs `program` in the child (after `no_new_privs`), runs `probe` there and
/// returns its exit code.
fn in_child(s: &LinuxSeccomp, probe: fn() -> i32) -> i32 {
    let program = compile(s).unwrap();
    // SAFETY: the child only makes raw syscalls (no allocation) and leaves with `_exit`.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let code = match install(s, &program) {
                Ok(()) => probe(),
                Err(_) => 200,
            };
            libc::_exit(code);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(libc::WIFEXITED(status), "child died: {status:#x}");
        libc::WEXITSTATUS(status)
    }
}

fn errno_of(rc: libc::c_long) -> i32 {
    if rc == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    }
}

#[test]
fn blocked_syscalls_fail_with_their_errno_and_arguments_are_compared() {
    let s = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdirat","mkdir"],"action":"SCMP_ACT_ERRNO"},
            {"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":77,
             "args":[{"index":0,"value":12345,"op":"SCMP_CMP_EQ"}]},
            {"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":78,
             "args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_GE"}]}]}"#,
    );
    // SAFETY: raw syscalls with valid arguments.
    let mkdir = || unsafe {
        errno_of(libc::mkdirat(libc::AT_FDCWD, c"/nonexistent/x".as_ptr(), 0o755) as _)
    };
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::mkdirat(libc::AT_FDCWD, c"/nonexistent/x".as_ptr(), 0o755) as _)
        }),
        libc::EPERM
    );
    assert_eq!(
        mkdir(),
        libc::ENOENT,
        "the test process itself is not filtered"
    );
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::syscall(libc::SYS_getpgid, 12345))
        }),
        77
    );
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::syscall(libc::SYS_getpgid, 1u64 << 33))
        }),
        78
    );
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::syscall(libc::SYS_getpgid, 0))
        }),
        0
    );
}

#[test]
fn runtime_default_allows_a_process_and_blocks_namespaces() {
    let caps = oci_spec::runtime::Capabilities::new();
    let s = crate::kubelet::runtime::seccomp::resolve(
        &crate::kubelet::runtime::seccomp::Seccomp::RuntimeDefault,
        &caps,
    )
    .unwrap()
    .unwrap();
    assert!(compile(&s).unwrap().len() < MAX_INSNS);
    assert_eq!(
        in_child(&s, || unsafe { errno_of(libc::getpid() as _).min(1) }),
        0
    );
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::unshare(libc::CLONE_NEWUTS) as _)
        }),
        libc::EPERM
    );
    assert_eq!(
        in_child(&s, || unsafe {
            errno_of(libc::syscall(libc::SYS_clone3, 0usize, 0usize))
        }),
        libc::ENOSYS
    );
}
