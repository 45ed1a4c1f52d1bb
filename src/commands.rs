//! One function per subcommand; each returns the process exit code or an error that `main`
//! logs (runc's wording where engines match on it).

use crate::cli::{
    Cli, Command, CreateArgs, DeleteArgs, ExecArgs, KillArgs, ListArgs, PsArgs, RunArgs,
};
use crate::process::{self, CreateOpts, ProcessError};
use crate::state::{self, ContainerDir, State, StateError, Status};
use crate::{cgroups, hooks, logging, signals, spec, sys};
use std::os::fd::AsFd;

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Signal(#[from] signals::SignalError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Seal(#[from] crate::exeseal::SealError),
    #[error("{0}")]
    Msg(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
}

fn msg(s: impl Into<String>) -> CommandError {
    CommandError::Msg(s.into())
}

pub fn version_text() -> String {
    let seccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "hako version {}\ncommit: {}\nspec: 1.2.1\nlibseccomp: {seccomp}\n",
        env!("CARGO_PKG_VERSION"),
        env!("HAKO_COMMIT")
    )
}

/// `LISTEN_FDS` and `--preserve-fds` hand fds 3.. to the container; each must be open when
/// hako starts. A hole would be filled by an fd hako opens itself (the log file, the host
/// /proc handle, the sync socket) and leak it into the container (CVE-2024-21626's class),
/// so this runs before hako opens anything. Exit status as the command would fail with.
pub fn check_passed_fds(cli: &Cli) -> Result<(), (String, i32)> {
    let (preserve, listen, code) = match &cli.command {
        Some(Command::Create(a)) => (a.preserve_fds, true, 1),
        Some(Command::Run(a)) => (a.create.preserve_fds, true, 1),
        Some(Command::Exec(a)) => (a.preserve_fds, false, 255),
        _ => return Ok(()),
    };
    let listen = if listen {
        crate::notify::listen_fds().map_err(|e| (e.to_string(), code))?
    } else {
        0
    };
    let n = preserve.saturating_add(listen);
    match (3..3u32.saturating_add(n)).find(|&fd| !sys::fd_is_open(fd as i32)) {
        None => Ok(()),
        Some(fd) => Err((
            format!(
                "{}fd {fd} is not open: LISTEN_FDS={listen} and --preserve-fds={preserve} pass \
                 fds 3 to {} to the container",
                if code == 255 { "exec failed: " } else { "" },
                2 + n
            ),
            code,
        )),
    }
}

pub fn dispatch(cli: &Cli) -> Result<i32, CommandError> {
    let root = cli.root.clone().unwrap_or_else(state::default_root);
    match cli.rootless.as_str() {
        "auto" | "false" => {}
        "true" => {}
        other => {
            return Err(msg(format!(
                "invalid --rootless value {other:?}: use true, false or auto"
            )));
        }
    }
    let Some(cmd) = &cli.command else {
        return Err(msg("no command given: see hako --help"));
    };
    if let Command::Exec(a) = cmd {
        // runc: exec failures exit 255, so callers can tell them from the process's status.
        return match exec(&root, a) {
            Ok(code) => Ok(code),
            Err(e) => {
                logging::error(&format!("exec failed: {e}"));
                Ok(255)
            }
        };
    }
    if matches!(cmd, Command::Create(_) | Command::Run(_)) {
        // The init is a clone of this process: never let it be the writable host binary.
        crate::exeseal::ensure_sealed(&root)?;
    }
    match cmd {
        Command::Create(a) => {
            process::create(&create_opts(&root, a, cli, false))?;
            Ok(0)
        }
        Command::Start(a) => start(&root, &a.id).map(|_| 0),
        Command::Run(a) => run(&root, a, cli),
        Command::State(a) => state_cmd(&root, &a.id),
        Command::Kill(a) => kill(&root, a),
        Command::Delete(a) => delete(&root, a),
        Command::List(a) => list(&root, a),
        Command::Spec(a) => {
            spec::write(
                &a.bundle,
                spec::Options {
                    rootless: a.rootless,
                    seccomp: a.seccomp,
                    apparmor: a.apparmor,
                },
            )?;
            Ok(0)
        }
        Command::Pause(a) => pause(&root, &a.id, true),
        Command::Resume(a) => pause(&root, &a.id, false),
        Command::Ps(a) => ps(&root, a),
        Command::Exec(_) => unreachable!("handled above"),
        Command::Update(a) => crate::update::run(&root, a).map_err(|e| msg(e.to_string())),
        Command::Events(a) => crate::events::run(&root, a).map_err(|e| msg(e.to_string())),
        Command::Features => crate::features::run().map_err(|e| msg(e.to_string())),
        Command::Checkpoint(_) | Command::Restore(_) => {
            let name = format!("{cmd:?}");
            let name = name.split('(').next().unwrap_or("").to_ascii_lowercase();
            Err(msg(format!("hako {name}: not implemented yet")))
        }
    }
}

