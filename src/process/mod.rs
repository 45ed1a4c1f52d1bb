//! Process model, parent side. `hako create` clones the container init straight into its new
//! namespaces (clone3; on cgroup v2 straight into its cgroup), maps its ids, places it in its
//! cgroups, runs the runtime hooks when the init asks, and exits once the init reports ready.
//! The init then waits on `--root/ID/exec.sock` until `hako start` connects; it execs the
//! user's process and the connection closes on exec, which is how `start` knows it worked.
//! No re-exec of hako and no extra process in the common case. See docs/ARCHITECTURE.md.

pub mod exec;
pub mod identity;
pub mod init;
pub mod sync;
pub mod tuning;

use crate::cgroups::{self, CgroupError, Manager};
use crate::config::{self, Bundle, ConfigError};
use crate::state::{self, ContainerDir, State, StateError, Status};
use crate::{hooks, logging, sys};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxNamespaceType};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use sync::Msg;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Procfs(#[from] crate::procfs::ProcfsError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error("{0}")]
    Usage(String),
    #[error("unable to {what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("unable to start container process: {0}")]
    Init(String),
    #[error("{0}")]
    Unsupported(String),
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcessError {
    let what = what.into();
    move |source| ProcessError::Sys { what, source }
}

pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    /// `--pidfd-socket`: receives a pidfd of the init (runc 1.2's protocol).
    pub pidfd_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// `--rootless=true`: runc's meaning, cgroup errors are warnings and the container runs
    /// without cgroups.
    pub ignore_cgroup_errors: bool,
    /// `run` in the foreground: the init stays our child and we wait for it.
    pub foreground: bool,
}

pub struct Created {
    pub pid: i32,
    /// Where the init sent the pty master, when `run` proxies the terminal.
    pub console: Option<OwnedFd>,
    pub dir: ContainerDir,
    pub state: State,
}

/// Undoes a half-made container on any error: kill the init, remove cgroups and state dir.
struct Cleanup<'a> {
    dir: Option<&'a ContainerDir>,
    cgroup_dirs: Vec<PathBuf>,
    child: Option<(OwnedFd, i32)>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some((pidfd, pid)) = self.child.take() {
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let mut status = 0;
            // SAFETY: waitpid on our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
        if !self.cgroup_dirs.is_empty() {
            let _ = cgroups::destroy(&self.cgroup_dirs);
        }
        if let Some(d) = self.dir.take() {
            let _ = d.remove();
        }
    }
}

