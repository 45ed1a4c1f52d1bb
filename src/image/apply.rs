//! Applying one layer (a tar changeset) onto the rootfs, with the image-spec's whiteout rules
//! (layer.md): `.wh.NAME` deletes NAME from lower layers, `.wh..wh..opq` hides everything a
//! directory had from lower layers, whiteout files never appear, a bare `.wh.` is an error,
//! a directory over a directory merges, any other type change replaces.
//!
//! Entry names are cleaned lexically first (`..` cannot climb above `/`, a leading `/` is
//! dropped); the parent directory is then resolved with `resolve::Root` (in-root symlink
//! resolution) and the entry is created with `*at` calls that never follow its own name.

use crate::image::resolve::{self, ResolveError, Root, clean, is_dir, lstat_at};
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by main's signal thread on SIGINT/SIGTERM/SIGHUP: the unpacker stops at the next
/// entry (or chunk of a large file) and the normal error path removes the half-made bundle.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("interrupted by a signal")]
    Interrupted,
    #[error("reading the layer's tar stream: {0}")]
    Tar(io::Error),
    #[error("the layer's tar stream ends inside an entry's data")]
    Truncated,
    #[error("tar entry {path:?}: a bare \".wh.\" whiteout is invalid")]
    BareWhiteout { path: String },
    #[error("tar entry {path:?}: a whiteout of \".\" or \"..\" is invalid")]
    BadWhiteout { path: String },
    #[error("tar entry {path:?}: unsupported entry type {kind:?}")]
    UnsupportedType { path: String, kind: u8 },
    #[error("tar entry {path:?}: hard link target {target:?} does not exist in the rootfs")]
    LinkTarget { path: String, target: String },
    #[error("tar entry {path:?}: the root directory can only be a directory")]
    RootType { path: String },
    #[error("tar entry {path:?}: {what} {id} is not in the {what} map")]
    Unmapped {
        path: String,
        what: &'static str,
        id: u64,
    },
    #[error("tar entry {path:?}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// One `container:host:size` range of an id map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    pub fn parse(s: &str) -> Result<IdMap, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |p: &str| {
            p.parse::<u32>()
                .map_err(|_| format!("invalid id map {s:?}: want container:host[:size]"))
        };
        let (container, host, size) = match parts.as_slice() {
            [c, h] => (num(c)?, num(h)?, 1),
            [c, h, n] => (num(c)?, num(h)?, num(n)?),
            _ => return Err(format!("invalid id map {s:?}: want container:host[:size]")),
        };
        if size == 0
            || container.checked_add(size - 1).is_none()
            || host.checked_add(size - 1).is_none()
        {
            return Err(format!("invalid id map {s:?}: bad size"));
        }
        Ok(IdMap {
            container,
            host,
            size,
        })
    }
}

fn map_id(maps: &[IdMap], id: u64) -> Option<u32> {
    if maps.is_empty() {
        return u32::try_from(id).ok();
    }
    let id = u32::try_from(id).ok()?;
    maps.iter()
        .find(|m| id >= m.container && id - m.container < m.size)
        .map(|m| m.host + (id - m.container))
}

pub struct Options {
    /// Unpacking as a non-root user: no device nodes, ownership only where permitted,
    /// directories kept writable until the end.
    pub rootless: bool,
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
}

#[derive(Default)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
    pub skipped_devices: u64,
    pub ignored_chown: u64,
    pub ignored_xattrs: u64,
}

struct DirMeta {
    mode: u32,
    mtime: libc::timespec,
}

pub struct Applier {
    root: Root,
    opts: Options,
    euid: u32,
    egid: u32,
    /// Directory modes and mtimes, applied once every layer is in (later entries would
    /// bump an mtime; as non-root a read-only directory must stay writable until then).
    dirs: HashMap<PathBuf, DirMeta>,
    buf: Vec<u8>,
    pub stats: Stats,
}

enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// Some writers (umoci 0.4's `insert`, for one) end a layer right after the last entry's
/// data, without the padding and the two zero blocks that mark the end of a tar archive.
/// Like Go's archive/tar we accept that: at EOF this reader supplies the missing zeros, and
/// `apply_layer` then checks that every entry's data was really in the stream (a layer cut
/// inside an entry is still an error).
struct EofPad<R> {
    inner: R,
    real: u64,
    synthetic: u64,
}

