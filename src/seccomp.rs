//! Seccomp support for `linux.seccomp` of the OCI runtime spec.
//!
//! The profile is compiled to classic BPF with libseccomp in the runtime process ([`compile`]),
//! before the container init is cloned, so the container's memory limit never pays for
//! libseccomp. The container init installs the ready-made program with the raw seccomp(2)
//! syscall right before execve ([`Program::load`]), which neither allocates nor calls into
//! libseccomp. When the profile uses `SCMP_ACT_NOTIFY`, the listener fd returned by
//! [`Program::load`] is handed to the seccomp agent at `listenerPath` with
//! [`send_listener_fd`].
//!
//! Semantics follow the runtime-spec (config-linux.md, "Seccomp") and runc:
//! * `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` default to `EPERM` when no errno is given; an errno on
//!   any other action is an error.
//! * Syscall names unknown to libseccomp are skipped (see [`Program::skipped`]).
//! * Rules whose action equals the default action are skipped (libseccomp rejects them).
//! * When several conditions of one rule test the same argument index, each condition becomes a
//!   rule of its own (runc's `matchCall`), i.e. they are OR-ed; otherwise they are AND-ed.
//! * `SCMP_CMP_MASKED_EQ` matches `(arg & value) == valueTwo`.
//! * The no_new_privs bit is left alone: the runtime sets it itself when `process.noNewPrivileges`
//!   asks for it (without it, [`Program::load`] needs CAP_SYS_ADMIN).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

/// A syscall has at most six arguments.
const MAX_ARGS: usize = 6;
/// The kernel refuses classic BPF programs longer than this (BPF_MAXINSNS).
const BPF_MAXINSNS: usize = 4096;
/// Largest errno the kernel passes through (MAX_ERRNO).
const MAX_ERRNO: u32 = 4095;
/// Errno used by `SCMP_ACT_ERRNO` / `SCMP_ACT_TRACE` when none is given.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;
/// libseccomp's binary-tree optimisation is used above this many rules (runc uses the same
/// threshold; libseccomp <= 2.5.4 misbehaves with it on filters without rules).
const OPTIMIZE_THRESHOLD: usize = 32;
/// Syscalls that cannot be `SCMP_ACT_NOTIFY`: the container init uses them to hand the listener
/// fd out after loading the filter, and would block forever on its own notification.
const NOTIFY_FORBIDDEN: &[&str] = &["write", "sendmsg"];

const FLAG_TSYNC: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_TSYNC;
const FLAG_LOG: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_LOG;
const FLAG_SPEC_ALLOW: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
const FLAG_NEW_LISTENER: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
const FLAG_TSYNC_ESRCH: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

