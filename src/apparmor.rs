//! AppArmor: checking a requested profile, loading hako's own default profile, and
//! switching the container process to its profile at execve.
//!
//! The switch is a write of `exec PROFILE` to the process's `attr/apparmor/exec` (or
//! `attr/exec` on kernels before 5.8), which takes effect at the next execve, through the
//! verified host procfs handle (procfs.rs): the container cannot redirect it by mounting
//! over its own /proc (CVE-2025-52881).

use crate::procfs::{ProcRoot, ProcfsError};
use std::io::Write;

/// The name of hako's default profile (apparmor/hako-default).
pub const DEFAULT_PROFILE: &str = "hako-default";
/// The profile's source, compiled in so that hako can load it on any host.
const DEFAULT_PROFILE_SOURCE: &str = include_str!("../apparmor/hako-default");

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
    #[error("unable to apply AppArmor profile {profile:?}: {why}")]
    Apply { profile: String, why: String },
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

/// Switches the calling thread to `profile` at its next execve: writes `exec PROFILE` to
/// its exec attribute through the verified procfs handle.
pub fn apply_on_exec(proc_root: &ProcRoot, profile: &str) -> Result<(), AppArmorError> {
    let attr = match proc_root.open_file("thread-self/attr/apparmor/exec", libc::O_WRONLY) {
        // Kernels before 5.8 have only the LSM-shared attr/exec.
        Err(ProcfsError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            proc_root.open_file("thread-self/attr/exec", libc::O_WRONLY)
        }
        r => r,
    };
    let mut f = attr.map_err(|e| AppArmorError::Apply {
        profile: profile.to_string(),
        why: e.to_string(),
    })?;
    f.write_all(format!("exec {profile}").as_bytes())
        .map_err(|e| AppArmorError::Apply {
            profile: profile.to_string(),
            why: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_named_as_the_constant() {
        assert!(DEFAULT_PROFILE_SOURCE.contains(&format!("profile {DEFAULT_PROFILE} ")));
    }
}
