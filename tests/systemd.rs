//! What systemd and engines hand a runtime besides the bundle: the NOTIFY_SOCKET relay
//! (sd_notify from the container reaches the host with MAINPID), socket activation
//! (LISTEN_FDS/LISTEN_PID fds passed on as fds 3..) and `--pidfd-socket`.

mod common;
use common::*;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A host directory removed on drop.
struct HostDir(PathBuf);

impl HostDir {
    fn new(name: &str) -> HostDir {
        let d = std::env::temp_dir()
            .join("hako-tests-systemd")
            .join(unique_id(name));
        std::fs::create_dir_all(&d).expect("mkdir");
        HostDir(d)
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bundle running `sh -c script`, with the static sd-notify helper at /bin/sd-notify.
fn sh_bundle(id: &str, script: &str) -> Bundle {
    let b = Bundle::new(id, &["sh", "-c", script]);
    b.install_c_helper("sd_notify", &[]);
    std::fs::rename(
        b.rootfs().join("bin/sd_notify"),
        b.rootfs().join("bin/sd-notify"),
    )
    .expect("rename sd-notify");
    b
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
fn pidfd_pid(fd: &OwnedFd) -> i64 {
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).expect("fdinfo");
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("not a pidfd: {info}"))
}

/// Collects what the host's notify socket receives within `within`.
fn drain(sock: &UnixDatagram, within: Duration) -> Vec<(String, bool)> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut got = Vec::new();
    let end = Instant::now() + within;
    while Instant::now() < end {
        let mut p = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } > 0 {
            let (data, fd) = recv_with_fd(sock);
            // Closing the barrier pipe is how the host answers BARRIER=1.
            got.push((String::from_utf8_lossy(&data).into_owned(), fd.is_some()));
        }
    }
    got
}

/// Reads the host socket from a thread while the runtime relays: the relay waits for the
/// barrier's answer (the pipe closed, as `drain` does by dropping the fd) for up to 30 s.
fn spawn_drain(
    sock: &UnixDatagram,
    within: Duration,
) -> std::thread::JoinHandle<Vec<(String, bool)>> {
    let sock = sock.try_clone().expect("clone socket");
    std::thread::spawn(move || drain(&sock, within))
}

#[test]
fn notify_socket_relays_ready_with_mainpid_and_start_waits_for_it() {
    let rt = Runtime::new("notify-start");
    let host = HostDir::new("notify");
    let host_sock = host.0.join("host.sock");
    let listener = UnixDatagram::bind(&host_sock).expect("bind host socket");
    let id = unique_id("notify");
    // The container checks what it was given, then notifies after a delay `start` must wait.
    let b = sh_bundle(
        &id,
        "test \"$NOTIFY_SOCKET\" = /run/notify/notify.sock || exit 9; \
         grep -q ' /run/notify [^ ]* ro,nosuid,nodev,noexec' /proc/self/mounts || exit 8; \
         sleep 0.5; sd-notify READY=1; exec sleep 100",
    );
    let mut c = rt.cmd();
    c.env("NOTIFY_SOCKET", &host_sock)
        .args(["create", "-b"])
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(out.status.success(), "create: {}", stderr(&out));
    assert!(rt.root.join(&id).join("notify").is_dir());
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");

    let t0 = Instant::now();
    let reader = spawn_drain(&listener, Duration::from_secs(3));
    let mut c = rt.cmd();
    c.env("NOTIFY_SOCKET", &host_sock).args(["start", &id]);
    let out = detached_output(c);
    let took = t0.elapsed();
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert!(
        took >= Duration::from_millis(450),
        "start returned before READY: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "start waited for the barrier: {took:?}"
    );
    let got = reader.join().expect("reader");
    let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        ["READY=1\n", &format!("MAINPID={pid}\n"), "BARRIER=1"],
        "host socket received {got:?}"
    );
    assert!(got[2].1, "BARRIER=1 came without its pipe");
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn notify_socket_run_detached_returns_when_the_container_dies_without_ready() {
    let rt = Runtime::new("notify-run");
    let host = HostDir::new("notify-run");
    let host_sock = host.0.join("host.sock");
    let listener = UnixDatagram::bind(&host_sock).expect("bind host socket");

    // READY from a `run -d` container: MAINPID is the init.
    let id = unique_id("notify-rund");
    let b = sh_bundle(&id, "sleep 0.3; sd-notify READY=1; exec sleep 100");
    let mut c = rt.cmd();
    c.env("NOTIFY_SOCKET", &host_sock)
        .args(["run", "-d", "-b"])
        .arg(&b.dir)
        .arg(&id);
    let t0 = Instant::now();
    let reader = spawn_drain(&listener, Duration::from_secs(3));
    let out = detached_output(c);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "run -d did not wait: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "run -d waited for the barrier: {took:?}"
    );
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let got = reader.join().expect("reader");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, "READY=1\n");
    assert_eq!(got[1].0, format!("MAINPID={pid}\n"));
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);

    // A container that exits without READY: run -d returns anyway, nothing is relayed.
    let id = unique_id("notify-dies");
    let b = sh_bundle(&id, "sleep 0.2; exit 3");
    let mut c = rt.cmd();
    c.env("NOTIFY_SOCKET", &host_sock)
        .args(["run", "-d", "-b"])
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output_within(c, Duration::from_secs(10)).expect("run -d hung");
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    assert!(drain(&listener, Duration::from_millis(200)).is_empty());
    rt.wait_stopped(&id);
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn listen_fds_are_passed_as_fds_3_and_up_before_preserved_ones() {
    let rt = Runtime::new("listen-fds");
    let host = HostDir::new("listen");
    let id = unique_id("listen");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID\" >&3; echo four >&4; echo five >&5; \
             if [ -e /proc/self/fd/6 ]; then echo leaked; fi",
        ],
    );
    let files: Vec<PathBuf> = (3..=5).map(|n| host.0.join(format!("fd{n}"))).collect();
    // systemd's way: LISTEN_PID is the runtime's own pid ($$ survives exec), fds 3 and 4
    // are the activation sockets; --preserve-fds 1 adds fd 5 after them.
    let script = format!(
        "exec 3>'{}' 4>'{}' 5>'{}' 6>/dev/null; LISTEN_FDS=2 LISTEN_PID=$$ exec '{}' --root '{}' run --preserve-fds 1 -b '{}' '{}'",
        files[0].display(),
        files[1].display(),
        files[2].display(),
        HAKO,
        rt.root.display(),
        b.dir.display(),
        id
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert_eq!(stdout(&out), "", "fd 6 reached the container");
    let read = |i: usize| std::fs::read_to_string(&files[i]).expect("read");
    assert_eq!(read(0), "fds=2 pid=1\n");
    assert_eq!(read(1), "four\n");
    assert_eq!(read(2), "five\n");
    assert_clean(&rt, &id);

    // LISTEN_PID naming another process: nothing is passed and the env is not set.
    let id = unique_id("listen-other");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "echo \"fds=${LISTEN_FDS:-none}\"; [ -e /proc/self/fd/3 ] && echo fd3",
        ],
    );
    let script = format!(
        "exec 3>/dev/null; LISTEN_FDS=1 LISTEN_PID=1 exec '{}' --root '{}' run -b '{}' '{}'",
        HAKO,
        rt.root.display(),
        b.dir.display(),
        id
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert_eq!(stdout(&out), "fds=none\n", "{}", stderr(&out));
    assert_clean(&rt, &id);
}