pub fn create(o: &CreateOpts<'_>) -> Result<Created, ProcessError> {
    let mut phases = logging::Phases::start();
    state::validate_id(o.id)?;
    let mut bundle = config::load(o.bundle)?;
    phases.mark("load and validate config.json");
    // systemd socket activation: our LISTEN_FDS go to the container first, as fds 3.., then
    // the --preserve-fds ones (runc's order).
    let listen_fds = crate::notify::listen_fds()?;
    if listen_fds > 0 {
        crate::notify::set_listen_env(&mut bundle.spec, listen_fds);
    }
    let preserve_fds = listen_fds + o.preserve_fds;
    let notify = crate::notify::host_socket().is_some();
    if notify {
        crate::notify::setup_spec(&mut bundle.spec, &o.root.join(o.id))?;
    }
    let bundle = bundle;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| ProcessError::Usage("process missing".into()))?;
    let terminal = process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && !o.foreground {
        return Err(ProcessError::Usage(
            "cannot allocate tty if hako will detach without setting console socket".into(),
        ));
    }
    // `run` in the foreground with a terminal: hako itself holds the pty master and proxies.
    let console_pair = if terminal && o.console_socket.is_none() {
        Some(UnixStream::pair().map_err(sys_err("create console socket pair"))?)
    } else {
        None
    };
    if !terminal && o.console_socket.is_some() {
        return Err(ProcessError::Usage(
            "cannot use console socket if hako will not detach or allocate tty".into(),
        ));
    }
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let mut manager = Manager::new(cgroups_path, o.id, o.systemd_cgroup)?;

    // Namespace plan: clone into the new ones, setns into the given ones.
    let nss = config::namespaces(spec);
    let mut clone_flags: u64 = 0;
    let mut joins = Vec::new();
    let mut new_userns = false;
    let mut new_timens = false;
    for (t, path) in &nss {
        match path {
            None if *t == LinuxNamespaceType::Time => new_timens = true,
            None => {
                clone_flags |= config::clone_flag(*t) as u64;
                if *t == LinuxNamespaceType::User {
                    new_userns = true;
                }
            }
            Some(p) => {
                let f = config::open_namespace(p)
                    .map_err(sys_err(format!("open namespace {}", p.display())))?;
                joins.push((*t, f));
            }
        }
    }
    // Joining a pid namespace only affects children, and a joined user namespace must be
    // entered before anything else: both need a first-stage child that joins, then forks the
    // init (runc's nsexec does the same).
    let two_stage = joins
        .iter()
        .any(|(t, _)| matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Pid));
    // The user namespace goes first, so that the others are joined with its credentials.
    joins.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
    let joined_userns = joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
    if new_userns && !joins.is_empty() {
        return Err(ProcessError::Unsupported(
            "joining namespaces together with a new user namespace is not supported yet".into(),
        ));
    }

    // Compiled here, before clone: the container's memory limit never pays for libseccomp.
    let seccomp = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(sc) => {
            let prog = crate::seccomp_cache::compile(sc, o.root)?;
            if !prog.skipped().is_empty() {
                logging::debug(|| {
                    format!("seccomp: unknown syscalls skipped: {:?}", prog.skipped())
                });
            }
            Some(prog)
        }
        None => None,
    };
    phases.mark("compile seccomp");

    let dir = ContainerDir::create(o.root, o.id)?;
    let mut cleanup = Cleanup {
        dir: Some(&dir),
        cgroup_dirs: Vec::new(),
        child: None,
    };
    let seccomp_spec = linux.and_then(|l| l.seccomp().as_ref());
    if let Some(sc) = seccomp_spec {
        dir.save_seccomp(sc)?;
    }
    // Devices the config creates must also be usable: allow them in the device cgroup.
    let device_allow: Vec<LinuxDeviceCgroup> = linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|d| {
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(d.typ())
                .major(d.major())
                .minor(d.minor())
                .access("rwm")
                .build()
                .ok()
        })
        .collect();
    if notify {
        crate::notify::make_dir(&dir.path)?;
    }
    let resources = linux.and_then(|l| l.resources().clone()).map(|mut r| {
        if let Some(mut rules) = r.devices().clone() {
            rules.extend(device_allow.iter().cloned());
            r.set_devices(Some(rules));
        }
        r
    });
    cleanup.cgroup_dirs = manager.dir_paths();
    // Before they exist: a create killed from here on leaves delete a way to find them.
    dir.save_cgroups(&cleanup.cgroup_dirs)?;
    if let Err(e) = manager.create(resources.as_ref()) {
        if !o.ignore_cgroup_errors {
            return Err(e.into());
        }
        logging::warn(&format!("--rootless=true: running without cgroups: {e}"));
        let _ = cgroups::destroy(&cleanup.cgroup_dirs);
        cleanup.cgroup_dirs.clear();
        manager.dirs.clear();
    }
    phases.mark("state dir and cgroups");

    let listener = UnixListener::bind(sys::unix_addr_in(dir.borrow_fd(), state::EXEC_SOCKET))
        .map_err(sys_err("create exec socket"))?;
    let (parent_ch, child_ch) = sync::pair()?;
    let cgroup_mounts: Vec<(String, PathBuf)> = if manager.mode() == cgroups::Mode::Unified {
        manager
            .dirs
            .iter()
            .map(|(_, d)| (String::new(), d.clone()))
            .collect()
    } else {
        manager
            .dirs
            .iter()
            .map(|(i, d)| {
                let name = manager.layout.hierarchies[*i]
                    .mountpoint
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, d.clone())
            })
            .collect()
    };
    // Placement without cgroup_threadgroup_rwsem (see cgroups::join_v1): cloned into the
    // cgroup2 directory, and the init moves itself into the v1 ones. A two-stage init is
    // forked by the first stage, so the parent places it by pid instead.
    let cgroup_fd = match manager.v2_dir().filter(|_| !two_stage) {
        Some(d) => Some(
            sys::open(d, libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(sys_err(format!("open cgroup {}", d.display())))?,
        ),
        None => None,
    };
    let cgroup_tasks = if two_stage {
        Vec::new()
    } else {
        cgroups::open_v1_tasks(manager.dirs.iter().map(|(_, d)| d.as_path()))?.0
    };
    // A cgroup namespace is rooted at the cgroups of whoever creates it: cloned with it, the
    // init would see hako's cgroups as its root in every hierarchy it was not cloned into.
    let late_cgroupns =
        clone_flags & libc::CLONE_NEWCGROUP as u64 != 0 && (two_stage || !cgroup_tasks.is_empty());
    if late_cgroupns {
        clone_flags &= !(libc::CLONE_NEWCGROUP as u64);
    }

    // Opened here, in the host's mount namespace, before any container namespace is joined.
    let proc_root = if new_timens
        || init::needs_procfs(
            process,
            linux.is_some_and(|l| l.sysctl().as_ref().is_some_and(|s| !s.is_empty())),
        ) {
        Some(crate::procfs::ProcRoot::open()?)
    } else {
        None
    };
    let forked = if two_stage {
        sys::clone_fork(0, None)
    } else {
        sys::clone_fork(clone_flags, cgroup_fd.as_ref().map(|f| f.as_raw_fd()))
    }
    .map_err(sys_err("clone the container init"))?;
    let (pid, pidfd) = match forked {
        sys::Forked::Child => {
            drop(parent_ch);
            let joins = if two_stage {
                stage_one(joins, clone_flags, &child_ch)
            } else {
                joins
            };
            init::run(init::InitArgs {
                bundle: &bundle,
                id: o.id,
                sync: child_ch,
                exec_listener: OwnedFd::from(listener),
                console_socket: o.console_socket,
                console_fd: console_pair
                    .as_ref()
                    .and_then(|(_, theirs)| theirs.try_clone().ok().map(OwnedFd::from)),
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                preserve_fds,
                cgroup_mounts,
                cgroup_tasks,
                unshare_cgroupns: late_cgroupns,
                joins,
                new_userns: new_userns || joined_userns,
                new_timens,
                seccomp: seccomp.as_ref(),
                proc_root,
            })
        }
        sys::Forked::Parent { pid, pidfd } if !two_stage => (pid, pidfd),
        sys::Forked::Parent { pid, pidfd } => {
            // The first stage reports the init's pid, then exits.
            let stage1 = Cleanup {
                dir: None,
                cgroup_dirs: Vec::new(),
                child: Some((pidfd, pid)),
            };
            let init_pid = match parent_ch.recv() {
                Ok(Msg::Pid(p)) => p,
                Ok(Msg::Error(e)) => return Err(ProcessError::Init(e)),
                Ok(other) => {
                    return Err(ProcessError::Init(format!("unexpected message {other:?}")));
                }
                Err(_) => {
                    return Err(ProcessError::Init(
                        "joining the configured namespaces failed".into(),
                    ));
                }
            };
            drop(stage1);
            let pidfd = sys::pidfd_open(init_pid).map_err(sys_err("open the init's pidfd"))?;
            (init_pid, pidfd)
        }
    };
    drop(child_ch);
    drop(listener);
    drop(joins);
    let pidfd_dup = pidfd.try_clone().map_err(sys_err("dup pidfd"))?;
    cleanup.child = Some((pidfd_dup, pid));
    phases.mark("clone the init");

    if new_userns {
        write_id_maps(pid, &bundle)?;
    }
    if two_stage {
        manager.attach(pid)?;
    }
    let pid_start = match sys::process_start_time(pid) {
        Ok(t) => t,
        // Already dead: on v2 it runs in its cgroup from its first instruction, so a memory
        // limit too small for it gets it OOM-killed before this point. Say so.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            return Err(ProcessError::Init(init_death(pid, &manager)));
        }
        Err(e) => return Err(sys_err("read the init's start time")(e)),
    };
    let st = State {
        oci_version: spec.version().clone(),
        id: o.id.to_string(),
        pid,
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: logging::rfc3339_now(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_dirs: manager.dir_paths(),
        freezer: manager.freezer_path(),
        private_pid_ns: clone_flags & libc::CLONE_NEWPID as u64 != 0,
        poststop: spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default(),
        device_allow,
        seccomp: Some(seccomp_spec.is_some()),
        no_new_keyring: o.no_new_keyring,
    };
    dir.save(&st)?;
    phases.mark("id maps, cgroup attach, state.json");
    let state_json = st.to_spec_json(Status::Creating).to_string();
    parent_ch
        .send(&Msg::Go(state_json.clone()))
        .map_err(|e| stage_err(e, pid, &manager))?;
    loop {
        let (msg, fd) = parent_ch
            .recv_fd()
            .map_err(|e| stage_err(e, pid, &manager))?;
        match (msg, fd) {
            (Msg::SeccompFd, Some(fd)) => forward_seccomp_fd(seccomp_spec, &st, pid, fd)?,
            (Msg::RunHooks, _) => {
                if let Some(h) = spec.hooks() {
                    if let Some(v) = h.prestart() {
                        hooks::run("prestart", v, state_json.as_bytes())?;
                    }
                    if let Some(v) = h.create_runtime() {
                        hooks::run("createRuntime", v, state_json.as_bytes())?;
                    }
                }
                parent_ch
                    .send(&Msg::HooksDone)
                    .map_err(|e| stage_err(e, pid, &manager))?;
            }
            (Msg::Ready, _) => {
                phases.mark("init: mounts, pivot_root, identity, seccomp (until ready)");
                break;
            }
            (Msg::Error(e), _) => return Err(ProcessError::Init(e)),
            (other, _) => return Err(ProcessError::Init(format!("unexpected message {other:?}"))),
        }
    }
    if let Some(p) = o.pidfd_socket {
        send_pidfd(p, pidfd.as_fd())?;
    }
    if let Some(p) = o.pid_file {
        write_pid_file(p, pid)?;
    }
    cleanup.child = None;
    cleanup.cgroup_dirs.clear();
    cleanup.dir = None;
    drop(cleanup);
    drop(pidfd);
    Ok(Created {
        pid,
        console: console_pair.map(|(ours, _)| OwnedFd::from(ours)),
        dir,
        state: st,
    })
}

