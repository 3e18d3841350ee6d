//! An OCI `linux.seccomp` profile compiled to a classic-BPF seccomp filter, as libseccomp
//! builds it for runc, in pure Rust (so static musl builds need no C library).
//!
//! The program checks the architecture (the native one and the 32-bit companions the
//! profile lists: x86 on x86_64, arm on aarch64; any other architecture is killed, as
//! libseccomp's default "bad arch" action), then dispatches on the syscall number:
//! unconditional rules return their action at once, rules with argument conditions test
//! 64-bit arguments as two 32-bit words (libseccomp's comparisons: `EQ`, `NE`, `LT`, `LE`,
//! `GT`, `GE`, `MASKED_EQ`). As runc does, a rule that compares one argument more than once
//! is split into one rule per comparison (OR), otherwise its comparisons all must hold
//! (AND). Syscall names unknown on an architecture are skipped there, as libseccomp does.
//! x32 syscalls (rare) fall to the default action.

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall,
};

/// Why a profile cannot be compiled or installed.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The profile uses something the built-in runtime does not implement.
    #[error("{0} is not supported by the built-in runtime; use --runtime runc for this profile")]
    Unsupported(String),
    /// The program is longer than the kernel accepts.
    #[error("the compiled filter has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    /// The kernel refused the filter.
    #[error("installing the seccomp filter: {0}")]
    Install(std::io::Error),
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JGE_K: u16 = 0x35;
const BPF_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_RET_K: u16 = 0x06;

const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 1;
const MAX_INSNS: usize = 4096;

/// One architecture the filter knows: its `AUDIT_ARCH_*` value, libseccomp name and table.
struct Arch {
    audit: u32,
    name: &'static str,
    table: &'static str,
}

#[cfg(target_arch = "x86_64")]
const ARCHES: &[Arch] = &[
    Arch {
        audit: 0xc000_003e,
        name: "SCMP_ARCH_X86_64",
        table: include_str!("x86_64.tbl"),
    },
    Arch {
        audit: 0x4000_0003,
        name: "SCMP_ARCH_X86",
        table: include_str!("x86.tbl"),
    },
];
#[cfg(target_arch = "aarch64")]
const ARCHES: &[Arch] = &[
    Arch {
        audit: 0xc000_00b7,
        name: "SCMP_ARCH_AARCH64",
        table: include_str!("aarch64.tbl"),
    },
    Arch {
        audit: 0x4000_0028,
        name: "SCMP_ARCH_ARM",
        table: include_str!("arm.tbl"),
    },
];
#[cfg(target_arch = "arm")]
const ARCHES: &[Arch] = &[Arch {
    audit: 0x4000_0028,
    name: "SCMP_ARCH_ARM",
    table: include_str!("arm.tbl"),
}];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
const ARCHES: &[Arch] = &[];

fn syscall_number(table: &str, name: &str) -> Option<u32> {
    table.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, nr) = l.split_once(' ')?;
        (n == name).then(|| nr.trim().parse().ok()).flatten()
    })
}

/// Instructions with symbolic jump targets, resolved by [`assemble`].
#[derive(Debug, Clone, Copy)]
enum Insn {
    Stmt(u16, u32),
    /// A conditional jump to labels (true, false).
    Jump(u16, u32, usize, usize),
    /// An unconditional jump to a label.
    Goto(usize),
    Label(usize),
}

struct Program {
    insns: Vec<Insn>,
    labels: usize,
}

impl Program {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, BpfError> {
    let data = |v: u32| v & 0xffff;
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data(errno.unwrap_or(EPERM)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data(errno.unwrap_or(0)),
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        other => {
            return Err(BpfError::Unsupported(format!(
                "seccomp action {}",
                serde_json::to_string(&other).unwrap_or_default()
            )))
        }
    })
}

