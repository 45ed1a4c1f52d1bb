//! `process.terminal`: the pty is allocated inside the container from its own devpts, both
//! ends verified to be real pty inodes (CVE-2025-52565), the peer bound onto /dev/console and
//! made the init's controlling terminal, and the master sent to `--console-socket` with
//! SCM_RIGHTS (runc's raw protocol, which containerd and conmon speak).

use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("unable to connect to console socket {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("console socket path {0} is too long")]
    PathTooLong(PathBuf),
    #[error("unable to set up the container's terminal: {what}: {source}")]
    Pty {
        what: &'static str,
        source: io::Error,
    },
    #[error("{0} is not a pty on a devpts filesystem: refusing to use it")]
    NotPty(&'static str),
}

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Connects to the caller's console socket (before pivot_root: the path is on the host).
pub fn connect(path: &Path) -> Result<OwnedFd, ConsoleError> {
    // Long paths are reached through an fd of their directory.
    let (dir_fd, name);
    let target: PathBuf = if path.as_os_str().len() >= 100 {
        let parent = path.parent().unwrap_or(Path::new("/"));
        dir_fd = sys::open(parent, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|source| {
            ConsoleError::Connect {
                path: path.to_path_buf(),
                source,
            }
        })?;
        name = path.file_name().map(PathBuf::from).unwrap_or_default();
        sys::fd_path(dir_fd.as_fd()).join(&name)
    } else {
        path.to_path_buf()
    };
    let stream = std::os::unix::net::UnixStream::connect(&target).map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidInput {
            ConsoleError::PathTooLong(path.to_path_buf())
        } else {
            ConsoleError::Connect {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    Ok(OwnedFd::from(stream))
}

fn pty_err(what: &'static str) -> impl FnOnce(io::Error) -> ConsoleError {
    move |source| ConsoleError::Pty { what, source }
}

fn verify_devpts(fd: BorrowedFd<'_>, what: &'static str) -> Result<(), ConsoleError> {
    let st = sys::fstatfs(fd).map_err(pty_err("fstatfs"))?;
    let fst = sys::fstat(fd).map_err(pty_err("fstat"))?;
    if st.f_type as i64 != DEVPTS_SUPER_MAGIC || fst.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Err(ConsoleError::NotPty(what));
    }
    Ok(())
}

/// Allocates the pty (after pivot_root), wires it up as the init's terminal and sends the
/// master over `socket`.
/// `as_console` binds the peer onto /dev/console (the init's terminal; not for exec).
pub fn setup(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
    as_console: bool,
) -> Result<(), ConsoleError> {
    // No symlink is followed: an image that planted /dev/pts/ptmx as a link to some device
    // never gets it opened (a planted file or node is opened, then refused below).
    let master = match sys::openat2(
        sys::cwd(),
        Path::new("/dev/pts/ptmx"),
        libc::O_RDWR | libc::O_NOCTTY,
        0,
        sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ConsoleError::NotPty("/dev/pts/ptmx"));
        }
        Err(e) => return Err(pty_err("open /dev/pts/ptmx")(e)),
    };
    verify_devpts(master.as_fd(), "/dev/pts/ptmx")?;
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } != 0 {
        return Err(pty_err("unlockpt")(io::Error::last_os_error()));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number into an unsigned int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(pty_err("ptsname")(io::Error::last_os_error()));
    }
    // TIOCGPTPEER opens the peer through the master: no path lookup an image could redirect.
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if peer < 0 {
        return Err(pty_err("open pty peer")(io::Error::last_os_error()));
    }
    // SAFETY: the ioctl just returned this fd; we own it.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    verify_devpts(peer.as_fd(), "the pty peer")?;
    if let Some((h, w)) = size {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(pty_err("set window size")(io::Error::last_os_error()));
        }
    }
    if as_console {
        bind_console(peer.as_fd())?;
    }
    // SAFETY: setsid/ioctl/dup2 on fds we own; the init is not a process group leader.
    unsafe {
        if libc::setsid() < 0 {
            return Err(pty_err("setsid")(io::Error::last_os_error()));
        }
        if libc::ioctl(peer.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(pty_err("set controlling terminal")(
                io::Error::last_os_error(),
            ));
        }
        for target in 0..3 {
            if libc::dup2(peer.as_raw_fd(), target) < 0 {
                return Err(pty_err("dup2")(io::Error::last_os_error()));
            }
        }
    }
    let name = format!("/dev/pts/{n}");
    sys::send_fd(socket, name.as_bytes(), master.as_raw_fd())
        .map_err(pty_err("send to console socket"))
}

/// Binds the pty peer onto /dev/console (created as an empty file if missing).
fn bind_console(peer: BorrowedFd<'_>) -> Result<(), ConsoleError> {
    let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(pty_err("open /"))?;
    let target = crate::rootfs::mkdir_all_in_root(root.as_fd(), Path::new("dev/console"), true)
        .map_err(|e| ConsoleError::Pty {
            what: "create /dev/console",
            source: io::Error::other(e.to_string()),
        })?;
    let tree = sys::open_tree(
        peer,
        Path::new(""),
        sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32,
    )
    .map_err(pty_err("bind /dev/console"))?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(pty_err("bind /dev/console"))
}
