//! The container's init, between clone and execve. It runs in the cloned child (no re-exec of
//! hako), already inside its new namespaces, and reports every failure, with the step that
//! failed, over the sync socket.

use super::sync::{Channel, Msg};
use crate::config::Bundle;
use crate::procfs::ProcRoot;
use crate::{console, hooks, rootfs, sys};
use oci_spec::runtime::LinuxNamespaceType;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{step}: {source}")]
    Sys {
        step: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Identity(#[from] super::identity::IdentityError),
    #[error(transparent)]
    Sync(#[from] super::sync::SyncError),
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// runc's wording (Go's stat error): engines and users match on "no such file or directory".
    #[error("exec: {0:?}: stat {0}: no such file or directory")]
    NoSuchFile(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    AppArmor(#[from] crate::apparmor::AppArmorError),
    #[error(transparent)]
    Procfs(#[from] crate::procfs::ProcfsError),
    #[error(transparent)]
    Tuning(#[from] super::tuning::TuningError),
    #[error("{0}")]
    Other(String),
}

pub(super) fn step(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let step = step.into();
    move |source| InitError::Sys { step, source }
}

/// Everything the init needs, prepared by the parent before clone.
pub struct InitArgs<'a> {
    pub bundle: &'a Bundle,
    pub id: &'a str,
    pub sync: Channel,
    pub exec_listener: OwnedFd,
    pub console_socket: Option<&'a Path>,
    /// `run` in the foreground with a terminal: the socket to send the pty master to.
    pub console_fd: Option<OwnedFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub cgroup_mounts: Vec<(String, PathBuf)>,
    /// `tasks` of each v1 cgroup, opened by the parent: the init moves itself in first thing.
    pub cgroup_tasks: Vec<OwnedFd>,
    /// Make the cgroup namespace here, once in the container's cgroups (not at clone).
    pub unshare_cgroupns: bool,
    /// Namespaces to join with setns, already opened (and type-checked) by the parent.
    pub joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub new_userns: bool,
    pub new_timens: bool,
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// The host's /proc, opened by the parent when the init writes to procfs (see procfs.rs).
    pub proc_root: Option<ProcRoot>,
}

/// Signals found ignored when the init (or an exec'd process) started; reset before execve.
static IGNORED_SIGNALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records the signals to reset before execve, while /proc is still the host's.
pub(super) fn note_ignored_signals() {
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    let mask = sys::ignored_signals().unwrap_or(sigpipe) | sigpipe;
    IGNORED_SIGNALS.store(mask, std::sync::atomic::Ordering::Relaxed);
}

/// Entry point in the cloned child. Never returns: it execs or exits.
pub fn run(mut args: InitArgs<'_>) -> ! {
    let result = setup_and_exec(&mut args);
    let msg = match result {
        Ok(never) => match never {},
        Err(e) => e.to_string(),
    };
    // Before Ready the parent is listening; after it, `start` is (its connection is fd 3
    // duplicated below), so report wherever someone is.
    let _ = args.sync.send(&Msg::Error(msg));
    sys::exit_child(1)
}

fn setup_and_exec(a: &mut InitArgs<'_>) -> Result<std::convert::Infallible, InitError> {
    let spec = &a.bundle.spec;
    close_inherited(a)?;
    note_ignored_signals();
    // The runtime process may have blocked signals; the container starts clean.
    // SAFETY: sigset manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    // Die with `hako create` if it dies before we are ready (no orphaned half-made init).
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
        .map_err(step("pdeathsig"))?;
    // Setup runs non-dumpable so the container cannot ptrace us or read our memory.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(step("set non-dumpable"))?;

    // execCPUAffinity.initial: before anything else runs (runc applies it before the cgroup).
    if let Some(l) = spec
        .process()
        .as_ref()
        .and_then(|p| p.exec_cpu_affinity().as_ref())
        .and_then(|a| a.initial().as_deref())
    {
        super::tuning::set_affinity("process.execCPUAffinity.initial", l)?;
    }
    // Into the v1 cgroups before anything else runs here; the fds close once written.
    crate::cgroups::join_v1(std::mem::take(&mut a.cgroup_tasks))
        .map_err(step("join the container's v1 cgroups"))?;
    let a = &*a;
    let state_json = match a.sync.recv()? {
        Msg::Go(s) => s,
        other => return Err(InitError::Other(format!("unexpected message {other:?}"))),
    };
    if a.new_userns {
        // The parent mapped our ids: become root of the new user namespace.
        // SAFETY: plain id syscalls.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(step("become root in the user namespace (is id 0 mapped?)")(
                std::io::Error::last_os_error(),
            ));
        }
    }
    if a.unshare_cgroupns {
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(step("unshare cgroup namespace"))?;
    }
    for (t, fd) in &a.joins {
        sys::setns(fd.as_fd(), crate::config::clone_flag(*t))
            .map_err(step(format!("join {t:?} namespace")))?;
    }
    if a.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount) {
        // Mounts act on our fds through /proc/self/fd, which is now that namespace's /proc:
        // its owner could have put a tmpfs there that redirects them. Refuse anything but
        // a procfs root.
        ProcRoot::open().map_err(|e| {
            InitError::Other(format!(
                "the joined mount namespace's /proc cannot be trusted: {e}"
            ))
        })?;
    }
    if a.new_timens {
        enter_time_ns(a)?;
    }
    // SAFETY: umask cannot fail. Devices and mount points get exactly the modes we ask for.
    unsafe { libc::umask(0) };

    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        // SAFETY: the pointer/length pair describes `h`.
        if unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) } != 0 {
            return Err(step("sethostname")(std::io::Error::last_os_error()));
        }
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        // SAFETY: the pointer/length pair describes `d`.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(step("setdomainname")(std::io::Error::last_os_error()));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| InitError::Other("process missing".into()))?;
    if let Some(linux) = spec.linux() {
        if let Some(p) = linux.personality() {
            super::tuning::apply_personality(p)?;
        }
        if let Some(m) = linux.memory_policy() {
            super::tuning::apply_mempolicy(m)?;
        }
    }
    let console_sock = match (a.console_socket, &a.console_fd) {
        (_, Some(fd)) => Some(fd.try_clone().map_err(step("console socket"))?),
        (Some(p), None) if process.terminal() == Some(true) => Some(console::connect(p)?),
        _ => None,
    };
    if let Some(adj) = process.oom_score_adj() {
        proc_root(a.proc_root.as_ref())?
            .write("thread-self/oom_score_adj", adj.to_string().as_bytes())?;
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        // /proc/sys/{net,kernel ipc,uts} act on the writer's namespaces, which are now the
        // container's; config validation allowed only namespaced keys.
        for (k, v) in sysctl {
            proc_root(a.proc_root.as_ref())?
                .write(&format!("sys/{}", k.replace('.', "/")), v.as_bytes())
                .map_err(|e| InitError::Other(format!("sysctl {k}={v}: {e}")))?;
        }
    }

    let ctx = rootfs::Context {
        spec,
        rootfs: &a.bundle.rootfs,
        cgroup_dirs: &a.cgroup_mounts,
        userns: a.new_userns,
        new_netns: crate::config::namespaces(spec)
            .iter()
            .any(|(t, p)| *t == LinuxNamespaceType::Network && p.is_none()),
        no_pivot: a.no_pivot,
    };
    let root = rootfs::prepare(&ctx)?;
    rootfs::mount_all(&ctx, root.as_fd())?;
    // Like runc, a missing cwd is created (inside the rootfs, before it may turn read-only).
    rootfs::mkdir_all_in_root(root.as_fd(), process.cwd(), false)
        .map_err(|e| InitError::Other(format!("process.cwd {}: {e}", process.cwd().display())))?;

    let hooks = spec.hooks().as_ref();
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if runtime_hooks {
        a.sync.send(&Msg::RunHooks)?;
        match a.sync.recv()? {
            Msg::HooksDone => {}
            other => return Err(InitError::Other(format!("unexpected message {other:?}"))),
        }
    }
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        hooks::run("createContainer", h, state_json.as_bytes())?;
    }

    rootfs::enter(&ctx, root.as_fd())?;
    drop(root);
    if let Some(sock) = &console_sock {
        let size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup(sock.as_fd(), size, true)?;
    }
    drop(console_sock);
    rootfs::finish(spec)?;

    if !a.no_new_keyring {
        join_session_keyring(a.id)?;
    }
    let prepared = become_process(
        process,
        a.preserve_fds,
        a.seccomp,
        a.proc_root.as_ref(),
        &a.sync,
    )?;

    // The create/start barrier: tell `hako create` we are ready, then wait for `hako start`.
    sys::prctl(libc::PR_SET_PDEATHSIG, 0).map_err(step("clear pdeathsig"))?;
    a.sync.send(&Msg::Ready)?;
    let conn = accept(a.exec_listener.as_fd())?;
    // From here errors go to `start`: put its connection where run() reports.
    // SAFETY: dup2 onto the sync fd number, which we own; both stay close-on-exec.
    unsafe {
        libc::dup3(conn.as_raw_fd(), a.sync.raw(), libc::O_CLOEXEC);
    }
    drop(conn);
    if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
        hooks::run("startContainer", h, state_json.as_bytes())?;
    }
    exec_prepared(&prepared, a.seccomp, &a.sync)
}

