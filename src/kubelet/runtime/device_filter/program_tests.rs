//! The device program against runc's: instruction listings for the rule sets runc's own
//! tests list (opencontainers/cgroups `devices/devicefilter_test.go`), and verdicts of the
//! program run in a small interpreter.

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::*;

fn rule(
    allow: bool,
    typ: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let typ = match typ {
        'a' => LinuxDeviceType::A,
        'b' => LinuxDeviceType::B,
        'c' => LinuxDeviceType::C,
        'u' => LinuxDeviceType::U,
        _ => LinuxDeviceType::P,
    };
    let mut r = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access)
        .build()
        .unwrap();
    r.set_major(major);
    r.set_minor(minor);
    r
}

fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
    rule(true, typ, major, minor, access)
}

fn deny(typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
    rule(false, typ, major, minor, access)
}

/// The listing in the notation of cilium/ebpf's `asm.Instructions.String()`, which runc's
/// tests compare: a `block-N:` label at each rule block and at the final verdict, jumps
/// shown with `off: -1` and their target label.
fn listing(prog: &[Insn]) -> String {
    // Blocks start after the 6-instruction prologue and after each exit.
    let mut labels = BTreeMap::new();
    labels.insert(6usize, 0usize);
    for (pc, insn) in prog.iter().enumerate() {
        if insn.code() == EXIT && pc + 1 < prog.len() {
            let n = labels.len();
            labels.insert(pc + 1, n);
        }
    }
    let mut out = Vec::new();
    for (pc, i) in prog.iter().enumerate() {
        if let Some(n) = labels.get(&pc) {
            out.push(format!("block-{n}:"));
        }
        let (d, s, imm) = (i.dst(), i.src(), i.imm());
        let target = || {
            let to = (pc as i64 + 1 + i64::from(i.off())) as usize;
            format!("block-{}", labels[&to])
        };
        out.push(match i.code() {
            LDX_MEM_W => format!(
                "{pc}: LdXMemW dst: r{d} src: r{s} off: {} imm: {imm}",
                i.off()
            ),
            AND32_IMM => format!("{pc}: AndImm32 dst: r{d} imm: {imm}"),
            RSH32_IMM => format!("{pc}: RShImm32 dst: r{d} imm: {imm}"),
            MOV32_REG => format!("{pc}: MovReg32 dst: r{d} src: r{s}"),
            MOV32_IMM => format!("{pc}: MovImm32 dst: r{d} imm: {imm}"),
            JNE_IMM => format!("{pc}: JNEImm dst: r{d} off: -1 imm: {imm} <{}>", target()),
            JNE_REG => format!("{pc}: JNEReg dst: r{d} off: -1 src: r{s} <{}>", target()),
            EXIT => format!("{pc}: Exit"),
            c => panic!("unexpected opcode {c:#x}"),
        });
    }
    out.join("\n")
}

