//! CVE-2019-5736 defence: the container must never be able to open the hako binary for
//! writing through /proc/<init>/exe. hako's init is a clone of `hako create` until it execs the
//! user's program, so before creating a container hako re-executes itself from a read-only
//! view of its own binary:
//!
//! 1. preferred, zero-copy: a detached, read-only overlayfs whose lower layers are the
//!    binary's directory and an empty tmpfs (runc ≥ 1.2 does the same); writes through
//!    /proc/PID/exe then fail with EROFS and nothing appears in any mount table;
//! 2. fallback (kernels without `lowerdir+`): a sealed memfd copy of the binary.
//!
//! Only `create`, `run` and `exec` pay this (one execveat, about 1 ms here); `state`, `kill`,
//! `list`… never do, and neither does a hako installed on a read-only mount (the same
//! protection, set up once).

use crate::sys;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("unable to protect the hako binary (CVE-2019-5736): {what}: {source}")]
    Sys {
        what: &'static str,
        source: io::Error,
    },
}

fn err(what: &'static str) -> impl FnOnce(io::Error) -> SealError {
    move |source| SealError::Sys { what, source }
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether the running binary already is a protected view: on a read-only mount (our own
/// overlay view is mounted read-only; so is a hako installed on a read-only filesystem or
/// bind mount, which then never pays the re-exec), or a sealed memfd. An overlayfs as such
/// proves nothing: hako installed in a container image runs from a writable one.
fn is_sealed(exe: BorrowedFd<'_>) -> bool {
    if sys::on_read_only_mount(exe).unwrap_or(false) {
        return true;
    }
    // A memfd lives on tmpfs (hugetlbfs aside) and carries our write seal. Any other tmpfs
    // file reports F_SEAL_SEAL alone, so "has seals" is not enough: a hako binary run from
    // /tmp would otherwise count as protected. Seals first: on any other filesystem
    // F_GET_SEALS fails and no fstatfs is needed.
    // SAFETY: F_GET_SEALS on a valid fd only reads flags.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals > 0
        && seals & libc::F_SEAL_WRITE != 0
        && sys::fstatfs(exe).is_ok_and(|st| st.f_type == TMPFS_MAGIC)
}

/// Re-executes hako from a read-only view of its binary unless it already runs from one.
/// Returns only when already sealed (or on error).
///
/// `spare_dir`, an existing directory of hako's own (the state root), serves as the overlay's
/// second, bottom layer when it can: the binary's directory is the top one, so only its
/// entries are ever opened, and no tmpfs has to be made and torn down (a superblock each way
/// and an RCU grace period when its detached mount goes).
pub fn ensure_sealed(spare_dir: &Path) -> Result<(), SealError> {
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0)
        .map_err(err("open /proc/self/exe"))?;
    if is_sealed(exe.as_fd()) {
        return Ok(());
    }
    let target = match overlay_view(Some(spare_dir)).or_else(|_| overlay_view(None)) {
        Ok(fd) => fd,
        Err(e) => {
            crate::logging::debug(|| format!("overlay seal unavailable ({e}); using a memfd copy"));
            memfd_copy(exe.as_fd())?
        }
    };
    reexec(target.as_fd())
}

/// A read-only overlay whose top layer is the binary's directory; the bottom one is
/// `spare_dir`, or an empty detached tmpfs. Overlayfs refuses layers that contain one another.
fn overlay_view(spare_dir: Option<&Path>) -> io::Result<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe")?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fs = sys::fsopen(c"overlay")?;
    sys::fsconfig_string(fs.as_fd(), c"lowerdir+", &sys::cstr(dir)?)?;
    let _empty;
    let bottom = match spare_dir {
        Some(d) => sys::cstr(d)?,
        None => {
            _empty = sys::detached_tmpfs_ro()?;
            sys::cstr(&sys::fd_path(_empty.as_fd()))?
        }
    };
    sys::fsconfig_string(fs.as_fd(), c"lowerdir+", &bottom)?;
    sys::fsconfig_create(fs.as_fd())?;
    let mnt = sys::fsmount(
        fs.as_fd(),
        (sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOSUID) as u32,
    )?;
    sys::openat(mnt.as_fd(), Path::new(name), libc::O_RDONLY, 0)
}

fn memfd_copy(exe: BorrowedFd<'_>) -> Result<OwnedFd, SealError> {
    // SAFETY: memfd_create with a valid C string name.
    let fd = unsafe {
        libc::memfd_create(
            c"hako-sealed".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(err("memfd_create")(io::Error::last_os_error()));
    }
    // SAFETY: the kernel just returned this fd; we own it.
    let mem = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let size = sys::fstat(exe).map_err(err("stat /proc/self/exe"))?.st_size;
    let mut off: libc::off_t = 0;
    while off < size {
        // SAFETY: sendfile between two valid fds with a valid offset pointer.
        let n = unsafe {
            libc::sendfile(
                mem.as_raw_fd(),
                exe.as_raw_fd(),
                &mut off,
                (size - off) as usize,
            )
        };
        if n <= 0 {
            return Err(err("copy the binary")(io::Error::last_os_error()));
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our memfd.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(err("seal the copy")(io::Error::last_os_error()));
    }
    Ok(mem)
}

fn reexec(fd: BorrowedFd<'_>) -> Result<(), SealError> {
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NULL-terminated arrays of C strings that outlive the call; an
    // empty path with AT_EMPTY_PATH executes the fd itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(err("re-execute from the protected binary")(
        io::Error::last_os_error(),
    ))
}