fn create_opts<'a>(
    root: &'a std::path::Path,
    a: &'a CreateArgs,
    cli: &Cli,
    foreground: bool,
) -> CreateOpts<'a> {
    CreateOpts {
        root,
        id: &a.id,
        bundle: &a.bundle,
        console_socket: a.console_socket.as_deref(),
        pidfd_socket: a.pidfd_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: cli.systemd_cgroup,
        ignore_cgroup_errors: cli.rootless == "true",
        foreground,
    }
}

fn open(root: &std::path::Path, id: &str) -> Result<(ContainerDir, State), CommandError> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    Ok((dir, st))
}

fn start(root: &std::path::Path, id: &str) -> Result<(), CommandError> {
    let (dir, st) = open(root, id)?;
    dir.lock()?;
    let relay = bind_relay(&dir)?;
    start_locked(&dir, &st)?;
    // The lock goes before the wait: kill and delete must not block on a silent container.
    drop(dir);
    if let Some(r) = relay {
        relay_ready(&r, &st, st.pid)?;
    }
    Ok(())
}

/// The NOTIFY_SOCKET relay, when the caller has a notify socket and the container was
/// created with one (see notify.rs).
fn bind_relay(dir: &ContainerDir) -> Result<Option<crate::notify::Relay>, CommandError> {
    match crate::notify::host_socket() {
        Some(host) => crate::notify::Relay::bind(dir.borrow_fd(), host)
            .map_err(|e| ProcessError::from(e).into()),
        None => Ok(None),
    }
}

/// Waits until the container's READY was relayed with MAINPID `mainpid`, or its init died.
fn relay_ready(relay: &crate::notify::Relay, st: &State, mainpid: i32) -> Result<(), CommandError> {
    let Ok(pidfd) = sys::pidfd_open(st.pid) else {
        return Ok(());
    };
    if !sys::process_alive(st.pid, st.pid_start) {
        return Ok(());
    }
    relay
        .forward_ready(pidfd.as_fd(), mainpid)
        .map_err(|e| ProcessError::from(e).into())
}

fn start_locked(dir: &ContainerDir, st: &State) -> Result<(), CommandError> {
    match st.status(dir) {
        Status::Created => {}
        Status::Stopped => return Err(msg("cannot start a container that has stopped")),
        Status::Running | Status::Paused => {
            return Err(msg("cannot start an already running container"));
        }
        Status::Creating => {
            return Err(msg("cannot start a container that is still being created"));
        }
    }
    process::start(dir, st)?;
    let hooks = poststart_hooks(st);
    if !hooks.is_empty() {
        let json = st.to_spec_json(Status::Running).to_string();
        hooks::run("poststart", &hooks, json.as_bytes())?;
    }
    Ok(())
}

/// Poststart hooks are read from the bundle at start time (they are not needed earlier).
fn poststart_hooks(st: &State) -> Vec<oci_spec::runtime::Hook> {
    std::fs::read(st.bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<oci_spec::runtime::Spec>(&d).ok())
        .and_then(|s| s.hooks().clone())
        .and_then(|h| h.poststart().clone())
        .unwrap_or_default()
}

fn state_cmd(root: &std::path::Path, id: &str) -> Result<i32, CommandError> {
    let (dir, st) = open(root, id)?;
    let v = st.to_spec_json(st.status(&dir));
    let text = serde_json::to_string_pretty(&v).map_err(|e| msg(e.to_string()))?;
    println!("{text}");
    Ok(0)
}

