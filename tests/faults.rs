//! Faults mid-way: the init dies before start, the caller dies between create and start, a
//! hook hangs, the state directory's disk is full, two deletes race. Each ends with a clear
//! outcome and nothing left behind.

mod common;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn init_killed_before_start() {
    let rt = Runtime::new("fault-init-dies");
    let id = unique_id("initdies");
    let b = Bundle::new(&id, &["true"]);
    assert!(rt.create(&b, &id).status.success());
    let pid = rt.state(&id)["pid"].as_i64().expect("pid") as i32;
    // SAFETY: kill(2) of the container's init, a process this test created.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    rt.wait_stopped(&id);
    let out = rt.hako(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot start a container that has stopped"),
        "{}",
        stderr(&out)
    );
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

/// `create` runs under a shell that SIGKILLs itself right after: the created container is
/// not tied to its caller and starts later.
#[test]
fn caller_dies_between_create_and_start() {
    let rt = Runtime::new("fault-caller-dies");
    let id = unique_id("callerdies");
    let b = Bundle::new(
        &id,
        &["sh", "-c", "echo started > /dev/shm/mark; sleep 100"],
    );
    let script = format!(
        "{HAKO} --root {} create -b {} {id} >/dev/null 2>&1 </dev/null; kill -9 $$",
        rt.root.display(),
        b.dir.display()
    );
    let mut c = std::process::Command::new("sh");
    c.args(["-c", &script]);
    let out = detached_output(c);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc::SIGKILL)
    );
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn hanging_hook_times_out() {
    let rt = Runtime::new("fault-hook-hangs");
    let id = unique_id("hookhangs");
    let mut b = Bundle::new(&id, &["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]});
    });
    let start = Instant::now();
    let out = rt.create(&b, &id);
    assert!(!out.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let err = stderr(&out);
    assert!(
        err.contains("createRuntime") && err.contains("timeout of 1s"),
        "{err}"
    );
    assert_clean(&rt, &id);
}

/// --root on a full filesystem: create fails naming the problem, and no cgroup, process or
/// half-written state survives.
#[test]
fn state_directory_disk_full() {
    let dir = std::env::temp_dir().join(unique_id("fault-full-root"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("c");
    // SAFETY: mount(2) of a small tmpfs on a directory this test owns.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=64k".as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
    // Fill it, leaving no room for a state.json.
    let _ = std::fs::write(dir.join("filler"), vec![0u8; 64 * 1024]);
    let root = dir.join("root");
    let _ = std::fs::create_dir(&root);
    let rt = Runtime { root };
    let id = unique_id("diskfull");
    let b = Bundle::new(&id, &["true"]);
    let out = rt.create(&b, &id);
    let err = stderr(&out);
    // SAFETY: unmount what we mounted.
    let umounted = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    assert!(!out.status.success(), "create succeeded on a full disk");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(umounted, 0);
    assert_clean(&rt, &id);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `delete --force` at once: both end without a crash (the loser may find the container
/// gone), and the container is gone for good.
#[test]
fn two_deletes_race() {
    let rt = Runtime::new("fault-delete-race");
    for round in 0..5 {
        let id = unique_id(&format!("delrace{round}"));
        let b = Bundle::new(&id, &["sleep", "100"]);
        assert!(rt.create(&b, &id).status.success());
        rt.ok(&["start", &id]);
        let outs: Vec<_> = std::thread::scope(|s| {
            let a = s.spawn(|| rt.hako(&["delete", "-f", &id]));
            let b = s.spawn(|| rt.hako(&["delete", "-f", &id]));
            vec![a.join().expect("a"), b.join().expect("b")]
        });
        assert!(
            outs.iter().any(|o| o.status.success()),
            "neither delete succeeded"
        );
        for o in &outs {
            assert!(
                o.status.success() || stderr(o).contains("container does not exist"),
                "{}",
                stderr(o)
            );
        }
        assert_clean(&rt, &id);
    }
}
