//! SCMP_ACT_NOTIFY: the listener fd and the container process state reach the agent at
//! linux.seccomp.listenerPath, for both places the filter is loaded (with and without
//! noNewPrivileges).

mod common;
use common::*;
use serde_json::json;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Accepts one connection and returns (state JSON, the fd that came with it).
fn receive(listener: &UnixListener) -> (serde_json::Value, OwnedFd) {
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = vec![0u8; 65536];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg points at live buffers.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel filled the control buffer.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!cmsg.is_null(), "no fd was sent");
    // SAFETY: an SCM_RIGHTS message with one fd.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>()) };
    let state: serde_json::Value = serde_json::from_slice(&buf[..n as usize]).expect("state JSON");
    // SAFETY: the fd was just received and is ours.
    (state, unsafe { OwnedFd::from_raw_fd(fd) })
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