/// Errors of compiling, loading or handing out a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An errno was given for an action that does not take one.
    #[error("{field} = {value}: action {action} does not take an errno")]
    ErrnoNotSupported {
        field: String,
        action: LinuxSeccompAction,
        value: u32,
    },
    /// An errno (or trace value) outside the range the kernel can return.
    #[error("{field} = {value} is out of range (at most {max})")]
    ErrnoOutOfRange { field: String, value: u32, max: u32 },
    /// `SCMP_ACT_NOTIFY` as the default action.
    #[error(
        "linux.seccomp.defaultAction = SCMP_ACT_NOTIFY is not supported (every syscall of the container init, including the one handing the listener fd out, would wait for an agent that has no fd yet)"
    )]
    NotifyDefaultAction,
    /// `SCMP_ACT_NOTIFY` on a syscall the container init needs to hand the listener fd out.
    #[error(
        "{field}: SCMP_ACT_NOTIFY cannot be used for syscall {name:?} (the container init needs it to hand the listener fd to the runtime)"
    )]
    NotifyForbiddenSyscall { field: String, name: String },
    /// `SCMP_ACT_NOTIFY` is used but there is nowhere to send the listener fd.
    #[error("{field} uses SCMP_ACT_NOTIFY but linux.seccomp.listenerPath is not set")]
    NotifyWithoutListenerPath { field: String },
    /// `listenerMetadata` without `listenerPath` (forbidden by the runtime-spec).
    #[error("linux.seccomp.listenerMetadata is set but linux.seccomp.listenerPath is not")]
    MetadataWithoutListenerPath,
    /// A syscall entry with an empty `names` array or an empty name.
    #[error("{field}: a syscall name must not be empty (names must have at least one entry)")]
    EmptySyscallName { field: String },
    /// An argument index outside 0..=5.
    #[error("{field} = {index}: syscalls have arguments 0 to 5 only")]
    ArgIndexOutOfRange { field: String, index: usize },
    /// An architecture the installed libseccomp cannot add.
    #[error("linux.seccomp.architectures: {arch} is not supported by the installed libseccomp")]
    UnsupportedArch {
        arch: Arch,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// A filter flag the running kernel does not support.
    #[error("linux.seccomp.flags: {flag} is not supported by the running kernel")]
    UnsupportedFlag { flag: String },
    /// The kernel refused the combination of seccomp(2) flags, or probing for them failed.
    #[error("seccomp(2) filter flags {flags:#x} cannot be used: {source}")]
    FlagProbe {
        flags: libc::c_ulong,
        #[source]
        source: io::Error,
    },
    /// libseccomp failed while building the filter.
    #[error("libseccomp: {what}: {source}")]
    Libseccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the compiled BPF from libseccomp failed.
    #[error("exporting the seccomp BPF program: {0}")]
    Export(#[source] io::Error),
    /// libseccomp produced something that is not a whole number of BPF instructions.
    #[error("libseccomp exported {len} bytes, not a whole number of BPF instructions")]
    MalformedBpf { len: usize },
    /// The program is empty or longer than the kernel accepts.
    #[error("the seccomp BPF program has {len} instructions; the kernel accepts 1 to {max}")]
    ProgramLength { len: usize, max: usize },
    /// seccomp(SECCOMP_SET_MODE_FILTER) failed.
    #[error("loading the seccomp filter (seccomp(2) flags {flags:#x}) failed: {source}")]
    Load {
        flags: libc::c_ulong,
        #[source]
        source: io::Error,
    },
    /// The kernel returned a listener fd that does not fit a file descriptor.
    #[error("seccomp(2) returned an invalid listener fd {value}")]
    BadListenerFd { value: libc::c_long },
    /// With TSYNC (and no listener) a positive return is a thread the filter missed.
    #[error("seccomp(2) could not synchronise thread {tid} to the filter (TSYNC)")]
    TsyncThread { tid: libc::c_long },
    /// Sending the listener fd to the seccomp agent failed.
    #[error("sending the seccomp listener fd to {path}: {op}: {source}")]
    Listener {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A filter compiled in the runtime process (before clone, so the container's memory limit
/// never has to pay for libseccomp), loaded in the container init right before execve.
pub struct Program {
    /// The classic BPF program, as exported by libseccomp.
    instructions: Vec<libc::sock_filter>,
    /// seccomp(2) flags for SECCOMP_SET_MODE_FILTER (NEW_LISTENER included when notifying).
    flags: libc::c_ulong,
    /// Whether the profile has an `SCMP_ACT_NOTIFY` rule.
    notify: bool,
    /// Syscall names of the profile that libseccomp does not know (skipped, as runc does).
    skipped: Vec<String>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.instructions.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Compiles `linux.seccomp` to a BPF program. Call it in the runtime process, before cloning
/// the container init.
pub fn compile(spec: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let syscalls = spec.syscalls().as_deref().unwrap_or_default();

    if spec.listener_metadata().is_some() && spec.listener_path().is_none() {
        return Err(SeccompError::MetadataWithoutListenerPath);
    }
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyDefaultAction);
    }
    let default_action = scmp_action(
        spec.default_action(),
        spec.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;

    let mut ctx =
        ScmpFilterContext::new(default_action).map_err(|source| SeccompError::Libseccomp {
            what: format!(
                "creating a filter with defaultAction {}",
                spec.default_action()
            ),
            source,
        })?;
    ctx.set_ctl_nnp(false)
        .map_err(|source| SeccompError::Libseccomp {
            what: "turning the no_new_privs attribute off".to_owned(),
            source,
        })?;
    for &arch in spec.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(scmp_arch(arch))
            .map_err(|source| SeccompError::UnsupportedArch { arch, source })?;
    }
    let mut notify = false;
    let mut rules = 0usize;
    let mut skipped: Vec<String> = Vec::new();
    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if call.names().is_empty() || call.names().iter().any(String::is_empty) {
            return Err(SeccompError::EmptySyscallName {
                field: format!("{field}.names"),
            });
        }
        let action = scmp_action(
            call.action(),
            call.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        if call.action() == LinuxSeccompAction::ScmpActNotify {
            if spec.listener_path().is_none() {
                return Err(SeccompError::NotifyWithoutListenerPath { field });
            }
            if let Some(name) = call
                .names()
                .iter()
                .find(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
            {
                return Err(SeccompError::NotifyForbiddenSyscall {
                    field: format!("{field}.names"),
                    name: name.clone(),
                });
            }
            notify = true;
        }
        let args = call.args().as_deref().unwrap_or_default();
        let conditions = args
            .iter()
            .enumerate()
            .map(|(j, arg)| condition(arg, &format!("{field}.args[{j}].index")))
            .collect::<Result<Vec<_>, _>>()?;
        if action == default_action {
            // libseccomp rejects rules that repeat the default action; they are no-ops anyway.
            continue;
        }
        // runc's matchCall: conditions on distinct arguments are AND-ed in one rule; if two
        // test the same argument, each becomes a rule of its own (OR-ed).
        let mut per_index = [0usize; MAX_ARGS];
        for arg in args {
            if let Some(n) = per_index.get_mut(arg.index()) {
                *n += 1;
            }
        }
        let split = per_index.iter().any(|&n| n > 1);

        for name in call.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            };
            let add = |ctx: &mut ScmpFilterContext, conds: &[ScmpArgCompare]| {
                ctx.add_rule_conditional(action, syscall, conds)
                    .map(|_| ())
                    .map_err(|source| SeccompError::Libseccomp {
                        what: format!(
                            "{field}: adding {} rule for syscall {name:?}",
                            call.action()
                        ),
                        source,
                    })
            };
            if split {
                for cond in &conditions {
                    add(&mut ctx, std::slice::from_ref(cond))?;
                    rules += 1;
                }
            } else {
                add(&mut ctx, &conditions)?;
                rules += 1;
            }
        }
    }
    // The binary tree makes lookups O(log n) at the price of a longer program. It is only an
    // optimisation: a libseccomp without it still builds a correct (linear) filter, so a
    // failure to set it is deliberately ignored, and a tree too long for the kernel falls back
    // to the shorter linear program.
    let optimized = rules > OPTIMIZE_THRESHOLD && ctx.set_ctl_optimize(2).is_ok();
    let instructions = match export_bpf(&ctx) {
        Err(SeccompError::ProgramLength { .. }) if optimized => {
            ctx.set_ctl_optimize(1)
                .map_err(|source| SeccompError::Libseccomp {
                    what: "falling back to a linear filter".to_owned(),
                    source,
                })?;
            export_bpf(&ctx)?
        }
        other => other?,
    };
    let flags = filter_flags(spec.flags().as_deref().unwrap_or_default(), notify)?;
    Ok(Program {
        instructions,
        flags,
        notify,
        skipped,
    })
}

impl Program {
    /// Installs the filter on the calling thread with the seccomp(2) syscall
    /// (SECCOMP_SET_MODE_FILTER), adding SECCOMP_FILTER_FLAG_NEW_LISTENER when the profile uses
    /// SCMP_ACT_NOTIFY; returns the listener fd then. Does not allocate and makes no libseccomp
    /// calls: it is meant for the forked container init just before execve. Needs
    /// no_new_privs set or CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let Ok(len) = u16::try_from(self.instructions.len()) else {
            return Err(SeccompError::ProgramLength {
                len: self.instructions.len(),
                max: BPF_MAXINSNS,
            });
        };
        let prog = libc::sock_fprog {
            len,
            filter: self.instructions.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points to `len` valid sock_filter structs owned by `self`, which
        // outlive the call; the kernel only reads (copies) them. The other arguments are
        // plain integers.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(SeccompError::Load {
                flags: self.flags,
                source: io::Error::last_os_error(),
            });
        }
        if self.flags & FLAG_NEW_LISTENER == 0 {
            if ret > 0 && self.flags & FLAG_TSYNC != 0 {
                return Err(SeccompError::TsyncThread { tid: ret });
            }
            return Ok(None);
        }
        let Ok(fd) = RawFd::try_from(ret) else {
            return Err(SeccompError::BadListenerFd { value: ret });
        };
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful seccomp(2) returns a new
        // file descriptor that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Whether the profile uses SCMP_ACT_NOTIFY, i.e. [`Program::load`] returns a listener fd
    /// that must go to `listenerPath` with [`send_listener_fd`].
    #[cfg(test)]
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Syscall names of the profile unknown to libseccomp, skipped (the caller may log them).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// A flat byte form for the compiled-program cache (seccomp_cache.rs): flags, notify,
    /// skipped names, then the instructions in native layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.instructions.len() * 8);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(u8::from(self.notify));
        out.extend_from_slice(&(self.skipped.len() as u32).to_le_bytes());
        for s in &self.skipped {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(self.instructions.len() as u32).to_le_bytes());
        for i in &self.instructions {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
        out
    }

    /// The inverse of [`Program::encode`]; `None` for anything malformed or truncated.
    pub fn decode(mut b: &[u8]) -> Option<Program> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, tail) = b.split_at_checked(n)?;
            *b = tail;
            Some(head)
        }
        fn u32_of(b: &mut &[u8]) -> Option<u32> {
            Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
        }
        let flags: libc::c_ulong = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
        let notify = match take(&mut b, 1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let n = u32_of(&mut b)? as usize;
        let mut skipped = Vec::new();
        for _ in 0..n {
            let len = u32_of(&mut b)? as usize;
            skipped.push(String::from_utf8(take(&mut b, len)?.to_vec()).ok()?);
        }
        let n = u32_of(&mut b)? as usize;
        if n == 0 || n > BPF_MAXINSNS || b.len() != n * 8 {
            return None;
        }
        let instructions = b
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Program {
            instructions,
            flags,
            notify,
            skipped,
        })
    }
}