/// Emits the test of one comparison: jumps to `pass` or `fail`.
fn comparison(p: &mut Program, arg: &LinuxSeccompArg, pass: usize, fail: usize) {
    let lo_off = 16 + 8 * arg.index() as u32;
    let hi_off = lo_off + 4;
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let (hi, lo) = split(arg.value());
    let lo_check = p.label();
    let ld = |p: &mut Program, off| p.push(Insn::Stmt(BPF_LD_W_ABS, off));
    match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq | LinuxSeccompOperator::ScmpCmpNe => {
            let (t, f) = if arg.op() == LinuxSeccompOperator::ScmpCmpEq {
                (pass, fail)
            } else {
                (fail, pass)
            };
            ld(p, hi_off);
            p.push(Insn::Jump(BPF_JEQ_K, hi, lo_check, f));
            p.push(Insn::Label(lo_check));
            ld(p, lo_off);
            p.push(Insn::Jump(BPF_JEQ_K, lo, t, f));
        }
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let (want_hi, want_lo) = split(arg.value_two().unwrap_or(0));
            ld(p, hi_off);
            p.push(Insn::Stmt(BPF_AND_K, hi));
            p.push(Insn::Jump(BPF_JEQ_K, want_hi, lo_check, fail));
            p.push(Insn::Label(lo_check));
            ld(p, lo_off);
            p.push(Insn::Stmt(BPF_AND_K, lo));
            p.push(Insn::Jump(BPF_JEQ_K, want_lo, pass, fail));
        }
        op => {
            // Greater-than family: compare the high words, then the low ones if equal.
            let (above, below) = match op {
                LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe => (pass, fail),
                _ => (fail, pass),
            };
            let eq_hi = p.label();
            ld(p, hi_off);
            p.push(Insn::Jump(BPF_JGT_K, hi, above, eq_hi));
            p.push(Insn::Label(eq_hi));
            p.push(Insn::Jump(BPF_JEQ_K, hi, lo_check, below));
            p.push(Insn::Label(lo_check));
            ld(p, lo_off);
            match op {
                LinuxSeccompOperator::ScmpCmpGt => p.push(Insn::Jump(BPF_JGT_K, lo, pass, fail)),
                LinuxSeccompOperator::ScmpCmpGe => p.push(Insn::Jump(BPF_JGE_K, lo, pass, fail)),
                LinuxSeccompOperator::ScmpCmpLt => p.push(Insn::Jump(BPF_JGE_K, lo, fail, pass)),
                _ => p.push(Insn::Jump(BPF_JGT_K, lo, fail, pass)), // LE
            }
        }
    }
}

/// A rule's comparisons as alternatives of conjunctions (runc's split of repeated indexes).
fn alternatives(args: &[LinuxSeccompArg]) -> Vec<Vec<LinuxSeccompArg>> {
    let mut seen = std::collections::HashSet::new();
    let repeated = args.iter().any(|a| !seen.insert(a.index()));
    if repeated {
        args.iter().map(|a| vec![*a]).collect()
    } else {
        vec![args.to_vec()]
    }
}

/// The rules of one architecture, by syscall number, in profile order (conditional first).
fn rules_for<'a>(arch: &Arch, syscalls: &'a [LinuxSyscall]) -> Vec<(u32, Vec<&'a LinuxSyscall>)> {
    let mut by_nr: Vec<(u32, Vec<&LinuxSyscall>)> = Vec::new();
    for rule in syscalls {
        for name in rule.names() {
            let Some(nr) = syscall_number(arch.table, name) else {
                continue;
            };
            match by_nr.iter_mut().find(|(n, _)| *n == nr) {
                Some((_, list)) => list.push(rule),
                None => by_nr.push((nr, vec![rule])),
            }
        }
    }
    for (_, list) in &mut by_nr {
        list.sort_by_key(|r| r.args().as_ref().map_or(true, |a| a.is_empty()));
    }
    by_nr
}

fn arch_section(
    p: &mut Program,
    arch: &Arch,
    s: &LinuxSeccomp,
    default: u32,
) -> Result<(), BpfError> {
    let syscalls = s.syscalls().clone().unwrap_or_default();
    let rules = rules_for(arch, &syscalls);
    let mut blocks = Vec::new();
    p.push(Insn::Stmt(BPF_LD_W_ABS, 0));
    for (nr, list) in &rules {
        let (here, next) = (p.label(), p.label());
        p.push(Insn::Jump(BPF_JEQ_K, *nr, here, next));
        p.push(Insn::Label(here));
        let unconditional =
            list.len() == 1 && list[0].args().as_ref().map_or(true, |a| a.is_empty());
        if unconditional {
            p.push(Insn::Stmt(
                BPF_RET_K,
                action(list[0].action(), list[0].errno_ret())?,
            ));
        } else {
            let block = p.label();
            p.push(Insn::Goto(block));
            blocks.push((block, list.clone()));
        }
        p.push(Insn::Label(next));
    }
    p.push(Insn::Stmt(BPF_RET_K, default));
    for (block, list) in blocks {
        p.push(Insn::Label(block));
        for rule in list {
            let ret = action(rule.action(), rule.errno_ret())?;
            let args = rule.args().clone().unwrap_or_default();
            for alt in alternatives(&args) {
                let next_alt = p.label();
                for arg in &alt {
                    let pass = p.label();
                    comparison(p, arg, pass, next_alt);
                    p.push(Insn::Label(pass));
                }
                p.push(Insn::Stmt(BPF_RET_K, ret));
                p.push(Insn::Label(next_alt));
            }
        }
        p.push(Insn::Stmt(BPF_RET_K, default));
    }
    Ok(())
}

