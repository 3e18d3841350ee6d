//! The eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`) that enforces OCI device cgroup rules.
//!
//! The rules are first reduced the way runc reduces them, by emulating the cgroup v1
//! `devices.allow`/`devices.deny` files: an `a` rule resets the list to allow-all or
//! deny-all (whatever its numbers and access), and every later `b`/`c` rule adds an
//! exception to that default or takes access back out of one. Taking access out of an
//! exception that a wildcard exception also grants is refused, because cgroup v1 would
//! silently keep it. With no `a` rule the default is deny.
//!
//! The program then tests the remaining exceptions in the order (major, minor, type), any
//! number before a specific one, `b` before `c`: the first exception that matches the
//! access decides; when none does the default does. It reads the kernel's
//! `struct bpf_cgroup_dev_ctx` (`access_type` = access << 16 | type, `major`, `minor`, each
//! a `u32`) from r1 and returns 1 to allow, 0 to deny. The instructions are those runc
//! generates for the same rules.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// `BPF_DEVCG_ACC_MKNOD`, `_READ`, `_WRITE`: the access bits of `bpf_cgroup_dev_ctx`.
const ACC_MKNOD: u8 = 1;
const ACC_READ: u8 = 2;
const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`: the device types of `bpf_cgroup_dev_ctx`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Opcodes (instruction class | operation | source), from the kernel's uapi `bpf.h`.
/// `BPF_LDX | BPF_MEM | BPF_W`: 32-bit load from `src + off`, zero-extended.
pub const LDX_MEM_W: u8 = 0x61;
/// `BPF_ALU | BPF_AND | BPF_K`: 32-bit `dst &= imm`.
pub const AND32_IMM: u8 = 0x54;
/// `BPF_ALU | BPF_RSH | BPF_K`: 32-bit `dst >>= imm`.
pub const RSH32_IMM: u8 = 0x74;
/// `BPF_ALU | BPF_MOV | BPF_X`: 32-bit `dst = src`.
pub const MOV32_REG: u8 = 0xbc;
/// `BPF_ALU | BPF_MOV | BPF_K`: 32-bit `dst = imm`.
pub const MOV32_IMM: u8 = 0xb4;
/// `BPF_JMP | BPF_JNE | BPF_K`: `if dst != imm (sign-extended) goto pc + 1 + off`.
pub const JNE_IMM: u8 = 0x55;
/// `BPF_JMP | BPF_JNE | BPF_X`: `if dst != src goto pc + 1 + off`.
pub const JNE_REG: u8 = 0x5d;
/// `BPF_JMP | BPF_EXIT`: return r0.
pub const EXIT: u8 = 0x95;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn` (8 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// `dst_reg:4, src_reg:4` bit-fields: dst in the low nibble on little-endian targets.
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        #[cfg(target_endian = "little")]
        let regs = (dst & 0xf) | (src << 4);
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | (src & 0xf);
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }

    /// The opcode.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The destination register.
    pub fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0xf
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    pub fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0xf
        }
    }

    /// The offset (memory access or jump).
    pub fn off(&self) -> i16 {
        self.off
    }

    /// The immediate.
    pub fn imm(&self) -> i32 {
        self.imm
    }
}

/// A device cgroup rule the program cannot express.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// A type other than `a`, `b` or `c` (runc refuses `u` and `p` too).
    #[error("rule {index}: device type {typ:?} cannot be in a device cgroup rule (only a, b, c)")]
    Type {
        /// Position in the rule list.
        index: usize,
        /// The type given.
        typ: String,
    },
    /// A major or minor number outside `0..=u32::MAX`.
    #[error("rule {index}: device number {number} is out of range")]
    Number {
        /// Position in the rule list.
        index: usize,
        /// The number given.
        number: i64,
    },
    /// An access string that is empty or has a letter other than `r`, `w`, `m`.
    #[error("rule {index}: device access {access:?} must be a non-empty combination of r, w, m")]
    Access {
        /// Position in the rule list.
        index: usize,
        /// The access given.
        access: String,
    },
    /// Taking access out of a device that a wildcard rule allows (or denies) as a whole.
    #[error(
        "rule {index}: cannot take {rule} out of the wider rule {wider} \
         (cgroup v1 would ignore it, so it is refused)"
    )]
    Hole {
        /// Position in the rule list.
        index: usize,
        /// The rule, as `type major:minor access`.
        rule: String,
        /// The wildcard rule it would punch a hole in.
        wider: String,
    },
}

/// Block before char, as runc orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Block,
    Char,
}

/// Which devices an exception covers, ordered (major, minor, type) with any number first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Devices {
    major: Option<u32>,
    minor: Option<u32>,
    kind: Kind,
}

impl Devices {
    fn describe(&self, access: u8) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        let typ = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{typ} {}:{} {acc}", num(self.major), num(self.minor))
    }
}

/// The state of an emulated cgroup v1 device list: a default and its exceptions.
#[derive(Debug, Default)]
struct DeviceList {
    default_allow: bool,
    exceptions: BTreeMap<Devices, u8>,
}