const PAD_MAX: u64 = 1024 + 511;

impl<R: Read> Read for EofPad<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.synthetic == 0 {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.real += n as u64;
                return Ok(n);
            }
        }
        let n = buf
            .len()
            .min(usize::try_from(PAD_MAX - self.synthetic).unwrap_or(0));
        buf[..n].fill(0);
        self.synthetic += n as u64;
        Ok(n)
    }
}

fn cstr(name: &OsStr, shown: &Path) -> Result<CString, ApplyError> {
    CString::new(name.as_bytes()).map_err(|_| ApplyError::Io {
        path: shown.display().to_string(),
        op: "name",
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Io {
        path: path.display().to_string(),
        op,
        source,
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn timespec(secs: f64) -> libc::timespec {
    let s = secs.floor();
    libc::timespec {
        tv_sec: s as libc::time_t,
        tv_nsec: (((secs - s) * 1e9) as libc::c_long).clamp(0, 999_999_999),
    }
}

impl Applier {
    pub fn new(rootfs: &Path, opts: Options) -> Result<Applier, ApplyError> {
        let root = Root::open(rootfs, opts.rootless)?;
        Ok(Applier {
            root,
            opts,
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
            dirs: HashMap::new(),
            buf: vec![0u8; 1 << 20],
            stats: Stats::default(),
        })
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.root.fd()
    }

    /// Applies one uncompressed layer. Reads the tar stream up to its end-of-archive
    /// marker; the caller drains whatever follows (so digests cover the whole blob).
    pub fn apply_layer<R: Read>(&mut self, r: R) -> Result<(), ApplyError> {
        let mut pad = EofPad {
            inner: r,
            real: 0,
            synthetic: 0,
        };
        let mut data_end = 0u64;
        let result = (|| {
            let mut ar = tar::Archive::new(&mut pad);
            let mut this_layer: HashSet<PathBuf> = HashSet::new();
            for entry in ar.entries().map_err(ApplyError::Tar)? {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(ApplyError::Interrupted);
                }
                let mut entry = entry.map_err(ApplyError::Tar)?;
                data_end = entry.raw_file_position().saturating_add(entry.size());
                self.entry(&mut entry, &mut this_layer)?;
            }
            Ok(())
        })();
        if pad.synthetic > 0 && pad.real < data_end {
            return Err(ApplyError::Truncated);
        }
        result
    }

    fn entry<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        this_layer: &mut HashSet<PathBuf>,
    ) -> Result<(), ApplyError> {
        let raw_path = e.path_bytes().into_owned();
        let path = clean(&raw_path);
        let shown_raw = String::from_utf8_lossy(&raw_path).into_owned();
        let et = e.header().entry_type();
        let kind = match et {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            tar::EntryType::Char => Kind::Char,
            tar::EntryType::Block => Kind::Block,
            tar::EntryType::Fifo => Kind::Fifo,
            // A global PAX header only carries defaults we do not use.
            tar::EntryType::XGlobalHeader => return Ok(()),
            other => {
                return Err(ApplyError::UnsupportedType {
                    path: shown_raw,
                    kind: other.as_byte(),
                });
            }
        };
        self.stats.entries += 1;

        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
            _ => {
                // The root directory itself ("./" or "/").
                if !matches!(kind, Kind::Dir) {
                    return Err(ApplyError::RootType { path: shown_raw });
                }
                return self.root_dir_meta(e);
            }
        };

        // Whiteouts.
        let nb = name.as_bytes();
        if let Some(rest) = nb.strip_prefix(b".wh.") {
            if rest.is_empty() {
                return Err(ApplyError::BareWhiteout { path: shown_raw });
            }
            if rest == b"." || rest == b".." {
                return Err(ApplyError::BadWhiteout { path: shown_raw });
            }
            if rest == b".wh..opq" {
                return self.opaque(&parent, this_layer);
            }
            if rest.starts_with(b".wh.") {
                // Other `.wh..wh.` names are aufs metadata: never part of the result.
                return Ok(());
            }
            let target = parent.join(OsStr::from_bytes(rest));
            if this_layer.contains(&target) {
                // A whiteout only hides lower layers' content.
                return Ok(());
            }
            let Some(dir) = self.root.dir(&parent, false)? else {
                return Ok(());
            };
            let dir = dup_fd(dir, &path)?;
            self.root
                .remove_all_at(dir.as_fd(), OsStr::from_bytes(rest), &target)?;
            return Ok(());
        }

        let dir = self
            .root
            .dir(&parent, true)?
            .ok_or_else(|| ApplyError::Io {
                path: shown_raw.clone(),
                op: "resolve parent",
                source: io::Error::from_raw_os_error(libc::ENOENT),
            })?;
        let dir = dup_fd(dir, &path)?;
        let dirfd = dir.as_fd();
        let cname = cstr(&name, &path)?;

        // What is there already (from a lower layer or an earlier entry)?
        let existing = lstat_at(dirfd, &name).map_err(io_err(&path, "lstat"))?;
        let merge = existing.is_some_and(|st| matches!(kind, Kind::Dir) && is_dir(&st));
        if existing.is_some() && !merge {
            self.root.remove_all_at(dirfd, &name, &path)?;
        }

        let hdr = e.header().clone();
        let mode = hdr.mode().map_err(ApplyError::Tar)? & 0o7777;
        let uid = hdr.uid().map_err(ApplyError::Tar)?;
        let gid = hdr.gid().map_err(ApplyError::Tar)?;
        let mut mtime = hdr.mtime().map_err(ApplyError::Tar)? as f64;
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if let Some(pax) = e.pax_extensions().map_err(ApplyError::Tar)? {
            for ext in pax {
                let ext = ext.map_err(ApplyError::Tar)?;
                let key = ext.key_bytes();
                if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((x.to_vec(), ext.value_bytes().to_vec()));
                } else if key == b"mtime"
                    && let Ok(v) = ext.value()
                    && let Ok(t) = v.parse::<f64>()
                    && t.is_finite()
                {
                    mtime = t;
                }
            }
        }
        let (uid, gid) = self.map_owner(uid, gid, &shown_raw)?;
        let ts = timespec(mtime);

        match kind {
            Kind::File => {
                // SAFETY: `cname` is NUL-terminated; O_EXCL|O_NOFOLLOW: we create a new file
                // and never open through a symlink.
                let fd = unsafe {
                    libc::openat(
                        dirfd.as_raw_fd(),
                        cname.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        // The final permission bits right away (umask is 0): the new fd is
                        // writable whatever they are, and a chmod is saved.
                        mode & 0o777,
                    )
                };
                if fd < 0 {
                    return Err(io_err(&path, "create file")(io::Error::last_os_error()));
                }
                // SAFETY: a fresh fd owned by nobody else.
                let file = unsafe { std::fs::File::from_raw_fd(fd) };
                self.copy_content(e, &file, &path)?;
                let fd = file.as_raw_fd();
                self.chown_fd(fd, uid, gid, &path)?;
                if mode & 0o7000 != 0 {
                    // SAFETY: `fd` is the open file; after chown, which clears setuid/setgid.
                    check(unsafe { libc::fchmod(fd, mode) }).map_err(io_err(&path, "chmod"))?;
                }
                self.xattrs_fd(fd, &xattrs, &path)?;
                let times = [ts, ts];
                // SAFETY: `times` is an array of two timespecs, as futimens requires.
                check(unsafe { libc::futimens(fd, times.as_ptr()) })
                    .map_err(io_err(&path, "utimes"))?;
            }
            Kind::Dir => {
                if !merge {
                    // SAFETY: `cname` is NUL-terminated; `dirfd` a directory fd.
                    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), cname.as_ptr(), 0o700) })
                        .map_err(io_err(&path, "mkdir"))?;
                }
                let sub =
                    resolve::open_dir_read(dirfd, &cname).map_err(io_err(&path, "open dir"))?;
                let fd = sub.as_raw_fd();
                self.chown_fd(fd, uid, gid, &path)?;
                let now_mode = if self.opts.rootless {
                    mode | 0o700
                } else {
                    mode
                };
                // SAFETY: `fd` is the directory we just opened without following symlinks.
                check(unsafe { libc::fchmod(fd, now_mode) }).map_err(io_err(&path, "chmod"))?;
                self.xattrs_fd(fd, &xattrs, &path)?;
                self.dirs.insert(path.clone(), DirMeta { mode, mtime: ts });
            }
            Kind::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let ct = CString::new(target).map_err(|_| {
                    io_err(&path, "symlink target")(io::Error::from_raw_os_error(libc::EINVAL))
                })?;
                // SAFETY: both strings are NUL-terminated; the link is created, never followed.
                check(unsafe { libc::symlinkat(ct.as_ptr(), dirfd.as_raw_fd(), cname.as_ptr()) })
                    .map_err(io_err(&path, "symlink"))?;
                self.chown_at(dirfd, &cname, uid, gid, &path)?;
                self.xattrs_at(dirfd, &name, &xattrs, &path)?;
                let times = [ts, ts];
                // SAFETY: NUL-terminated name, two timespecs, AT_SYMLINK_NOFOLLOW.
                check(unsafe {
                    libc::utimensat(
                        dirfd.as_raw_fd(),
                        cname.as_ptr(),
                        times.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })
                .map_err(io_err(&path, "utimes"))?;
            }
            Kind::Hardlink => {
                let raw = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let target = clean(&raw);
                let shown_target = String::from_utf8_lossy(&raw).into_owned();
                let missing = || ApplyError::LinkTarget {
                    path: shown_raw.clone(),
                    target: shown_target.clone(),
                };
                let (tp, tn) = match (target.parent(), target.file_name()) {
                    (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
                    _ => return Err(missing()),
                };
                let tdir = match self.root.dir(&tp, false)? {
                    Some(d) => dup_fd(d, &path)?,
                    None => return Err(missing()),
                };
                let ctn = cstr(&tn, &path)?;
                // Flags 0: a symlink target is linked itself, never followed; both ends are
                // fds resolved inside the root.
                // SAFETY: NUL-terminated names, valid directory fds.
                let r = unsafe {
                    libc::linkat(
                        tdir.as_raw_fd(),
                        ctn.as_ptr(),
                        dirfd.as_raw_fd(),
                        cname.as_ptr(),
                        0,
                    )
                };
                if r != 0 {
                    let err = io::Error::last_os_error();
                    if err.raw_os_error() == Some(libc::ENOENT) {
                        return Err(missing());
                    }
                    return Err(io_err(&path, "hard link")(err));
                }
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (ftype, dev) = match kind {
                    Kind::Char | Kind::Block => {
                        if self.opts.rootless {
                            self.stats.skipped_devices += 1;
                            return Ok(());
                        }
                        let major = hdr.device_major().map_err(ApplyError::Tar)?.unwrap_or(0);
                        let minor = hdr.device_minor().map_err(ApplyError::Tar)?.unwrap_or(0);
                        let t = if matches!(kind, Kind::Char) {
                            libc::S_IFCHR
                        } else {
                            libc::S_IFBLK
                        };
                        (t, libc::makedev(major, minor))
                    }
                    _ => (libc::S_IFIFO, 0),
                };
                // SAFETY: NUL-terminated name; mknodat creates, never follows.
                check(unsafe {
                    libc::mknodat(
                        dirfd.as_raw_fd(),
                        cname.as_ptr(),
                        ftype | (mode & 0o777),
                        dev,
                    )
                })
                .map_err(io_err(&path, "mknod"))?;
                self.chown_at(dirfd, &cname, uid, gid, &path)?;
                if mode & 0o7000 != 0 {
                    // The node was just made by us in a directory fd we hold: not a symlink.
                    // SAFETY: NUL-terminated name.
                    check(unsafe { libc::fchmodat(dirfd.as_raw_fd(), cname.as_ptr(), mode, 0) })
                        .map_err(io_err(&path, "chmod"))?;
                }
                self.xattrs_at(dirfd, &name, &xattrs, &path)?;
                let times = [ts, ts];
                // SAFETY: NUL-terminated name, two timespecs.
                check(unsafe {
                    libc::utimensat(
                        dirfd.as_raw_fd(),
                        cname.as_ptr(),
                        times.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })
                .map_err(io_err(&path, "utimes"))?;
            }
        }
        this_layer.insert(path);
        Ok(())
    }

    /// Container ids to host ids. As non-root, ids outside the maps cannot be represented
    /// anyway: they become the unpacking user's (counted in the stats).
    fn map_owner(&mut self, uid: u64, gid: u64, shown: &str) -> Result<(u32, u32), ApplyError> {
        let u = map_id(&self.opts.uid_map, uid);
        let g = map_id(&self.opts.gid_map, gid);
        if self.opts.rootless {
            if u.is_none() || g.is_none() {
                self.stats.ignored_chown += 1;
            }
            return Ok((u.unwrap_or(self.euid), g.unwrap_or(self.egid)));
        }
        let u = u.ok_or(ApplyError::Unmapped {
            path: shown.to_string(),
            what: "uid",
            id: uid,
        })?;
        let g = g.ok_or(ApplyError::Unmapped {
            path: shown.to_string(),
            what: "gid",
            id: gid,
        })?;
        Ok((u, g))
    }

    fn copy_content<R: Read>(
        &mut self,
        e: &mut R,
        file: &std::fs::File,
        path: &Path,
    ) -> Result<(), ApplyError> {
        use std::io::Write;
        let mut out = file;
        loop {
            if INTERRUPTED.load(Ordering::Relaxed) {
                return Err(ApplyError::Interrupted);
            }
            let n = match e.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(ApplyError::Tar(err)),
            };
            self.stats.bytes += n as u64;
            out.write_all(&self.buf[..n])
                .map_err(io_err(path, "write"))?;
        }
    }

    fn chown_ok(&mut self, r: io::Result<()>, path: &Path) -> Result<(), ApplyError> {
        match r {
            Ok(()) => Ok(()),
            Err(e)
                if self.opts.rootless
                    && matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL)) =>
            {
                self.stats.ignored_chown += 1;
                Ok(())
            }
            Err(e) => Err(io_err(path, "chown")(e)),
        }
    }

    fn chown_fd(
        &mut self,
        fd: libc::c_int,
        uid: u32,
        gid: u32,
        path: &Path,
    ) -> Result<(), ApplyError> {
        if self.opts.rootless && uid == self.euid && gid == self.egid {
            return Ok(());
        }
        // SAFETY: `fd` is an open fd of ours.
        let r = check(unsafe { libc::fchown(fd, uid, gid) });
        self.chown_ok(r, path)
    }

    fn chown_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CString,
        uid: u32,
        gid: u32,
        path: &Path,
    ) -> Result<(), ApplyError> {
        if self.opts.rootless && uid == self.euid && gid == self.egid {
            return Ok(());
        }
        // SAFETY: NUL-terminated name; AT_SYMLINK_NOFOLLOW changes the entry itself.
        let r = check(unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        });
        self.chown_ok(r, path)
    }

    fn xattr_ok(&mut self, r: io::Result<()>, path: &Path) -> Result<(), ApplyError> {
        match r {
            Ok(()) => Ok(()),
            // Not supported by the target filesystem for this name, or (as non-root) a
            // namespace we may not write: skipped and counted, like umoci does.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP))
                    || (self.opts.rootless && e.raw_os_error() == Some(libc::EPERM)) =>
            {
                self.stats.ignored_xattrs += 1;
                Ok(())
            }
            Err(e) => Err(io_err(path, "setxattr")(e)),
        }
    }

    fn xattrs_fd(
        &mut self,
        fd: libc::c_int,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        path: &Path,
    ) -> Result<(), ApplyError> {
        for (k, v) in xattrs {
            let ck = cstr(OsStr::from_bytes(k), path)?;
            // SAFETY: NUL-terminated name, value pointer/length from a live slice.
            let r =
                check(unsafe { libc::fsetxattr(fd, ck.as_ptr(), v.as_ptr().cast(), v.len(), 0) });
            self.xattr_ok(r, path)?;
        }
        Ok(())
    }

    /// xattrs of entries that cannot be opened (symlinks, devices, fifos): lsetxattr through
    /// the parent directory's fd, so only the final name is looked up and it is not followed.
    fn xattrs_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        path: &Path,
    ) -> Result<(), ApplyError> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        p.extend_from_slice(name.as_bytes());
        let cp = cstr(OsStr::from_bytes(&p), path)?;
        for (k, v) in xattrs {
            let ck = cstr(OsStr::from_bytes(k), path)?;
            // SAFETY: NUL-terminated path and name, value from a live slice.
            let r = check(unsafe {
                libc::lsetxattr(cp.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0)
            });
            self.xattr_ok(r, path)?;
        }
        Ok(())
    }

    fn root_dir_meta<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), ApplyError> {
        let hdr = e.header();
        let mode = hdr.mode().map_err(ApplyError::Tar)? & 0o7777;
        let mtime = hdr.mtime().map_err(ApplyError::Tar)? as f64;
        self.dirs.insert(
            PathBuf::new(),
            DirMeta {
                mode,
                mtime: timespec(mtime),
            },
        );
        Ok(())
    }

    /// `.wh..wh..opq` in `dir`: removes everything below it that this layer did not add.
    fn opaque(&mut self, dir: &Path, this_layer: &HashSet<PathBuf>) -> Result<(), ApplyError> {
        let Some(fd) = self.root.dir(dir, false)? else {
            return Ok(());
        };
        let fd = dup_fd(fd, dir)?;
        self.root.invalidate();
        prune(fd.as_fd(), dir, this_layer, self.opts.rootless)
    }

    /// Applies the deferred directory modes and mtimes, deepest first.
    pub fn finish(&mut self) -> Result<(), ApplyError> {
        let mut dirs: Vec<(PathBuf, DirMeta)> = self.dirs.drain().collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (path, meta) in dirs {
            let (fd, shown) = if path.as_os_str().is_empty() {
                let fd = resolve::open_dir_read(self.root.fd(), &CString::from(c"."))
                    .map_err(io_err(&path, "open dir"))?;
                (fd, PathBuf::from("/"))
            } else {
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    continue;
                };
                let Some(pfd) = self.root.dir(parent, false)? else {
                    continue;
                };
                let pfd = dup_fd(pfd, &path)?;
                let cname = cstr(name, &path)?;
                // Still a directory under that name (not replaced by a later layer)?
                match lstat_at(pfd.as_fd(), name) {
                    Ok(Some(st)) if is_dir(&st) => {}
                    _ => continue,
                }
                let fd = resolve::open_dir_read(pfd.as_fd(), &cname)
                    .map_err(io_err(&path, "open dir"))?;
                (fd, path.clone())
            };
            let raw = fd.as_raw_fd();
            if path.as_os_str().is_empty() || self.opts.rootless {
                // SAFETY: `raw` is a directory fd we hold.
                check(unsafe { libc::fchmod(raw, meta.mode) }).map_err(io_err(&shown, "chmod"))?;
            }
            let times = [meta.mtime, meta.mtime];
            // SAFETY: `raw` is an open directory fd; two timespecs as futimens requires.
            check(unsafe { libc::futimens(raw, times.as_ptr()) })
                .map_err(io_err(&shown, "utimes"))?;
        }
        Ok(())
    }
}