/// runc's expected listing with comments and indentation dropped, as its test compares.
fn normalized(expected: &str) -> String {
    expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

const PROLOGUE: &str = "
    0: LdXMemW dst: r2 src: r1 off: 0 imm: 0
    1: AndImm32 dst: r2 imm: 65535
    2: LdXMemW dst: r3 src: r1 off: 0 imm: 0
    3: RShImm32 dst: r3 imm: 16
    4: LdXMemW dst: r4 src: r1 off: 4 imm: 0
    5: LdXMemW dst: r5 src: r1 off: 8 imm: 0";

fn assert_listing(rules: &[LinuxDeviceCgroup], expected_after_prologue: &str) {
    let prog = build(rules).unwrap();
    let expected = normalized(&format!("{PROLOGUE}\n{expected_after_prologue}"));
    assert_eq!(listing(&prog), expected);
}

#[test]
fn no_rules_deny_every_device() {
    assert_listing(
        &[],
        "block-0:
         6: MovImm32 dst: r0 imm: 0
         7: Exit",
    );
}

#[test]
fn allow_all_is_a_single_accept() {
    assert_listing(
        &[allow('a', None, None, "rwm")],
        "block-0:
         6: MovImm32 dst: r0 imm: 1
         7: Exit",
    );
}

#[test]
fn allow_all_but_one_block_device() {
    assert_listing(
        &[
            allow('a', None, None, "rwm"),
            deny('b', Some(8), Some(0), "rwm"),
        ],
        "block-0:
         6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
         7: JNEImm dst: r4 off: -1 imm: 8 <block-1>
         8: JNEImm dst: r5 off: -1 imm: 0 <block-1>
         9: MovImm32 dst: r0 imm: 0
        10: Exit
        block-1:
        11: MovImm32 dst: r0 imm: 1
        12: Exit",
    );
}

#[test]
fn an_allow_all_rule_forgets_the_rules_before_it() {
    // runc's "weird" case: b 8:1 is allowed again, b 8:2 stays denied.
    assert_listing(
        &[
            deny('b', Some(8), Some(1), "rwm"),
            allow('a', None, None, "rwm"),
            deny('b', Some(8), Some(2), "rwm"),
        ],
        "block-0:
         6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
         7: JNEImm dst: r4 off: -1 imm: 8 <block-1>
         8: JNEImm dst: r5 off: -1 imm: 2 <block-1>
         9: MovImm32 dst: r0 imm: 0
        10: Exit
        block-1:
        11: MovImm32 dst: r0 imm: 1
        12: Exit",
    );
}

/// runc's built-in allow list (specconv.AllowedDevices), in its order.
fn runc_allowed_devices() -> Vec<LinuxDeviceCgroup> {
    vec![
        allow('c', None, None, "m"),
        allow('b', None, None, "m"),
        allow('c', Some(1), Some(3), "rwm"),
        allow('c', Some(1), Some(8), "rwm"),
        allow('c', Some(1), Some(7), "rwm"),
        allow('c', Some(5), Some(0), "rwm"),
        allow('c', Some(1), Some(5), "rwm"),
        allow('c', Some(1), Some(9), "rwm"),
        allow('c', Some(136), None, "rwm"),
        allow('c', Some(5), Some(2), "rwm"),
        allow('c', Some(10), Some(200), "rwm"),
    ]
}

#[test]
fn runc_builtin_allow_list_matches_runc_listing() {
    let mut expected = String::from(
        "block-0:
         6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
         7: MovReg32 dst: r1 src: r3
         8: AndImm32 dst: r1 imm: 1
         9: JNEReg dst: r1 off: -1 src: r3 <block-1>
        10: MovImm32 dst: r0 imm: 1
        11: Exit
        block-1:
        12: JNEImm dst: r2 off: -1 imm: 2 <block-2>
        13: MovReg32 dst: r1 src: r3
        14: AndImm32 dst: r1 imm: 1
        15: JNEReg dst: r1 off: -1 src: r3 <block-2>
        16: MovImm32 dst: r0 imm: 1
        17: Exit\n",
    );
    // The specific devices, sorted by (major, minor), five instructions each.
    let specific = [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 2),
        (10, 200),
    ];
    for (n, (major, minor)) in specific.iter().enumerate() {
        let (block, pc) = (n + 2, 18 + 5 * n);
        expected.push_str(&format!(
            "block-{block}:
             {}: JNEImm dst: r2 off: -1 imm: 2 <block-{next}>
             {}: JNEImm dst: r4 off: -1 imm: {major} <block-{next}>
             {}: JNEImm dst: r5 off: -1 imm: {minor} <block-{next}>
             {}: MovImm32 dst: r0 imm: 1
             {}: Exit\n",
            pc,
            pc + 1,
            pc + 2,
            pc + 3,
            pc + 4,
            next = block + 1,
        ));
    }
    expected.push_str(
        "block-10:
        58: JNEImm dst: r2 off: -1 imm: 2 <block-11>
        59: JNEImm dst: r4 off: -1 imm: 136 <block-11>
        60: MovImm32 dst: r0 imm: 1
        61: Exit
        block-11:
        62: MovImm32 dst: r0 imm: 0
        63: Exit",
    );
    assert_listing(&runc_allowed_devices(), &expected);
}

