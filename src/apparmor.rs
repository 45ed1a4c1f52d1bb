//! AppArmor: checking a requested profile, loading hako's own default profile, and
//! switching the container process to its profile at execve.
//!
//! The switch is a write of `exec PROFILE` to the process's `attr/apparmor/exec` (or
//! `attr/exec` on kernels before 5.8), which takes effect at the next execve. The file is
//! opened through a handle on the host's procfs taken before the container's rootfs is
//! mounted, checked to really be procfs, and walked without magic links: the container
//! cannot redirect the write by mounting over its own /proc (CVE-2025-52881).

use crate::sys;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The name of hako's default profile (apparmor/hako-default).
pub const DEFAULT_PROFILE: &str = "hako-default";
/// The profile's source, compiled in so that hako can load it on any host.
const DEFAULT_PROFILE_SOURCE: &str = include_str!("../apparmor/hako-default");

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of every procfs root directory.
const PROC_ROOT_INO: u64 = 1;
const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";

#[derive(Debug, thiserror::Error)]
pub enum AppArmorError {
    #[error("AppArmor profile {0:?} requested but AppArmor is not enabled on this host")]
    NotEnabled(String),
    #[error("AppArmor profile {0:?} is not loaded (load it with apparmor_parser)")]
    NotLoaded(String),
    #[error("loading AppArmor profile {name:?} with apparmor_parser: {why}")]
    Load { name: String, why: String },
    #[error("AppArmor: {what}: {source}")]
    Sys {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("AppArmor: {0} is not a procfs handle; refusing to write the profile through it")]
    NotProc(&'static str),
}

fn sys_err(what: &'static str) -> impl FnOnce(std::io::Error) -> AppArmorError {
    move |source| AppArmorError::Sys { what, source }
}

/// Whether the kernel runs AppArmor as an LSM.
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Whether `name` is among the loaded profiles (lines of the form `NAME (MODE)`).
fn loaded(name: &str) -> Result<bool, AppArmorError> {
    let list = std::fs::read_to_string(PROFILES).map_err(sys_err("reading the loaded profiles"))?;
    Ok(list
        .lines()
        .any(|l| l.rsplit_once(" (").is_some_and(|(n, _)| n == name)))
}

/// Makes sure `profile` can be applied: AppArmor is on and the profile is loaded. hako's
/// own default profile is loaded on first use, as Docker does with docker-default.
/// `unconfined` always exists. Called before anything of the container is created.
pub fn check(profile: &str) -> Result<(), AppArmorError> {
    if !enabled() {
        return Err(AppArmorError::NotEnabled(profile.to_string()));
    }
    if profile == "unconfined" || loaded(profile)? {
        return Ok(());
    }
    if profile != DEFAULT_PROFILE {
        return Err(AppArmorError::NotLoaded(profile.to_string()));
    }
    load_default()
}

/// Compiles and loads (or replaces) hako-default with apparmor_parser, fed on stdin.
fn load_default() -> Result<(), AppArmorError> {
    let fail = |why: String| AppArmorError::Load {
        name: DEFAULT_PROFILE.to_string(),
        why,
    };
    let mut child = std::process::Command::new("apparmor_parser")
        // -r: load or replace; -K: no cache (the compiled-in source is the truth).
        .args(["-r", "-K"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(DEFAULT_PROFILE_SOURCE.as_bytes())
            .map_err(|e| fail(format!("writing the profile: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for it: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A profile to switch to at the next execve, with the procfs handle to do it through.
pub struct OnExec {
    proc_root: OwnedFd,
    profile: String,
}

impl OnExec {
    /// Takes the procfs handle. Call it while the mount namespace still shows the host's
    /// /proc (before the container's rootfs, or before joining its mount namespace).
    pub fn prepare(profile: &str) -> Result<Self, AppArmorError> {
        let fd = sys::open(
            Path::new("/proc"),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(sys_err("opening /proc"))?;
        verify_proc(fd.as_fd(), "/proc")?;
        let st = sys::fstat(fd.as_fd()).map_err(sys_err("stat /proc"))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(AppArmorError::NotProc("/proc (not the root of a procfs)"));
        }
        Ok(OnExec {
            proc_root: fd,
            profile: profile.to_string(),
        })
    }

    /// Writes `exec PROFILE` for the calling thread. `thread-self` resolves in the
    /// handle's procfs (the host's pid namespace, where every container task is visible).
    pub fn apply(&self) -> Result<(), AppArmorError> {
        const RESOLVE_BENEATH: u64 = 0x08;
        const RESOLVE_NO_XDEV: u64 = 0x01;
        let open = |p: &str| {
            sys::openat2(
                self.proc_root.as_fd(),
                Path::new(p),
                libc::O_WRONLY | libc::O_NOFOLLOW,
                0,
                RESOLVE_BENEATH | RESOLVE_NO_XDEV | sys::RESOLVE_NO_MAGICLINKS,
            )
        };
        let fd = match open("thread-self/attr/apparmor/exec") {
            // Kernels before 5.8 have only the LSM-shared attr/exec.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => open("thread-self/attr/exec"),
            r => r,
        }
        .map_err(sys_err("opening the exec attribute"))?;
        verify_proc(fd.as_fd(), "the exec attribute")?;
        let mut f = std::fs::File::from(fd);
        f.write_all(format!("exec {}", self.profile).as_bytes())
            .map_err(|e| AppArmorError::Sys {
                what: "switching profile at exec",
                source: std::io::Error::new(
                    e.kind(),
                    format!("{} (profile {:?})", e, self.profile),
                ),
            })
    }
}

fn verify_proc(fd: BorrowedFd<'_>, what: &'static str) -> Result<(), AppArmorError> {
    let st = sys::fstatfs(fd).map_err(sys_err("fstatfs"))?;
    if st.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(AppArmorError::NotProc(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_named_as_the_constant() {
        assert!(DEFAULT_PROFILE_SOURCE.contains(&format!("profile {DEFAULT_PROFILE} ")));
    }

    #[test]
    fn onexec_handle_is_the_proc_root() {
        let h = OnExec::prepare("x").expect("procfs handle");
        verify_proc(h.proc_root.as_fd(), "test").expect("procfs");
    }
}
