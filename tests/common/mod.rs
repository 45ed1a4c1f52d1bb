//! Shared test rig: busybox bundles built from Debian's busybox-static, a private `--root` per
//! test, absolute cgroup paths under /hako-test/ (never the caller's own cgroup), and checks
//! that nothing is left behind.
#![allow(dead_code)]

pub mod host;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const HAKO: &str = env!("CARGO_BIN_EXE_hako");
pub const CGROUP_PREFIX: &str = "/hako-test";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique container id for this test process.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox-static is not installed (integration/setup.sh installs it)");
}

/// Builds a busybox rootfs at `rootfs`.
pub fn make_rootfs(rootfs: &Path) {
    let bb = busybox();
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
    }
    std::fs::copy(&bb, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )
    .expect("group");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod tmp");
}

/// A bundle in a fresh temp directory with hako's default config (from `hako spec`), made
/// non-interactive and given an absolute cgroupsPath under /hako-test/.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn new(id: &str, args: &[&str]) -> Bundle {
        let dir = std::env::temp_dir().join("hako-tests").join(id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bundle dir");
        make_rootfs(&dir.join("rootfs"));
        let out = Command::new(HAKO)
            .args(["spec", "-b"])
            .arg(&dir)
            .output()
            .expect("hako spec");
        assert!(out.status.success(), "hako spec failed: {out:?}");
        let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
        let mut config: Value = serde_json::from_str(&text).expect("json");
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["linux"]["cgroupsPath"] = json!(format!("{CGROUP_PREFIX}/{id}"));
        let b = Bundle { dir, config };
        b.save();
        b
    }

    pub fn save(&self) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_string_pretty(&self.config).expect("serialise"),
        )
        .expect("write config");
    }

    /// Edits config.json in place.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.save();
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Builds tests/helpers/`name`.c static (the busybox image has no libc) into the rootfs
    /// as /bin/`name`, with `extra` compiler flags (e.g. -pthread).
    pub fn install_c_helper(&self, name: &str, extra: &[&str]) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/helpers/{name}.c"));
        let out = Command::new("cc")
            .args(["-static", "-O2"])
            .args(extra)
            .arg("-o")
            .arg(self.rootfs().join("bin").join(name))
            .arg(&src)
            .output()
            .expect("run cc (gcc + libc6-dev build the static test helpers)");
        assert!(
            out.status.success(),
            "cc {name}.c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private `--root` for one test; force-deletes whatever is left in it on drop.
pub struct Runtime {
    pub root: PathBuf,
}

impl Runtime {
    pub fn new(name: &str) -> Runtime {
        let root = std::env::temp_dir()
            .join("hako-tests-root")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Runtime { root }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(HAKO);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Runs hako with `args` and returns its output.
    pub fn hako(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn hako")
    }

    /// Like `hako`, but the command must succeed.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.hako(args);
        assert!(
            out.status.success(),
            "hako {args:?} failed ({:?}): stdout {} stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `run` of a bundle: (exit code, stdout, stderr).
    pub fn run(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        let out = self
            .cmd()
            .args(["run", "-b"])
            .arg(&b.dir)
            .arg(id)
            .output()
            .expect("spawn hako run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `run` that must exit 0; returns stdout.
    pub fn run_ok(&self, b: &Bundle, id: &str) -> String {
        let (code, out, err) = self.run(b, id);
        assert_eq!(code, 0, "run {id} failed: stdout {out} stderr {err}");
        out
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Output {
        let mut c = self.cmd();
        c.args(["create", "-b"]).arg(&b.dir).arg(id);
        detached_output(c)
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.ok(&["state", id]);
        serde_json::from_slice(&out.stdout).expect("state JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Waits until the container reports `stopped` (at most ~5 s).
    pub fn wait_stopped(&self, id: &str) {
        for _ in 0..500 {
            if self.status(id) == "stopped" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} did not stop");
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.hako(&["delete", "-f", &id]);
                remove_cgroup(&id);
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every cgroup mount point on the host.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            if fstype == "cgroup" || fstype == "cgroup2" {
                left.split(' ').nth(4).map(PathBuf::from)
            } else {
                None
            }
        })
        .collect()
}

/// The container's cgroup directory in the v1 hierarchy mounted at /sys/fs/cgroup/`mount`,
/// or on a cgroup v2 host its only directory.
pub fn cgroup_dir(mount: &str, id: &str) -> PathBuf {
    host::controller_dir(mount, id)
}

fn remove_cgroup(id: &str) {
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(CGROUP_PREFIX.trim_start_matches('/')).join(id));
    }
}

/// Asserts that nothing of container `id` remains: state dir, cgroups, processes, mounts.
pub fn assert_clean(rt: &Runtime, id: &str) {
    assert!(!rt.root.join(id).exists(), "state dir of {id} left behind");
    for m in cgroup_mounts() {
        let d = m.join(CGROUP_PREFIX.trim_start_matches('/')).join(id);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !info.contains(&format!("/{id}/rootfs")),
        "a mount of {id}'s rootfs is left in the host mount namespace"
    );
    // No process of ours still runs with the container's cgroup or id in its command line.
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            assert!(
                !cg.contains(&format!("{CGROUP_PREFIX}/{id}\n")),
                "process {pid} still in container {id}'s cgroup"
            );
        }
    }
}

/// Runs a command whose container outlives it (create, run -d): the container keeps the
/// stdio it inherited, so capture through files rather than pipes that would never close.
/// A command that hangs for a minute fails the test instead of blocking the suite.
pub fn detached_output(c: Command) -> Output {
    detached_output_within(c, std::time::Duration::from_secs(60))
        .expect("hako hung for more than 60 s")
}

/// Like `detached_output`, but returns None (after killing it) when the command runs past
/// `timeout`.
pub fn detached_output_within(mut c: Command, timeout: std::time::Duration) -> Option<Output> {
    let dir = std::env::temp_dir().join("hako-tests-out");
    std::fs::create_dir_all(&dir).expect("out dir");
    let base = dir.join(unique_id("out"));
    let out_path = base.with_extension("out");
    let err_path = base.with_extension("err");
    let out_f = std::fs::File::create(&out_path).expect("out file");
    let err_f = std::fs::File::create(&err_path).expect("err file");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(out_f)
        .stderr(err_f)
        .spawn()
        .expect("spawn hako");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait hako") {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    status.map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

/// Receives one message on `sock` and the fd sent with it (SCM_RIGHTS), if any.
pub fn recv_with_fd(sock: &impl std::os::fd::AsRawFd) -> (Vec<u8>, Option<std::os::fd::OwnedFd>) {
    use std::os::fd::FromRawFd;
    let mut buf = vec![0u8; 65536];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: a zeroed msghdr is a valid empty header; the pointers set below outlive recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: msg was filled by recvmsg; CMSG_* walk its control buffer.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            None
        } else {
            assert_eq!((*c).cmsg_level, libc::SOL_SOCKET);
            assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
            Some(std::os::fd::OwnedFd::from_raw_fd(fd))
        }
    };
    buf.truncate(n as usize);
    (buf, fd)
}

/// A seccomp agent's side of listenerPath: accepts one connection and returns (the container
/// process state JSON, the listener fd sent with it).
pub fn receive_seccomp_listener(
    listener: &std::os::unix::net::UnixListener,
) -> (Value, std::os::fd::OwnedFd) {
    let (conn, _) = listener.accept().expect("accept");
    let (data, fd) = recv_with_fd(&conn);
    let state: Value = serde_json::from_slice(&data).expect("state JSON");
    (state, fd.expect("no fd was sent"))
}

/// A seccomp agent's receive: waits (at most 20 s) for one notification on listener `fd`.
pub fn seccomp_recv_notification(fd: &std::os::fd::OwnedFd) -> libc::seccomp_notif {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    assert_eq!(r, 1, "no seccomp notification within 20 s");
    // SAFETY: seccomp_notif is plain data; RECV wants it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV fills the live seccomp_notif.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    notif
}

/// A seccomp agent's answer: notification `id` fails with `errno`; Err(errno of the ioctl).
pub fn seccomp_answer_errno(fd: &std::os::fd::OwnedFd, id: u64, errno: i32) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    // SAFETY: SEND reads the live seccomp_notif_resp.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Reads a pty master until the slave side is gone (EIO), at most 10 s.
pub fn read_terminal(master: std::os::fd::OwnedFd) -> String {
    use std::io::Read;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut text = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("terminal output")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs shell command line `cmd` under script(1), which gives it a pty of its own (for the
/// terminal tests: hako proxies that pty).
pub fn under_script(cmd: &str) -> Output {
    Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script")
}
