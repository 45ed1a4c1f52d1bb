//! The container's root filesystem, set up by the init in its new mount namespace:
//! mounts from config.json, devices, /dev symlinks, pivot_root, masked and read-only paths.
//!
//! Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
//! and mounted onto through the resulting fd, so a symlink in the image (or one swapped in
//! while we work) can never make a mount land outside the rootfs (CVE-2021-30465 and kin).

mod devices;
mod options;

pub use options::propagation_flag;

use crate::sys;
use oci_spec::runtime::{Mount, Spec};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("mount {source_desc} to {dest} (type {fstype}): {err}")]
    Mount {
        source_desc: String,
        dest: PathBuf,
        fstype: String,
        err: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{path} is not the real /dev/null (a character device 1:3): refusing to use it to mask paths"
    )]
    FakeDevNull { path: PathBuf },
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> RootfsError + 'p {
    move |source| RootfsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What the init needs to know to build the rootfs.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// (name under /sys/fs/cgroup, host directory of the container's cgroup)
    pub cgroup_dirs: &'a [(String, PathBuf)],
    pub userns: bool,
    pub new_netns: bool,
    pub no_pivot: bool,
}

const RESOLVE: u64 = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;

/// Static checks on one mount entry, run before anything is created.
pub fn validate_mount(m: &Mount) -> Result<(), String> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]))?;
    let typ = m.typ().as_deref().unwrap_or("");
    let is_bind = opts.bind || typ == "bind";
    if is_bind && m.source().is_none() {
        return Err("a bind mount needs a source".to_string());
    }
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err("idmapped mounts (uidMappings/gidMappings) are not supported yet".to_string());
    }
    if m.destination()
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err("'..' is not allowed in a mount destination".to_string());
    }
    if !is_bind && typ.is_empty() {
        return Err("a mount needs a type (or the bind option)".to_string());
    }
    Ok(())
}

/// Opens (creating directories as needed) `rel` inside the root `root`, never leaving it.
/// `file` makes the last component an empty regular file (bind-mounting a file needs one).
pub fn mkdir_all_in_root(
    root: BorrowedFd<'_>,
    rel: &Path,
    file: bool,
) -> Result<OwnedFd, RootfsError> {
    let rel = clean_rel(rel);
    match sys::openat2(root, &rel, libc::O_PATH, 0, RESOLVE) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(source) => return Err(io_err("unable to resolve", &rel)(source)),
    }
    let comps: Vec<&std::ffi::OsStr> = rel.iter().collect();
    // The common case, only the last component missing, costs one more lookup instead of one
    // per component; otherwise the walk starts at the root.
    let mut start = 0;
    let mut prefix = PathBuf::new();
    let mut parent = None;
    if comps.len() > 1 {
        let up: PathBuf = comps[..comps.len() - 1].iter().collect();
        if let Ok(fd) = sys::openat2(root, &up, libc::O_PATH, 0, RESOLVE) {
            parent = Some(fd);
            start = comps.len() - 1;
            prefix = up;
        }
    }
    let mut parent = match parent {
        Some(fd) => fd,
        None => sys::openat2(root, Path::new("."), libc::O_PATH, 0, RESOLVE)
            .map_err(io_err("unable to open", &rel))?,
    };
    for (i, c) in comps.iter().enumerate().skip(start) {
        prefix.push(c);
        let last = i + 1 == comps.len();
        if !last {
            match sys::openat2(root, &prefix, libc::O_PATH, 0, RESOLVE) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(source) => return Err(io_err("unable to resolve", &prefix)(source)),
            }
        }
        parent = create_in(root, parent.as_fd(), c, &prefix, last && file)?;
    }
    Ok(parent)
}

