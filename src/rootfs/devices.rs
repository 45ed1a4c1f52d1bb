//! Device nodes in the container's /dev: the runtime-spec's default set plus `linux.devices`,
//! made with mknod, or bound from the host inside a user namespace (where mknod is refused),
//! and the standard /dev symlinks.

use super::{Context, RootfsError, io_err, mkdir_all_in_root};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

struct Node {
    path: PathBuf,
    kind: libc::mode_t,
    major: u32,
    minor: u32,
    mode: libc::mode_t,
    uid: u32,
    gid: u32,
}

/// The devices every Linux container gets (runtime-spec config-linux.md "Default Devices").
fn defaults() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| Node {
        path: PathBuf::from("/dev").join(n),
        kind: libc::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn create_all(
    ctx: &Context<'_>,
    root: BorrowedFd<'_>,
    with_defaults: bool,
) -> Result<(), RootfsError> {
    let mut nodes = if with_defaults {
        defaults()
    } else {
        Vec::new()
    };
    for d in ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[])
    {
        let kind = match d.typ().as_str() {
            "b" => libc::S_IFBLK,
            "p" => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let node = Node {
            path: d.path().clone(),
            kind,
            major: d.major() as u32,
            minor: d.minor() as u32,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A configured device replaces a default one of the same path.
        nodes.retain(|n| n.path != node.path);
        nodes.push(node);
    }
    for n in &nodes {
        create(root, n, ctx.userns)?;
    }
    if with_defaults {
        symlinks(root)?;
    }
    Ok(())
}

fn create(root: BorrowedFd<'_>, n: &Node, userns: bool) -> Result<(), RootfsError> {
    let rel: PathBuf = n.path.strip_prefix("/").unwrap_or(&n.path).to_path_buf();
    let (parent_rel, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(f)) => (p.to_path_buf(), PathBuf::from(f)),
        _ => {
            return Err(RootfsError::Invalid(format!(
                "bad device path {}",
                n.path.display()
            )));
        }
    };
    let parent = mkdir_all_in_root(root, &parent_rel, false)?;
    // O_PATH fds cannot be used with mknodat; reopen the directory for real.
    let dir = sys::openat2(
        parent.as_fd(),
        Path::new("."),
        libc::O_DIRECTORY | libc::O_RDONLY,
        0,
        sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(io_err("unable to open", &parent_rel))?;
    if userns && n.kind != libc::S_IFIFO {
        return bind_host_device(root, n);
    }
    match sys::mknodat(
        dir.as_fd(),
        &name,
        n.kind | n.mode,
        libc::makedev(n.major, n.minor),
    ) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(()),
        Err(source) => return Err(io_err("unable to create device", &n.path)(source)),
    }
    let node = sys::openat(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(io_err("unable to open device", &n.path))?;
    // Through /proc/self/fd: fchown does not work on O_PATH fds, and a path could be swapped.
    let p = sys::cstr(&sys::fd_path(node.as_fd())).map_err(io_err("bad path", &n.path))?;
    // SAFETY: chown/chmod with a valid C string naming our own fd.
    let ok = unsafe {
        libc::chown(p.as_ptr(), n.uid, n.gid) == 0 && libc::chmod(p.as_ptr(), n.mode) == 0
    };
    if !ok {
        return Err(io_err("unable to set owner/mode of", &n.path)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Inside a user namespace mknod is refused: bind the host's node onto an empty file.
fn bind_host_device(root: BorrowedFd<'_>, n: &Node) -> Result<(), RootfsError> {
    let rel = n.path.strip_prefix("/").unwrap_or(&n.path);
    let target = mkdir_all_in_root(root, rel, true)?;
    let cwd = sys::cwd();
    let merr = |err| RootfsError::Mount {
        source_desc: n.path.display().to_string(),
        dest: n.path.clone(),
        fstype: "bind".into(),
        err,
    };
    let tree = sys::open_tree(cwd, &n.path, sys::OPEN_TREE_CLONE).map_err(merr)?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(merr)
}

fn symlinks(root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let dev = mkdir_all_in_root(root, Path::new("dev"), false)?;
    let dir = sys::openat2(
        dev.as_fd(),
        Path::new("."),
        libc::O_DIRECTORY | libc::O_RDONLY,
        0,
        sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(io_err("unable to open", Path::new("/dev")))?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        match sys::symlinkat(Path::new(target), dir.as_fd(), Path::new(name)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(source) => {
                return Err(io_err(
                    "unable to create symlink",
                    &Path::new("/dev").join(name),
                )(source));
            }
        }
    }
    Ok(())
}