/// First stage of a two-stage start: join the configured namespaces (user first), create the
/// new ones, fork the init as a sibling (CLONE_PARENT: `hako create` stays its parent), report
/// its pid and exit. Returns only in the init, with nothing left to join.
fn stage_one(
    joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    new_flags: u64,
    ch: &sync::Channel,
) -> Vec<(LinuxNamespaceType, OwnedFd)> {
    let fail = |what: String| -> ! {
        let _ = ch.send(&Msg::Error(what));
        sys::exit_child(1)
    };
    for (t, fd) in &joins {
        if let Err(e) = sys::setns(fd.as_fd(), config::clone_flag(*t)) {
            fail(format!("join {t:?} namespace: {e}"));
        }
    }
    drop(joins);
    if new_flags != 0
        && let Err(e) = sys::unshare(new_flags as libc::c_int)
    {
        fail(format!("create namespaces: {e}"));
    }
    match sys::clone_fork(libc::CLONE_PARENT as u64, None) {
        Ok(sys::Forked::Child) => Vec::new(),
        Ok(sys::Forked::Parent { pid, .. }) => {
            let _ = ch.send(&Msg::Pid(pid));
            sys::exit_child(0)
        }
        Err(e) => fail(format!("fork the init: {e}")),
    }
}

fn stage_err(e: sync::SyncError, pid: i32, manager: &Manager) -> ProcessError {
    match e {
        sync::SyncError::Eof => ProcessError::Init(init_death(pid, manager)),
        // A send to an init that already died (e.g. OOM-killed as soon as it ran in its
        // cgroup, which on v2 it does from its first instruction) is the same death.
        sync::SyncError::Io(e)
            if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) =>
        {
            ProcessError::Init(init_death(pid, manager))
        }
        e => e.into(),
    }
}

