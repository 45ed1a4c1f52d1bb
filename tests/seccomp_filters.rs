//! What a `linux.seccomp` filter does inside a real container, observed with a static C probe
//! (tests/helpers/seccomp_probe.c) that makes syscalls with chosen arguments and prints each
//! errno: the comparison operators on both sides of their boundaries (64-bit values included),
//! defaultErrnoRet, architectures (i386 syscalls through `int $0x80`), KILL_THREAD against
//! KILL_PROCESS in a threaded process, SECCOMP_FILTER_FLAG_LOG in the kernel log, a filter
//! without no_new_privs, and SCMP_ACT_NOTIFY from a `hako exec` process.
//!
//! Not here, because nothing observable tells them apart in a container: SECCOMP_FILTER_FLAG_TSYNC
//! (the filter is loaded by the single-threaded init) and, on kernels whose speculative store
//! bypass mitigation is not `seccomp` (the default since Linux 5.16), SPEC_ALLOW.

mod common;
use common::*;
use serde_json::{Value, json};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// A `sys=` step of the probe: syscall `nr` with `args`.
fn sys(nr: libc::c_long, args: &[u64]) -> String {
    let mut s = format!("sys={nr}");
    for a in args {
        s.push_str(&format!(",{a:#x}"));
    }
    s
}

/// The probe's output for `steps` paired with their results: "step: result\n" each.
fn expected(lines: &[(String, i64)]) -> String {
    lines.iter().map(|(s, r)| format!("{s}: {r}\n")).collect()
}

/// Runs the probe with `steps` in a container filtered by `seccomp`, after `edit` (for
/// anything else the case needs): (exit code, stdout, stderr). The container is gone after.
fn run_probe_with(
    name: &str,
    seccomp: Value,
    steps: &[String],
    edit: impl FnOnce(&mut Value),
) -> (i32, String, String) {
    let rt = Runtime::new(name);
    let id = unique_id(name);
    let mut args = vec!["seccomp_probe"];
    args.extend(steps.iter().map(String::as_str));
    let mut b = Bundle::new(&id, &args);
    b.install_c_helper("seccomp_probe", &["-pthread"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = seccomp;
        edit(c);
    });
    let r = rt.run(&b, &id);
    assert_clean(&rt, &id);
    r
}

fn run_probe(name: &str, seccomp: Value, steps: &[String]) -> (i32, String, String) {
    run_probe_with(name, seccomp, steps, |_| {})
}

// ---------------------------------------------------------------------------------------------
// Comparison operators and defaultErrnoRet.
// ---------------------------------------------------------------------------------------------

