//! CVE-2019-5736: a process in the container must not be able to overwrite the runtime binary
//! through /proc/<init>/exe. The attack is reproduced for real against a throw-away copy of
//! hako, so a failing defence destroys only the copy.

mod common;
use common::*;
use std::process::Command;

fn sha(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read binary")
}

#[test]
fn container_cannot_overwrite_hako_through_proc_exe() {
    let dir = std::env::temp_dir().join(unique_id("cve-2019-5736"));
    std::fs::create_dir_all(&dir).expect("dir");
    let copy = dir.join("hako");
    std::fs::copy(HAKO, &copy).expect("copy hako");
    let before = sha(&copy);

    let id = unique_id("exe");
    let b = Bundle::new(&id, &["sleep", "30"]);
    let root = dir.join("root");
    let mut c = Command::new(&copy);
    c.arg("--root")
        .arg(&root)
        .args(["create", "-b"])
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let state = Command::new(&copy)
        .arg("--root")
        .arg(&root)
        .args(["state", &id])
        .output()
        .expect("state");
    let st: serde_json::Value = serde_json::from_slice(&state.stdout).expect("state json");
    let pid = st["pid"].as_i64().expect("pid");

    // A "container process": in the container's mount and pid namespaces, it grabs
    // /proc/1/exe (the waiting init, still a clone of hako) and, once the init has exec'd
    // and `start` has exited (the test then creates /go: no hako process still runs the
    // binary, so ETXTBSY cannot refuse the write in place of the defence), tries to write
    // through the fd it kept.
    let script = "exec 3</proc/1/exe; while [ \"$(readlink /proc/1/exe)\" != /bin/busybox ]; do sleep 0.05; done; \
                  while [ ! -e /go ]; do sleep 0.05; done; \
                  if echo pwned >> /proc/self/fd/3; then echo WROTE; else echo REFUSED; fi";
    let attacker = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-m",
            "-p",
            "--",
            "/bin/sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nsenter");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let start = Command::new(&copy)
        .arg("--root")
        .arg(&root)
        .args(["start", &id])
        .output()
        .expect("start");
    assert!(start.status.success(), "start: {}", stderr(&start));
    std::fs::write(b.rootfs().join("go"), "").expect("go");
    let out = attacker.wait_with_output().expect("attacker");
    let said = String::from_utf8_lossy(&out.stdout);
    let _ = Command::new(&copy)
        .arg("--root")
        .arg(&root)
        .args(["delete", "-f", &id])
        .output();
    assert!(
        said.contains("REFUSED"),
        "attack result: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha(&copy), before, "the runtime binary was modified");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same attack through `hako exec`: the container makes the exec'd program a script
/// whose interpreter is /proc/self/exe, so the process, still a clone of `hako exec` at
/// execve, runs hako again inside the container. Its argv (`--log=/fifo checkpoint`: the
/// program's relative path, then its argument) makes that hako block opening the log FIFO,
/// so the container can open /proc/PID/exe without a race; it then releases it and, once
/// both hako processes have exited, writes through the fd it kept.
#[test]
fn container_cannot_overwrite_hako_through_exec() {
    let dir = std::env::temp_dir().join(unique_id("cve-2019-5736-exec"));
    std::fs::create_dir_all(&dir).expect("dir");
    let copy = dir.join("hako");
    std::fs::copy(HAKO, &copy).expect("copy hako");
    let before = sha(&copy);
    let hako = |args: &[&str]| {
        let mut c = Command::new(&copy);
        c.arg("--root").arg(dir.join("root")).args(args);
        c
    };

    let id = unique_id("exe-exec");
    let attack = "while :; do \
                    for p in /proc/[0-9]*; do \
                      case \"$(readlink $p/exe)\" in ''|/bin/busybox) ;; *) found=$p; break 2;; esac; \
                    done; sleep 0.02; \
                  done; \
                  exec 3<$found/exe; cat /fifo >/dev/null; \
                  while [ ! -e /go ]; do sleep 0.05; done; \
                  if echo pwned >> /proc/self/fd/3; then echo WROTE >/result; else echo REFUSED >/result; fi; \
                  sleep 100";
    let mut b = Bundle::new(&id, &["sh", "-c", attack]);
    b.edit(|c| c["root"]["readonly"] = false.into());
    let rootfs = b.rootfs();
    let fifo = std::ffi::CString::new(rootfs.join("fifo").to_str().expect("utf8")).expect("c");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
    // hako is dynamically linked: the image needs its loader and libraries (as any glibc
    // image has) for the kernel to run it as the script's interpreter.
    let ldd = Command::new("ldd").arg(HAKO).output().expect("ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let dest = rootfs.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("lib dir");
        std::fs::copy(lib, &dest).expect("copy lib");
    }
    std::fs::create_dir(rootfs.join("--log=")).expect("mkdir");
    std::fs::write(rootfs.join("--log=/fifo"), "#!/proc/self/exe\n").expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        rootfs.join("--log=/fifo"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let out = detached_output(hako(&["create", "-b", b.dir.to_str().expect("utf8"), &id]));
    assert!(out.status.success(), "create: {}", stderr(&out));
    let start = hako(&["start", &id]).output().expect("start");
    assert!(start.status.success(), "start: {}", stderr(&start));

    let pjson = dir.join("process.json");
    std::fs::write(
        &pjson,
        r#"{"args":["--log=/fifo","checkpoint"],"env":["PATH=/bin"],"cwd":"/",
            "user":{"uid":0,"gid":0}}"#,
    )
    .expect("process.json");
    let exec = detached_output_within(
        hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]),
        std::time::Duration::from_secs(30),
    );
    let exec = exec.expect("the exec'd hako was never released: the attacker did not find it");
    // hako ran in the container, got as far as its subcommand and exited: now write.
    assert!(
        stderr(&exec).contains("not implemented"),
        "{:?} {}",
        exec.status,
        stderr(&exec)
    );
    std::fs::write(rootfs.join("go"), "").expect("go");
    let result = rootfs.join("result");
    for _ in 0..500 {
        if std::fs::read_to_string(&result).is_ok_and(|r| r.ends_with('\n')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let said = std::fs::read_to_string(&result).unwrap_or_default();
    let _ = hako(&["delete", "-f", &id]).output();
    assert_eq!(said, "REFUSED\n", "attack result");
    assert_eq!(sha(&copy), before, "the runtime binary was modified");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn proc_exe_of_init_is_read_only_view() {
    let rt = Runtime::new("exe-view");
    let id = unique_id("exeview");
    let b = Bundle::new(&id, &["sleep", "30"]);
    assert!(rt.create(&b, &id).status.success());
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    // The init's executable lives on a read-only, detached overlay (or a sealed memfd).
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"));
    let e = f.expect_err("opening the init's exe for writing must fail");
    // EROFS (overlay view) or EPERM (sealed memfd). Newer kernels (6.12) check for a running
    // executable before the read-only mount, so ETXTBSY is fine too if the file really is on
    // the overlay or a memfd, not the real binary's filesystem.
    assert!(
        matches!(e.raw_os_error(), Some(30) | Some(1) | Some(26)),
        "unexpected error {e}"
    );
    let c = std::ffi::CString::new(format!("/proc/{pid}/exe")).expect("path");
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: a NUL-terminated path and a valid out-pointer of the right type.
    assert_eq!(unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) }, 0);
    // SAFETY: statfs succeeded, so it filled `st`.
    #[allow(clippy::unnecessary_cast)]
    let fs = unsafe { st.assume_init() }.f_type as i64;
    const OVERLAYFS: i64 = 0x794c_7630;
    const TMPFS: i64 = 0x0102_1994;
    assert!(
        fs == OVERLAYFS || fs == TMPFS,
        "the init runs from filesystem {fs:#x}, not a protected view"
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// A mount made for one test, unmounted (lazily, in case a process still uses it) on drop.
struct TestMount(std::path::PathBuf);

impl Drop for TestMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// mount(8) with `args` on `target`; it must succeed.
fn run_mount(args: &[&str], target: &std::path::Path) {
    let st = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .expect("mount");
    assert!(st.success(), "mount {args:?} {}", target.display());
}

fn mount(args: &[&str], target: &std::path::Path) -> TestMount {
    run_mount(args, target);
    TestMount(target.to_path_buf())
}

/// The init of container `id` (created by `bin`): its exe's path and whether that sits on a
/// read-only mount.
fn init_exe(rt: &Runtime, bin: &std::path::Path, b: &Bundle, id: &str) -> (String, bool) {
    let mut c = Command::new(bin);
    c.arg("--root")
        .arg(&rt.root)
        .args(["create", "-b"])
        .arg(&b.dir)
        .arg(id)
        .stdin(std::process::Stdio::null());
    // The init keeps the caller's stdio: do not wait for them to close.
    let out = detached_output(c);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid = rt.state(id)["pid"].as_i64().expect("pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("readlink exe");
    let c = std::ffi::CString::new(format!("/proc/{pid}/exe")).expect("path");
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: a NUL-terminated path and a valid out-pointer of the right type.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) }, 0);
    // SAFETY: statvfs succeeded, so it filled `st`.
    let flags = unsafe { st.assume_init() }.f_flag;
    (
        exe.to_string_lossy().into_owned(),
        flags & libc::ST_RDONLY != 0,
    )
}

