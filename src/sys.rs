//! Thin, safe wrappers around the Linux syscalls hako needs that libc/nix do not wrap
//! (clone3, openat2, the new mount API, pidfds, close_range).
//!
//! Every wrapper returns `std::io::Result` carrying the kernel's errno; callers add context.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Converts a -1 return into the current errno.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Turns a path into a C string; paths with interior NULs cannot name files.
pub fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Takes ownership of a freshly returned fd.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Result of a fork-like clone: in the parent the child's pid and pidfd, in the child nothing.
pub enum Forked {
    Parent { pid: libc::pid_t, pidfd: OwnedFd },
    Child,
}

/// Fork-like clone3: the child runs on a copy of the caller's stack, like fork(2), but can be
/// born inside new namespaces and (cgroup v2) directly inside its cgroup, and the parent gets a
/// pidfd that cannot be confused by pid reuse.
///
/// The caller must be single-threaded (hako never starts threads), so the child may allocate.
pub fn clone_fork(flags: u64, cgroup_fd: Option<RawFd>) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        // clone3 rejects an exit signal with CLONE_PARENT (the caller's own is inherited).
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 with a zero stack behaves like fork: the child continues on a copy of our
    // address space. `args` outlives the call and its size is passed exactly.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as libc::pid_t,
            pidfd: owned(pidfd as libc::c_long),
        }),
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): open `path` relative to `dirfd` with the given resolve restrictions.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `c` and `how` are valid for the call; the size passed is exact.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match check(ret) {
            Ok(fd) => return Ok(owned(fd)),
            // EAGAIN: a rename raced the lookup; the kernel asks us to retry.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Plain openat(2) with O_CLOEXEC.
pub fn openat(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid C string for the duration of the call.
    let fd = unsafe {
        libc::openat(
            dirfd.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    check_int(fd).map(|fd| owned(fd as libc::c_long))
}

/// AT_FDCWD as a directory fd: *at calls on it resolve from the current directory (and
/// absolute paths as usual).
pub fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "directory fd" for the *at calls, and is never closed.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Opens a path in the caller's mount namespace (absolute, or relative to cwd).
pub fn open(path: &Path, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    openat(cwd(), path, flags, mode)
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is a valid out-pointer of the right type.
    check_int(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

pub fn fstatfs(fd: BorrowedFd<'_>) -> io::Result<libc::statfs> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `st` is a valid out-pointer of the right type.
    check_int(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// Whether `fd`'s file is on a read-only mount (or read-only filesystem).
pub fn on_read_only_mount(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `st` is a valid out-pointer of the right type.
    check_int(unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs succeeded, so it filled the struct.
    Ok(unsafe { st.assume_init() }.f_flag & libc::ST_RDONLY != 0)
}

pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string.
    check_int(unsafe { libc::mkdirat(dirfd.as_raw_fd(), c.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(
    dirfd: BorrowedFd<'_>,
    name: &Path,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string.
    check_int(unsafe { libc::mknodat(dirfd.as_raw_fd(), c.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlinkat(target: &Path, dirfd: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    let n = cstr(name)?;
    // SAFETY: both are valid C strings.
    check_int(unsafe { libc::symlinkat(t.as_ptr(), dirfd.as_raw_fd(), n.as_ptr()) }).map(drop)
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// open_tree(2): a detached copy (OPEN_TREE_CLONE) of the mount at `path`, as an fd.
pub fn open_tree(dirfd: BorrowedFd<'_>, path: &Path, flags: u32) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid C string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC as u32,
        )
    };
    check(ret).map(owned)
}

/// move_mount(2) of a detached mount fd onto the object `target` refers to.
pub fn move_mount_fd(from: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let empty = c"";
    // SAFETY: both fds are valid, the paths are empty C strings.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    check(ret).map(drop)
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// mount_setattr(2) on the mount `fd` refers to; `recursive` applies it to the whole subtree.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let empty = c"";
    // SAFETY: `attr` is a valid struct whose exact size is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(drop)
}

/// A fresh, detached, read-only tmpfs as a mount fd (new mount API: no path lookups).
pub fn detached_tmpfs_ro() -> io::Result<OwnedFd> {
    let fs = fsopen(c"tmpfs")?;
    fsconfig_create(fs.as_fd())?;
    fsmount(
        fs.as_fd(),
        (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) as u32,
    )
}

/// fsopen(2): a filesystem context for the new mount API.
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: u32 = 1;
    // SAFETY: `fstype` is a valid C string.
    check(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) }).map(owned)
}

/// fsconfig(FSCONFIG_SET_STRING).
pub fn fsconfig_string(fs: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    const FSCONFIG_SET_STRING: u32 = 1;
    // SAFETY: key and value are valid C strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// fsconfig(FSCONFIG_CMD_CREATE): creates the superblock.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    const FSCONFIG_CMD_CREATE: u32 = 6;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key/value; null pointers are what it expects.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })
    .map(drop)
}

/// fsmount(2): a detached mount of the configured filesystem.
pub fn fsmount(fs: BorrowedFd<'_>, attrs: u32) -> io::Result<OwnedFd> {
    const FSMOUNT_CLOEXEC: u32 = 1;
    // SAFETY: plain syscall on the fs context fd we own.
    check(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
        .map(owned)
}

/// Classic mount(2).
pub fn mount(
    source: Option<&CStr>,
    target: &Path,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let t = cstr(target)?;
    let ptr = |c: Option<&CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a valid C string for the call.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            t.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check_int(ret).map(drop)
}

/// The path through which the kernel resolves an fd we hold: the mount syscalls that take
/// paths are pointed at this so they act on the verified object, not a re-resolved path.
pub fn fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub fn umount2(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: `t` is a valid C string.
    check_int(unsafe { libc::umount2(t.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root_dot() -> io::Result<()> {
    let dot = c".";
    // SAFETY: both arguments are valid C strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    check(ret).map(drop)
}

pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    check_int(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check(ret).map(owned)
}

pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    check(ret).map(drop)
}

pub const CLOSE_RANGE_CLOEXEC: u32 = 4;

/// Marks every fd from `first` up close-on-exec, so nothing of the runtime leaks into the
/// container (CVE-2016-9962 / CVE-2024-21626).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    check(ret).map(drop)
}

/// Closes every fd in [first, last].
pub fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments; the caller owns the fds in the range.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    check(ret).map(drop)
}

/// Whether `fd` is an open descriptor of this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: fcntl on an integer fd; a closed one only yields EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clears FD_CLOEXEC so `fd` survives execve (preserved fds, the console).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd only yields EBADF.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    check_int(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall with an integer argument.
    check_int(unsafe { libc::unshare(flags) }).map(drop)
}

/// The namespace type of an nsfs fd (NS_GET_NSTYPE), to verify a configured namespace path.
pub fn ns_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without arguments on a valid fd.
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) })
}

/// The signals ignored by the calling thread (SigIgn of /proc/thread-self/status), as a mask
/// with bit N-1 for signal N; None when procfs cannot tell.
pub fn ignored_signals() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(mask.trim(), 16).ok()
}

/// Gives every signal in `mask` (bit N-1 for signal N) its default disposition. Raw
/// rt_sigaction: glibc refuses its internal signals 32 and 33, which a caller may have ignored
/// too and which must not stay ignored in a container either.
pub fn reset_signals(mask: u64) {
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::c_ulong,
        flags: libc::c_ulong,
        restorer: libc::c_ulong,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL as libc::c_ulong,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if mask & (1u64 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction reads a valid kernel_sigaction of the size passed; a
            // SIG_DFL disposition needs no restorer.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
}

pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check_int(unsafe { libc::prctl(option, arg2, 0, 0, 0) }).map(drop)
}

/// Sends `fd` with SCM_RIGHTS over a connected unix socket, with `payload` as the data.
pub fn send_fd(sock: BorrowedFd<'_>, payload: &[u8], fd: RawFd) -> io::Result<()> {
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid starting value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at a buffer of CMSG_SPACE bytes, so the first header and its
    // data fit; we write exactly one fd into it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: `msg` and everything it points at are valid for the call.
        let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        match check(ret as libc::c_long) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Receives data into `buf` and the fd sent along with it (SCM_RIGHTS), if any.
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain data; zeroed is a valid starting value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points at valid buffers for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR checks the length.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: cmsg is either null or points into cbuf at a complete header.
    let fd = if !cmsg.is_null()
        && unsafe {
            (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        } {
        // SAFETY: an SCM_RIGHTS message carries at least one fd, now ours.
        let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>()) };
        Some(owned(fd as libc::c_long))
    } else {
        None
    };
    Ok((n, fd))
}

/// Receives one fd sent with SCM_RIGHTS (its payload is discarded).
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    recv_with_fd(sock, &mut data)?
        .1
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no fd received"))
}

/// Binds or connects unix sockets whose path may be longer than sun_path allows, by going
/// through an fd of the directory.
pub fn unix_addr_in(dir: BorrowedFd<'_>, name: &str) -> std::path::PathBuf {
    fd_path(dir).join(name)
}

/// Reads the kernel's idea of the process start time (field 22 of /proc/PID/stat), which
/// together with the pid identifies a process across pid reuse.
pub fn process_start_time(pid: libc::pid_t) -> io::Result<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat"))?;
    parse_start_time(&stat).ok_or_else(|| {
        let dead = stat
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| stat.get(i + 2))
            .is_some_and(|s| matches!(s, b'Z' | b'X'));
        if dead {
            // A zombie (dead, not yet reaped) has no process to identify any more.
            io::Error::from_raw_os_error(libc::ESRCH)
        } else {
            io::Error::new(io::ErrorKind::InvalidData, "malformed /proc/PID/stat")
        }
    })
}

/// Parses starttime and tells whether the process is a zombie or dead (state Z/X).
pub fn parse_start_time(stat: &[u8]) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // starttime is field 22 overall; after the state (field 3) it is the 19th.
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start_time` and not a zombie.
pub fn process_alive(pid: libc::pid_t, start_time: u64) -> bool {
    pid > 0 && process_start_time(pid).is_ok_and(|t| t == start_time)
}

/// The effective uid: what runc decides rootless matters by (os.Geteuid).
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Leaves the forked child immediately, without running the parent's destructors or atexit
/// handlers (they belong to the runtime process, not to the container).
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_a_zombie_is_esrch() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id() as libc::pid_t;
        // Not reaped yet: a zombie once it exited.
        for _ in 0..500 {
            if process_start_time(pid).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let e = process_start_time(pid).expect_err("zombie");
        assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "{e}");
        child.wait().expect("reap");
    }

    #[test]
    fn start_time_parses_names_with_parens() {
        let stat = b"42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10";
        assert_eq!(parse_start_time(stat), Some(12345));
        let zombie = b"42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10";
        assert_eq!(parse_start_time(zombie), None);
    }

    #[test]
    fn own_start_time_is_readable() {
        let me = getpid();
        let t = process_start_time(me).expect("own stat");
        assert!(process_alive(me, t));
        assert!(!process_alive(me, t + 1));
    }
}