/// Duplicates a borrowed fd so the `Root` cache can be mutated while we use it.
fn dup_fd(fd: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, ApplyError> {
    fd.try_clone_to_owned().map_err(io_err(path, "dup"))
}

fn prune(
    dir: BorrowedFd<'_>,
    rel: &Path,
    keep: &HashSet<PathBuf>,
    rootless: bool,
) -> Result<(), ApplyError> {
    let rd = resolve::open_dir_read(dir, &CString::from(c".")).map_err(io_err(rel, "open dir"))?;
    let names: Vec<OsString> = resolve::list_dir(&rd).map_err(io_err(rel, "read dir"))?;
    for n in names {
        let child = rel.join(&n);
        if keep.contains(&child) {
            if let Ok(Some(st)) = lstat_at(rd.as_fd(), &n)
                && is_dir(&st)
            {
                let cn = cstr(&n, &child)?;
                let sub =
                    resolve::open_dir_read(rd.as_fd(), &cn).map_err(io_err(&child, "open dir"))?;
                prune(sub.as_fd(), &child, keep, rootless)?;
            }
        } else {
            resolve::remove_all_at(rd.as_fd(), &n, rootless).map_err(io_err(&child, "remove"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_contains_names() {
        assert_eq!(clean(b"../../etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(clean(b"/abs/x"), PathBuf::from("abs/x"));
        assert_eq!(clean(b"./a/./b/../c/"), PathBuf::from("a/c"));
        assert_eq!(clean(b"./"), PathBuf::new());
    }

    #[test]
    fn id_maps() {
        let m = IdMap::parse("0:1000:10").expect("map");
        assert_eq!(map_id(&[m], 3), Some(1003));
        assert_eq!(map_id(&[m], 10), None);
        assert!(IdMap::parse("0:1").is_ok());
        assert!(IdMap::parse("x:1").is_err());
        assert!(IdMap::parse("0:1:0").is_err());
    }
}