#[test]
fn binary_on_a_writable_overlay_is_still_sealed() {
    // hako installed in a container image runs from an overlayfs whose upper layer is
    // writable: that is no protection, the init must run from hako's own read-only view.
    let dir = std::env::temp_dir().join(unique_id("exe-overlay"));
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::copy(HAKO, dir.join("lower/hako")).expect("copy hako");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.join("lower").display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let merged = dir.join("merged");
    let m = mount(&["-t", "overlay", "overlay", "-o", &opts], &merged);
    let rt = Runtime::new("exe-overlay");
    let id = unique_id("exeovl");
    let b = Bundle::new(&id, &["sleep", "30"]);
    let (exe, read_only) = init_exe(&rt, &merged.join("hako"), &b, &id);
    rt.ok(&["delete", "-f", &id]);
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !exe.starts_with(merged.to_str().expect("utf8")),
        "the init runs the writable overlay's file {exe}"
    );
    // hako's own view, or its sealed memfd copy where the kernel cannot stack that view on
    // this overlay (as in the guest, whose / is itself an overlay).
    assert!(
        read_only || exe.starts_with("/memfd:hako-sealed"),
        "the init runs from a writable mount: {exe}"
    );
    assert_clean(&rt, &id);
}

#[test]
fn binary_on_a_read_only_mount_is_not_re_executed() {
    // Installed on a read-only mount, the binary already is what the re-exec would give:
    // the init runs it directly, and it cannot be opened for writing through /proc.
    let dir = std::env::temp_dir().join(unique_id("exe-ro"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(HAKO, dir.join("hako")).expect("copy hako");
    let bind = mount(&["--bind", dir.to_str().expect("utf8")], &dir);
    run_mount(&["-o", "remount,bind,ro"], &dir);
    let rt = Runtime::new("exe-ro");
    let id = unique_id("exero");
    let b = Bundle::new(&id, &["sleep", "30"]);
    let bin = dir.join("hako");
    let (exe, read_only) = init_exe(&rt, &bin, &b, &id);
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"))
        .map(|_| ());
    rt.ok(&["delete", "-f", &id]);
    drop(bind);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(read_only, "{exe} is not on a read-only mount");
    assert_eq!(exe, bin.to_str().expect("utf8"), "hako re-executed itself");
    let e = write.expect_err("opening the init's exe for writing must fail");
    // EROFS, or ETXTBSY on kernels that check for a running executable first.
    assert!(
        matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "unexpected error {e}"
    );
    assert_clean(&rt, &id);
}
