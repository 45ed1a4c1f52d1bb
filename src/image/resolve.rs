//! Secure path resolution inside the rootfs being built.
//!
//! Every write of the unpacker goes through a directory fd obtained here with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: symlinks planted by the image (by an
//! earlier layer or an earlier entry of the same layer) are resolved as if the rootfs were
//! `/`, so they can never lead outside it. The last component of a path is never followed:
//! callers use the `*at` calls here, all with `AT_SYMLINK_NOFOLLOW` / `O_NOFOLLOW` semantics.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot open rootfs {path}: {source}")]
    OpenRoot { path: String, source: io::Error },
    #[error("cannot resolve /{path} inside the rootfs: {source}")]
    Resolve { path: String, source: io::Error },
    #[error("cannot create directory /{path} inside the rootfs: {source}")]
    Mkdir { path: String, source: io::Error },
    #[error("/{path} inside the rootfs: {op}: {source}")]
    Op {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("file name contains a NUL byte: {0:?}")]
    Nul(OsString),
}

/// A path relative to the rootfs, already cleaned: no empty, `.` or `..` components.
pub(crate) type RelPath = Path;

fn cstr(name: &OsStr) -> Result<CString, ResolveError> {
    CString::new(name.as_bytes()).map_err(|_| ResolveError::Nul(name.to_os_string()))
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2(dirfd: RawFd, path: &CString, flags: u64, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags,
        mode: 0,
        resolve,
    };
    for _ in 0..16 {
        // SAFETY: `path` is a valid NUL-terminated string and `how` a properly initialised
        // open_how whose size we pass; the kernel does not keep either pointer.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("fd out of range"))?;
            // SAFETY: the kernel just returned this new fd; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = last_err();
        // EAGAIN: a concurrent rename raced with `..` resolution; try again.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Lexically cleans a tar name: drops empty, `.` and leading `/` components, and lets `..`
/// remove the previous component but never climb above the root.
pub(crate) fn clean(raw: &[u8]) -> PathBuf {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut p = PathBuf::new();
    for c in parts {
        p.push(OsStr::from_bytes(c));
    }
    p
}

fn readlink_at(dir: BorrowedFd<'_>, name: &CString) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `name` is NUL-terminated and `buf` writable for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(last_err());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Status of a directory entry, never following a final symlink.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<libc::stat>> {
    let c =
        CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `c` is NUL-terminated and `st` points to writable memory for one stat.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        // SAFETY: fstatat succeeded, so it filled the struct.
        return Ok(Some(unsafe { st.assume_init() }));
    }
    let e = last_err();
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(None)
    } else {
        Err(e)
    }
}

pub(crate) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The rootfs being unpacked: an fd on its top directory plus a small cache of resolved
/// directory fds (tar streams list a directory's entries together). The cache is dropped on
/// every removal, the only operation that can change what an existing path resolves to.
pub(crate) struct Root {
    fd: OwnedFd,
    cache: HashMap<PathBuf, OwnedFd>,
    rootless: bool,
}

const CACHE_MAX: usize = 64;

