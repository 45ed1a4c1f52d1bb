//! OCI hooks: each runs with the container state JSON on stdin, its own args and env, and an
//! optional timeout after which it is killed. Output is captured in a memfd (no pipe that a
//! chatty hook could fill and deadlock on) and quoted in the error.

use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("error running {phase} hook #{index} ({path}): {source}")]
    Spawn {
        phase: &'static str,
        index: usize,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "error running {phase} hook #{index} ({path}): {status}, stdout: {stdout}, stderr: {stderr}"
    )]
    Failed {
        phase: &'static str,
        index: usize,
        path: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    #[error(
        "error running {phase} hook #{index} ({path}): hook ran past specified timeout of {timeout}s"
    )]
    Timeout {
        phase: &'static str,
        index: usize,
        path: String,
        timeout: i64,
    },
}

fn memfd() -> std::io::Result<std::fs::File> {
    // SAFETY: memfd_create with a valid C string name.
    let fd = unsafe { libc::memfd_create(c"hako-hook".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; we own it.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Runs `hooks` in order; the first failure stops the sequence.
pub fn run(phase: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for (index, h) in hooks.iter().enumerate() {
        run_one(phase, index, h, state)?;
    }
    Ok(())
}

fn run_one(phase: &'static str, index: usize, h: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = h.path().display().to_string();
    let spawn_err = |source| HookError::Spawn {
        phase,
        index,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    for kv in h.env().as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut out = memfd().map_err(spawn_err)?;
    let mut err = memfd().map_err(spawn_err)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out.try_clone().map_err(spawn_err)?))
        .stderr(Stdio::from(err.try_clone().map_err(spawn_err)?));
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE is ignored).
        let _ = stdin.write_all(state);
    }
    let status = match h.timeout() {
        None => child.wait().map_err(spawn_err)?,
        Some(t) => {
            let pidfd = crate::sys::pidfd_open(child.id() as libc::pid_t).map_err(spawn_err)?;
            if !wait_readable(pidfd.as_fd(), t.saturating_mul(1000)) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout {
                    phase,
                    index,
                    path,
                    timeout: t,
                });
            }
            child.wait().map_err(spawn_err)?
        }
    };
    if status.success() {
        return Ok(());
    }
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.take(4096).read_to_string(&mut s);
        s.trim_end().to_string()
    };
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("signal: {s}"),
        _ => "failed".to_string(),
    };
    Err(HookError::Failed {
        phase,
        index,
        path,
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    })
}

/// poll(2) on a pidfd: readable once the process has exited.
fn wait_readable(fd: std::os::fd::BorrowedFd<'_>, timeout_ms: i64) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}
