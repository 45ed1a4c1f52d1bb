//! `hako run` with `process.terminal` and no `--console-socket` (a person at a shell, as with
//! `runc run`): hako holds the pty master and copies between it and its own stdio, in raw mode
//! when stdin is a terminal, resizing the pty with ours, forwarding signals to the container.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Puts the caller's terminal in raw mode and restores it on drop.
struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: isatty/tcgetattr/tcsetattr on an fd with a valid termios out-pointer.
        unsafe {
            if libc::isatty(fd) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes we saved on the same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize struct; failures are harmless.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is valid for reading for its length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 100) };
                    continue;
                }
                _ => return Err(e),
            }
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Copies what is readable on `from` to `to`. Ok(false) on EOF (EIO: the pty's last peer
/// closed), Ok(true) otherwise.
fn pump(from: RawFd, to: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    // SAFETY: `buf` is valid for writing for its length.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n > 0 {
        write_all(to, &buf[..n as usize])?;
        return Ok(true);
    }
    if n == 0 {
        return Ok(false);
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(true),
        _ if e.raw_os_error() == Some(libc::EIO) => Ok(false),
        _ => Err(e),
    }
}

/// Proxies until the container's init exits; returns its exit status (128+N for signal N).
pub fn run(master: OwnedFd, pid: i32) -> i32 {
    let m = master.as_raw_fd();
    // SAFETY: fcntl on our own fd.
    unsafe {
        let fl = libc::fcntl(m, libc::F_GETFL);
        libc::fcntl(m, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let set = crate::signals::block_forwarded();
    // SAFETY: a signalfd for the set we just blocked.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    let raw = RawMode::enter(0);
    copy_winsize(0, m);
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = true;
    let mut status: Option<i32> = None;
    while status.is_none() {
        let mut fds = [
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: m,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: three valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if fds[0].revents != 0 && !matches!(pump(0, m, &mut buf), Ok(true)) {
            stdin_open = false;
        }
        if fds[1].revents != 0 {
            let _ = pump(m, 1, &mut buf);
        }
        if fds[2].revents != 0 {
            // SAFETY: reading one signalfd_siginfo into a correctly sized buffer.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let n = unsafe {
                libc::read(
                    sfd,
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    std::mem::size_of::<libc::signalfd_siginfo>(),
                )
            };
            if n > 0 {
                match info.ssi_signo as libc::c_int {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => copy_winsize(0, m),
                    // SAFETY: kill with integer arguments.
                    s => unsafe {
                        libc::kill(pid, s);
                    },
                }
            }
        }
        let mut st = 0;
        // SAFETY: waitpid on our own child.
        if unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) } == pid {
            status = Some(crate::signals::exit_code(st));
        }
    }
    // The init is gone: flush what it wrote last.
    while matches!(pump(m, 1, &mut buf), Ok(true)) {
        let mut p = libc::pollfd {
            fd: m,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 0) } <= 0 {
            break;
        }
    }
    drop(raw);
    // SAFETY: closing the signalfd we created.
    unsafe { libc::close(sfd) };
    status.unwrap_or(255)
}