/// Sends the notify fd to spec.listenerPath per the runtime-spec: connect a SOCK_STREAM unix
/// socket, one sendmsg whose payload is the container process state JSON (given as bytes by the
/// caller) and one SCM_RIGHTS fd. Should the kernel take only part of the payload, the rest
/// follows without fds (allowed by the spec); the connection is closed afterwards.
pub fn send_listener_fd(
    path: &Path,
    state_json: &[u8],
    fd: BorrowedFd<'_>,
) -> Result<(), SeccompError> {
    let fail = |op: &'static str, source: io::Error| SeccompError::Listener {
        path: path.to_path_buf(),
        op,
        source,
    };
    if state_json.is_empty() {
        return Err(fail(
            "sendmsg",
            io::Error::new(io::ErrorKind::InvalidInput, "empty container process state"),
        ));
    }
    let stream = UnixStream::connect(path).map_err(|e| fail("connect", e))?;

    // SAFETY: CMSG_SPACE is a pure size computation.
    const CMSG_SPACE: usize =
        unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as libc::c_uint) } as usize;
    // u64 elements keep the buffer aligned for cmsghdr.
    let mut cmsg_buf = [0u64; 8];
    const _: () = assert!(CMSG_SPACE <= size_of::<[u64; 8]>());

    let mut iov = libc::iovec {
        iov_base: state_json.as_ptr().cast_mut().cast(),
        iov_len: state_json.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero bytes are a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_SPACE as _;
    // SAFETY: msg_control/msg_controllen describe `cmsg_buf`, which is large enough for one
    // cmsghdr, so CMSG_FIRSTHDR returns a pointer into it (or NULL, handled below).
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() {
        return Err(fail(
            "sendmsg",
            io::Error::other("no room for the SCM_RIGHTS header"),
        ));
    }
    // SAFETY: `cmsg` is non-null and points to an aligned cmsghdr inside `cmsg_buf`, with
    // CMSG_SPACE(sizeof(int)) bytes room for it and its data; the fd is written unaligned-safe.
    unsafe {
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as libc::c_uint) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }

    let sent = loop {
        // SAFETY: `msg` and everything it points to (iov, payload, control buffer) are alive
        // for the call; the socket fd is owned by `stream`.
        let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            break n.unsigned_abs();
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(fail("sendmsg", err));
        }
    };
    let mut rest = state_json.get(sent..).unwrap_or_default();
    while !rest.is_empty() {
        // SAFETY: `rest` is a live byte slice; the socket fd is owned by `stream`.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(fail("send", err));
        }
        rest = rest.get(n.unsigned_abs()..).unwrap_or_default();
    }
    drop(stream);
    Ok(())
}