/// Installs the seccomp filter; with SCMP_ACT_NOTIFY the listener fd goes to whoever is at the
/// other end of `to` (`hako create`, `hako start` or `hako exec`), which hands it to the agent.
fn load_seccomp(prog: &crate::seccomp::Program, to: &Channel) -> Result<(), InitError> {
    if let Some(listener) = prog.load()? {
        to.send_seccomp_fd(listener.as_fd())?;
    }
    Ok(())
}

/// The user's process, ready to exec.
pub(super) struct Prepared {
    exe: CString,
    name: String,
    args: Vec<CString>,
    env: Vec<CString>,
    nnp: bool,
    /// execCPUAffinity.final, applied right before execve.
    final_cpus: Option<String>,
}

/// Turns the calling process into the configured one, short of execve: rlimits, seccomp
/// (when it must precede the privilege drop), user and capabilities, a verified cwd, the
/// executable looked up in the container's PATH, and every fd past the preserved ones
/// marked close-on-exec.
pub(super) fn become_process(
    process: &oci_spec::runtime::Process,
    preserve_fds: u32,
    seccomp: Option<&crate::seccomp::Program>,
    proc_root: Option<&ProcRoot>,
    sync: &Channel,
) -> Result<Prepared, InitError> {
    // First, like runc: nothing later (seccomp, dropped capabilities) may stand in its way.
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        crate::apparmor::apply_on_exec(self::proc_root(proc_root)?, profile)?;
    }
    super::identity::apply_rlimits(process)?;
    // Scheduling needs privileges (SCHED_FIFO: CAP_SYS_NICE): before they are dropped.
    if let Some(s) = process.scheduler() {
        super::tuning::apply_scheduler(s)?;
    }
    if let Some(p) = process.io_priority() {
        super::tuning::apply_ioprio(p)?;
    }
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: load it while we still
    // have it (runc does the same). With no_new_privs it is loaded last, right before execve.
    let nnp = process.no_new_privileges() == Some(true);
    if let (Some(prog), false) = (seccomp, nnp) {
        load_seccomp(prog, sync)?;
    }
    super::identity::apply_user_and_caps(process, true)?;

    let cwd = process.cwd();
    std::env::set_current_dir(cwd).map_err(step(format!("chdir to cwd {}", cwd.display())))?;
    verify_cwd()?;

    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // runc's rule: HOME from the container's /etc/passwd for the uid, else "/".
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    let args = process.args().as_deref().unwrap_or(&[]);
    let name = args
        .first()
        .cloned()
        .ok_or_else(|| InitError::Other("process.args must not be empty".into()))?;
    let exe = find_executable(&name, &env)?;
    let cargs = to_cstrings(args)?;
    let cenv = to_cstrings(&env)?;

    // Only stdio and the preserved fds survive exec (CVE-2016-9962, CVE-2024-21626).
    for fd in 3..3 + preserve_fds {
        sys::clear_cloexec(fd as RawFd).map_err(step(format!("preserve fd {fd}")))?;
    }
    sys::cloexec_from(3 + preserve_fds).map_err(step("close fds"))?;
    let umask = process.user().umask().unwrap_or(0o022);
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(umask as libc::mode_t) };
    Ok(Prepared {
        exe,
        name,
        args: cargs,
        env: cenv,
        nnp,
        final_cpus: process
            .exec_cpu_affinity()
            .as_ref()
            .and_then(|a| a.cpu_affinity_final().clone()),
    })
}

