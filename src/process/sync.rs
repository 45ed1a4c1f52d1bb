//! The typed protocol between `hako create` and the container's init, over a SOCK_SEQPACKET
//! socketpair: one datagram per message, a tag byte then an optional UTF-8 payload.
//! An error in the init comes back as the parent's error message, naming the failing step.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("unable to create sync socket: {0}")]
    Socket(io::Error),
    #[error("sync socket: {0}")]
    Io(io::Error),
    #[error("container init exited before it was ready")]
    Eof,
    #[error("unexpected sync message {0:?}")]
    Unexpected(u8),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent → init: ids mapped, cgroup joined; go on. Carries the state JSON for hooks.
    Go(String),
    /// first-stage child → parent: the pid of the init it forked (joined pid namespace).
    Pid(i32),
    /// init → parent: mounts are done, run prestart/createRuntime hooks now.
    RunHooks,
    /// parent → init: hooks ran.
    HooksDone,
    /// init → parent: all set up, waiting for `start`.
    Ready,
    /// init → parent (or → `start`): a step failed.
    Error(String),
    /// init → parent (or → `start`): the seccomp notify fd rides along (SCM_RIGHTS).
    SeccompFd,
}

const GO: u8 = 1;
const RUN_HOOKS: u8 = 2;
const HOOKS_DONE: u8 = 3;
const READY: u8 = 4;
const ERROR: u8 = 5;
const PID: u8 = 6;
pub const SECCOMP_FD: u8 = 7;

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, init end). Both close on exec.
pub fn pair() -> Result<(Channel, Channel), SyncError> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(SyncError::Socket(io::Error::last_os_error()));
    }
    // SAFETY: socketpair just returned these two fds; we take sole ownership.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<(), SyncError> {
        let mut buf = Vec::with_capacity(64);
        match msg {
            Msg::Go(s) => {
                buf.push(GO);
                buf.extend_from_slice(s.as_bytes());
            }
            Msg::SeccompFd => buf.push(SECCOMP_FD),
            Msg::Pid(p) => {
                buf.push(PID);
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::RunHooks => buf.push(RUN_HOOKS),
            Msg::HooksDone => buf.push(HOOKS_DONE),
            Msg::Ready => buf.push(READY),
            Msg::Error(s) => {
                buf.push(ERROR);
                // Keep within one datagram.
                let s = &s.as_bytes()[..s.len().min(60_000)];
                buf.extend_from_slice(s);
            }
        }
        loop {
            // SAFETY: `buf` is valid for reading for its length.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(SyncError::Io(e));
            }
        }
    }

    pub fn recv(&self) -> Result<Msg, SyncError> {
        self.recv_fd().map(|(m, _)| m)
    }

    /// Receives a message and the fd that came with it, if any.
    pub fn recv_fd(&self) -> Result<(Msg, Option<OwnedFd>), SyncError> {
        let mut buf = vec![0u8; 65_536];
        let (n, fd) = crate::sys::recv_with_fd(self.fd.as_fd(), &mut buf).map_err(SyncError::Io)?;
        Ok((decode(&buf[..n])?, fd))
    }

    /// Sends the seccomp listener fd.
    pub fn send_seccomp_fd(&self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), SyncError> {
        crate::sys::send_fd(self.fd.as_fd(), &[SECCOMP_FD], fd.as_raw_fd()).map_err(SyncError::Io)
    }

    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Decodes one message (a datagram, or what a stream connection carried).
pub fn decode(buf: &[u8]) -> Result<Msg, SyncError> {
    let Some(&tag) = buf.first() else {
        return Err(SyncError::Eof);
    };
    let text = || String::from_utf8_lossy(&buf[1..]).into_owned();
    Ok(match tag {
        GO => Msg::Go(text()),
        PID if buf.len() == 5 => Msg::Pid(i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]])),
        RUN_HOOKS => Msg::RunHooks,
        HOOKS_DONE => Msg::HooksDone,
        READY => Msg::Ready,
        ERROR => Msg::Error(text()),
        SECCOMP_FD => Msg::SeccompFd,
        other => return Err(SyncError::Unexpected(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().expect("socketpair");
        for m in [
            Msg::Go("{}".into()),
            Msg::Pid(4242),
            Msg::RunHooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Error("mount /proc: EPERM".into()),
        ] {
            a.send(&m).expect("send");
            assert_eq!(b.recv().expect("recv"), m);
        }
        drop(a);
        assert!(matches!(b.recv(), Err(SyncError::Eof)));
    }
}