fn kill(root: &std::path::Path, a: &KillArgs) -> Result<i32, CommandError> {
    let sig = signals::parse(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    let (dir, st) = open(root, &a.id)?;
    let status = st.status(&dir);
    if status == Status::Stopped {
        // containerd sends `kill --all ID 9` after the init exited: not an error then.
        if a.all {
            signal_cgroup(&st, sig);
            return Ok(0);
        }
        return Err(msg("container not running"));
    }
    if a.all || (sig == libc::SIGKILL && !st.private_pid_ns) {
        // Without its own pid namespace, killing the init does not kill the rest: do it all.
        signal_cgroup(&st, sig);
        // cgroup.kill may already have taken the init: that is the success asked for.
        if !sys::process_alive(st.pid, st.pid_start) {
            return Ok(0);
        }
    }
    signal_init(&st, sig)?;
    Ok(0)
}

/// Signals the init through a pidfd, after checking it is still the process we started.
fn signal_init(st: &State, sig: libc::c_int) -> Result<(), CommandError> {
    let pidfd = sys::pidfd_open(st.pid).map_err(|_| msg("container not running"))?;
    if !sys::process_alive(st.pid, st.pid_start) {
        return Err(msg("container not running"));
    }
    sys::pidfd_send_signal(pidfd.as_fd(), sig).map_err(|e| {
        if e.raw_os_error() == Some(libc::ESRCH) {
            msg("container not running")
        } else {
            CommandError::Sys {
                what: "unable to signal init".into(),
                source: e,
            }
        }
    })
}

fn signal_cgroup(st: &State, sig: libc::c_int) {
    // cgroup v2 (5.14+) kills the whole cgroup, descendants and processes forking right now
    // included, in one write; a per-pid loop can miss both.
    if sig == libc::SIGKILL
        && st
            .cgroup_dirs
            .iter()
            .map(|d| d.join("cgroup.kill"))
            .any(|f| f.exists() && std::fs::write(&f, "1").is_ok())
    {
        return;
    }
    // Otherwise freeze the cgroup around the loop, as runc does, so that no process forks a
    // child the loop never sees; a container that was paused stays paused (its processes
    // get the signal when resumed).
    let freezer = st
        .freezer
        .as_deref()
        .filter(|f| !cgroups::is_frozen(f) && freeze_and_wait(f).is_ok());
    for pid in cgroups::pids(&st.cgroup_dirs) {
        // SAFETY: kill with integer arguments.
        unsafe { libc::kill(pid, sig) };
    }
    if let Some(f) = freezer {
        thaw(f);
    }
}

/// Waits (polling the pidfd, which becomes readable on exit) until the init is gone.
fn wait_gone(st: &State, timeout: Duration) -> bool {
    let Ok(pidfd) = sys::pidfd_open(st.pid) else {
        return true;
    };
    if !sys::process_alive(st.pid, st.pid_start) {
        return true;
    }
    let mut p = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&pidfd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) };
    r > 0
}