/// Whether setting up `process` (and the container's `sysctl`) writes to procfs, i.e.
/// needs the host procfs handle.
pub fn needs_procfs(process: &oci_spec::runtime::Process, sysctl: bool) -> bool {
    sysctl
        || process.oom_score_adj().is_some()
        || process
            .apparmor_profile()
            .as_ref()
            .is_some_and(|p| !p.is_empty())
}

fn proc_root(p: Option<&ProcRoot>) -> Result<&ProcRoot, InitError> {
    p.ok_or_else(|| InitError::Other("internal error: no procfs handle".into()))
}

/// The last steps: the seccomp filter (with no_new_privs), execve. Non-dumpable until then;
/// execve makes the program dumpable as usual.
pub(super) fn exec_prepared(
    p: &Prepared,
    seccomp: Option<&crate::seccomp::Program>,
    sync: &Channel,
) -> Result<std::convert::Infallible, InitError> {
    // Again: the credential changes since set it to fs.suid_dumpable, which may be 1.
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(step("set non-dumpable"))?;
    if let Some(l) = &p.final_cpus {
        super::tuning::set_affinity("process.execCPUAffinity.final", l)?;
    }
    if let (Some(prog), true) = (seccomp, p.nnp) {
        load_seccomp(prog, sync)?;
    }
    let mut argv: Vec<*const libc::c_char> = p.args.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // An ignored signal stays ignored across execve: hako's own SIGPIPE (main.rs) and whatever
    // hako's caller ignored must not reach the container's process (runc resets them too).
    sys::reset_signals(IGNORED_SIGNALS.load(std::sync::atomic::Ordering::Relaxed));
    // SAFETY: argv and envp are NULL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(p.exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = std::io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::EACCES) => InitError::NotExecutable(p.name.clone()),
        _ => InitError::Sys {
            step: format!("exec: {:?}", p.name),
            source: e,
        },
    })
}

