//! `hako exec`: a new process inside a running (or created) container.
//!
//! The exec'd process is born like the init, without re-exec of hako: `hako exec` forks a
//! helper that joins all the container's namespaces at once (setns on the init's pidfd), forks
//! the process as a sibling (so it is in the container's pid namespace and `hako exec` is its
//! parent), reports its pid and exits. The parent puts it in the container's cgroup and lets
//! it go; the process then applies user, capabilities, rlimits, cwd and the container's seccomp
//! filter and execs. Its close-on-exec sync socket tells the parent whether execve worked.

use super::ProcessError;
use super::init::{self, InitError};
use super::sync::{self, Msg};
use crate::state::State;
use crate::{cgroups, console, sys};
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

pub struct ExecOpts<'a> {
    pub state: &'a State,
    pub process: &'a Process,
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// The profile `seccomp` was compiled from (for SCMP_ACT_NOTIFY's listenerPath).
    pub seccomp_spec: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    pub console_socket: Option<&'a Path>,
    /// `--pidfd-socket`: receives a pidfd of the process.
    pub pidfd_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    /// A sub-cgroup (relative to the container's) to put the process in.
    pub sub_cgroup: Option<&'a str>,
}

/// The namespaces of `pid` that differ from ours, as setns flags.
fn differing_namespaces(pid: i32) -> i32 {
    const KINDS: [(&str, i32); 8] = [
        ("user", libc::CLONE_NEWUSER),
        ("mnt", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("net", libc::CLONE_NEWNET),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("time", libc::CLONE_NEWTIME),
    ];
    let mut flags = 0;
    for (name, flag) in KINDS {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::read_link(format!("/proc/self/ns/{name}"));
        if let (Ok(t), Ok(o)) = (theirs, ours)
            && t != o
        {
            flags |= flag;
        }
    }
    flags
}

/// Starts the process; returns its host pid once it has exec'd.
pub fn exec(o: &ExecOpts<'_>) -> Result<i32, ProcessError> {
    let st = o.state;
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|_| ProcessError::Usage("container not running".into()))?;
    if !sys::process_alive(st.pid, st.pid_start) {
        return Err(ProcessError::Usage("container not running".into()));
    }
    let flags = differing_namespaces(st.pid);
    let in_userns = flags & libc::CLONE_NEWUSER != 0;
    let (parent_ch, child_ch) = sync::pair()?;
    let terminal = o.process.terminal() == Some(true);

    let helper = match sys::clone_fork(0, None).map_err(|e| ProcessError::Sys {
        what: "fork".into(),
        source: e,
    })? {
        sys::Forked::Child => {
            drop(parent_ch);
            let r = child(o, pidfd.as_fd(), flags, in_userns, terminal, &child_ch);
            let Err(e) = r;
            let _ = child_ch.send(&Msg::Error(e.to_string()));
            sys::exit_child(1)
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    let proc_pid = match parent_ch.recv() {
        Ok(Msg::Pid(p)) => p,
        Ok(Msg::Error(e)) => return Err(ProcessError::Init(e)),
        Ok(other) => return Err(ProcessError::Init(format!("unexpected message {other:?}"))),
        Err(_) => return Err(ProcessError::Init("exec helper died".into())),
    };
    // SAFETY: reaping the helper, our own child.
    unsafe { libc::waitpid(helper.0, std::ptr::null_mut(), 0) };
    drop(helper.1);
    let kill = |e: ProcessError| {
        // SAFETY: kill with integer arguments; the process is our child, not yet exec'd.
        unsafe { libc::kill(proc_pid, libc::SIGKILL) };
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(proc_pid, std::ptr::null_mut(), 0) };
        e
    };
    for dir in &st.cgroup_dirs {
        let dir = match o.sub_cgroup {
            Some(sub) => dir.join(sub.trim_start_matches('/')),
            None => dir.clone(),
        };
        cgroups::write(&dir.join("cgroup.procs"), &proc_pid.to_string())
            .map_err(|e| kill(e.into()))?;
    }
    parent_ch
        .send(&Msg::Go(String::new()))
        .map_err(|e| kill(e.into()))?;
    let mut reply = parent_ch.recv_fd();
    if let Ok((Msg::SeccompFd, Some(fd))) = reply {
        super::forward_seccomp_fd(o.seccomp_spec, st, proc_pid, fd).map_err(kill)?;
        reply = parent_ch.recv_fd();
    }
    match reply.map(|(m, _)| m) {
        Err(sync::SyncError::Eof) => {}
        Ok(Msg::Error(e)) => {
            // SAFETY: reaping our own child, which reported failure and exits.
            unsafe { libc::waitpid(proc_pid, std::ptr::null_mut(), 0) };
            return Err(ProcessError::Init(e));
        }
        Ok(other) => {
            return Err(kill(ProcessError::Init(format!(
                "unexpected message {other:?}"
            ))));
        }
        Err(e) => return Err(kill(e.into())),
    }
    if let Some(p) = o.pidfd_socket {
        // Our child, not reaped before we wait: the pid cannot have been reused.
        let fd = sys::pidfd_open(proc_pid).map_err(|source| ProcessError::Sys {
            what: "open the process's pidfd".into(),
            source,
        })?;
        super::send_pidfd(p, fd.as_fd())?;
    }
    if let Some(p) = o.pid_file {
        super::write_pid_file(p, proc_pid)?;
    }
    Ok(proc_pid)
}

/// The helper: join, fork the process, report its pid. Returns only with an error.
fn child(
    o: &ExecOpts<'_>,
    pidfd: std::os::fd::BorrowedFd<'_>,
    flags: i32,
    in_userns: bool,
    terminal: bool,
    ch: &sync::Channel,
) -> Result<std::convert::Infallible, InitError> {
    // Set up non-dumpable: the container cannot ptrace us or read our memory meanwhile.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(init::step("set non-dumpable"))?;
    if let Some(l) = o
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        super::tuning::set_affinity("process.execCPUAffinity.initial", l)?;
    }
    let console_sock = match o.console_socket {
        Some(p) if terminal => Some(console::connect(p)?),
        _ => None,
    };
    let mut keep = vec![ch.raw(), pidfd.as_raw_fd()];
    if let Some(c) = &console_sock {
        keep.push(c.as_raw_fd());
    }
    init::close_all_but(keep, o.preserve_fds)?;
    // Before joining the mount namespace: the handle must be on the host's /proc.
    let proc_root = if init::needs_procfs(o.process, false) {
        Some(crate::procfs::ProcRoot::open()?)
    } else {
        None
    };
    if flags != 0 {
        sys::setns(pidfd, flags).map_err(init::step("join the container's namespaces"))?;
    }
    match sys::clone_fork(libc::CLONE_PARENT as u64, None).map_err(init::step("fork"))? {
        sys::Forked::Parent { pid, .. } => {
            ch.send(&Msg::Pid(pid))?;
            sys::exit_child(0)
        }
        sys::Forked::Child => {}
    }
    match ch.recv()? {
        Msg::Go(_) => {}
        other => return Err(InitError::Other(format!("unexpected message {other:?}"))),
    }
    if in_userns {
        // SAFETY: plain id syscalls; root of the container's user namespace.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(init::step("become root in the user namespace")(
                std::io::Error::last_os_error(),
            ));
        }
    }
    if let Some(sock) = console_sock {
        let size = o
            .process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup(sock.as_fd(), size, false)?;
    }
    if let (Some(adj), Some(p)) = (o.process.oom_score_adj(), &proc_root) {
        p.write("thread-self/oom_score_adj", adj.to_string().as_bytes())?;
    }
    let prepared =
        init::become_process(o.process, o.preserve_fds, o.seccomp, proc_root.as_ref(), ch)?;
    init::exec_prepared(&prepared, o.seccomp, ch)
}

/// Waits for the exec'd process, forwarding signals; its exit status (128+N for signal N).
pub fn wait(pid: i32) -> i32 {
    super::wait_forwarding_signals(pid)
}
