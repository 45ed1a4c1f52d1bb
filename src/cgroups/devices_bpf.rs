//! cgroup v2 device controller: a `BPF_PROG_TYPE_CGROUP_DEVICE` program built from the
//! container's device rules, loaded with bpf(2) and attached to its cgroup.
//!
//! cgroup v2 has no `devices.allow`/`devices.deny`: the kernel asks every program attached to
//! the cgroup (and its ancestors) and allows an access only if all of them return 1.
//!
//! Semantics follow runc (and so cgroup v1): the rules are first replayed through an emulator
//! of the v1 device list (an `a` rule resets the list to allow-all or deny-all; later rules add
//! or remove exceptions, merging access per device), so the same config behaves the same on v1
//! and v2 and a rule that would only punch a hole in a wildcard exception (which v1 silently
//! ignores) is an error rather than a false sense of security. The remaining exceptions all have
//! the opposite action of the default, so the program is: "if the access matches one of them,
//! return !default; else return default".

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeviceBpfError {
    #[error("invalid linux.resources.devices rule: {0}")]
    Rule(String),
    #[error(
        "device rule {rule} is not supported: it would punch a hole in the wildcard rule {wildcard} (cgroup v1 ignores that silently)"
    )]
    Hole { rule: String, wildcard: String },
    #[error("unable to open cgroup {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bpf(BPF_PROG_LOAD) of the device filter failed: {source}{log}")]
    Load { source: std::io::Error, log: String },
    #[error("bpf({op}) on cgroup {path} failed: {source}")]
    Syscall {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Device type as the cgroup device rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DevType {
    All,
    Char,
    Block,
}

impl DevType {
    pub fn parse(s: Option<&str>) -> Result<DevType, DeviceBpfError> {
        match s {
            None | Some("a") => Ok(DevType::All),
            Some("c") => Ok(DevType::Char),
            Some("b") => Ok(DevType::Block),
            Some(other) => Err(DeviceBpfError::Rule(format!(
                "type {other:?} is not one of a, b, c"
            ))),
        }
    }

    fn letter(self) -> char {
        match self {
            DevType::All => 'a',
            DevType::Char => 'c',
            DevType::Block => 'b',
        }
    }
}

/// Access bits, with the values the kernel passes in `bpf_cgroup_dev_ctx.access_type >> 16`.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// `bpf_cgroup_dev_ctx.access_type & 0xffff`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

pub fn parse_access(s: &str) -> Result<u8, DeviceBpfError> {
    let mut acc = 0;
    for c in s.chars() {
        acc |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(DeviceBpfError::Rule(format!(
                    "access {s:?} is not a combination of r, w, m"
                )));
            }
        };
    }
    if acc == 0 {
        return Err(DeviceBpfError::Rule("access is empty".into()));
    }
    Ok(acc)
}

fn access_text(acc: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
        if acc & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// One device rule; `None` for major/minor is the wildcard `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: DevType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Rule {
    /// From the OCI fields: a missing or negative (-1) number is the wildcard.
    pub fn new(
        allow: bool,
        typ: Option<&str>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> Result<Rule, DeviceBpfError> {
        let num = |what: &str, v: Option<i64>| -> Result<Option<u32>, DeviceBpfError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    DeviceBpfError::Rule(format!("{what} {n} is out of range (-1 or 0..2^32)"))
                }),
            }
        };
        Ok(Rule {
            allow,
            typ: DevType::parse(typ)?,
            major: num("major", major)?,
            minor: num("minor", minor)?,
            access: parse_access(access.unwrap_or("rwm"))?,
        })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {} {}:{} {}",
            if self.allow { "allow" } else { "deny" },
            self.typ.letter(),
            n(self.major),
            n(self.minor),
            access_text(self.access)
        )
    }
}

type Key = (DevType, Option<u32>, Option<u32>);

/// The v1 device list: a default action and exceptions to it (device → access bits).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Emulator {
    pub default_allow: bool,
    pub exceptions: BTreeMap<Key, u8>,
}