/// Closes every fd the runtime process had open except the ones the init uses: the state
/// directory's lock, pidfds and the like must not live on in the container's init.
fn close_inherited(a: &InitArgs<'_>) -> Result<(), InitError> {
    let mut keep: Vec<RawFd> = vec![a.sync.raw(), a.exec_listener.as_raw_fd()];
    keep.extend(a.joins.iter().map(|(_, fd)| fd.as_raw_fd()));
    keep.extend(a.console_fd.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(a.proc_root.as_ref().map(ProcRoot::raw));
    keep.extend(a.cgroup_tasks.iter().map(|fd| fd.as_raw_fd()));
    close_all_but(keep, a.preserve_fds)
}

/// Closes every fd from 3 + `preserve_fds` up, except `keep`.
pub(super) fn close_all_but(mut keep: Vec<RawFd>, preserve_fds: u32) -> Result<(), InitError> {
    keep.sort_unstable();
    let mut next = 3 + preserve_fds as RawFd;
    for k in keep {
        if k < next {
            continue;
        }
        if k > next {
            sys::close_range(next as u32, (k - 1) as u32).map_err(step("close inherited fds"))?;
        }
        next = k + 1;
    }
    sys::close_range(next as u32, u32::MAX).map_err(step("close inherited fds"))
}

fn enter_time_ns(a: &InitArgs<'_>) -> Result<(), InitError> {
    sys::unshare(libc::CLONE_NEWTIME).map_err(step("unshare time namespace"))?;
    // Through the host /proc handle: a mount namespace joined by path may hold a /proc its
    // owner controls.
    let proc = proc_root(a.proc_root.as_ref())?;
    if let Some(offsets) = a
        .bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        let mut text = String::new();
        for (clock, o) in offsets {
            text.push_str(&format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            ));
        }
        use std::io::Write;
        let open = || proc.open_file("self/timens_offsets", libc::O_WRONLY);
        let file = match open() {
            // Non-dumpable, our /proc files belong to the host's root, which the root of a
            // new user namespace is not: dumpable for the open alone (runc's nsexec does the
            // same for its id maps). Nothing of the container runs yet to use that moment.
            Err(crate::procfs::ProcfsError::Io { source, .. })
                if source.raw_os_error() == Some(libc::EACCES) =>
            {
                sys::prctl(libc::PR_SET_DUMPABLE, 1).map_err(step("set dumpable"))?;
                let file = open();
                sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(step("set non-dumpable"))?;
                file?
            }
            other => other?,
        };
        (&file)
            .write_all(text.as_bytes())
            .map_err(step("write timens_offsets"))?;
    }
    // time_for_children is a magic link, which the handle's lookups refuse: open the
    // verified ns directory, follow the last component, and check what it is.
    let ns_dir = proc.open_file("self/ns", libc::O_PATH | libc::O_DIRECTORY)?;
    let f = sys::openat(
        ns_dir.as_fd(),
        Path::new("time_for_children"),
        libc::O_RDONLY | libc::O_CLOEXEC,
        0,
    )
    .map_err(step("open time_for_children"))?;
    if sys::ns_type(f.as_fd()).map_err(step("check time_for_children"))? != libc::CLONE_NEWTIME {
        return Err(InitError::Other(
            "/proc/self/ns/time_for_children is not a time namespace".into(),
        ));
    }
    sys::setns(f.as_fd(), libc::CLONE_NEWTIME).map_err(step("enter time namespace"))
}