/// Creates `name` (a directory, or an empty file) in `parent`, then resolves `prefix`, the
/// path it was created at, from the root again: whatever is there now is what counts.
fn create_in(
    root: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    prefix: &Path,
    file: bool,
) -> Result<OwnedFd, RootfsError> {
    let name = Path::new(name);
    let created = if file {
        sys::openat(
            parent,
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o644,
        )
        .map(drop)
    } else {
        sys::mkdirat(parent, name, 0o755)
    };
    match created {
        Ok(()) => {}
        // Something appeared (or a dangling symlink is in the way): re-resolve below.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(source) => return Err(io_err("unable to create", prefix)(source)),
    }
    sys::openat2(root, prefix, libc::O_PATH, 0, RESOLVE).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            RootfsError::Invalid(format!(
                "unable to create {}: a dangling symlink is in the way",
                prefix.display()
            ))
        } else {
            io_err("unable to resolve", prefix)(e)
        }
    })
}

/// A destination as a path relative to the container root (relative destinations are
/// relative to "/" since runtime-spec 1.2).
fn clean_rel(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

fn c(s: &str) -> Result<CString, RootfsError> {
    CString::new(s).map_err(|_| RootfsError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// Runs before the mounts: makes the host's mounts slaves of ours (so nothing we do leaks
/// back), and turns the rootfs into a mount point of its own so pivot_root can use it.
pub fn prepare(ctx: &Context<'_>) -> Result<OwnedFd, RootfsError> {
    let linux = ctx.spec.linux().as_ref();
    let flag = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    sys::mount(None, Path::new("/"), None, flag, None).map_err(|err| RootfsError::Mount {
        source_desc: String::new(),
        dest: "/".into(),
        fstype: "propagation".into(),
        err,
    })?;
    if flag & libc::MS_SHARED != 0 {
        // pivot_root refuses a new root whose parent mount is shared.
        make_parent_private(ctx.rootfs)?;
    }
    let src = sys::cstr(ctx.rootfs).map_err(io_err("bad rootfs path", ctx.rootfs))?;
    sys::mount(
        Some(&src),
        ctx.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|err| RootfsError::Mount {
        source_desc: ctx.rootfs.display().to_string(),
        dest: ctx.rootfs.to_path_buf(),
        fstype: "bind".into(),
        err,
    })?;
    sys::open(ctx.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(io_err("unable to open rootfs", ctx.rootfs))
}

fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("unable to read", Path::new("/proc/self/mountinfo")))?;
    let parent = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| rootfs.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .unwrap_or("/");
    sys::mount(None, Path::new(parent), None, libc::MS_PRIVATE, None).map_err(|err| {
        RootfsError::Mount {
            source_desc: String::new(),
            dest: parent.into(),
            fstype: "propagation".into(),
            err,
        }
    })
}

/// Performs every mount of config.json inside the rootfs, then creates devices.
pub fn mount_all(ctx: &Context<'_>, root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let mounts = ctx.spec.mounts().as_deref().unwrap_or(&[]);
    for m in mounts {
        mount_one(ctx, root, m)?;
    }
    let bind_dev = mounts.iter().any(|m| {
        clean_rel(m.destination()) == Path::new("dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_deref()
                    .unwrap_or(&[])
                    .iter()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    devices::create_all(ctx, root, !bind_dev)
}

fn mount_one(ctx: &Context<'_>, root: BorrowedFd<'_>, m: &Mount) -> Result<(), RootfsError> {
    let opts =
        options::parse(m.options().as_deref().unwrap_or(&[])).map_err(RootfsError::Invalid)?;
    let dest = clean_rel(m.destination());
    let mut typ = m.typ().as_deref().unwrap_or("").to_string();
    let mut opts = opts;
    let mut src = m.source().clone();
    if typ == "sysfs" && ctx.userns && !ctx.new_netns {
        // A user namespace may not mount sysfs for a network namespace it does not own:
        // bind the host's /sys instead, as runc does.
        typ = "bind".into();
        opts.bind = true;
        opts.recursive_bind = true;
        src = Some(PathBuf::from("/sys"));
    }
    let kernel_fs = KERNEL_FS.contains(&typ.as_str()) || dest == Path::new("dev");
    if kernel_fs {
        refuse_symlinks(root, &dest, &typ)?;
    }
    if typ == "cgroup" {
        return mount_cgroup(ctx, root, &dest, &opts);
    }
    if opts.bind || typ == "bind" {
        // validate_mount guarantees a source for bind mounts.
        let src = src.unwrap_or_default();
        return bind_mount(root, &src, &dest, &opts, &typ);
    }
    let mut target = mkdir_all_in_root(root, &dest, false)?;
    if kernel_fs {
        // Mount onto a directory reached without any symlink, even one planted meanwhile.
        target = refuse_symlinks(root, &dest, &typ)?
            .ok_or_else(|| RootfsError::Invalid(format!("{} vanished", dest.display())))?;
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.clone());
    // tmpcopyup: the image's content of the destination, read through an fd taken before the
    // tmpfs covers it.
    let copy_from = if opts.tmpcopyup && typ == "tmpfs" {
        Some(
            sys::openat2(root, &dest, libc::O_RDONLY | libc::O_DIRECTORY, 0, RESOLVE)
                .map_err(io_err("unable to open for tmpcopyup", &dest))?,
        )
    } else {
        None
    };
    let data = opts.data.join(",");
    let csrc = c(&source)?;
    let ctyp = c(&typ)?;
    let cdata = c(&data)?;
    sys::mount(
        Some(&csrc),
        &sys::fd_path(target.as_fd()),
        Some(&ctyp),
        opts.flags,
        if data.is_empty() { None } else { Some(&cdata) },
    )
    .map_err(|err| RootfsError::Mount {
        source_desc: source.clone(),
        dest: m.destination().clone(),
        fstype: typ.clone(),
        err,
    })?;
    if let Some(from) = copy_from {
        let top = sys::openat2(root, &dest, libc::O_RDONLY | libc::O_DIRECTORY, 0, RESOLVE)
            .map_err(io_err("unable to open the new tmpfs", &dest))?;
        copy_tree(from.as_fd(), top.as_fd()).map_err(io_err(
            "tmpcopyup: unable to copy the image's content to",
            &dest,
        ))?;
    }
    after_mount(root, &dest, &opts)
}

/// Copies the tree under the directory `from` into the empty directory `to`, keeping modes
/// and owners; symlinks are copied as links. Used for `tmpcopyup` before the container runs.
/// The source is the image's tree, which another container sharing it may change meanwhile:
/// it is walked by fd with O_NOFOLLOW, never by path, so a directory swapped for a symlink
/// fails the copy instead of copying the host tree it points at.
fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    use nix::fcntl::{OFlag, openat, readlinkat};
    use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat, fstatat, mkdirat, mknodat};
    use nix::unistd::{Gid, Uid, fchownat, symlinkat};
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let no_follow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let mut dir = nix::dir::Dir::from_fd(openat(from, ".", dir_flags, Mode::empty())?)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let st = fstatat(from, name, no_follow)?;
        let kind = st.st_mode & libc::S_IFMT;
        match kind {
            libc::S_IFLNK => symlinkat(Path::new(&readlinkat(from, name)?), to, name)?,
            libc::S_IFDIR => {
                mkdirat(to, name, Mode::S_IRWXU)?;
                let src = openat(from, name, dir_flags, Mode::empty())?;
                let dst = openat(to, name, dir_flags, Mode::empty())?;
                copy_tree(src.as_fd(), dst.as_fd())?;
            }
            libc::S_IFREG => {
                // O_NONBLOCK: a file swapped for a fifo must not hang the copy.
                let src = openat(
                    from,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                if fstat(&src)?.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Err(io::Error::other(format!(
                        "{} changed while it was copied",
                        name.to_string_lossy()
                    )));
                }
                let dst = openat(
                    to,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )?;
                io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))?;
            }
            // Devices, fifos and sockets: the same node.
            _ => mknodat(
                to,
                name,
                SFlag::from_bits_truncate(kind),
                Mode::S_IRUSR | Mode::S_IWUSR,
                st.st_rdev,
            )?,
        }
        let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
        fchownat(to, name, Some(uid), Some(gid), no_follow)?;
        if kind != libc::S_IFLNK {
            // After chown, which clears set-id bits. `to` is our fresh tmpfs: nothing in it
            // can be swapped.
            let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
            fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}

/// Filesystems whose mount point must be an ordinary directory: mounted through a symlink,
/// they would land (and hide) somewhere else in the rootfs, e.g. proc over /etc.
const KERNEL_FS: &[&str] = &["proc", "sysfs", "cgroup", "cgroup2", "mqueue", "devpts"];

/// Refuses a destination that is, or runs through, a symlink in the rootfs (runc: "must be
/// mounted on ordinary directory"); returns it opened when it exists.
fn refuse_symlinks(
    root: BorrowedFd<'_>,
    dest: &Path,
    typ: &str,
) -> Result<Option<OwnedFd>, RootfsError> {
    match sys::openat2(
        root,
        dest,
        libc::O_PATH,
        0,
        RESOLVE | sys::RESOLVE_NO_SYMLINKS,
    ) {
        Ok(fd) => {
            if !sys::fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR) {
                return Err(RootfsError::Invalid(format!(
                    "mount destination /{} for {typ} is not a directory in the rootfs",
                    dest.display()
                )));
            }
            Ok(Some(fd))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(RootfsError::Invalid(format!(
            "mount destination /{} for {typ} is a symlink (or goes through one) in the rootfs: \
             kernel filesystems must be mounted on ordinary directories",
            dest.display()
        ))),
        Err(source) => Err(io_err("unable to resolve", dest)(source)),
    }
}

/// Propagation and recursive attributes, applied to the mount now on top of `dest`.
fn after_mount(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &options::MountOptions,
) -> Result<(), RootfsError> {
    if opts.propagation.is_empty() && opts.rec_attr == sys::MountAttr::default() {
        return Ok(());
    }
    // Re-resolve: the fd we mounted onto names the directory under the new mount.
    let top = sys::openat2(root, dest, libc::O_PATH, 0, RESOLVE)
        .map_err(io_err("unable to resolve", dest))?;
    if opts.rec_attr != sys::MountAttr::default() {
        sys::mount_setattr(top.as_fd(), true, &opts.rec_attr).map_err(|err| {
            RootfsError::Mount {
                source_desc: "recursive attributes".into(),
                dest: dest.to_path_buf(),
                fstype: String::new(),
                err,
            }
        })?;
    }
    for p in &opts.propagation {
        sys::mount(None, &sys::fd_path(top.as_fd()), None, *p, None).map_err(|err| {
            RootfsError::Mount {
                source_desc: "propagation".into(),
                dest: dest.to_path_buf(),
                fstype: String::new(),
                err,
            }
        })?;
    }
    Ok(())
}

/// Bind mounts go through open_tree + mount_setattr + move_mount: the attributes are set on the
/// detached copy, so the mount never exists writable in the container, and the target is an fd.
fn bind_mount(
    root: BorrowedFd<'_>,
    src: &Path,
    dest: &Path,
    opts: &options::MountOptions,
    typ: &str,
) -> Result<(), RootfsError> {
    let mount_err = |err| RootfsError::Mount {
        source_desc: src.display().to_string(),
        dest: PathBuf::from("/").join(dest),
        fstype: if typ.is_empty() {
            "bind".into()
        } else {
            typ.to_string()
        },
        err,
    };
    let (tree, is_dir) = detached_bind(src, opts).map_err(mount_err)?;
    let target = mkdir_all_in_root(root, dest, !is_dir)?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(mount_err)?;
    let rest = options::MountOptions {
        propagation: opts.propagation.clone(),
        ..Default::default()
    };
    after_mount(root, dest, &rest)
}

/// A detached bind mount of host path `src` with the options' attributes already set, and
/// whether it is a directory.
fn detached_bind(src: &Path, opts: &options::MountOptions) -> io::Result<(OwnedFd, bool)> {
    let mut flags = sys::OPEN_TREE_CLONE;
    if opts.recursive_bind {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let tree = sys::open_tree(sys::cwd(), src, flags)?;
    let is_dir = sys::fstat(tree.as_fd()).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)?;
    if opts.attr != sys::MountAttr::default() {
        sys::mount_setattr(tree.as_fd(), false, &opts.attr)?;
    }
    if opts.rec_attr != sys::MountAttr::default() {
        sys::mount_setattr(tree.as_fd(), true, &opts.rec_attr)?;
    }
    Ok((tree, is_dir))
}

/// `type: cgroup`: a tmpfs with the container's own cgroup directory of every hierarchy bound
/// beneath it (works on v1, hybrid and v2 hosts, with or without a cgroup namespace).
fn mount_cgroup(
    ctx: &Context<'_>,
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &options::MountOptions,
) -> Result<(), RootfsError> {
    let ro = opts.flags & libc::MS_RDONLY != 0;
    let base_flags = opts.flags & !libc::MS_RDONLY;
    if ctx.cgroup_dirs.len() == 1 && ctx.cgroup_dirs[0].0.is_empty() {
        // Unified host: the container's cgroup2 directory is the whole tree.
        let bind = options::MountOptions {
            bind: true,
            recursive_bind: true,
            attr: opts.attr,
            ..Default::default()
        };
        return bind_mount(root, &ctx.cgroup_dirs[0].1, dest, &bind, "cgroup");
    }
    let target = mkdir_all_in_root(root, dest, false)?;
    let tmpfs = c("tmpfs")?;
    let data = c("mode=755")?;
    sys::mount(
        Some(&tmpfs),
        &sys::fd_path(target.as_fd()),
        Some(&tmpfs),
        base_flags,
        Some(&data),
    )
    .map_err(|err| RootfsError::Mount {
        source_desc: "tmpfs".into(),
        dest: PathBuf::from("/").join(dest),
        fstype: "cgroup".into(),
        err,
    })?;
    // The tmpfs is new and only ours: its directories are made and opened through its root,
    // with no path to resolve in the container's tree.
    let top = sys::openat2(root, dest, libc::O_PATH | libc::O_DIRECTORY, 0, RESOLVE)
        .map_err(io_err("unable to resolve", dest))?;
    let sub = options::MountOptions {
        bind: true,
        recursive_bind: false,
        attr: opts.attr,
        ..Default::default()
    };
    for (name, dir) in ctx.cgroup_dirs {
        let mount_err = |err| RootfsError::Mount {
            source_desc: dir.display().to_string(),
            dest: PathBuf::from("/").join(dest).join(name),
            fstype: "cgroup".into(),
            err,
        };
        let (tree, _) = detached_bind(dir, &sub).map_err(mount_err)?;
        let name = Path::new(name);
        sys::mkdirat(top.as_fd(), name, 0o755).map_err(mount_err)?;
        let target = sys::openat(
            top.as_fd(),
            name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(mount_err)?;
        sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(mount_err)?;
    }
    if ro {
        let attr = sys::MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        sys::mount_setattr(top.as_fd(), false, &attr).map_err(|err| RootfsError::Mount {
            source_desc: "tmpfs".into(),
            dest: PathBuf::from("/").join(dest),
            fstype: "cgroup".into(),
            err,
        })?;
    }
    Ok(())
}

/// pivot_root into the rootfs (runc's recipe: pivot_root(".", ".") then detach the old root),
/// or MS_MOVE + chroot with --no-pivot.
pub fn enter(ctx: &Context<'_>, root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let e = |what: &'static str| io_err(what, ctx.rootfs);
    if ctx.no_pivot {
        sys::fchdir(root).map_err(e("unable to chdir to rootfs"))?;
        let dot = c(".")?;
        sys::mount(Some(&dot), Path::new("/"), None, libc::MS_MOVE, None)
            .map_err(e("unable to move rootfs to /"))?;
        // SAFETY: chroot with a valid C string.
        if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
            return Err(e("unable to chroot")(io::Error::last_os_error()));
        }
    } else {
        let old = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(e("unable to open old root"))?;
        sys::fchdir(root).map_err(e("unable to chdir to rootfs"))?;
        sys::pivot_root_dot().map_err(e("pivot_root"))?;
        sys::fchdir(old.as_fd()).map_err(e("unable to chdir to old root"))?;
        // Make the old root a slave so the unmount does not propagate to the host.
        sys::mount(
            None,
            Path::new("."),
            None,
            libc::MS_SLAVE | libc::MS_REC,
            None,
        )
        .map_err(e("unable to make old root rslave"))?;
        sys::umount2(Path::new("."), libc::MNT_DETACH).map_err(e("unable to detach old root"))?;
    }
    std::env::set_current_dir("/").map_err(e("unable to chdir to /"))
}

/// After pivot_root: masked paths, read-only paths, read-only root.
pub fn finish(spec: &Spec) -> Result<(), RootfsError> {
    let slash = Path::new("/");
    let root = sys::open(slash, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(io_err("unable to open", slash))?;
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    if !masked.is_empty() {
        let devnull = verified_dev_null(root.as_fd())?;
        for p in masked {
            mask(root.as_fd(), devnull.as_fd(), Path::new(p))?;
        }
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        readonly(root.as_fd(), Path::new(p))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let attr = sys::MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        sys::mount_setattr(root.as_fd(), false, &attr)
            .map_err(io_err("unable to make read-only", slash))?;
    }
    Ok(())
}

/// The container's /dev/null, checked to be the real character device 1:3 (CVE-2025-31133:
/// an image could plant a symlink or a regular file there to redirect the masking bind).
fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd, RootfsError> {
    let p = Path::new("dev/null");
    let fd = sys::openat2(root, p, libc::O_PATH, 0, RESOLVE | sys::RESOLVE_NO_SYMLINKS).map_err(
        |_| RootfsError::FakeDevNull {
            path: "/dev/null".into(),
        },
    )?;
    let st = sys::fstat(fd.as_fd()).map_err(io_err("unable to stat", p))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(RootfsError::FakeDevNull {
            path: "/dev/null".into(),
        });
    }
    Ok(fd)
}

fn mask(root: BorrowedFd<'_>, devnull: BorrowedFd<'_>, p: &Path) -> Result<(), RootfsError> {
    let rel = clean_rel(p);
    let target = match sys::openat2(root, &rel, libc::O_PATH | libc::O_NOFOLLOW, 0, RESOLVE) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(source) => return Err(io_err("unable to resolve masked path", p)(source)),
    };
    let st = sys::fstat(target.as_fd()).map_err(io_err("unable to stat", p))?;
    let merr = |err| RootfsError::Mount {
        source_desc: "mask".into(),
        dest: p.to_path_buf(),
        fstype: String::new(),
        err,
    };
    let tree = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::detached_tmpfs_ro().map_err(merr)?
    } else {
        sys::open_tree(
            devnull,
            Path::new(""),
            sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32,
        )
        .map_err(merr)?
    };
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(merr)
}

fn readonly(root: BorrowedFd<'_>, p: &Path) -> Result<(), RootfsError> {
    let rel = clean_rel(p);
    let target = match sys::openat2(root, &rel, libc::O_PATH, 0, RESOLVE) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(source) => return Err(io_err("unable to resolve read-only path", p)(source)),
    };
    let merr = |err| RootfsError::Mount {
        source_desc: "readonly".into(),
        dest: p.to_path_buf(),
        fstype: "bind".into(),
        err,
    };
    let tree = sys::open_tree(
        target.as_fd(),
        Path::new(""),
        sys::OPEN_TREE_CLONE | libc::AT_RECURSIVE as u32 | libc::AT_EMPTY_PATH as u32,
    )
    .map_err(merr)?;
    let attr = sys::MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    sys::mount_setattr(tree.as_fd(), true, &attr).map_err(merr)?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(merr)
}
