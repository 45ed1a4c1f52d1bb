//! A verified handle on the host's procfs, for the writes that configure the container's
//! process (AppArmor exec attribute, oom_score_adj, sysctls).
//!
//! Written by path, `/proc/...` means whatever is mounted there in the writer's mount
//! namespace: after joining a container's namespaces that is the container's choice, and a
//! container that mounts something else over /proc/self/... can redirect a privileged write
//! of ours to a host-wide knob (CVE-2025-52881). So the handle is opened from the host's
//! /proc before any container namespace is joined, checked to be the root of a procfs, and
//! every file is reached beneath it with openat2 (no magic links, no mount crossing) and
//! checked to be on procfs again. `thread-self` and `sys/...` resolve for the calling task
//! and its current namespaces, so the handle works from inside the container's namespaces.

use crate::sys;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of every procfs root directory.
const PROC_ROOT_INO: u64 = 1;
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_BENEATH: u64 = 0x08;

#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not on procfs: refusing to use it")]
    NotProc(String),
}

/// The host's /proc, verified.
pub struct ProcRoot(OwnedFd);

impl ProcRoot {
    /// Opens /proc of the caller's mount namespace: call it before joining the container's.
    pub fn open() -> Result<ProcRoot, ProcfsError> {
        let io = |source| ProcfsError::Io {
            what: "unable to open",
            path: "/proc".into(),
            source,
        };
        let fd = sys::open(
            Path::new("/proc"),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(io)?;
        verify(fd.as_fd(), "/proc")?;
        if sys::fstat(fd.as_fd()).map_err(io)?.st_ino != PROC_ROOT_INO {
            return Err(ProcfsError::NotProc(
                "/proc (not the root of a procfs)".into(),
            ));
        }
        Ok(ProcRoot(fd))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Opens `rel` (e.g. `thread-self/oom_score_adj`, `sys/net/ipv4/ip_forward`) beneath
    /// the handle, verified to be on procfs.
    pub fn open_file(&self, rel: &str, flags: libc::c_int) -> Result<std::fs::File, ProcfsError> {
        let fd = sys::openat2(
            self.0.as_fd(),
            Path::new(rel),
            flags | libc::O_NOFOLLOW,
            0,
            RESOLVE_BENEATH | RESOLVE_NO_XDEV | sys::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(|source| ProcfsError::Io {
            what: "unable to open",
            path: format!("/proc/{rel}"),
            source,
        })?;
        verify(fd.as_fd(), &format!("/proc/{rel}"))?;
        Ok(std::fs::File::from(fd))
    }

    /// Writes `data` to `rel` in one write(2), as procfs files expect.
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<(), ProcfsError> {
        self.open_file(rel, libc::O_WRONLY)?
            .write_all(data)
            .map_err(|source| ProcfsError::Io {
                what: "unable to write",
                path: format!("/proc/{rel}"),
                source,
            })
    }
}

fn verify(fd: BorrowedFd<'_>, what: &str) -> Result<(), ProcfsError> {
    let st = sys::fstatfs(fd).map_err(|source| ProcfsError::Io {
        what: "unable to fstatfs",
        path: what.to_string(),
        source,
    })?;
    if st.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(ProcfsError::NotProc(what.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn reads_own_files_and_refuses_to_leave_procfs() {
        let p = ProcRoot::open().expect("proc");
        let mut s = String::new();
        p.open_file("thread-self/comm", libc::O_RDONLY)
            .expect("comm")
            .read_to_string(&mut s)
            .expect("read");
        assert!(!s.is_empty());
        // Magic links (fd/N, exe, root, cwd) are never followed.
        assert!(
            p.open_file("thread-self/root/etc/hostname", libc::O_RDONLY)
                .is_err()
        );
        assert!(p.open_file("../etc/hostname", libc::O_RDONLY).is_err());
    }
}