/// Maps an OCI action (+ errnoRet) to libseccomp's, with runc's EPERM default.
fn scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    let out_of_range = |value, max| SeccompError::ErrnoOutOfRange {
        field: field.to_owned(),
        value,
        max,
    };
    let without_errno = |act: ScmpAction| match errno_ret {
        Some(value) => Err(SeccompError::ErrnoNotSupported {
            field: field.to_owned(),
            action,
            value,
        }),
        None => Ok(act),
    };
    match action {
        A::ScmpActErrno => {
            let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
            match i32::try_from(value) {
                Ok(errno) if value <= MAX_ERRNO => Ok(ScmpAction::Errno(errno)),
                _ => Err(out_of_range(value, MAX_ERRNO)),
            }
        }
        A::ScmpActTrace => {
            let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
            u16::try_from(value)
                .map(ScmpAction::Trace)
                .map_err(|_| out_of_range(value, u16::MAX.into()))
        }
        A::ScmpActKill | A::ScmpActKillThread => without_errno(ScmpAction::KillThread),
        A::ScmpActKillProcess => without_errno(ScmpAction::KillProcess),
        A::ScmpActTrap => without_errno(ScmpAction::Trap),
        A::ScmpActNotify => without_errno(ScmpAction::Notify),
        A::ScmpActLog => without_errno(ScmpAction::Log),
        A::ScmpActAllow => without_errno(ScmpAction::Allow),
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// One argument condition; `field` names the arg's `index` for error messages.
fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, SeccompError> {
    let index = arg.index();
    let arg_no = u32::try_from(index)
        .ok()
        .filter(|_| index < MAX_ARGS)
        .ok_or_else(|| SeccompError::ArgIndexOutOfRange {
            field: field.to_owned(),
            index,
        })?;
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // value is the mask, valueTwo the datum: (arg & value) == valueTwo.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg_no, op, datum))
}

/// Exports the filter as BPF (through a memfd: libseccomp 2.5 has no export-to-memory) and
/// parses it into sock_filter instructions.
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    // SAFETY: the name is a NUL-terminated literal and the flags are valid for memfd_create.
    let raw = unsafe { libc::memfd_create(c"hako-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(SeccompError::Export(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a freshly created fd that nothing else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            what: "exporting the filter as BPF".to_owned(),
            source,
        })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(SeccompError::Export)?;

    const INSN: usize = size_of::<libc::sock_filter>();
    let chunks = bytes.chunks_exact(INSN);
    if !chunks.remainder().is_empty() {
        return Err(SeccompError::MalformedBpf { len: bytes.len() });
    }
    // struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } in host byte order.
    let instructions: Vec<libc::sock_filter> = chunks
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if instructions.is_empty() || instructions.len() > BPF_MAXINSNS {
        return Err(SeccompError::ProgramLength {
            len: instructions.len(),
            max: BPF_MAXINSNS,
        });
    }
    Ok(instructions)
}

