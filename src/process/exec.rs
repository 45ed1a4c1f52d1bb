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
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct ExecOpts<'a> {
    pub state: &'a State,
    pub process: &'a Process,
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// The profile `seccomp` was compiled from (for SCMP_ACT_NOTIFY's listenerPath).
    pub seccomp_spec: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    pub console_socket: Option<&'a Path>,
    /// Instead of a console socket: our end of a socket pair hako reads the pty master from.
    pub console_fd: Option<std::os::fd::BorrowedFd<'a>>,
    /// `--pidfd-socket`: receives a pidfd of the process.
    pub pidfd_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    /// The cgroups to put the process in (the container's, or sub-cgroups of them).
    pub cgroup_dirs: &'a [PathBuf],
}

/// `exec --cgroup` as runc reads it: `[controller[,controller…]:]path`, repeatable; a plain
/// path applies to every hierarchy no controller was named for. Paths are relative to the
/// container's cgroup.
#[derive(Debug, Default, PartialEq)]
pub struct SubCgroups {
    all: Option<String>,
    by_controller: Vec<(String, String)>,
}

impl SubCgroups {
    pub fn parse(args: &[String]) -> Result<SubCgroups, ProcessError> {
        let bad = |why: String| ProcessError::Usage(format!("invalid --cgroup argument: {why}"));
        let mut s = SubCgroups::default();
        for a in args {
            let (ctrls, path) = match a.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, a.as_str()),
            };
            let path = path.trim_start_matches('/');
            if path.split('/').any(|c| c == "..") {
                return Err(bad(format!("{a}: '..' is not allowed")));
            }
            match ctrls {
                None if s.all.is_some() => {
                    return Err(bad(format!("{a}: a plain path may be given once")));
                }
                None => s.all = Some(path.to_string()),
                Some(ctrls) => {
                    for c in ctrls.split(',') {
                        if c.is_empty() {
                            return Err(bad(format!("{a} (empty <controller> prefix)")));
                        }
                        if s.by_controller.iter().any(|(k, _)| k == c) {
                            return Err(bad(format!("controller {c} specified multiple times")));
                        }
                        s.by_controller.push((c.to_string(), path.to_string()));
                    }
                }
            }
        }
        Ok(s)
    }

    /// The directories to join: each of the container's `dirs` (one per hierarchy), or its
    /// sub-cgroup named for one of that hierarchy's controllers, or the plain one.
    pub fn apply(&self, dirs: &[PathBuf]) -> Result<Vec<PathBuf>, ProcessError> {
        if *self == SubCgroups::default() {
            return Ok(dirs.to_vec());
        }
        let m = cgroups::Manager::existing(dirs)?;
        if m.mode() == cgroups::Mode::Unified && !self.by_controller.is_empty() {
            return Err(ProcessError::Usage(
                "invalid --cgroup argument: cgroup v2 has one hierarchy, give a path without a controller".into(),
            ));
        }
        for (c, _) in &self.by_controller {
            if !m.dirs.iter().any(|(i, _)| m.layout.hierarchies[*i].has(c)) {
                return Err(ProcessError::Usage(format!(
                    "invalid --cgroup argument: the container has no {c} cgroup"
                )));
            }
        }
        Ok(m.dirs
            .iter()
            .map(|(i, d)| {
                let h = &m.layout.hierarchies[*i];
                let sub = self
                    .by_controller
                    .iter()
                    .find(|(c, _)| h.has(c))
                    .map(|(_, p)| p)
                    .or(self.all.as_ref());
                match sub {
                    Some(p) => d.join(p),
                    None => d.clone(),
                }
            })
            .collect())
    }
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
    let pidfd = sys::pidfd_open(st.pid).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => ProcessError::Usage(
            "exec needs pidfd_open and setns on a pidfd (Linux 5.8 or later)".into(),
        ),
        _ => ProcessError::Usage("container not running".into()),
    })?;
    if !sys::process_alive(st.pid, st.pid_start) {
        return Err(ProcessError::Usage("container not running".into()));
    }
    let flags = differing_namespaces(st.pid);
    let in_userns = flags & libc::CLONE_NEWUSER != 0;
    let (parent_ch, child_ch) = sync::pair()?;
    let terminal = o.process.terminal() == Some(true);
    // v1 directories: the process moves itself in through their `tasks` files, without the
    // kernel's global migration lock (see cgroups::join_v1). A directory without `tasks` is
    // cgroup2's: its pid goes to cgroup.procs.
    let (cgroup_tasks, by_pid) = cgroups::open_v1_tasks(o.cgroup_dirs.iter().map(|d| d.as_path()))?;

    // The one cgroup2 directory (unified hosts, or the cgroup2 tree of hybrid ones): the
    // process is cloned straight into it when the kernel allows (see child()).
    let cgroup2 = match by_pid.as_slice() {
        [d] => sys::open(d, libc::O_PATH | libc::O_DIRECTORY, 0).ok(),
        _ => None,
    };

    let helper = match sys::clone_fork(0, None).map_err(|e| ProcessError::Sys {
        what: "fork".into(),
        source: e,
    })? {
        sys::Forked::Child => {
            drop(parent_ch);
            let r = child(
                o,
                pidfd.as_fd(),
                flags,
                in_userns,
                terminal,
                &child_ch,
                Placement {
                    v1_tasks: cgroup_tasks,
                    cgroup2: cgroup2.as_ref().map(|f| f.as_fd()),
                },
            );
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
    for dir in by_pid.into_iter().filter(|d| !in_cgroup2_dir(proc_pid, d)) {
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

/// How the exec'd process gets into the container's cgroups without the parent writing its
/// pid: `tasks` of each v1 directory to write 0 to, the cgroup2 directory to be cloned into.
struct Placement<'a> {
    v1_tasks: Vec<OwnedFd>,
    cgroup2: Option<std::os::fd::BorrowedFd<'a>>,
}

/// Whether `pid` already is in cgroup2 directory `dir` (cloned into it): the "0::" line of
/// its /proc/PID/cgroup, relative to our cgroup namespace's root, ends `dir`.
fn in_cgroup2_dir(pid: i32, dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_start_matches('/'))
        .is_some_and(|p| !p.is_empty() && dir.ends_with(p))
}

/// The helper: join, fork the process, report its pid. Returns only with an error.
fn child(
    o: &ExecOpts<'_>,
    pidfd: std::os::fd::BorrowedFd<'_>,
    flags: i32,
    in_userns: bool,
    terminal: bool,
    ch: &sync::Channel,
    place: Placement<'_>,
) -> Result<std::convert::Infallible, InitError> {
    let Placement {
        v1_tasks: cgroup_tasks,
        cgroup2,
    } = place;
    // Set up non-dumpable: the container cannot ptrace us or read our memory meanwhile.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(init::step("set non-dumpable"))?;
    init::note_ignored_signals();
    if let Some(l) = o
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        super::tuning::set_affinity("process.execCPUAffinity.initial", l)?;
    }
    let console_sock = match (o.console_socket, o.console_fd) {
        (Some(p), _) if terminal => Some(console::connect(p)?),
        (None, Some(fd)) if terminal => Some(
            fd.try_clone_to_owned()
                .map_err(init::step("duplicate the console socket"))?,
        ),
        _ => None,
    };
    let mut keep = vec![ch.raw(), pidfd.as_raw_fd()];
    if let Some(c) = &console_sock {
        keep.push(c.as_raw_fd());
    }
    keep.extend(cgroup_tasks.iter().map(|fd| fd.as_raw_fd()));
    keep.extend(cgroup2.map(|fd| fd.as_raw_fd()));
    init::close_all_but(keep, o.preserve_fds)?;
    // Before joining the mount namespace: the handle must be on the host's /proc.
    let proc_root = if init::needs_procfs(o.process, false) {
        Some(crate::procfs::ProcRoot::open()?)
    } else {
        None
    };
    if flags != 0 {
        sys::setns(pidfd, flags).map_err(|e| {
            // Before Linux 5.8 setns took only namespace fds, not a pidfd.
            let what = if e.raw_os_error() == Some(libc::EINVAL) {
                "join the container's namespaces through its pidfd (needs Linux 5.8 or later)"
            } else {
                "join the container's namespaces"
            };
            init::step(what)(e)
        })?;
    }
    // CLONE_INTO_CGROUP skips the global migration lock a pid written to cgroup.procs takes.
    // The kernel may refuse it (a cgroup2 mounted with nsdelegate, the pids limit reached):
    // then the parent moves the process, as it finds it outside its cgroup.
    let placed = cgroup2
        .and_then(|fd| sys::clone_fork(libc::CLONE_PARENT as u64, Some(fd.as_raw_fd())).ok());
    let forked = match placed {
        Some(f) => f,
        None => sys::clone_fork(libc::CLONE_PARENT as u64, None).map_err(init::step("fork"))?,
    };
    match forked {
        sys::Forked::Parent { pid, .. } => {
            ch.send(&Msg::Pid(pid))?;
            sys::exit_child(0)
        }
        sys::Forked::Child => {}
    }
    cgroups::join_v1(cgroup_tasks).map_err(init::step("join the container's v1 cgroups"))?;
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
    // As runc's setns init: the container's session keyring, not the caller's (a shim's,
    // conmon's), unless the container was created with --no-new-keyring.
    if !o.state.no_new_keyring {
        init::join_session_keyring(&o.state.id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SubCgroups, ProcessError> {
        SubCgroups::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn cgroup_arguments_follow_runc() {
        let s = parse(&["cpu,memory:/a/b", "pids:c", "d"]).expect("valid");
        assert_eq!(s.all.as_deref(), Some("d"));
        assert_eq!(
            s.by_controller,
            [
                ("cpu".to_string(), "a/b".to_string()),
                ("memory".into(), "a/b".into()),
                ("pids".into(), "c".into())
            ]
        );
        for bad in [
            &["cpu:a", "cpu:b"][..],
            &[":a"],
            &["a", "b"],
            &["memory:../x"],
            &["a/../../x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(&[]).expect("none"), SubCgroups::default());
    }
}
