//! SCMP_ACT_NOTIFY: the listener fd and the container process state reach the agent at
//! linux.seccomp.listenerPath, for both places the filter is loaded (with and without
//! noNewPrivileges).

mod common;
use common::*;
use serde_json::json;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

fn receive(listener: &UnixListener) -> (serde_json::Value, OwnedFd) {
    receive_seccomp_listener(listener)
}

fn notify_case(name: &str, nnp: bool, flags: &[&str]) {
    let rt = Runtime::new(name);
    let id = unique_id(name);
    let mut b = Bundle::new(&id, &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    let sock = b.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent");
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["process"]["noNewPrivileges"] = nnp.into();
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "agent-metadata",
            "flags": flags,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let agent = std::thread::spawn(move || {
        let (state, fd) = receive(&listener);
        // The fd is a seccomp listener: closing it makes the notified calls fail with ENOSYS.
        drop(fd);
        state
    });
    let (code, out, err) = rt.run(&b, &id);
    if code != 0 {
        // Unblock the agent's accept so a failing run fails the test instead of hanging it.
        let _ = std::os::unix::net::UnixStream::connect(&sock);
        panic!("run failed ({code}): {out} {err}");
    }
    let state = agent.join().expect("agent");
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "agent-metadata");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    // mkdir was routed to the (now gone) agent: ENOSYS, not success.
    assert_eq!(out.trim_end().lines().last(), Some("rc=1"), "{out}");
    assert!(!b.rootfs().join("tmp/x").exists());
    assert_clean(&rt, &id);
}

#[test]
fn notify_fd_reaches_the_agent_with_no_new_privileges() {
    notify_case("notify-nnp", true, &[]);
}

#[test]
fn notify_fd_reaches_the_agent_without_no_new_privileges() {
    notify_case("notify-privs", false, &[]);
}