impl Root {
    pub fn open(path: &Path, rootless: bool) -> Result<Root, ResolveError> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| ResolveError::Nul(path.as_os_str().to_os_string()))?;
        // SAFETY: `c` is NUL-terminated; the returned fd is checked below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return Err(ResolveError::OpenRoot {
                path: path.display().to_string(),
                source: last_err(),
            });
        }
        // SAFETY: a fresh fd from open(2), owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Root {
            fd,
            cache: HashMap::new(),
            rootless,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn invalidate(&mut self) {
        self.cache.clear();
    }

    /// Opens directory `rel` inside the root (symlinks in it resolved in-root). With
    /// `create`, missing directories are made (0755, owned by the unpacker, as tar does).
    /// Returns None when `rel` does not exist and `create` is false.
    pub fn dir(
        &mut self,
        rel: &RelPath,
        create: bool,
    ) -> Result<Option<BorrowedFd<'_>>, ResolveError> {
        if rel.as_os_str().is_empty() {
            return Ok(Some(self.fd.as_fd()));
        }
        if !self.cache.contains_key(rel) {
            let fd = match self.open_dir_uncached(rel, create)? {
                Some(fd) => fd,
                None => return Ok(None),
            };
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
            self.cache.insert(rel.to_path_buf(), fd);
        }
        Ok(self.cache.get(rel).map(|fd| fd.as_fd()))
    }

    fn open_dir_uncached(
        &self,
        rel: &RelPath,
        create: bool,
    ) -> Result<Option<OwnedFd>, ResolveError> {
        let flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        let c = cstr(rel.as_os_str())?;
        match openat2(self.fd.as_raw_fd(), &c, flags, RESOLVE) {
            Ok(fd) => return Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if !create {
                    return Ok(None);
                }
            }
            Err(source) => {
                return Err(ResolveError::Resolve {
                    path: rel.display().to_string(),
                    source,
                });
            }
        }
        // Slow path: walk component by component, creating what is missing. A dangling
        // symlink on the way (say `lib -> /usr/lib` before /usr/lib exists) is followed
        // lexically, inside the root, and the walk restarts from its target; every step is
        // still an openat2(RESOLVE_IN_ROOT) or a mkdirat on an fd obtained that way.
        let mut path = rel.to_path_buf();
        let mut hops = 0;
        'restart: loop {
            let comps: Vec<OsString> = path.iter().map(OsStr::to_os_string).collect();
            let mut cur: Option<OwnedFd> = None;
            for (i, comp) in comps.iter().enumerate() {
                let shown = || {
                    comps[..=i]
                        .iter()
                        .collect::<PathBuf>()
                        .display()
                        .to_string()
                };
                let base = cur.as_ref().map_or(self.fd.as_raw_fd(), |f| f.as_raw_fd());
                let cc = cstr(comp)?;
                let next = match openat2(base, &cc, flags, RESOLVE) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        // SAFETY: `base` is a directory fd that outlives this borrow.
                        let bfd = unsafe { BorrowedFd::borrow_raw(base) };
                        let st = lstat_at(bfd, comp).map_err(|source| ResolveError::Resolve {
                            path: shown(),
                            source,
                        })?;
                        if let Some(st) = st
                            && st.st_mode & libc::S_IFMT == libc::S_IFLNK
                        {
                            hops += 1;
                            if hops > 40 {
                                return Err(ResolveError::Resolve {
                                    path: rel.display().to_string(),
                                    source: io::Error::from_raw_os_error(libc::ELOOP),
                                });
                            }
                            let target =
                                readlink_at(bfd, &cc).map_err(|source| ResolveError::Resolve {
                                    path: shown(),
                                    source,
                                })?;
                            let mut joined: Vec<u8> = Vec::new();
                            if !target.starts_with(b"/") {
                                for c in &comps[..i] {
                                    joined.extend_from_slice(c.as_bytes());
                                    joined.push(b'/');
                                }
                            }
                            joined.extend_from_slice(&target);
                            for c in &comps[i + 1..] {
                                joined.push(b'/');
                                joined.extend_from_slice(c.as_bytes());
                            }
                            path = clean(&joined);
                            continue 'restart;
                        }
                        // SAFETY: `cc` is NUL-terminated; `base` is a directory fd we hold.
                        let r = unsafe { libc::mkdirat(base, cc.as_ptr(), 0o755) };
                        if r != 0 {
                            return Err(ResolveError::Mkdir {
                                path: shown(),
                                source: last_err(),
                            });
                        }
                        openat2(base, &cc, flags, RESOLVE).map_err(|source| {
                            ResolveError::Resolve {
                                path: shown(),
                                source,
                            }
                        })?
                    }
                    Err(source) => {
                        return Err(ResolveError::Resolve {
                            path: shown(),
                            source,
                        });
                    }
                };
                cur = Some(next);
            }
            return match cur {
                Some(fd) => Ok(Some(fd)),
                None => self
                    .fd
                    .try_clone()
                    .map(Some)
                    .map_err(|source| ResolveError::Resolve {
                        path: String::new(),
                        source,
                    }),
            };
        }
    }

    /// Removes `name` in `dir` and everything below it, without following symlinks.
    pub fn remove_all_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        shown: &Path,
    ) -> Result<(), ResolveError> {
        self.cache.clear();
        remove_all_at(dir, name, self.rootless).map_err(|source| ResolveError::Op {
            path: shown.display().to_string(),
            op: "remove",
            source,
        })
    }
}

/// Removes `name` (any type) in `dir`, recursing into directories through fds opened with
/// O_NOFOLLOW. As a non-root user, directories are made writable first.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr, rootless: bool) -> io::Result<()> {
    let c =
        CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        empty_dir_at(dir, &c, rootless)?;
        // SAFETY: `c` is NUL-terminated; `dir` is a valid directory fd.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
            return Err(last_err());
        }
    } else {
        // SAFETY: as above.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            return Err(last_err());
        }
    }
    Ok(())
}

/// Opens directory `name` in `dir` for reading (never through a symlink).
pub(crate) fn open_dir_read(dir: BorrowedFd<'_>, name: &CString) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the returned fd is checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Names in a directory (without `.` and `..`).
pub(crate) fn list_dir(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    let dup = fd.try_clone()?;
    let mut d = nix::dir::Dir::from_fd(dup).map_err(io::Error::from)?;
    let mut names = Vec::new();
    for e in d.iter() {
        let e = e.map_err(io::Error::from)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(names)
}

fn empty_dir_at(dir: BorrowedFd<'_>, name: &CString, rootless: bool) -> io::Result<()> {
    let sub = open_dir_read(dir, name)?;
    if rootless {
        // SAFETY: `sub` is a valid directory fd; making our own directory writable.
        unsafe { libc::fchmod(sub.as_raw_fd(), 0o700) };
    }
    for n in list_dir(&sub)? {
        remove_all_at(sub.as_fd(), &n, rootless)?;
    }
    Ok(())
}

/// Removes a whole directory tree at an absolute host path (used to clean up a half-made
/// bundle), never following symlinks inside it.
pub fn remove_tree(path: &Path, rootless: bool) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pc = CString::new(parent.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `pc` is NUL-terminated; the fd is checked.
    let fd = unsafe {
        libc::open(
            pc.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: a fresh fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    remove_all_at(fd.as_fd(), name, rootless)
}

/// Opens an existing regular file inside the root for reading, symlinks resolved in-root
/// (used to read /etc/passwd and /etc/group of the unpacked image). Anything but a regular
/// file (a device or fifo planted by the image) is treated as absent: it is never opened.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    rel: &RelPath,
) -> io::Result<Option<std::fs::File>> {
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pathfd = match openat2(
        root.as_raw_fd(),
        &c,
        (libc::O_PATH | libc::O_CLOEXEC) as u64,
        RESOLVE,
    ) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `pathfd` is a valid O_PATH fd and `st` writable memory for one stat.
    if unsafe { libc::fstat(pathfd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(last_err());
    }
    // SAFETY: fstat succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    // Re-open the very inode we checked through its fd.
    std::fs::File::open(format!("/proc/self/fd/{}", pathfd.as_raw_fd())).map(Some)
}