/// Resolves labels into offsets.
fn assemble(p: &Program) -> Result<Vec<libc::sock_filter>, BpfError> {
    let mut at = vec![0usize; p.labels];
    let mut pc = 0;
    for i in &p.insns {
        match i {
            Insn::Label(l) => at[*l] = pc,
            _ => pc += 1,
        }
    }
    let mut out = Vec::with_capacity(pc);
    let rel = |from: usize, to: usize| -> Result<usize, BpfError> {
        to.checked_sub(from + 1)
            .ok_or_else(|| BpfError::Unsupported("a backward jump".into()))
    };
    for i in &p.insns {
        let pc = out.len();
        let f = match *i {
            Insn::Label(_) => continue,
            Insn::Stmt(code, k) => libc::sock_filter {
                code,
                jt: 0,
                jf: 0,
                k,
            },
            Insn::Goto(l) => libc::sock_filter {
                code: BPF_JMP_JA,
                jt: 0,
                jf: 0,
                k: rel(pc, at[l])? as u32,
            },
            Insn::Jump(code, k, t, f) => {
                let (jt, jf) = (rel(pc, at[t])?, rel(pc, at[f])?);
                let near = |o: usize| u8::try_from(o).map_err(|_| BpfError::TooLong(o));
                libc::sock_filter {
                    code,
                    jt: near(jt)?,
                    jf: near(jf)?,
                    k,
                }
            }
        };
        out.push(f);
    }
    if out.len() > MAX_INSNS {
        return Err(BpfError::TooLong(out.len()));
    }
    Ok(out)
}

/// Compiles `s` for this machine's architectures.
pub fn compile(s: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, BpfError> {
    if s.listener_path().is_some() {
        return Err(BpfError::Unsupported("a seccomp listener".into()));
    }
    let default = action(s.default_action(), s.default_errno_ret())?;
    let wanted: Vec<String> = s
        .architectures()
        .iter()
        .flatten()
        .map(|a| {
            serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    let arches: Vec<&Arch> = ARCHES
        .iter()
        .enumerate()
        .filter(|(i, a)| *i == 0 || wanted.iter().any(|w| w == a.name))
        .map(|(_, a)| a)
        .collect();
    if arches.is_empty() {
        return Err(BpfError::Unsupported("seccomp on this architecture".into()));
    }
    let mut p = Program {
        insns: Vec::new(),
        labels: 0,
    };
    p.push(Insn::Stmt(BPF_LD_W_ABS, 4));
    let sections: Vec<usize> = arches.iter().map(|_| p.label()).collect();
    for (arch, section) in arches.iter().zip(&sections) {
        let (here, next) = (p.label(), p.label());
        p.push(Insn::Jump(BPF_JEQ_K, arch.audit, here, next));
        p.push(Insn::Label(here));
        p.push(Insn::Goto(*section));
        p.push(Insn::Label(next));
    }
    p.push(Insn::Stmt(BPF_RET_K, RET_KILL_PROCESS));
    for (arch, section) in arches.iter().zip(&sections) {
        p.push(Insn::Label(*section));
        arch_section(&mut p, arch, s, default)?;
    }
    assemble(&p)
}

/// Whether `s` compiles (checked before a container is created).
pub fn check(s: &LinuxSeccomp) -> Result<(), BpfError> {
    if ARCHES.is_empty() {
        return Ok(()); // runc-only builds: runc compiles the profile itself
    }
    compile(s).map(drop)
}

/// The `flags` of `seccomp(SECCOMP_SET_MODE_FILTER)` the profile asks for.
fn filter_flags(s: &LinuxSeccomp) -> Result<libc::c_ulong, BpfError> {
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        let name = serde_json::to_value(f)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        flags |= match name.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => 1,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            other => return Err(BpfError::Unsupported(format!("seccomp flag {other}"))),
        };
    }
    Ok(flags)
}

/// Installs `program` on the calling thread. Needs `no_new_privs` or `CAP_SYS_ADMIN`.
pub fn install(s: &LinuxSeccomp, program: &[libc::sock_filter]) -> Result<(), BpfError> {
    let flags = filter_flags(s)?;
    let prog = libc::sock_fprog {
        len: program.len() as u16, // at most MAX_INSNS, checked by `assemble`
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `program`, alive for the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1 as libc::c_ulong, // SECCOMP_SET_MODE_FILTER
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(BpfError::Install(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "bpf_tests.rs"]
mod tests;