impl Emulator {
    /// Replays `rules` on an empty (deny-all) list, as runc does for cgroup v2.
    pub fn from_rules(rules: &[Rule]) -> Result<Emulator, DeviceBpfError> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    fn apply(&mut self, r: &Rule) -> Result<(), DeviceBpfError> {
        if r.typ == DevType::All {
            // "a" is a reset whatever its numbers and access say (v1's behaviour).
            *self = Emulator {
                default_allow: r.allow,
                exceptions: BTreeMap::new(),
            };
            return Ok(());
        }
        let key = (r.typ, r.major, r.minor);
        if r.allow != self.default_allow {
            *self.exceptions.entry(key).or_insert(0) |= r.access;
            return Ok(());
        }
        // Removing access from an exception: only exact matches can be removed, so refuse
        // a rule whose access overlaps a broader wildcard exception it cannot narrow.
        for wild in [
            (r.typ, None, r.minor),
            (r.typ, r.major, None),
            (r.typ, None, None),
        ] {
            if wild == key {
                continue;
            }
            if let Some(acc) = self.exceptions.get(&wild)
                && acc & r.access != 0
            {
                let w = Rule {
                    allow: !r.allow,
                    typ: wild.0,
                    major: wild.1,
                    minor: wild.2,
                    access: *acc,
                };
                return Err(DeviceBpfError::Hole {
                    rule: r.to_string(),
                    wildcard: w.to_string(),
                });
            }
        }
        if let Some(acc) = self.exceptions.get_mut(&key) {
            *acc &= !r.access;
            if *acc == 0 {
                self.exceptions.remove(&key);
            }
        }
        Ok(())
    }
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes used (class | op | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

impl Insn {
    fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// The program for `rules`:
///
/// ```text
/// r2 = type, r3 = access, r4 = major, r5 = minor        (from struct bpf_cgroup_dev_ctx)
/// per exception: if type, access ⊆ rule, major, minor all match: return !default
/// return default
/// ```
pub fn program(rules: &[Rule]) -> Result<Vec<Insn>, DeviceBpfError> {
    let emu = Emulator::from_rules(rules)?;
    Ok(program_of(&emu))
}

pub fn program_of(emu: &Emulator) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let verdict = i32::from(!emu.default_allow);
    for (&(typ, major, minor), &access) in &emu.exceptions {
        let typ = match typ {
            DevType::Char => DEV_CHAR,
            DevType::Block => DEV_BLOCK,
            // The emulator never keeps an "a" exception (it is a reset).
            DevType::All => continue,
        };
        // Each check jumps to the end of the block on mismatch; offsets are patched below.
        let mut block = vec![insn(JNE_K, 2, 0, 0, typ)];
        if access != ACC_ALL {
            // The requested access must be a subset of the rule's: (r3 & access) == r3.
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(access)));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = major {
            // A u32 above i32::MAX sign-extends and then matches no (12-bit) major: correct.
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(ALU32_MOV_K, 0, 0, 0, verdict));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JNE_K | JNE_X) {
                // Blocks are at most 9 instructions: the offset always fits.
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

// bpf(2) commands, program/attach types and flags (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// The `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with one of the attr structs above; returns the syscall's non-negative result.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of `union bpf_attr` for `cmd`,
    // and its size is passed: the kernel reads (and for QUERY writes) only that many bytes,
    // treating the rest of the union as zero. Pointers inside it are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: bpf(2) returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }
}

/// Loads `insns` as a cgroup device program; on failure, retries with the verifier log so the
/// error says why.
pub fn load(insns: &[Insn]) -> Result<OwnedFd, DeviceBpfError> {
    let bytes: Vec<u8> = insns.iter().flat_map(Insn::encode).collect();
    let license = c"Apache";
    let try_load = |log: Option<&mut Vec<u8>>| {
        let mut name = [0u8; 16];
        name[..8].copy_from_slice(b"hako_dev");
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: bytes.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name,
            ..Default::default()
        };
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
    };
    match try_load(None) {
        Ok(fd) => return Ok(fd),
        // Kernels before 5.11 charge BPF programs to RLIMIT_MEMLOCK: raise it for this load
        // only (the container's init, cloned later, must not inherit an unlimited memlock).
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            if let Some(fd) = with_unlimited_memlock(|| try_load(None).ok()) {
                return Ok(fd);
            }
        }
        Err(_) => {}
    }
    let mut log = vec![0u8; 64 * 1024];
    match try_load(Some(&mut log)) {
        Ok(fd) => Ok(fd),
        Err(source) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let log = if text.is_empty() {
                String::new()
            } else {
                format!(" (verifier: {text})")
            };
            Err(DeviceBpfError::Load { source, log })
        }
    }
}

fn with_unlimited_memlock<T>(f: impl FnOnce() -> T) -> T {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `old`.
    let have_old = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) } == 0;
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads one valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };
    let r = f();
    if have_old {
        // SAFETY: as above; restores the caller's limit.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &old) };
    }
    r
}

