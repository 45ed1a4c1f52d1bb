//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `9`, `RTMIN+3`.

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("unknown signal {0:?}")]
    Unknown(String),
}

const NAMES: &[(&str, libc::c_int)] = &[
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
];

pub fn parse(s: &str) -> Result<libc::c_int, SignalError> {
    let unknown = || SignalError::Unknown(s.to_string());
    let max = libc::SIGRTMAX();
    if let Ok(n) = s.parse::<libc::c_int>() {
        // 0 checks that the process exists, as kill(2) and runc allow.
        return if (0..=max).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    let rt =
        |base: libc::c_int, off: &str, sign: libc::c_int| -> Result<libc::c_int, SignalError> {
            let o: libc::c_int = if off.is_empty() {
                0
            } else {
                off.parse().map_err(|_| unknown())?
            };
            let n = base + sign * o;
            if n >= libc::SIGRTMIN() && n <= max {
                Ok(n)
            } else {
                Err(unknown())
            }
        };
    if let Some(off) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), off.trim_start_matches('+'), 1);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        return rt(max, off.trim_start_matches('-'), -1);
    }
    Err(unknown())
}

/// The signals a foreground `run`/`exec` passes on to the container (SIGWINCH resizes, SIGCHLD
/// tells us it exited), as runc does.
const FORWARDED: [libc::c_int; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCHLD,
];

/// Blocks the forwarded signals (so they queue for sigwaitinfo/signalfd) and returns the set.
pub fn block_forwarded() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set; blocking is process-wide, and hako is
    // single-threaded.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// A wait(2) status as a shell would report it: the exit code, or 128+N for signal N.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_rt() {
        assert_eq!(parse("KILL").ok(), Some(9));
        assert_eq!(parse("SIGKILL").ok(), Some(9));
        assert_eq!(parse("sigterm").ok(), Some(15));
        assert_eq!(parse("15").ok(), Some(15));
        assert_eq!(parse("RTMIN+2").ok(), Some(libc::SIGRTMIN() + 2));
        assert!(parse("FOO").is_err());
        assert_eq!(parse("0").ok(), Some(0));
        assert!(parse("65").is_err());
    }
}