/// LT, LE, GE and NE (EQ, GT and MASKED_EQ are in process.rs and the unit tests), each on a
/// syscall of its own with its own errno, just below, at and above the boundary. The values
/// past 2^32 check that the whole 64-bit argument is compared, not its low word only.
#[test]
fn compare_operators_match_on_their_side_of_the_boundary_only() {
    const HI: u64 = 1 << 32;
    let rule = |name: &str, op: &str, value: u64, errno: u32| {
        json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno,
               "args": [{"index": 0, "value": value, "op": op}]})
    };
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            rule("umask", "SCMP_CMP_LT", HI + 0x10, 70),
            rule("getpgid", "SCMP_CMP_LE", 10, 71),
            rule("getsid", "SCMP_CMP_GE", 10, 72),
            rule("sched_getscheduler", "SCMP_CMP_NE", 1, 73),
        ]
    });
    let esrch = i64::from(libc::ESRCH);
    // Unmatched calls do what the kernel does: the probe is pid 1 and the only process of the
    // container's pid namespace, so other pids are ESRCH, and pid_t keeps the low 32 bits.
    let cases = [
        // umask(arg) < 2^32 + 0x10
        (sys(libc::SYS_umask, &[0x10]), 70),
        (sys(libc::SYS_umask, &[HI + 0xf]), 70),
        (sys(libc::SYS_umask, &[HI + 0x10]), 0),
        (sys(libc::SYS_umask, &[HI + 0x11]), 0),
        (sys(libc::SYS_umask, &[2 * HI]), 0),
        // getpgid(arg) <= 10
        (sys(libc::SYS_getpgid, &[9]), 71),
        (sys(libc::SYS_getpgid, &[10]), 71),
        (sys(libc::SYS_getpgid, &[11]), esrch),
        (sys(libc::SYS_getpgid, &[HI]), 0),
        // getsid(arg) >= 10
        (sys(libc::SYS_getsid, &[9]), esrch),
        (sys(libc::SYS_getsid, &[10]), 72),
        (sys(libc::SYS_getsid, &[11]), 72),
        (sys(libc::SYS_getsid, &[HI + 5]), 72),
        // sched_getscheduler(arg) != 1
        (sys(libc::SYS_sched_getscheduler, &[1]), 0),
        (sys(libc::SYS_sched_getscheduler, &[0]), 73),
        (sys(libc::SYS_sched_getscheduler, &[2]), 73),
        (sys(libc::SYS_sched_getscheduler, &[HI + 1]), 73),
    ];
    let steps: Vec<String> = cases.iter().map(|(s, _)| s.clone()).collect();
    let (code, out, err) = run_probe("scf-operators", seccomp, &steps);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(
        out,
        expected(&cases),
        "got (left) vs want (right); errno 70 = LT, 71 = LE, 72 = GE, 73 = NE matched"
    );
}