fn delete(root: &std::path::Path, a: &DeleteArgs) -> Result<i32, CommandError> {
    let dir = match ContainerDir::open(root, &a.id) {
        Ok(d) => d,
        // runc: `delete --force` of a container that is not there succeeds quietly (Podman
        // calls it to clean up after a failed create and shows the user any error).
        Err(StateError::NotExist) if a.force => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    dir.lock()?;
    let st = match dir.load() {
        Ok(st) => st,
        Err(e @ StateError::Corrupt { .. }) if !a.force => return Err(e.into()),
        // A half-made container (create killed before it wrote its state) or a damaged
        // state.json: clean up by the recorded cgroups, which hold every process it has.
        Err(_) => {
            destroy_by_record(&dir)?;
            return Ok(0);
        }
    };
    match st.status(&dir) {
        Status::Stopped => {}
        Status::Created | Status::Creating => kill_and_wait(&st)?,
        s @ (Status::Running | Status::Paused) => {
            if !a.force {
                return Err(msg(format!(
                    "cannot delete container {} that is not stopped: {}",
                    st.id,
                    s.as_str()
                )));
            }
            if s == Status::Paused
                && let Some(f) = &st.freezer
            {
                thaw(f);
            }
            kill_and_wait(&st)?;
        }
    }
    destroy(&dir, &st)?;
    Ok(0)
}

/// The process an exec runs: `--process FILE`, or the container's own process with the
/// command line and flags applied (runc's getProcess).
fn exec_process(st: &State, a: &ExecArgs) -> Result<oci_spec::runtime::Process, CommandError> {
    use oci_spec::runtime::Capability;
    if let Some(p) = &a.process {
        let data = std::fs::read(p).map_err(|source| CommandError::Sys {
            what: format!("unable to read process file {}", p.display()),
            source,
        })?;
        return serde_json::from_slice(&data)
            .map_err(|e| msg(format!("invalid process file {}: {e}", p.display())));
    }
    if a.command.is_empty() {
        return Err(msg("process args cannot be empty"));
    }
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(
        &std::fs::read(st.bundle.join("config.json")).map_err(|source| CommandError::Sys {
            what: format!("unable to read {}/config.json", st.bundle.display()),
            source,
        })?,
    )
    .map_err(|e| msg(format!("invalid config.json: {e}")))?;
    let mut p = spec
        .process()
        .clone()
        .ok_or_else(|| msg("config.json has no process"))?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &a.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), ""));
        user.set_uid(
            uid.parse()
                .map_err(|_| msg(format!("invalid user {u:?}: expected uid[:gid]")))?,
        );
        if !gid.is_empty() {
            user.set_gid(
                gid.parse()
                    .map_err(|_| msg(format!("invalid user {u:?}: expected uid[:gid]")))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        // runc appends to the config's additionalGids.
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    if let Some(nnp) = a.no_new_privs {
        p.set_no_new_privileges(Some(nnp));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = if c.starts_with("CAP_") {
                c.clone()
            } else {
                format!("CAP_{c}")
            };
            let cap: Capability = serde_json::from_value(serde_json::Value::from(name))
                .map_err(|_| msg(format!("unknown capability {c:?}")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
            // runc: ambient too when the config has an inheritable set (ambient cannot be
            // raised without inheritable, and --cap does not add that).
            if caps.inheritable().is_some() {
                let am = add(caps.ambient());
                caps.set_ambient(am);
            }
        }
        p.set_capabilities(Some(caps));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

fn exec(root: &std::path::Path, a: &ExecArgs) -> Result<i32, CommandError> {
    let (dir, st) = open(root, &a.id)?;
    match st.status(&dir) {
        Status::Stopped => return Err(msg("cannot exec in a stopped container")),
        Status::Paused if !a.ignore_paused => {
            return Err(msg(
                "cannot exec in a paused container (use --ignore-paused to override)",
            ));
        }
        _ => {}
    }
    let process = exec_process(&st, a)?;
    crate::config::validate_process(&process).map_err(ProcessError::from)?;
    let terminal = process.terminal() == Some(true);
    if terminal && a.console_socket.is_none() && a.detach {
        return Err(msg(
            "cannot allocate tty if hako will detach without setting console socket",
        ));
    }
    // A terminal in the foreground without a console socket: hako holds the pty master and
    // proxies it, as runc does (and as `run` does).
    let console_pair = if terminal && a.console_socket.is_none() {
        Some(
            std::os::unix::net::UnixStream::pair().map_err(|source| CommandError::Sys {
                what: "unable to create the console socket pair".into(),
                source,
            })?,
        )
    } else {
        None
    };
    if !terminal && a.console_socket.is_some() {
        return Err(msg(
            "cannot use console socket if hako will not detach or allocate tty",
        ));
    }
    let cgroup_dirs = process::exec::SubCgroups::parse(&a.cgroup)?.apply(&st.cgroup_dirs)?;
    // The process is a clone of this hako until it execs: protect the binary (CVE-2019-5736).
    crate::exeseal::ensure_sealed(root)?;
    // The profile saved at create: a config.json edited or removed since changes nothing.
    let seccomp_spec = dir.seccomp_profile(&st)?;
    let seccomp = match &seccomp_spec {
        Some(sc) => Some(crate::seccomp_cache::compile(sc, root).map_err(ProcessError::from)?),
        None => None,
    };
    let pid = process::exec::exec(&process::exec::ExecOpts {
        state: &st,
        process: &process,
        seccomp: seccomp.as_ref(),
        seccomp_spec: seccomp_spec.as_ref(),
        console_socket: a.console_socket.as_deref(),
        console_fd: console_pair.as_ref().map(|(_, theirs)| theirs.as_fd()),
        pidfd_socket: a.pidfd_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        preserve_fds: a.preserve_fds,
        cgroup_dirs: &cgroup_dirs,
    })?;
    if a.detach {
        return Ok(0);
    }
    if let Some((mine, _)) = &console_pair {
        let master = sys::recv_fd(mine.as_fd()).map_err(|source| CommandError::Sys {
            what: "unable to receive the process's terminal".into(),
            source,
        })?;
        return Ok(crate::tty_proxy::run(master, pid));
    }
    Ok(process::exec::wait(pid))
}

/// `pause` (freeze) and `resume` (thaw) through the freezer: v1 freezer.state or v2 cgroup.freeze.
fn pause(root: &std::path::Path, id: &str, freeze: bool) -> Result<i32, CommandError> {
    let (dir, st) = open(root, id)?;
    dir.lock()?;
    let status = st.status(&dir);
    match (freeze, status) {
        (true, Status::Running | Status::Created) => {}
        (true, _) => return Err(msg("container not running")),
        (false, Status::Paused) => {}
        (false, _) => return Err(msg("container not paused")),
    }
    let Some(f) = &st.freezer else {
        return Err(msg("this host has no freezer cgroup: cannot pause"));
    };
    if !freeze {
        thaw(f);
        return Ok(0);
    }
    freeze_and_wait(f)?;
    Ok(0)
}

/// Freezes the cgroup and waits until every task is frozen (v1 passes through FREEZING).
fn freeze_and_wait(f: &std::path::Path) -> Result<(), CommandError> {
    let v2 = f.ends_with("cgroup.freeze");
    cgroups::write(f, if v2 { "1" } else { "FROZEN" })?;
    let state_file = if v2 {
        f.with_file_name("cgroup.events")
    } else {
        f.to_path_buf()
    };
    for _ in 0..1000 {
        let s = std::fs::read_to_string(&state_file).unwrap_or_default();
        if (v2 && s.contains("frozen 1")) || (!v2 && s.trim() == "FROZEN") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    thaw(f);
    Err(msg(
        "unable to freeze the container: the freezer did not settle",
    ))
}

/// `ps`: the container's processes, as a JSON array of host pids or as ps(1)'s table
/// filtered to them (runc's behaviour).
fn ps(root: &std::path::Path, a: &PsArgs) -> Result<i32, CommandError> {
    let (_dir, st) = open(root, &a.id)?;
    let pids = cgroups::pids(&st.cgroup_dirs);
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::Value::from(pids));
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if a.ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                a.ps_args.clone()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|source| CommandError::Sys {
                    what: "unable to run ps".into(),
                    source,
                })?;
            if !out.status.success() {
                return Err(msg(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| msg("ps output has no PID column"))?;
            println!("{header}");
            for l in lines {
                let pid = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        other => Err(msg(format!("invalid format option {other:?}"))),
    }
}

fn thaw(freezer: &std::path::Path) {
    let v = if freezer.ends_with("cgroup.freeze") {
        "0"
    } else {
        "THAWED"
    };
    let _ = std::fs::write(freezer, v);
}

fn kill_and_wait(st: &State) -> Result<(), CommandError> {
    let _ = signal_init(st, libc::SIGKILL);
    if !st.private_pid_ns {
        signal_cgroup(st, libc::SIGKILL);
    }
    if wait_gone(st, Duration::from_secs(10)) {
        Ok(())
    } else {
        Err(msg("container init still running"))
    }
}

/// Removes everything the container held: leftover processes, cgroups, state; then runs the
/// poststop hooks (their failures are warnings, as the runtime-spec says).
fn destroy(dir: &ContainerDir, st: &State) -> Result<(), CommandError> {
    if !cgroups::pids(&st.cgroup_dirs).is_empty() {
        signal_cgroup(st, libc::SIGKILL);
    }
    cgroups::destroy(&st.cgroup_dirs)?;
    if !st.poststop.is_empty() {
        let json = st.to_spec_json(Status::Stopped).to_string();
        if let Err(e) = hooks::run("poststop", &st.poststop, json.as_bytes()) {
            logging::warn(&e.to_string());
        }
    }
    dir.remove()?;
    Ok(())
}

/// Without a usable state.json: thaw and kill whatever is in the recorded cgroups, remove
/// them and the state directory.
fn destroy_by_record(dir: &ContainerDir) -> Result<(), CommandError> {
    let dirs = dir.load_cgroups();
    for d in &dirs {
        for f in ["freezer.state", "cgroup.freeze"] {
            if d.join(f).exists() {
                thaw(&d.join(f));
            }
        }
    }
    for _ in 0..400 {
        let pids = cgroups::pids(&dirs);
        if pids.is_empty() {
            break;
        }
        for p in pids {
            // SAFETY: kill(2) with a pid read from the container's own cgroup.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cgroups::destroy(&dirs)?;
    dir.remove()?;
    Ok(())
}

fn list(root: &std::path::Path, a: &ListArgs) -> Result<i32, CommandError> {
    let mut rows = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(dir) = ContainerDir::open(root, &id) else {
            continue;
        };
        // Half-made or corrupted containers are skipped, never fatal.
        let Ok(st) = dir.load() else {
            continue;
        };
        let status = st.status(&dir);
        rows.push((st, status));
    }
    match a.format.as_str() {
        "json" => {
            if rows.is_empty() {
                println!("null");
            } else {
                let v: Vec<_> = rows.iter().map(|(s, st)| s.to_spec_json(*st)).collect();
                println!("{}", serde_json::Value::from(v));
            }
        }
        "table" => {
            if a.quiet {
                for (s, _) in &rows {
                    println!("{}", s.id);
                }
            } else {
                let mut table = vec![[
                    "ID".to_string(),
                    "PID".into(),
                    "STATUS".into(),
                    "BUNDLE".into(),
                    "CREATED".into(),
                    "OWNER".into(),
                ]];
                for (s, status) in &rows {
                    let pid = if *status == Status::Stopped { 0 } else { s.pid };
                    table.push([
                        s.id.clone(),
                        pid.to_string(),
                        status.as_str().into(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]);
                }
                print!("{}", tabulate(&table));
            }
        }
        other => return Err(msg(format!("invalid format option {other:?}"))),
    }
    Ok(0)
}

/// Go's tabwriter as runc configures it (minwidth 12, padding 3); the last column is unpadded.
fn tabulate(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max((c.len() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i == 5 {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

fn run(root: &std::path::Path, a: &RunArgs, cli: &Cli) -> Result<i32, CommandError> {
    let created = process::create(&create_opts(root, &a.create, cli, !a.detach))?;
    let started = bind_relay(&created.dir)
        .and_then(|relay| start_locked(&created.dir, &created.state).map(|()| relay));
    let relay = match started {
        Ok(r) => r,
        Err(e) => {
            let _ = kill_and_wait(&created.state);
            let _ = destroy(&created.dir, &created.state);
            return Err(e);
        }
    };
    if a.detach {
        if let Some(r) = relay {
            relay_ready(&r, &created.state, created.pid)?;
        }
        return Ok(0);
    }
    if let Some(r) = relay {
        // runc: in the foreground, hako is the process that stays, so it is MAINPID. The
        // relay thread must not take the signals the main thread forwards: block them first.
        crate::signals::block_forwarded();
        let st = created.state.clone();
        let me = sys::getpid();
        std::thread::spawn(move || {
            if let Err(e) = relay_ready(&r, &st, me) {
                logging::warn(&e.to_string());
            }
        });
    }
    let code = match &created.console {
        Some(sock) => {
            let master = sys::recv_fd(sock.as_fd()).map_err(|source| CommandError::Sys {
                what: "unable to receive the container's terminal".into(),
                source,
            })?;
            crate::tty_proxy::run(master, created.pid)
        }
        None => process::wait_forwarding_signals(created.pid),
    };
    if !a.keep {
        destroy(&created.dir, &created.state)?;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_runc_layout() {
        let t = tabulate(&[[
            "ID".into(),
            "PID".into(),
            "STATUS".into(),
            "BUNDLE".into(),
            "CREATED".into(),
            "OWNER".into(),
        ]]);
        assert_eq!(
            t,
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