impl DeviceList {
    fn apply(&mut self, index: usize, rule: &LinuxDeviceCgroup) -> Result<(), RuleError> {
        let access = parse_access(index, rule.access().as_deref())?;
        let kind = match rule.typ().unwrap_or_default() {
            LinuxDeviceType::A => {
                *self = DeviceList {
                    default_allow: rule.allow(),
                    exceptions: BTreeMap::new(),
                };
                return Ok(());
            }
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C => Kind::Char,
            other => {
                return Err(RuleError::Type {
                    index,
                    typ: other.as_str().to_string(),
                })
            }
        };
        let devices = Devices {
            major: parse_number(index, rule.major())?,
            minor: parse_number(index, rule.minor())?,
            kind,
        };
        if rule.allow() == self.default_allow {
            self.remove(index, devices, access)
        } else {
            *self.exceptions.entry(devices).or_default() |= access;
            Ok(())
        }
    }

    fn remove(&mut self, index: usize, devices: Devices, access: u8) -> Result<(), RuleError> {
        let wider = [
            Devices {
                major: None,
                ..devices
            },
            Devices {
                minor: None,
                ..devices
            },
            Devices {
                major: None,
                minor: None,
                ..devices
            },
        ];
        for w in wider.iter().filter(|w| **w != devices) {
            let granted = self.exceptions.get(w).copied().unwrap_or(0);
            if granted & access != 0 {
                return Err(RuleError::Hole {
                    index,
                    rule: devices.describe(access),
                    wider: w.describe(granted),
                });
            }
        }
        if let Some(granted) = self.exceptions.get_mut(&devices) {
            *granted &= !access;
            if *granted == 0 {
                self.exceptions.remove(&devices);
            }
        }
        Ok(())
    }
}

fn parse_access(index: usize, access: Option<&str>) -> Result<u8, RuleError> {
    let text = access.unwrap_or("");
    let bad = || RuleError::Access {
        index,
        access: text.to_string(),
    };
    let mut bits = 0;
    for c in text.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(bad()),
        };
    }
    if bits == 0 {
        return Err(bad());
    }
    Ok(bits)
}

fn parse_number(index: usize, n: Option<i64>) -> Result<Option<u32>, RuleError> {
    n.map(|number| u32::try_from(number).map_err(|_| RuleError::Number { index, number }))
        .transpose()
}

/// Registers: r1 holds the context on entry; the prologue loads type, access, major, minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// The program enforcing `rules`, applied in order as cgroup v1 applies writes to
/// `devices.allow` and `devices.deny`.
pub fn build(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, RuleError> {
    let mut list = DeviceList::default();
    for (index, rule) in rules.iter().enumerate() {
        list.apply(index, rule)?;
    }
    let verdict = |allow: bool| i32::from(allow);
    let mut prog = vec![
        Insn::new(LDX_MEM_W, R_TYPE, R1, 0, 0),
        Insn::new(AND32_IMM, R_TYPE, 0, 0, 0xffff),
        Insn::new(LDX_MEM_W, R_ACCESS, R1, 0, 0),
        Insn::new(RSH32_IMM, R_ACCESS, 0, 0, 16),
        Insn::new(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        Insn::new(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ];
    for (devices, access) in &list.exceptions {
        // Each test jumps past this block when the device does not match; the jump
        // offsets are filled in once the block's length is known.
        let mut block = Vec::with_capacity(8);
        let typ = match devices.kind {
            Kind::Block => DEV_BLOCK,
            Kind::Char => DEV_CHAR,
        };
        block.push(Insn::new(JNE_IMM, R_TYPE, 0, 0, typ));
        if *access != ACC_ALL {
            // Matches when the requested access is a subset of the granted one.
            block.push(Insn::new(MOV32_REG, R1, R_ACCESS, 0, 0));
            block.push(Insn::new(AND32_IMM, R1, 0, 0, i32::from(*access)));
            block.push(Insn::new(JNE_REG, R1, R_ACCESS, 0, 0));
        }
        // Device numbers go in as their 32-bit pattern, as runc emits them (real ones
        // are at most 20 bits wide).
        if let Some(major) = devices.major {
            block.push(Insn::new(JNE_IMM, R_MAJOR, 0, 0, major as i32));
        }
        if let Some(minor) = devices.minor {
            block.push(Insn::new(JNE_IMM, R_MINOR, 0, 0, minor as i32));
        }
        block.push(Insn::new(MOV32_IMM, R0, 0, 0, verdict(!list.default_allow)));
        block.push(Insn::new(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (pc, insn) in block.iter_mut().enumerate() {
            if insn.code == JNE_IMM || insn.code == JNE_REG {
                // At most 7 instructions forward: always fits in an i16.
                insn.off = (len - pc - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(Insn::new(MOV32_IMM, R0, 0, 0, verdict(list.default_allow)));
    prog.push(Insn::new(EXIT, 0, 0, 0, 0));
    Ok(prog)
}

#[cfg(test)]
#[path = "program_tests.rs"]
mod tests;
