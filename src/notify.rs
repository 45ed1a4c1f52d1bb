//! systemd integration the way runc does it: the `NOTIFY_SOCKET` relay (sd_notify from inside
//! the container reaches the host's socket, with `MAINPID` set to the container's init) and
//! socket activation (`LISTEN_FDS`/`LISTEN_PID` fds passed on to the container).
//!
//! Relay: `create`/`run` with `NOTIFY_SOCKET` in the environment make `<root>/<id>/notify/`,
//! bind-mount it read-only at `/run/notify` and set `NOTIFY_SOCKET=/run/notify/notify.sock` in
//! the container's env. The process that starts the container (`start`, or `run`) binds the
//! unixgram socket there (mode 0777) before the user's process execs, and relays: on the first
//! `READY=…` it sends that line, then `MAINPID=<pid>`, then `BARRIER=1` with a pipe (the
//! sd_notify_barrier protocol, 30 s at most) to the host socket. `start` and `run -d` return
//! once READY was relayed or the init died; `run` in the foreground relays from a thread with
//! its own pid as MAINPID (it is the process that stays), as runc does.

use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directory in the container's state dir that is mounted into the container.
pub const DIR: &str = "notify";
/// The socket's name, inside and outside.
pub const SOCKET: &str = "notify.sock";
/// Where the directory appears in the container.
pub const CONTAINER_DIR: &str = "/run/notify";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET relay: {what}: {source}")]
    Sys { what: String, source: io::Error },
    #[error("LISTEN_FDS={0:?} is not a number of file descriptors")]
    ListenFds(String),
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NotifyError {
    let what = what.into();
    move |source| NotifyError::Sys { what, source }
}

/// The host's notify socket, when the caller set `NOTIFY_SOCKET`.
pub fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `create`: the read-only bind mount of `<state dir>/notify` at /run/notify and
/// `NOTIFY_SOCKET` in the process's environment (the directory is made by `make_dir` once
/// the state dir exists).
pub fn setup_spec(spec: &mut oci_spec::runtime::Spec, state_dir: &Path) -> Result<(), NotifyError> {
    let dir = std::path::absolute(state_dir.join(DIR)).map_err(sys_err("state directory"))?;
    let mount = oci_spec::runtime::MountBuilder::default()
        .destination(CONTAINER_DIR)
        .typ("bind")
        .source(dir)
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .map_err(|e| sys_err("mount")(io::Error::other(e.to_string())))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.push(format!("NOTIFY_SOCKET={CONTAINER_DIR}/{SOCKET}"));
        p.set_env(Some(env));
    }
    Ok(())
}

/// Makes `<state dir>/notify`, the directory mounted into the container.
pub fn make_dir(state_dir: &Path) -> Result<(), NotifyError> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).map_err(sys_err(format!("mkdir {}", dir.display())))
}

/// The container's side of the relay: the bound socket in the state dir.
pub struct Relay {
    sock: UnixDatagram,
    host: String,
}

impl Relay {
    /// Binds `<state dir>/notify/notify.sock` (replacing a stale one), mode 0777 so any user
    /// in the container may notify. None when the container was created without the relay.
    pub fn bind(state_dir: BorrowedFd<'_>, host: String) -> Result<Option<Relay>, NotifyError> {
        let dir = sys::unix_addr_in(state_dir, DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).map_err(sys_err("bind notify.sock"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(sys_err("chmod notify.sock"))?;
        Ok(Some(Relay { sock, host }))
    }

    /// Waits for `READY=` from the container and forwards it with `MAINPID=mainpid`; returns
    /// early (Ok) when `pidfd`'s process exits first, as runc does.
    pub fn forward_ready(&self, pidfd: BorrowedFd<'_>, mainpid: i32) -> Result<(), NotifyError> {
        let mut buf = vec![0u8; 4096];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(sys_err("poll")(e));
            }
            if fds[0].revents & libc::POLLIN != 0 {
                let n = self.sock.recv(&mut buf).map_err(sys_err("receive"))?;
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(line) = text.lines().find(|l| l.starts_with("READY=")) {
                    return self.notify_host(line, mainpid);
                }
                continue;
            }
            if fds[1].revents != 0 {
                return Ok(());
            }
        }
    }

    /// The READY line, MAINPID, and a barrier the host answers by closing the pipe.
    fn notify_host(&self, ready: &str, mainpid: i32) -> Result<(), NotifyError> {
        let client = connect(&self.host)?;
        client
            .send(format!("{ready}\n").as_bytes())
            .map_err(sys_err(format!("send to {}", self.host)))?;
        client
            .send(format!("MAINPID={mainpid}\n").as_bytes())
            .map_err(sys_err(format!("send to {}", self.host)))?;
        let (r, w) = pipe()?;
        sys::send_fd(client.as_fd(), b"BARRIER=1", w.as_raw_fd())
            .map_err(sys_err(format!("send BARRIER=1 to {}", self.host)))?;
        drop(w);
        let mut p = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = Duration::from_secs(30).as_millis() as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, timeout) } == 0 {
            crate::logging::warn("Timeout after waiting 30s for barrier. Ignored.");
        }
        Ok(())
    }
}

/// A datagram socket connected to the host's NOTIFY_SOCKET ("@name" is abstract).
fn connect(host: &str) -> Result<UnixDatagram, NotifyError> {
    let sock = UnixDatagram::unbound().map_err(sys_err("socket"))?;
    let r = match host.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|a| sock.connect_addr(&a))
        }
        None => sock.connect(PathBuf::from(host)),
    };
    r.map_err(sys_err(format!("connect to {host}")))?;
    Ok(sock)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), NotifyError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys_err("pipe")(io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created and are ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// systemd socket activation: the number of fds (from 3) systemd passed to this process,
/// when `LISTEN_PID` names us. They go to the container as fds 3.., before any
/// `--preserve-fds` ones, with `LISTEN_FDS=<n>` and `LISTEN_PID=1` in its env (runc's rule).
pub fn listen_fds() -> Result<u32, NotifyError> {
    let Ok(n) = std::env::var("LISTEN_FDS") else {
        return Ok(0);
    };
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        == Some(sys::getpid());
    if !ours {
        return Ok(0);
    }
    n.trim().parse().map_err(|_| NotifyError::ListenFds(n))
}

/// Adds `LISTEN_FDS=<n>` and `LISTEN_PID=1` to the process's environment (replacing any).
pub fn set_listen_env(spec: &mut oci_spec::runtime::Spec, n: u32) {
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".into());
        p.set_env(Some(env));
    }
}