/// Ids of the device programs attached directly to the cgroup open as `dir`.
fn attached(dir: &OwnedFd, path: &Path) -> Result<Vec<u32>, DeviceBpfError> {
    // A cgroup holds at most 64 programs per attach type; grow on ENOSPC all the same.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: dir.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate((attr.prog_cnt as usize).min(ids.len()));
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && ids.len() < 4096 => {
                ids = vec![0u32; (attr.prog_cnt as usize).max(ids.len() * 2)];
            }
            Err(source) => {
                return Err(DeviceBpfError::Syscall {
                    op: "BPF_PROG_QUERY",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

fn prog_fd(id: u32) -> std::io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

fn attach(
    dir: &OwnedFd,
    prog: &OwnedFd,
    replace: Option<&OwnedFd>,
) -> std::io::Result<libc::c_long> {
    let mut attr = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI | replace.map_or(0, |_| BPF_F_REPLACE),
        replace_bpf_fd: replace.map_or(0, |r| r.as_raw_fd() as u32),
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
}

fn detach(dir: &OwnedFd, prog: &OwnedFd) -> std::io::Result<libc::c_long> {
    let mut attr = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr)
}

/// Builds the program for `rules` and makes it the only device program of the cgroup `dir`.
///
/// An existing program (a previous create or update) is replaced: with `BPF_F_REPLACE` in one
/// step where the kernel has it (5.6+), else by attaching the new one before detaching the old.
/// In between both run and the kernel allows only what both allow, so there is never a moment
/// with more access than either the old or the new rules give.
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), DeviceBpfError> {
    let insns = program(rules)?;
    let prog = load(&insns)?;
    let cg = crate::sys::open(dir, libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC, 0)
        .map_err(|source| DeviceBpfError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
    let sys_err = |op, source| DeviceBpfError::Syscall {
        op,
        path: dir.to_path_buf(),
        source,
    };
    let old: Vec<OwnedFd> = attached(&cg, dir)?
        .into_iter()
        .filter_map(|id| match prog_fd(id) {
            Ok(fd) => Some(Ok(fd)),
            // A program gone in the meantime needs no detaching.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => Some(Err(sys_err("BPF_PROG_GET_FD_BY_ID", e))),
        })
        .collect::<Result<_, _>>()?;
    if let [only] = old.as_slice() {
        match attach(&cg, &prog, Some(only)) {
            Ok(_) => return Ok(()),
            // EINVAL: no BPF_F_REPLACE on this kernel; fall back to attach + detach.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(sys_err("BPF_PROG_ATTACH", e)),
        }
    }
    attach(&cg, &prog, None).map_err(|e| sys_err("BPF_PROG_ATTACH", e))?;
    for o in &old {
        match detach(&cg, o) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(sys_err("BPF_PROG_DETACH", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(allow: bool, t: &str, maj: i64, min: i64, acc: &str) -> Rule {
        Rule::new(allow, Some(t), Some(maj), Some(min), Some(acc)).expect("rule")
    }

    const PROLOGUE: [Insn; 6] = [
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];

    fn with_prologue(body: &[Insn]) -> Vec<Insn> {
        let mut v = PROLOGUE.to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn deny_all_is_prologue_and_return_zero() {
        let p = program(&[r(false, "a", -1, -1, "rwm")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[insn(ALU32_MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)])
        );
    }

    #[test]
    fn allow_all_returns_one() {
        let p = program(&[r(false, "a", -1, -1, "rwm"), r(true, "a", -1, -1, "r")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[insn(ALU32_MOV_K, 0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0)])
        );
    }

    #[test]
    fn exact_rwm_rule_checks_type_major_minor() {
        let p = program(&[r(false, "a", -1, -1, "rwm"), r(true, "c", 1, 3, "rwm")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[
                insn(JNE_K, 2, 0, 4, DEV_CHAR),
                insn(JNE_K, 4, 0, 3, 1),
                insn(JNE_K, 5, 0, 2, 3),
                insn(ALU32_MOV_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
                insn(ALU32_MOV_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
            ])
        );
    }

    #[test]
    fn partial_access_and_wildcard_minor() {
        let p = program(&[r(false, "a", -1, -1, "rwm"), r(true, "c", 136, -1, "rw")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[
                insn(JNE_K, 2, 0, 6, DEV_CHAR),
                insn(ALU32_MOV_X, 1, 3, 0, 0),
                insn(ALU32_AND_K, 1, 0, 0, i32::from(ACC_READ | ACC_WRITE)),
                insn(JNE_X, 1, 3, 3, 0),
                insn(JNE_K, 4, 0, 2, 136),
                insn(ALU32_MOV_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
                insn(ALU32_MOV_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
            ])
        );
    }

    #[test]
    fn block_wildcard_mknod_only() {
        let p = program(&[r(false, "a", -1, -1, "rwm"), r(true, "b", -1, -1, "m")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[
                insn(JNE_K, 2, 0, 5, DEV_BLOCK),
                insn(ALU32_MOV_X, 1, 3, 0, 0),
                insn(ALU32_AND_K, 1, 0, 0, i32::from(ACC_MKNOD)),
                insn(JNE_X, 1, 3, 2, 0),
                insn(ALU32_MOV_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
                insn(ALU32_MOV_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
            ])
        );
    }

    #[test]
    fn default_allow_with_deny_exception_returns_zero_on_match() {
        let p = program(&[r(true, "a", -1, -1, "rwm"), r(false, "c", 1, 9, "rwm")]).unwrap();
        assert_eq!(
            p,
            with_prologue(&[
                insn(JNE_K, 2, 0, 4, DEV_CHAR),
                insn(JNE_K, 4, 0, 3, 1),
                insn(JNE_K, 5, 0, 2, 9),
                insn(ALU32_MOV_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
                insn(ALU32_MOV_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ])
        );
    }

    #[test]
    fn empty_rule_list_denies_everything() {
        let e = Emulator::from_rules(&[]).unwrap();
        assert!(!e.default_allow && e.exceptions.is_empty());
    }

    #[test]
    fn a_rule_resets_and_later_rules_merge_access() {
        let e = Emulator::from_rules(&[
            r(true, "c", 1, 3, "r"),
            r(false, "a", -1, -1, "rwm"),
            r(true, "c", 1, 5, "r"),
            r(true, "c", 1, 5, "w"),
        ])
        .unwrap();
        assert!(!e.default_allow);
        assert_eq!(e.exceptions.len(), 1);
        assert_eq!(
            e.exceptions.get(&(DevType::Char, Some(1), Some(5))),
            Some(&(ACC_READ | ACC_WRITE))
        );
    }

    #[test]
    fn later_deny_removes_access_from_an_exception() {
        let e = Emulator::from_rules(&[
            r(false, "a", -1, -1, "rwm"),
            r(true, "c", 1, 3, "rwm"),
            r(false, "c", 1, 3, "w"),
            r(true, "c", 1, 7, "r"),
            r(false, "c", 1, 7, "r"),
        ])
        .unwrap();
        assert_eq!(
            e.exceptions.into_iter().collect::<Vec<_>>(),
            vec![((DevType::Char, Some(1), Some(3)), ACC_READ | ACC_MKNOD)]
        );
    }

    #[test]
    fn punching_a_hole_in_a_wildcard_is_refused() {
        let err = Emulator::from_rules(&[
            r(false, "a", -1, -1, "rwm"),
            r(true, "c", 1, -1, "rw"),
            r(false, "c", 1, 3, "w"),
        ])
        .unwrap_err();
        assert!(matches!(err, DeviceBpfError::Hole { .. }), "{err}");
        // No overlap in access: fine.
        Emulator::from_rules(&[
            r(false, "a", -1, -1, "rwm"),
            r(true, "c", 1, -1, "r"),
            r(false, "c", 1, 3, "w"),
        ])
        .unwrap();
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(Rule::new(true, Some("x"), None, None, None).is_err());
        assert!(Rule::new(true, Some("c"), None, None, Some("rx")).is_err());
        assert!(Rule::new(true, Some("c"), None, None, Some("")).is_err());
        assert!(Rule::new(true, Some("c"), Some(-2), None, None).is_err());
        assert!(Rule::new(true, Some("c"), Some(1 << 32), None, None).is_err());
        let ok = Rule::new(true, None, None, Some(-1), None).unwrap();
        assert_eq!(ok.to_string(), "allow a *:* rwm");
    }

    #[test]
    fn encoding_matches_struct_bpf_insn() {
        assert_eq!(
            insn(JNE_K, 4, 0, 3, 136).encode(),
            [0x55, 0x04, 3, 0, 136, 0, 0, 0]
        );
        assert_eq!(
            insn(JNE_X, 1, 3, -1, 0).encode(),
            [0x5d, 0x31, 0xff, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            insn(LDX_MEM_W, 5, 1, 8, 0).encode(),
            [0x61, 0x15, 8, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn hako_default_rules_make_a_program_the_verifier_shape_accepts() {
        // Deny-all + runc's allow-list: every block ends in exit, every jump lands in range.
        let mut rules = vec![r(false, "a", -1, -1, "rwm")];
        for (t, maj, min, acc) in crate::cgroups::default_device_rules() {
            rules.push(r(true, &t.to_string(), maj, min, acc));
        }
        let p = program(&rules).unwrap();
        assert_eq!(p.last().map(|i| i.code), Some(EXIT));
        for (pc, i) in p.iter().enumerate() {
            if matches!(i.code, JNE_K | JNE_X) {
                let target = pc as i64 + 1 + i64::from(i.off);
                assert!(target > pc as i64 && (target as usize) < p.len());
            }
        }
        // 11 allow rules, the mknod wildcards merged into two blocks: 11 blocks.
        assert_eq!(p.iter().filter(|i| i.code == EXIT).count(), 12);
    }
}