/// Whether the kernel takes SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19+): with a
/// NULL program it checks the flags (EINVAL) before it faults on the program (EFAULT).
fn kernel_has_wait_killable_recv() -> bool {
    const NEW_LISTENER: libc::c_ulong = 1 << 3;
    const WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;
    // SAFETY: a NULL program is rejected by the kernel before anything is installed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            NEW_LISTENER | WAIT_KILLABLE_RECV,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// The notify flag, with the other filter flags, on a profile that notifies.
#[test]
fn notify_with_wait_killable_recv_and_tsync() {
    if !kernel_has_wait_killable_recv() {
        eprintln!("skipped: the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
        return;
    }
    notify_case(
        "notify-flags",
        true,
        &[
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        ],
    );
}

/// NOTIF_ID_VALID on notification `id`: Ok, or the errno (ENOENT once it was withdrawn).
fn id_valid(fd: &OwnedFd, id: u64) -> Result<(), i32> {
    let mut id = id;
    // SAFETY: ID_VALID reads the live u64.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// The notifying task sleeps killable (state D: TASK_KILLABLE) with SIGUSR1 still pending.
fn killable_with_usr1_pending(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let usr1 = 1u64 << (libc::SIGUSR1 - 1);
    let pending = status.lines().any(|l| {
        l.strip_prefix("ShdPnd:")
            .or_else(|| l.strip_prefix("SigPnd:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & usr1 != 0)
    });
    state == Some('D') && pending
}

/// What a SIGUSR1 to the notifying task did to a notification the agent had received.
#[derive(Debug, PartialEq)]
enum AfterSignal {
    /// The kernel withdrew the notification (ID_VALID failed) and the call returned.
    Withdrawn,
    /// The task went back to sleep, killable only, the signal left pending.
    KillableWait,
}

#[derive(Debug)]
struct SignalOutcome {
    after_signal: AfterSignal,
    /// ID_VALID 200 ms later.
    id_valid_later: Result<(), i32>,
    /// NOTIF_SEND of -EBADMSG on the notification.
    send: Result<(), i32>,
    /// The helper's line: "mkdir=<ret> errno=<errno> usr1=<count>".
    out: String,
}

/// Runs tests/helpers/notify_signal.c (SIGUSR1 handler without SA_RESTART, then a notified
/// mkdir) under a NOTIFY profile with filter `flags`. The agent receives the notification,
/// sends SIGUSR1 to the notifying (host) pid, waits (at most 10 s) until the kernel has
/// either withdrawn the notification or put the task back into a killable sleep with the
/// signal pending, checks ID_VALID again 200 ms later and answers with -EBADMSG.
fn signal_after_recv_case(name: &str, flags: &[&str]) -> SignalOutcome {
    let rt = Runtime::new(name);
    let id = unique_id(name);
    let mut b = Bundle::new(&id, &["/bin/notify_signal", "/tmp/x"]);
    b.install_c_helper("notify_signal", &[]);
    let sock = b.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent");
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "flags": flags,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    // Any early return or panic drops the listener fd, which fails the pending call with
    // ENOSYS: the container never waits for an agent that has gone.
    let agent = std::thread::spawn(move || {
        let (_state, fd) = receive(&listener);
        let notif = seccomp_recv_notification(&fd);
        // The listener is read here, on the host: the pid is a host pid.
        let pid = notif.pid as i32;
        // SAFETY: plain kill(2) of the container process, whose handler was installed
        // before the notified call.
        let r = unsafe { libc::kill(pid, libc::SIGUSR1) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
        let start = std::time::Instant::now();
        let after_signal = loop {
            if id_valid(&fd, notif.id).is_err() {
                break AfterSignal::Withdrawn;
            }
            if killable_with_usr1_pending(pid) {
                break AfterSignal::KillableWait;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "the notifying task neither left the wait nor slept killable within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        let id_valid_later = id_valid(&fd, notif.id);
        let send = seccomp_answer_errno(&fd, notif.id, libc::EBADMSG);
        // Closing the listener: a further notified call (none is expected) gets ENOSYS.
        drop(fd);
        (after_signal, id_valid_later, send)
    });
    let (code, out, err) = rt.run(&b, &id);
    if code != 0 {
        let _ = std::os::unix::net::UnixStream::connect(&sock);
        panic!("run failed ({code}): {out} {err}");
    }
    let (after_signal, id_valid_later, send) = agent.join().expect("agent");
    assert!(!b.rootfs().join("tmp/x").exists());
    assert_clean(&rt, &id);
    SignalOutcome {
        after_signal,
        id_valid_later,
        send,
        out: out.trim_end().to_string(),
    }
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV reaches the kernel: once the agent has received
/// the notification, a SIGUSR1 (handled, so not fatal) leaves it in place -- the task sleeps
/// killable with the signal pending, the id stays valid, and the call returns the agent's
/// answer (the handler runs after). Without the flag the same signal withdraws the
/// notification (ENOENT for the agent) and the call returns EINTR.
#[test]
fn wait_killable_recv_keeps_a_received_notification_through_a_signal() {
    if !kernel_has_wait_killable_recv() {
        eprintln!("skipped: the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
        return;
    }
    let with = signal_after_recv_case(
        "notify-killable",
        &["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    );
    assert_eq!(with.after_signal, AfterSignal::KillableWait, "{with:?}");
    assert_eq!(with.id_valid_later, Ok(()), "{with:?}");
    assert_eq!(with.send, Ok(()), "{with:?}");
    assert_eq!(
        with.out,
        format!("mkdir=-1 errno={} usr1=1", libc::EBADMSG),
        "{with:?}"
    );

    let without = signal_after_recv_case("notify-interruptible", &[]);
    assert_eq!(without.after_signal, AfterSignal::Withdrawn, "{without:?}");
    assert_eq!(without.id_valid_later, Err(libc::ENOENT), "{without:?}");
    assert_eq!(without.send, Err(libc::ENOENT), "{without:?}");
    assert_eq!(
        without.out,
        format!("mkdir=-1 errno={} usr1=1", libc::EINTR),
        "{without:?}"
    );
}

#[test]
fn notify_without_listener_path_is_refused() {
    let rt = Runtime::new("notify-nopath");
    let id = unique_id("notifynopath");
    let mut b = Bundle::new(&id, &["true"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let out = rt.create(&b, &id);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("listenerPath"), "{}", stderr(&out));
    assert_clean(&rt, &id);
}