/// The home directory of `uid` in the container's /etc/passwd (read after pivot_root, so it is
/// the container's file), or "/".
fn home_of(uid: u32) -> String {
    let Ok(text) = std::fs::read_to_string("/etc/passwd") else {
        return "/".into();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
        })
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// CVE-2024-21626: a cwd reached through a leaked fd is "(unreachable)/…" or fails: refuse.
fn verify_cwd() -> Result<(), InitError> {
    let breakout = |what: String| {
        InitError::Other(format!(
            "current working directory is outside of container mount namespace root -- possible container breakout detected ({what})"
        ))
    };
    // getcwd fails (ENOENT) for a directory outside our root, or returns "(unreachable)/…".
    let cwd = std::env::current_dir().map_err(|e| breakout(format!("getcwd: {e}")))?;
    if !cwd.is_absolute() || cwd.as_os_str().as_bytes().starts_with(b"(unreachable)") {
        return Err(breakout(cwd.display().to_string()));
    }
    Ok(())
}

fn to_cstrings(v: &[String]) -> Result<Vec<CString>, InitError> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| InitError::Other(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// PATH lookup inside the container, with the container's PATH, like Go's exec.LookPath.
fn find_executable(name: &str, env: &[String]) -> Result<CString, InitError> {
    let check = |p: &Path| -> Result<bool, InitError> {
        let Ok(meta) = std::fs::metadata(p) else {
            return Ok(false);
        };
        if meta.is_dir() {
            return Ok(false);
        }
        let c = CString::new(p.as_os_str().as_bytes())
            .map_err(|_| InitError::Other(format!("{name:?} contains a NUL byte")))?;
        // SAFETY: access with a valid C string.
        Ok(unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0)
    };
    if name.contains('/') {
        let p = Path::new(name);
        if !p.exists() {
            return Err(InitError::NoSuchFile(name.to_string()));
        }
        if !check(p)? {
            return Err(InitError::NotExecutable(name.to_string()));
        }
        return CString::new(name).map_err(|_| InitError::NotFound(name.to_string()));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(name);
        if check(&cand)? {
            return CString::new(cand.as_os_str().as_bytes())
                .map_err(|_| InitError::NotFound(name.to_string()));
        }
    }
    Err(InitError::NotFound(name.to_string()))
}

fn accept(listener: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd, InitError> {
    loop {
        // SAFETY: accept4 with null address pointers is allowed.
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: accept4 returned a new fd that we now own.
            return Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(step("wait for start")(e));
        }
    }
}

/// A fresh session keyring named after the container (runc's default), so containers do not
/// share the host's keys. Like runc, only a kernel without keyrings (ENOSYS) is let go.
pub(super) fn join_session_keyring(id: &str) -> Result<(), InitError> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(format!("_ses.{id}"))
        .map_err(|_| InitError::Other(format!("container id {id:?} contains a NUL byte")))?;
    // SAFETY: keyctl with a valid C string argument.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(step("join a new session keyring")(e));
        }
        crate::logging::debug(|| format!("session keyring: {e}"));
    }
    Ok(())
}