/// With an allow-list, every other syscall fails with defaultErrnoRet (13 = EACCES), and
/// with EPERM when it is absent.
#[test]
fn default_errno_ret_is_the_errno_of_unlisted_syscalls() {
    // What hako's init needs after loading the filter (it loads it last, with no_new_privs)
    // and what a static glibc program needs to start, write and exit.
    let allowed = [
        "execve",
        "rt_sigaction",
        "rt_sigprocmask",
        "brk",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "mmap",
        "munmap",
        "mprotect",
        "readlink",
        "readlinkat",
        "getrandom",
        "newfstatat",
        "fstat",
        "write",
        "writev",
        "exit",
        "exit_group",
        "getpid",
    ];
    let steps = [
        sys(libc::SYS_getpid, &[]),
        sys(libc::SYS_getpgid, &[0]),
        sys(libc::SYS_umask, &[0o22]),
    ];
    for (errno_ret, want) in [(Some(13), 13), (None, i64::from(libc::EPERM))] {
        let mut seccomp = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
        });
        if let Some(e) = errno_ret {
            seccomp["defaultErrnoRet"] = json!(e);
        }
        let (code, out, err) = run_probe_with("scf-default-errno", seccomp, &steps, |c| {
            c["process"]["noNewPrivileges"] = json!(true);
        });
        assert_eq!(code, 0, "defaultErrnoRet {errno_ret:?}: {out} {err}");
        let cases = [
            (steps[0].clone(), 0),
            (steps[1].clone(), want),
            (steps[2].clone(), want),
        ];
        assert_eq!(out, expected(&cases), "defaultErrnoRet {errno_ret:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Architectures.
// ---------------------------------------------------------------------------------------------

/// i386 syscall numbers (int $0x80 from a 64-bit process; needs CONFIG_IA32_EMULATION).
const I386_GETPID: i64 = 20;
const I386_GETPPID: i64 = 64;

/// Whether this (x86-64) kernel runs i386 syscalls made with `int $0x80`: getpid through it
/// returns our pid.
#[cfg(target_arch = "x86_64")]
fn kernel_runs_i386_syscalls() -> bool {
    let mut r: i64 = I386_GETPID;
    // SAFETY: i386 getpid takes no arguments and touches no memory; the compat entry may
    // clobber r8-r11.
    unsafe {
        std::arch::asm!("int 0x80", inout("rax") r, out("r8") _, out("r9") _, out("r10") _,
                        out("r11") _, options(nostack));
    }
    r == i64::from(std::process::id())
}

/// `architectures` without SCMP_ARCH_X86: an i386 syscall hits libseccomp's bad-arch action,
/// which hako leaves at its default, SCMP_ACT_KILL (kill the thread; here the only one, so
/// the process dies of SIGSYS). With SCMP_ARCH_X86 listed, i386 syscalls run and the rules
/// apply to them too, translated to i386 numbers.
#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_are_killed_unless_x86_is_listed() {
    if !kernel_runs_i386_syscalls() {
        eprintln!("skipped: the kernel has no IA32 emulation (int $0x80 getpid failed)");
        return;
    }
    let profile = |arches: &[&str]| {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
        })
    };
    let getpid = sys(libc::SYS_getpid, &[]);
    let int80 = |nr: i64| format!("int80={nr}");

    let steps = [getpid.clone(), int80(I386_GETPID), int80(I386_GETPPID)];
    let (code, out, err) = run_probe("scf-arch-native", profile(&["SCMP_ARCH_X86_64"]), &steps);
    assert_eq!(code, 128 + libc::SIGSYS, "{out} {err}");
    assert_eq!(out, format!("{getpid}: 42\nint80=20: start\n"), "{err}");

    let (code, out, err) = run_probe(
        "scf-arch-x86",
        profile(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
        &steps,
    );
    assert_eq!(code, 0, "{out} {err}");
    // i386 getpid: the rule's errno (raw -42); getppid of pid 1: 0.
    assert_eq!(
        out,
        format!("{getpid}: 42\nint80=20: start\nint80=20: -42\nint80=64: start\nint80=64: 0\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Kill actions in a threaded process.
// ---------------------------------------------------------------------------------------------

/// A second thread makes the killing syscall while the main thread waits for it: KILL_THREAD
/// (and KILL, the same in libseccomp) ends that thread only, KILL_PROCESS the whole process.
#[test]
fn kill_thread_spares_the_other_threads_and_kill_process_does_not() {
    let step = format!("thread={}", libc::SYS_getppid);
    for (action, want_code, want_out) in [
        (
            "SCMP_ACT_KILL_THREAD",
            0,
            format!("{step}: main survived, thread finished=0\n"),
        ),
        (
            "SCMP_ACT_KILL",
            0,
            format!("{step}: main survived, thread finished=0\n"),
        ),
        ("SCMP_ACT_KILL_PROCESS", 128 + libc::SIGSYS, String::new()),
        // The control: the thread runs to its end when the call is merely refused.
        (
            "SCMP_ACT_ERRNO",
            0,
            format!("{step}: main survived, thread finished=1\n"),
        ),
    ] {
        let seccomp = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        });
        let (code, out, err) = run_probe("scf-kill", seccomp, std::slice::from_ref(&step));
        assert_eq!(code, want_code, "{action}: {out} {err}");
        assert_eq!(out, want_out, "{action}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// SECCOMP_FILTER_FLAG_LOG.
// ---------------------------------------------------------------------------------------------

/// A comm no other process has had: the probe takes it, and its kernel log lines carry it.
fn unique_comm() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let n = (nanos as u64) ^ (u64::from(std::process::id()) << 24);
    format!("scf{:012x}", n & 0xffff_ffff_ffff)
}

/// The kernel's seccomp audit lines ("type=1326") of processes named `comm`.
fn audit_lines(comm: &str) -> Vec<String> {
    let out = std::process::Command::new("dmesg")
        .output()
        .expect("run dmesg");
    assert!(out.status.success(), "dmesg: {}", stderr(&out));
    let needle = format!("comm=\"{comm}\"");
    stdout(&out)
        .lines()
        .filter(|l| l.contains("type=1326") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Waits (up to 3 s: kauditd prints asynchronously) for a line of `comm` about `syscall`.
fn wait_for_audit_line(comm: &str, syscall: libc::c_long) -> Option<String> {
    let tag = format!(" syscall={syscall} ");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if let Some(l) = audit_lines(comm).into_iter().find(|l| l.contains(&tag)) {
            return Some(l);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Runs `attempt` until it returns Some: the kernel prints audit lines through
/// printk_ratelimit (10 per 5 s for everybody), so other tests' kill actions can swallow ours.
fn with_log_retries<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    for _ in 0..4 {
        if let Some(t) = attempt() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(5500));
    }
    panic!("{what}: no line in the kernel log after 4 attempts");
}

/// With SECCOMP_FILTER_FLAG_LOG an SCMP_ACT_ERRNO is logged (type=1326, code 0x50000 =
/// SECCOMP_RET_ERRNO); without the flag it is not, while SCMP_ACT_LOG in the same filter
/// still is (the control that the log was not just rate-limited).
#[test]
fn filter_flag_log_logs_errno_actions() {
    let logged =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged").unwrap_or_default();
    let logged: Vec<&str> = logged.split_whitespace().collect();
    if !logged.contains(&"errno") || !logged.contains(&"log") {
        eprintln!("skipped: kernel.seccomp.actions_logged lacks errno or log: {logged:?}");
        return;
    }
    let getpgid = sys(libc::SYS_getpgid, &[0]);
    let getsid = sys(libc::SYS_getsid, &[0]);
    let errno_rule = json!({"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77});

    let line = with_log_retries("with the LOG flag", || {
        let comm = unique_comm();
        let seccomp = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [errno_rule.clone()]
        });
        let steps = [format!("comm={comm}"), getpgid.clone()];
        let (code, out, err) = run_probe("scf-log-flag", seccomp, &steps);
        assert_eq!(
            (code, out.as_str()),
            (0, &*format!("{getpgid}: 77\n")),
            "{err}"
        );
        wait_for_audit_line(&comm, libc::SYS_getpgid)
    });
    assert!(line.contains(" code=0x50000"), "{line}");

    let (comm, line) = with_log_retries("SCMP_ACT_LOG without the LOG flag", || {
        let comm = unique_comm();
        let seccomp = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [errno_rule.clone(), {"names": ["getsid"], "action": "SCMP_ACT_LOG"}]
        });
        let steps = [format!("comm={comm}"), getpgid.clone(), getsid.clone()];
        let (code, out, err) = run_probe("scf-log-noflag", seccomp, &steps);
        assert_eq!(
            (code, out.as_str()),
            (0, &*format!("{getpgid}: 77\n{getsid}: 0\n")),
            "{err}"
        );
        wait_for_audit_line(&comm, libc::SYS_getsid).map(|l| (comm, l))
    });
    // SECCOMP_RET_LOG; the refused getpgid came first and left no line.
    assert!(line.contains(" code=0x7ffc0000"), "{line}");
    let lines = audit_lines(&comm);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

// ---------------------------------------------------------------------------------------------
// Without no_new_privs.
// ---------------------------------------------------------------------------------------------

/// With noNewPrivileges false the process runs without no_new_privs and still under the
/// filter (hako loads it before giving up CAP_SYS_ADMIN, which seccomp(2) then needs): as
/// root, and as a user left without capabilities, who could not have loaded it itself.
#[test]
fn filter_holds_without_no_new_privs() {
    let script = "grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters|CapEff):' /proc/self/status; \
                  mkdir /tmp/x 2>&1; echo rc=$?";
    for (who, user, caps) in [
        ("root", json!({"uid": 0, "gid": 0}), None),
        (
            "nobody",
            json!({"uid": 65534, "gid": 65534}),
            Some(json!({})),
        ),
    ] {
        let rt = Runtime::new("scf-nnp-off");
        let id = unique_id("scf-nnp-off");
        let mut b = Bundle::new(&id, &["sh", "-c", script]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(false);
            c["process"]["user"] = user;
            if let Some(caps) = caps {
                c["process"]["capabilities"] = caps;
            }
            c["mounts"].as_array_mut().expect("mounts").push(json!({
                "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                "options": ["mode=1777"]
            }));
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": 95}]
            });
        });
        let out = rt.run_ok(&b, &id);
        assert!(out.contains("NoNewPrivs:\t0\n"), "{who}: {out}");
        assert!(out.contains("Seccomp:\t2\n"), "{who}: {out}");
        // One filter: hako's, loaded once.
        assert!(out.contains("Seccomp_filters:\t1\n"), "{who}: {out}");
        if who == "nobody" {
            assert!(out.contains("CapEff:\t0000000000000000\n"), "{who}: {out}");
        }
        assert!(
            out.ends_with("Operation not supported\nrc=1\n"),
            "{who}: mkdir was not refused with errnoRet 95: {out}"
        );
        assert_clean(&rt, &id);
    }
}

// ---------------------------------------------------------------------------------------------
// SCMP_ACT_NOTIFY from `hako exec`.
// ---------------------------------------------------------------------------------------------

fn receive(listener: &UnixListener) -> (serde_json::Value, OwnedFd) {
    receive_seccomp_listener(listener)
}

/// What the agent saw of the notified syscall: (pid, syscall number).
type Notified = (u32, i32);

/// Waits (at most 20 s) for one notification on seccomp listener `fd` and answers it with
/// `-errno`.
fn answer_one(fd: &OwnedFd, errno: i32) -> Notified {
    let notif = seccomp_recv_notification(fd);
    seccomp_answer_errno(fd, notif.id, errno).unwrap_or_else(|e| panic!("NOTIF_SEND: errno {e}"));
    (notif.pid, notif.data.nr)
}

/// An exec'd process loads the container's filter itself and gets a listener of its own:
/// `hako exec` hands it to listenerPath (a second connection, after the init's), and the
/// process's notified syscall waits for the agent there and returns the agent's answer.
#[test]
fn notify_from_an_exec_process_is_answered_by_the_agent() {
    let rt = Runtime::new("scf-exec-notify");
    let id = unique_id("scf-exec-notify");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    let sock = b.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent");
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "exec-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let agent = std::thread::spawn(move || {
        let (init_state, init_fd) = receive(&listener);
        let (exec_state, exec_fd) = receive(&listener);
        let notified = answer_one(&exec_fd, libc::EXDEV);
        drop(init_fd);
        (init_state, exec_state, notified)
    });
    let unblock = || {
        // A second connection (and a stray one) so that an agent still in accept returns.
        let _ = std::os::unix::net::UnixStream::connect(&sock);
        let _ = std::os::unix::net::UnixStream::connect(&sock);
    };
    let created = rt.create(&b, &id);
    if !created.status.success() {
        unblock();
        panic!("create: {}", stderr(&created));
    }
    rt.ok(&["start", &id]);
    let mut c = rt.cmd();
    c.args(["exec", &id, "mkdir", "/tmp/x"]);
    let out = detached_output_within(c, Duration::from_secs(40)).expect("exec hung");
    let (init_state, exec_state, (pid, nr)) = agent.join().expect("agent");
    // The agent's EXDEV, not EROFS (the root is read-only) nor ENOSYS (no agent).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Invalid cross-device link"),
        "{}",
        stderr(&out)
    );
    let init_pid = rt.state(&id)["pid"].as_i64().expect("pid");
    assert_eq!(init_state["pid"], json!(init_pid), "{init_state}");
    assert_eq!(exec_state["fds"], json!(["seccompFd"]), "{exec_state}");
    assert_eq!(exec_state["metadata"], "exec-agent", "{exec_state}");
    assert_eq!(exec_state["state"]["id"], id.as_str(), "{exec_state}");
    let exec_pid = exec_state["pid"].as_i64().expect("pid");
    assert_ne!(exec_pid, init_pid, "{exec_state}");
    // The notification came from the exec'd process (host pid, as the state says) and for
    // mkdir or mkdirat.
    assert_eq!(i64::from(pid), exec_pid);
    assert!(
        [libc::SYS_mkdir, libc::SYS_mkdirat].contains(&libc::c_long::from(nr)),
        "notified syscall {nr}"
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}