#[test]
fn pidfd_socket_receives_pidfds_of_the_init_and_of_exec_processes() {
    let rt = Runtime::new("pidfd-socket");
    let host = HostDir::new("pidfd");
    let sock_path = host.0.join("pidfd.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind");
    let id = unique_id("pidfd");
    let b = Bundle::new(&id, &["sleep", "100"]);
    let receiver = std::thread::spawn(move || {
        let mut fds = Vec::new();
        for _ in 0..2 {
            let (conn, _) = listener.accept().expect("accept");
            fds.push(recv_with_fd(&conn).1.expect("an fd"));
        }
        fds
    });
    let mut c = rt.cmd();
    c.args(["create", "--pidfd-socket"])
        .arg(&sock_path)
        .arg("-b")
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(out.status.success(), "create: {}", stderr(&out));
    rt.ok(&["start", &id]);
    let init = rt.state(&id)["pid"].as_i64().expect("pid");

    let pid_file = host.0.join("exec.pid");
    let mut c = rt.cmd();
    c.args(["exec", "-d", "--pidfd-socket"])
        .arg(&sock_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .args([&id, "sleep", "100"]);
    let out = detached_output(c);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let exec_pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("pid");
    let fds = receiver.join().expect("receiver");
    assert_eq!(pidfd_pid(&fds[0]), init);
    assert_eq!(pidfd_pid(&fds[1]), exec_pid);

    // The pidfd is live: a signal through it ends the init (and so the container).
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fds[0].as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
    rt.wait_stopped(&id);
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);

    // A socket nobody listens on is an error, and nothing is left behind.
    let id = unique_id("pidfd-bad");
    let b = Bundle::new(&id, &["true"]);
    let mut c = rt.cmd();
    c.args(["create", "--pidfd-socket"])
        .arg(host.0.join("nobody.sock"))
        .arg("-b")
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pidfd-socket"), "{}", stderr(&out));
    assert_clean(&rt, &id);
}

#[test]
fn notify_socket_run_in_the_foreground_relays_with_its_own_pid() {
    // runc: in the foreground the runtime is the process that stays, so it is MAINPID.
    let rt = Runtime::new("notify-fg");
    let host = HostDir::new("notify-fg");
    let host_sock = host.0.join("host.sock");
    let listener = UnixDatagram::bind(&host_sock).expect("bind host socket");
    let id = unique_id("notify-fg");
    let b = sh_bundle(&id, "sd-notify READY=1; sleep 0.3; echo done");
    let child = rt
        .cmd()
        .env("NOTIFY_SOCKET", &host_sock)
        .args(["run", "-b"])
        .arg(&b.dir)
        .arg(&id)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn run");
    let me = child.id();
    let out = child.wait_with_output().expect("run");
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert_eq!(stdout(&out), "done\n");
    let got = drain(&listener, Duration::from_millis(200));
    let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        texts,
        ["READY=1\n", &format!("MAINPID={me}\n"), "BARRIER=1"],
        "{got:?}"
    );
    assert_clean(&rt, &id);
}