/// Hands the seccomp notify fd of process `pid` to the agent at linux.seccomp.listenerPath,
/// with the container process state the runtime-spec defines.
fn forward_seccomp_fd(
    sc: Option<&oci_spec::runtime::LinuxSeccomp>,
    st: &State,
    pid: i32,
    fd: OwnedFd,
) -> Result<(), ProcessError> {
    let Some(path) = sc.and_then(|s| s.listener_path().as_ref()) else {
        return Err(ProcessError::Usage(
            "linux.seccomp uses SCMP_ACT_NOTIFY but has no listenerPath".into(),
        ));
    };
    let state = serde_json::json!({
        "ociVersion": st.oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": sc.and_then(|s| s.listener_metadata().clone()).unwrap_or_default(),
        "state": st.to_spec_json(Status::Creating),
    });
    crate::seccomp::send_listener_fd(path, state.to_string().as_bytes(), fd.as_fd())?;
    Ok(())
}

/// Why the init died before it was ready, as precisely as the kernel lets us tell: the usual
/// culprit is a memory limit too small for it to run at all.
fn init_death(pid: i32, manager: &Manager) -> String {
    let mut status = 0;
    // SAFETY: reaping our own child.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) } == pid;
    let oom_killed = manager.dirs.iter().any(|(_, d)| {
        ["memory.oom_control", "memory.events"].iter().any(|f| {
            std::fs::read_to_string(d.join(f)).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .is_some_and(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
                })
            })
        })
    });
    if oom_killed {
        return "container init was killed by the OOM killer: linux.resources.memory.limit is too low for it to start".into();
    }
    if reaped && libc::WIFSIGNALED(status) {
        return format!(
            "container init was killed by signal {} before it was ready",
            libc::WTERMSIG(status)
        );
    }
    "container init exited before it was ready".into()
}