/// seccomp(2) flags for the profile, each checked against the running kernel.
/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only means something with a listener, so it is
/// dropped when the profile does not notify; TSYNC together with a listener needs TSYNC_ESRCH.
fn filter_flags(
    requested: &[LinuxSeccompFilterFlag],
    notify: bool,
) -> Result<libc::c_ulong, SeccompError> {
    let mut flags: libc::c_ulong = 0;
    for flag in requested {
        let (bit, probe) = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => (FLAG_TSYNC, FLAG_TSYNC),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => (FLAG_LOG, FLAG_LOG),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                (FLAG_SPEC_ALLOW, FLAG_SPEC_ALLOW)
            }
            // The kernel only accepts it together with NEW_LISTENER.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => (
                FLAG_WAIT_KILLABLE_RECV,
                FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER,
            ),
        };
        match probe_flags(probe) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(SeccompError::UnsupportedFlag {
                    flag: flag.to_string(),
                });
            }
            Err(source) => {
                return Err(SeccompError::FlagProbe {
                    flags: probe,
                    source,
                });
            }
        }
        flags |= bit;
    }
    if notify {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else {
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    if flags != 0 {
        probe_flags(flags).map_err(|source| SeccompError::FlagProbe { flags, source })?;
    }
    Ok(flags)
}

/// Asks the kernel whether it accepts `flags` for SECCOMP_SET_MODE_FILTER, without installing
/// anything: with a NULL program the kernel validates the flags first (EINVAL if unknown) and
/// then fails with EFAULT when copying the program.
pub fn probe_flags(flags: libc::c_ulong) -> io::Result<()> {
    // SAFETY: a NULL program pointer is never dereferenced by user space; the kernel rejects it
    // with EFAULT before any filter is created or installed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    let err = io::Error::last_os_error();
    match (ret, err.raw_os_error()) {
        (r, Some(libc::EFAULT)) if r < 0 => Ok(()),
        (r, _) if r < 0 => Err(err),
        _ => Err(io::Error::other(
            "seccomp(2) accepted a NULL filter program",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hako's default profile; the path is relative to this source file.
    const DEFAULT_PROFILE: &str = include_str!("../seccomp-profiles/default.json");

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("test profile must deserialize")
    }

    fn errno() -> i32 {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// Runs `child` in a forked process and returns its exit status code. The child must only
    /// make async-signal-safe calls (no allocation): the test harness is multi-threaded.
    fn in_child(child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `child` (raw syscalls, no allocation) and then _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let code = child();
            // SAFETY: _exit ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid, "waitpid: {}", io::Error::last_os_error());
        assert!(
            libc::WIFEXITED(status),
            "child did not exit normally (wait status {status:#x})"
        );
        libc::WEXITSTATUS(status)
    }

    /// In a child: sets no_new_privs (so loading works without CAP_SYS_ADMIN too) and loads.
    fn load_in_child(prog: &Program) -> Result<Option<OwnedFd>, i32> {
        // SAFETY: plain prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(100);
        }
        prog.load().map_err(|_| 101)
    }

    #[test]
    fn compiles_small_profile() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [
                {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["acct"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                {"names": ["syslog"], "action": "SCMP_ACT_LOG"},
                {"names": ["vhangup"], "action": "SCMP_ACT_TRAP"},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL"},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
            ]
        })))
        .expect("compile");
        assert!(prog.instructions.len() > 10);
        assert_eq!(prog.flags, 0);
        assert!(!prog.uses_notify());
        assert!(prog.skipped().is_empty());
    }

    #[test]
    fn every_operator_compiles() {
        let ops = ["NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"];
        let syscalls: Vec<_> = ops
            .iter()
            .map(|op| {
                serde_json::json!({
                    "names": ["personality"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": format!("SCMP_CMP_{op}")}]
                })
            })
            .collect();
        compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls
        })))
        .expect("compile");
    }

    #[test]
    fn unknown_syscall_is_skipped() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["hako_no_such_syscall", "getcwd"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["hako_no_such_syscall"], "action": "SCMP_ACT_KILL"}
            ]
        })))
        .expect("compile");
        assert_eq!(prog.skipped(), ["hako_no_such_syscall"]);
    }

    #[test]
    fn rule_equal_to_default_is_skipped() {
        compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
            ]
        })))
        .expect("compile");
    }

    #[test]
    fn notify_without_listener_path_errors() {
        let err = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .expect_err("must fail");
        assert!(matches!(
            err,
            SeccompError::NotifyWithoutListenerPath { .. }
        ));
        assert!(err.to_string().contains("listenerPath"), "{err}");
    }

    #[test]
    fn listener_path_without_notify_is_ignored() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        })))
        .expect("compile");
        assert!(!prog.uses_notify());
        assert_eq!(
            prog.flags, 0,
            "WAIT_KILLABLE_RECV is dropped without a listener"
        );
    }

    #[test]
    fn invalid_profiles_error_naming_the_field() {
        let cases = [
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}),
                "linux.seccomp.defaultErrnoRet",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]}),
                "linux.seccomp.syscalls[0].errnoRet",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
                "70000",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
                "linux.seccomp.syscalls[0].args[0].index",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": [], "action": "SCMP_ACT_ERRNO"}]}),
                "linux.seccomp.syscalls[0].names",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
                "defaultAction",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                    "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
                "\"write\"",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}),
                "listenerMetadata",
            ),
        ];
        for (json, needle) in cases {
            let err = compile(&profile(json.clone())).expect_err(&json.to_string());
            assert!(err.to_string().contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn flags_map_to_seccomp_bits() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        })))
        .expect("compile");
        assert_eq!(prog.flags, FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC);

        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .expect("compile");
        assert!(prog.uses_notify());
        assert_eq!(
            prog.flags,
            FLAG_TSYNC | FLAG_TSYNC_ESRCH | FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV
        );
    }

    #[test]
    fn masked_eq_compiles() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}]
        })))
        .expect("compile");
        assert!(prog.instructions.len() > 5);
    }

    #[test]
    fn loaded_filter_makes_mkdir_fail_with_errno_38() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 38}]
        })))
        .expect("compile");
        let code = in_child(|| {
            if let Err(code) = load_in_child(&prog) {
                return code;
            }
            // SAFETY: NUL-terminated literal path.
            let r = unsafe { libc::mkdir(c"/tmp/hako-seccomp-test-never-created".as_ptr(), 0o700) };
            if r == 0 {
                return 1;
            }
            if errno() != libc::ENOSYS {
                return 2;
            }
            // Everything else is still allowed.
            // SAFETY: getpid has no arguments.
            if unsafe { libc::getpid() } <= 0 {
                return 3;
            }
            0
        });
        assert_eq!(
            code, 0,
            "child exit code (100/101: load failed, 1: mkdir succeeded, 2: wrong errno)"
        );
    }

    #[test]
    fn loaded_filter_arg_conditions() {
        // Two conditions on the same index are OR-ed (one rule each, as runc does);
        // MASKED_EQ matches (arg & value) == valueTwo.
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "args": [{"index": 0, "value": 0o022, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 0o077, "op": "SCMP_CMP_EQ"}]},
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39,
                 "args": [{"index": 0, "value": 0o700, "valueTwo": 0o500,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"},
                          {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        })))
        .expect("compile");
        let code = in_child(|| {
            if let Err(code) = load_in_child(&prog) {
                return code;
            }
            let umask = |mask: libc::c_long| {
                // SAFETY: umask takes a plain integer.
                let r = unsafe { libc::syscall(libc::SYS_umask, mask) };
                if r < 0 { errno() } else { 0 }
            };
            let getpriority = |which: libc::c_long, who: libc::c_long| {
                // SAFETY: getpriority takes plain integers.
                let r = unsafe { libc::syscall(libc::SYS_getpriority, which, who) };
                if r < 0 { errno() } else { 0 }
            };
            let checks = [
                (umask(0o022), 38),
                (umask(0o077), 38),
                (umask(0o002), 0),
                (umask(0o577), 39),
                (umask(0o777), 0),
                // which = PRIO_USER(2) > 1 and who == 0: both conditions hold.
                (getpriority(2, 0), 40),
                // which = PRIO_PROCESS(0): first condition false, so allowed.
                (getpriority(0, 0), 0),
                // who != 0: second condition false, so allowed (ESRCH or success, never 40).
            ];
            for (i, (got, want)) in checks.into_iter().enumerate() {
                if got != want {
                    return 10 + i as i32;
                }
            }
            if getpriority(2, 1) == 40 {
                return 30;
            }
            0
        });
        assert_eq!(code, 0, "child exit code (10+i: check i failed)");
    }

    #[test]
    fn notify_returns_a_listener_fd() {
        let prog = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/hako-test-agent.sock",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .expect("compile");
        assert!(prog.uses_notify());
        let code = in_child(|| {
            let fd = match load_in_child(&prog) {
                Ok(Some(fd)) => fd,
                Ok(None) => return 1,
                Err(code) => return code,
            };
            // With the only listener closed, a notifying syscall fails with ENOSYS.
            drop(fd);
            // SAFETY: getppid has no arguments.
            let r = unsafe { libc::syscall(libc::SYS_getppid) };
            if r >= 0 {
                return 2;
            }
            if errno() != libc::ENOSYS {
                return 3;
            }
            0
        });
        assert_eq!(code, 0, "child exit code");
    }

    #[test]
    fn send_listener_fd_delivers_state_and_fd() {
        let dir = std::env::temp_dir().join(format!("hako-seccomp-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let state = br#"{"ociVersion":"1.0.2","fds":["seccompFd"],"pid":1}"#;

        let agent = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 4096];
            let mut cmsg_buf = [0u64; 8];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: all-zero msghdr is valid.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg_buf.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&cmsg_buf) as _;
            // SAFETY: msg points to live buffers.
            let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
            assert!(n > 0, "recvmsg: {}", io::Error::last_os_error());
            // SAFETY: msg_control was filled by the kernel.
            let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            assert!(!cmsg.is_null(), "no control message");
            // SAFETY: cmsg is non-null and was filled by the kernel.
            let (level, kind, fd) = unsafe {
                (
                    (*cmsg).cmsg_level,
                    (*cmsg).cmsg_type,
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>()),
                )
            };
            assert_eq!((level, kind), (libc::SOL_SOCKET, libc::SCM_RIGHTS));
            // SAFETY: the kernel installed this fd for us.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            buf.truncate(n.unsigned_abs());
            (buf, File::from(fd))
        });

        use std::os::fd::AsFd;
        let sent = File::open("/dev/null").expect("open /dev/null");
        send_listener_fd(&path, state, sent.as_fd()).expect("send");
        let (payload, received) = agent.join().expect("agent thread");
        assert_eq!(payload, state);
        let meta = received.metadata().expect("fstat received fd");
        let want = sent.metadata().expect("fstat sent fd");
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.dev(), meta.ino()), (want.dev(), want.ino()));
        let _ = std::fs::remove_dir_all(&dir);

        let err =
            send_listener_fd(&dir.join("missing.sock"), state, sent.as_fd()).expect_err("no agent");
        assert!(err.to_string().contains("missing.sock"), "{err}");
    }

    #[test]
    fn default_profile_compiles() {
        let spec: LinuxSeccomp = serde_json::from_str(DEFAULT_PROFILE).expect("default.json");
        let prog = compile(&spec).expect("compile default profile");
        assert!(!prog.uses_notify());
        assert_eq!(prog.flags, 0);
        assert!(prog.instructions.len() <= BPF_MAXINSNS);
        // Calls every image needs are resolvable by the installed libseccomp.
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "clone",
            "wait4",
            "exit_group",
        ] {
            assert!(!prog.skipped().iter().any(|s| s == name), "{name} skipped");
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn default_profile_allows_ordinary_calls_and_blocks_dangerous_ones() {
        let spec: LinuxSeccomp = serde_json::from_str(DEFAULT_PROFILE).expect("default.json");
        let prog = compile(&spec).expect("compile default profile");
        let code = in_child(|| {
            if let Err(code) = load_in_child(&prog) {
                return code;
            }
            default_profile_checks()
        });
        assert_eq!(
            code, 0,
            "child exit code: 10..49 = an ordinary call was denied, 50..99 = a dangerous call was not denied (see default_profile_checks)"
        );
    }

    /// A raw syscall: `Ok(return value)` or `Err(errno)`. No allocation.
    ///
    /// # Safety
    /// Pointer arguments must point to live memory of the size the syscall expects.
    unsafe fn raw(nr: libc::c_long, a: [libc::c_long; 5]) -> Result<libc::c_long, i32> {
        // SAFETY: the caller guarantees the arguments are valid for syscall `nr`.
        let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
        if r < 0 { Err(errno()) } else { Ok(r) }
    }

    /// Runs in the forked child under the default profile; 0 if all is as expected, else the
    /// number of the failed check. No allocation here.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn default_profile_checks() -> i32 {
        use libc::c_long;
        let eperm = Err(libc::EPERM);
        let root = c"/".as_ptr() as c_long;

        // --- allowed: must never fail with EPERM ---
        // SAFETY: NUL-terminated literal path.
        let Ok(devnull) = (unsafe {
            raw(
                libc::SYS_openat,
                [
                    libc::AT_FDCWD as c_long,
                    c"/dev/null".as_ptr() as c_long,
                    libc::O_RDWR as c_long,
                    0,
                    0,
                ],
            )
        }) else {
            return 10;
        };
        let mut buf = [0u8; 64];
        let p = buf.as_mut_ptr() as c_long;
        // SAFETY: `buf` is a live 64-byte buffer.
        if unsafe { raw(libc::SYS_read, [devnull, p, 64, 0, 0]) } == eperm {
            return 11;
        }
        // SAFETY: `buf` is a live 64-byte buffer.
        if unsafe { raw(libc::SYS_write, [devnull, p, 1, 0, 0]) } == eperm {
            return 12;
        }
        // SAFETY: all-zero bytes are a valid `stat`.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let stp = &mut st as *mut libc::stat as c_long;
        // SAFETY: `st` is a live struct stat.
        if unsafe { raw(libc::SYS_fstat, [devnull, stp, 0, 0, 0]) } == eperm {
            return 13;
        }
        // SAFETY: literal path and a live struct stat.
        if unsafe {
            raw(
                libc::SYS_newfstatat,
                [libc::AT_FDCWD as c_long, root, stp, 0, 0],
            )
        } == eperm
        {
            return 14;
        }
        // SAFETY: all-zero bytes are a valid `statx`.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        let stxp = &mut stx as *mut libc::statx as c_long;
        let mask = libc::STATX_BASIC_STATS as c_long;
        // SAFETY: literal path and a live struct statx.
        if unsafe {
            raw(
                libc::SYS_statx,
                [libc::AT_FDCWD as c_long, root, 0, mask, stxp],
            )
        } == eperm
        {
            return 15;
        }
        let dir_flags = (libc::O_RDONLY | libc::O_DIRECTORY) as c_long;
        // SAFETY: literal path.
        let Ok(dir) = (unsafe {
            raw(
                libc::SYS_openat,
                [libc::AT_FDCWD as c_long, root, dir_flags, 0, 0],
            )
        }) else {
            return 16;
        };
        let mut dents = [0u8; 1024];
        let dp = dents.as_mut_ptr() as c_long;
        // SAFETY: `dents` is a live 1024-byte buffer.
        if unsafe { raw(libc::SYS_getdents64, [dir, dp, 1024, 0, 0]) } == eperm {
            return 17;
        }
        // SAFETY: all-zero bytes are a valid `termios`.
        let mut tio: libc::termios = unsafe { std::mem::zeroed() };
        let tp = &mut tio as *mut libc::termios as c_long;
        // SAFETY: TCGETS writes a struct termios into the live `tio`.
        if unsafe { raw(libc::SYS_ioctl, [devnull, libc::TCGETS as c_long, tp, 0, 0]) } == eperm {
            return 18;
        }
        // SAFETY: integer arguments only.
        let Ok(sock) = (unsafe {
            raw(
                libc::SYS_socket,
                [libc::AF_UNIX.into(), libc::SOCK_STREAM.into(), 0, 0, 0],
            )
        }) else {
            return 19;
        };
        // SAFETY: all-zero bytes are a valid `sockaddr_un`.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(b"/nonexistent-hako.sock") {
            *d = *s as libc::c_char;
        }
        let ap = &addr as *const libc::sockaddr_un as c_long;
        let alen = size_of::<libc::sockaddr_un>() as c_long;
        // SAFETY: `addr` is a live sockaddr_un of `alen` bytes.
        if unsafe { raw(libc::SYS_connect, [sock, ap, alen, 0, 0]) } != Err(libc::ENOENT) {
            return 20;
        }
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as c_long;
        let map = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as c_long;
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let mem = unsafe { libc::syscall(libc::SYS_mmap, 0, 4096, prot, map, -1, 0) };
        if mem == -1 {
            return 21;
        }
        // SAFETY: unmaps the mapping created just above.
        if unsafe { raw(libc::SYS_munmap, [mem, 4096, 0, 0, 0]) }.is_err() {
            return 21;
        }
        // SAFETY: brk(0) only queries the program break.
        if !matches!(unsafe { raw(libc::SYS_brk, [0; 5]) }, Ok(b) if b > 0) {
            return 22;
        }
        // SAFETY: all-zero bytes are a valid `sigaction`.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        let op = &mut old as *mut libc::sigaction as c_long;
        // SAFETY: NULL new action (query only), live old-action buffer, kernel sigset size 8.
        if unsafe { raw(libc::SYS_rt_sigaction, [libc::SIGUSR1.into(), 0, op, 8, 0]) } == eperm {
            return 23;
        }
        // fork-style clone without namespace flags, then wait4 for it.
        // SAFETY: no CLONE_VM: the child gets a copy of the address space and exits at once.
        let child = unsafe { raw(libc::SYS_clone, [libc::SIGCHLD.into(), 0, 0, 0, 0]) };
        if child == Ok(0) {
            // SAFETY: ends the grandchild.
            unsafe { libc::_exit(0) };
        }
        let Ok(child) = child else {
            return 24;
        };
        let mut status: libc::c_int = 0;
        let sp = &mut status as *mut libc::c_int as c_long;
        // SAFETY: `status` is a live int.
        if unsafe { raw(libc::SYS_wait4, [child, sp, 0, 0, 0]) } != Ok(child) {
            return 25;
        }
        // SAFETY: integer argument only (0xffffffff queries the persona).
        if unsafe { raw(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0]) }.is_err() {
            return 26;
        }
        // SAFETY: integer argument only; CLONE_FS creates no namespace.
        if unsafe { raw(libc::SYS_unshare, [libc::CLONE_FS.into(), 0, 0, 0, 0]) }.is_err() {
            return 27;
        }
        // SAFETY: no arguments.
        if unsafe { raw(libc::SYS_getpid, [0; 5]) }.is_err() {
            return 28;
        }

        // --- dangerous: must fail with EPERM (clone3: ENOSYS) ---
        let ns_flags = (libc::CLONE_NEWNS | libc::SIGCHLD) as c_long;
        // SAFETY: no CLONE_VM; should a child appear anyway it exits at once.
        let ns_clone = unsafe { raw(libc::SYS_clone, [ns_flags, 0, 0, 0, 0]) };
        if ns_clone == Ok(0) {
            // SAFETY: ends the unexpected grandchild.
            unsafe { libc::_exit(0) };
        }
        if ns_clone != eperm {
            return 50;
        }
        // SAFETY: a NULL clone_args is never dereferenced when the call is filtered (and would
        // be EFAULT otherwise).
        if unsafe { raw(libc::SYS_clone3, [0; 5]) } != Err(libc::ENOSYS) {
            return 51;
        }
        let blocked: [(c_long, c_long); 14] = [
            (libc::SYS_unshare, libc::CLONE_NEWUSER.into()),
            (libc::SYS_unshare, libc::CLONE_NEWNS.into()),
            (libc::SYS_setns, devnull),
            (libc::SYS_mount, 0),
            (libc::SYS_umount2, 0),
            (libc::SYS_keyctl, 0),
            (libc::SYS_bpf, 0),
            (libc::SYS_ptrace, 0),
            (libc::SYS_personality, 0x0040_0000), // READ_IMPLIES_EXEC
            (libc::SYS_pivot_root, 0),
            (libc::SYS_syslog, 0),
            (libc::SYS_perf_event_open, 0),
            (libc::SYS_userfaultfd, 0),
            (libc::SYS_add_key, 0),
        ];
        for (i, (nr, a0)) in blocked.into_iter().enumerate() {
            // SAFETY: integer or NULL arguments only; the calls are expected to be filtered.
            if unsafe { raw(nr, [a0, 0, 0, 0, 0]) } != eperm {
                return 52 + i as i32;
            }
        }
        0
    }
}