/// Runs the program on one `bpf_cgroup_dev_ctx`, as the kernel would, for the
/// instructions `build` emits.
fn run(prog: &[Insn], typ: i32, access: u8, major: u32, minor: u32) -> bool {
    let ctx: [u32; 3] = [(u32::from(access) << 16) | typ as u32, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..prog.len() {
        let i = prog[pc];
        let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
        let imm = i.imm();
        pc += 1;
        match i.code() {
            LDX_MEM_W => {
                assert_eq!(s, 1, "loads read only the context");
                let off = usize::try_from(i.off()).unwrap();
                assert_eq!(off % 4, 0);
                r[d] = u64::from(ctx[off / 4]);
            }
            AND32_IMM => r[d] = u64::from(r[d] as u32 & imm as u32),
            RSH32_IMM => r[d] = u64::from((r[d] as u32) >> imm),
            MOV32_REG => r[d] = u64::from(r[s] as u32),
            MOV32_IMM => r[d] = u64::from(imm as u32),
            JNE_IMM | JNE_REG => {
                let rhs = if i.code() == JNE_IMM {
                    i64::from(imm) as u64
                } else {
                    r[s]
                };
                if r[d] != rhs {
                    assert!(i.off() >= 0, "jumps only go forward");
                    pc += usize::try_from(i.off()).unwrap();
                }
            }
            EXIT => return r[0] != 0,
            c => panic!("unexpected opcode {c:#x}"),
        }
        assert!(pc < prog.len(), "fell off the end of the program");
    }
    panic!("no exit reached")
}

const R: u8 = ACC_READ;
const W: u8 = ACC_WRITE;
const M: u8 = ACC_MKNOD;
const C: i32 = DEV_CHAR;
const B: i32 = DEV_BLOCK;

#[test]
fn a_pod_container_reaches_only_its_devices() {
    // What the kubelet writes for a container with one allocated device, then
    // libcontainer's defaults.
    let mut rules = vec![
        deny('a', None, None, "rwm"),
        allow('c', Some(189), Some(3), "rwm"),
    ];
    rules.extend(crate::kubelet::runtime::device_filter::runtime_default_rules());
    let prog = build(&rules).unwrap();
    assert!(run(&prog, C, R | W, 1, 3), "/dev/null");
    assert!(run(&prog, C, R, 1, 9), "/dev/urandom");
    assert!(run(&prog, C, R | W, 136, 42), "a pty");
    assert!(run(&prog, C, R | W, 189, 3), "the allocated device");
    assert!(
        !run(&prog, C, R, 189, 4),
        "another device of the same driver"
    );
    assert!(!run(&prog, B, R, 8, 0), "/dev/sda");
    assert!(!run(&prog, C, R | W, 1, 1), "/dev/mem");
    assert!(!run(&prog, C, R, 10, 237), "/dev/loop-control");
    assert!(
        run(&prog, C, M, 1, 1),
        "mknod alone is allowed for any char device"
    );
    assert!(run(&prog, B, M, 8, 0), "and for any block device");
    assert!(!run(&prog, B, M | R, 8, 0), "but not with read");
}

#[test]
fn partial_access_is_a_subset_test() {
    let prog = build(&[allow('c', Some(4), None, "rw")]).unwrap();
    assert!(run(&prog, C, R, 4, 1));
    assert!(run(&prog, C, R | W, 4, 7));
    assert!(!run(&prog, C, M, 4, 1));
    assert!(!run(&prog, C, R, 5, 1));
    assert!(!run(&prog, B, R, 4, 1));
}

#[test]
fn privileged_allows_everything_even_with_defaults() {
    let mut rules = vec![allow('a', None, None, "rwm")];
    rules.extend(crate::kubelet::runtime::device_filter::runtime_default_rules());
    let prog = build(&rules).unwrap();
    assert_eq!(prog.len(), 8, "a single accept");
    assert!(run(&prog, B, R | W | M, 8, 0));
    assert!(run(&prog, C, R | W, 1, 1));
}

#[test]
fn rules_for_the_same_devices_merge_and_can_be_taken_back() {
    let prog = build(&[
        allow('c', Some(1), Some(3), "r"),
        allow('c', Some(1), Some(3), "w"),
        allow('c', Some(1), Some(5), "rwm"),
        deny('c', Some(1), Some(5), "w"),
    ])
    .unwrap();
    assert!(run(&prog, C, R | W, 1, 3));
    assert!(!run(&prog, C, M, 1, 3));
    assert!(run(&prog, C, R | M, 1, 5));
    assert!(!run(&prog, C, W, 1, 5));
}

#[test]
fn deny_inside_a_wider_allow_is_refused() {
    let err = build(&[
        allow('c', Some(1), None, "rw"),
        deny('c', Some(1), Some(3), "r"),
    ])
    .unwrap_err();
    assert!(matches!(err, RuleError::Hole { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("c 1:* rw"), "{err}");
    // Taking an access the wider rule does not grant is fine.
    build(&[
        allow('c', Some(1), None, "rw"),
        deny('c', Some(1), Some(3), "m"),
    ])
    .unwrap();
}

#[test]
fn rules_runc_refuses_are_refused() {
    assert!(matches!(
        build(&[allow('u', Some(1), Some(3), "rwm")]),
        Err(RuleError::Type { index: 0, .. })
    ));
    assert!(matches!(
        build(&[allow('p', None, None, "rwm")]),
        Err(RuleError::Type { .. })
    ));
    assert!(matches!(
        build(&[
            deny('a', None, None, "rwm"),
            allow('c', Some(1), Some(3), "")
        ]),
        Err(RuleError::Access { index: 1, .. })
    ));
    assert!(matches!(
        build(&[allow('c', Some(1), Some(3), "rwx")]),
        Err(RuleError::Access { .. })
    ));
    assert!(matches!(
        build(&[allow('c', Some(1 << 32), Some(3), "rwm")]),
        Err(RuleError::Number { number, .. }) if number == 1 << 32
    ));
    assert!(matches!(
        build(&[allow('c', Some(1), Some(-2), "rwm")]),
        Err(RuleError::Number { number: -2, .. })
    ));
}

#[test]
fn instructions_are_eight_bytes_with_dst_in_the_low_nibble() {
    assert_eq!(std::mem::size_of::<Insn>(), 8);
    let i = Insn::new(JNE_REG, 1, 3, 5, -7);
    let bytes: [u8; 8] = unsafe { std::mem::transmute(i) };
    assert_eq!(bytes[0], 0x5d);
    #[cfg(target_endian = "little")]
    assert_eq!(bytes[1], 0x31);
    assert_eq!(i16::from_ne_bytes([bytes[2], bytes[3]]), 5);
    assert_eq!(
        i32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        -7
    );
}