/// The parent writes the user namespace's id maps (it is root in the parent namespace, so
/// any mapping the config asks for is allowed).
fn write_id_maps(pid: i32, bundle: &Bundle) -> Result<(), ProcessError> {
    let Some(linux) = bundle.spec.linux().as_ref() else {
        return Ok(());
    };
    for (file, maps) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let text: String = maps
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(sys_err(format!("write {path}")))?;
    }
    Ok(())
}

/// `--pidfd-socket`: connects to the caller's unix socket and sends `pidfd` with SCM_RIGHTS
/// (runc 1.2's protocol; receivers such as containerd's shim ignore the payload).
pub(crate) fn send_pidfd(
    path: &Path,
    pidfd: std::os::fd::BorrowedFd<'_>,
) -> Result<(), ProcessError> {
    let sock = crate::console::connect(path)
        .map_err(|e| ProcessError::Usage(format!("--pidfd-socket: {e}")))?;
    sys::send_fd(sock.as_fd(), b"pidfd", pidfd.as_raw_fd()).map_err(sys_err(format!(
        "send the pidfd to --pidfd-socket {}",
        path.display()
    )))
}

/// runc's pid file: host pid, no trailing newline, written atomically.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), ProcessError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    state::write_atomic(&tmp, path, pid.to_string().as_bytes())
        .map_err(sys_err(format!("write pid file {}", path.display())))
}

/// Releases the waiting init: connect to its exec socket, then wait for the connection to
/// close (it is close-on-exec, so EOF means execve succeeded) or for an error message.
pub fn start(dir: &ContainerDir, st: &State) -> Result<(), ProcessError> {
    let addr = sys::unix_addr_in(dir.borrow_fd(), state::EXEC_SOCKET);
    let conn = UnixStream::connect(&addr).map_err(sys_err("connect to the container init"))?;
    // The socket file is what marks "created": gone once the init took the connection.
    let _ = std::fs::remove_file(dir.path.join(state::EXEC_SOCKET));
    let mut all = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, fd) = sys::recv_with_fd(conn.as_fd(), &mut buf)
            .map_err(sys_err("wait for the container process"))?;
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if all.is_empty() && chunk[0] == sync::SECCOMP_FD {
            if let Some(fd) = fd {
                let sc = dir.seccomp_profile(st)?;
                forward_seccomp_fd(sc.as_ref(), st, st.pid, fd)?;
            }
            chunk = &chunk[1..];
        }
        all.extend_from_slice(chunk);
    }
    match sync::decode(&all) {
        Ok(Msg::Error(e)) => Err(ProcessError::Init(e)),
        _ => Ok(()),
    }
}

/// `run` in the foreground: forward the usual signals to the init and return its exit status
/// (128+N when killed by signal N), as runc does.
pub fn wait_forwarding_signals(pid: i32) -> i32 {
    let set = crate::signals::block_forwarded();
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return crate::signals::exit_code(status);
        }
        if r < 0 {
            return 255;
        }
        // SAFETY: `set` is a valid, initialised sigset.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig > 0 && sig != libc::SIGCHLD {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(pid, sig) };
        }
    }
}
