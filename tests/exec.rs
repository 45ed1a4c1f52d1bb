//! `hako exec`: new processes inside a running container, observed from inside and outside.

mod common;
use common::*;

fn running(rt: &Runtime, prefix: &str) -> (Bundle, String) {
    let id = unique_id(prefix);
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    (b, id)
}

#[test]
fn exec_runs_in_the_container_and_returns_its_status() {
    let rt = Runtime::new("exec-basic");
    let (_b, id) = running(&rt, "exec");
    let init = rt.state(&id)["pid"].as_i64().expect("pid");
    let out = rt.hako(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $$; hostname; readlink /proc/self/ns/mnt; cat /proc/self/cgroup; ls /proc/self/fd; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    // In the container's pid namespace (the init is pid 1, so we are not).
    let pid: i64 = lines.next().expect("pid").parse().expect("number");
    assert!(pid > 1 && pid < 100, "pid {pid}");
    assert_eq!(lines.next(), Some("hako"));
    let mnt = std::fs::read_link(format!("/proc/{init}/ns/mnt")).expect("ns");
    assert_eq!(lines.next(), Some(mnt.to_str().expect("utf8")));
    // In the container's cgroup.
    assert!(
        text.contains(&common::host::proc_cgroup_line(&id)),
        "{text}"
    );
    // Only stdio (+ the fd ls opens for /proc/self/fd) is open: no runtime fd leaks.
    let fds: Vec<&str> = text.lines().rev().take_while(|l| l.len() == 1).collect();
    assert_eq!(fds, ["3", "2", "1", "0"], "{text}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn exec_flags_set_env_cwd_user_caps_and_nnp() {
    let rt = Runtime::new("exec-flags");
    let (_b, id) = running(&rt, "execflags");
    let out = rt.hako(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "-u",
        "1000:1001",
        "-g",
        "2000",
        "--no-new-privs",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; id -G; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "bar");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1001");
    assert!(lines[4].split_whitespace().any(|g| g == "2000"), "{text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    // A non-root user keeps no effective capabilities.
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");

    let caps = rt.hako(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(caps.status.success(), "{}", stderr(&caps));
    let eff = stdout(&caps);
    let hex = eff.split_whitespace().nth(1).expect("mask");
    let mask = u64::from_str_radix(hex, 16).expect("hex");
    assert!(mask & (1 << 21) != 0, "CAP_SYS_ADMIN not effective: {eff}");
    rt.ok(&["delete", "-f", &id]);
}

/// runc's details of the exec flags: `-g` adds to the config's additionalGids, boolean flags
/// take `=false`, `-c` also raises ambient when the config has an inheritable set, and an
/// exec without a command fails as runc's does.
#[test]
fn exec_flags_follow_runc_details() {
    let rt = Runtime::new("exec-runcflags");
    let id = unique_id("runcflags");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| {
        c["process"]["user"]["additionalGids"] = serde_json::json!([5, 6]);
        let caps = &mut c["process"]["capabilities"];
        caps["inheritable"] = serde_json::json!(["CAP_KILL", "CAP_NET_RAW"]);
        // Inheritable must stay within the bounding set (capset).
        caps["bounding"]
            .as_array_mut()
            .expect("bounding")
            .push(serde_json::json!("CAP_NET_RAW"));
    });
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let out = rt.hako(&["exec", "-g", "7", &id, "id", "-G"]);
    assert_eq!(stdout(&out), "0 5 6 7\n", "{}", stderr(&out));
    let out = rt.hako(&[
        "exec",
        "--no-new-privs=false",
        "--cap",
        "CAP_NET_RAW",
        &id,
        "grep",
        "-E",
        "^(NoNewPrivs|CapAmb)",
        "/proc/self/status",
    ]);
    // Ambient: KILL from the config, NET_RAW (13) from --cap.
    assert_eq!(
        stdout(&out),
        "CapAmb:\t0000000000002020\nNoNewPrivs:\t0\n",
        "{}",
        stderr(&out)
    );
    let out = rt.hako(&["exec", &id]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("msg=\"exec failed: process args cannot be empty\""),
        "{}",
        stderr(&out)
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// An exec'd process joins the container's user and time namespaces (same ids and offsets
/// as the init) and gets the process.json's rlimits and umask.
#[test]
fn exec_joins_user_and_time_namespaces_with_rlimits_and_umask() {
    let rt = Runtime::new("exec-userns");
    let id = unique_id("execuserns");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
        ns.push(serde_json::json!({"type": "user"}));
        ns.push(serde_json::json!({"type": "time"}));
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["timeOffsets"] = serde_json::json!({"boottime": {"secs": 7200}});
    });
    let created = rt.create(&b, &id);
    assert!(created.status.success(), "{}", stderr(&created));
    rt.ok(&["start", &id]);
    let init = rt.state(&id)["pid"].as_i64().expect("pid");
    let pjson = b.dir.join("process.json");
    std::fs::write(
        &pjson,
        r#"{"args":["sh","-c","cat /proc/self/uid_map /proc/self/timens_offsets; id -u; ulimit -n; umask; readlink /proc/self/ns/user; readlink /proc/self/ns/time"],
            "env":["PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0,"umask":23},
            "rlimits":[{"type":"RLIMIT_NOFILE","hard":456,"soft":123}]}"#,
    )
    .expect("write");
    let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], "0 100000 65536", "{text}");
    assert!(lines.contains(&"boottime 7200 0".to_string()), "{text}");
    let n = lines.len();
    assert_eq!(lines[n - 5..n - 2], ["0", "123", "0027"], "{text}");
    let ns = |t: &str| {
        std::fs::read_link(format!("/proc/{init}/ns/{t}"))
            .expect("ns link")
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(lines[n - 2..], [ns("user"), ns("time")], "{text}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn exec_process_json_and_detach_with_pid_file() {
    let rt = Runtime::new("exec-json");
    let (b, id) = running(&rt, "execjson");
    let pjson = b.dir.join("process.json");
    std::fs::write(
        &pjson,
        r#"{"args":["sh","-c","echo from-json $X"],"env":["X=1","PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
    )
    .expect("write");
    let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-json 1\n");

    let pid_file = b.dir.join("exec.pid");
    let mut c = rt.cmd();
    c.args(["exec", "-d", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "sleep", "50"]);
    let out = detached_output(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert!(!pid.ends_with('\n'));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "sleep");
    let ps: serde_json::Value =
        serde_json::from_slice(&rt.ok(&["ps", "-f", "json", &id]).stdout).expect("json");
    assert!(
        ps.as_array()
            .expect("array")
            .iter()
            .any(|p| p.as_i64().map(|n| n.to_string()).as_deref() == Some(pid.as_str()))
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn exec_errors_exit_255_with_runc_messages() {
    let rt = Runtime::new("exec-err");
    let (_b, id) = running(&rt, "execerr");
    let missing = rt.hako(&["exec", &id, "nosuchbinary"]);
    assert_eq!(missing.status.code(), Some(255));
    assert!(
        stderr(&missing).contains("executable file not found in $PATH"),
        "{}",
        stderr(&missing)
    );
    rt.ok(&["pause", &id]);
    let paused = rt.hako(&["exec", &id, "true"]);
    assert_eq!(paused.status.code(), Some(255));
    assert!(
        stderr(&paused).contains("exec failed: cannot exec in a paused container"),
        "{}",
        stderr(&paused)
    );
    rt.ok(&["resume", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_stopped(&id);
    let stopped = rt.hako(&["exec", &id, "true"]);
    assert_eq!(stopped.status.code(), Some(255));
    assert!(
        stderr(&stopped).contains("exec failed: cannot exec in a stopped container"),
        "{}",
        stderr(&stopped)
    );
    let nocontainer = rt.hako(&["exec", "nope", "true"]);
    assert_eq!(nocontainer.status.code(), Some(255));
    assert!(stderr(&nocontainer).contains("exec failed: container does not exist"));
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

/// `exec -t` without --console-socket in the foreground: hako holds the pty master and
/// proxies it (as runc does); `-t -d` without a socket is refused with runc's message.
#[test]
fn exec_with_a_terminal_proxies_a_pty() {
    let rt = Runtime::new("exec-tty");
    let (_b, id) = running(&rt, "exectty");
    // `script` gives hako a terminal of a known size.
    let cmd = format!(
        "stty cols 97 rows 29; {HAKO} --root {} exec -t {id} sh -c 'tty; stty size; exit 4'",
        rt.root.display(),
    );
    let out = under_script(&cmd);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(4), "{text} {}", stderr(&out));
    assert!(text.contains("/dev/pts/"), "not on a pty: {text}");
    assert!(text.contains("29 97"), "window size not passed on: {text}");
    let detached = rt.hako(&["exec", "-t", "-d", &id, "true"]);
    assert_eq!(detached.status.code(), Some(255));
    assert!(
        stderr(&detached).contains("cannot allocate tty if hako will detach"),
        "{}",
        stderr(&detached)
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// CVE-2025-52881: a container that mounts its own tree over /proc must not redirect the
/// procfs writes `exec` makes for the new process (here oom_score_adj; in the real attack a
/// bind of /proc/sys/kernel/core_pattern in its place). hako writes through the host procfs
/// handle it opened before joining the container: the trap stays untouched and the value
/// reaches the exec'd process itself.
#[test]
fn exec_procfs_writes_ignore_a_fake_proc_in_the_container() {
    let rt = Runtime::new("exec-fakeproc");
    let id = unique_id("fakeproc");
    let mut b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "mkdir /dev/shm/rp && mount --bind /proc /dev/shm/rp && \
             mount -t tmpfs none /proc && mkdir /proc/self && echo 0 > /proc/self/oom_score_adj \
             && touch /dev/shm/ready && sleep 100",
        ],
    );
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps")
                .push(serde_json::json!("CAP_SYS_ADMIN"));
        }
    });
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let ready = b.rootfs().join("dev/shm/ready");
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let ready_inside = format!("/proc/{pid}/root/dev/shm/ready");
    for _ in 0..500 {
        if std::path::Path::new(&ready_inside).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        std::path::Path::new(&ready_inside).exists(),
        "{}",
        ready.display()
    );
    let pjson = b.dir.join("process.json");
    std::fs::write(
        &pjson,
        r#"{"args":["sh","-c","cat /dev/shm/rp/self/oom_score_adj; cat /proc/self/oom_score_adj"],
            "env":["PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0},"oomScoreAdj":123}"#,
    )
    .expect("write");
    let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "123\n0\n",
        "real value, then the untouched trap"
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// An exec'd process's bounding set is cut to the container's whatever the container's /proc
/// says: a container that mounts a tmpfs over /proc with cap_last_cap = 0 does not get an
/// exec'd process with capabilities 1.. still in its bounding set.
#[test]
fn exec_bounding_set_ignores_a_faked_cap_last_cap() {
    let rt = Runtime::new("exec-caplast");
    let id = unique_id("caplast");
    let mut b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "mkdir /dev/shm/rp && mount --bind /proc /dev/shm/rp && \
             mount -t tmpfs none /proc && mkdir -p /proc/sys/kernel && \
             echo 0 > /proc/sys/kernel/cap_last_cap && touch /dev/shm/ready && sleep 100",
        ],
    );
    let bounding = ["CAP_SYS_ADMIN", "CAP_KILL"];
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = serde_json::json!(bounding);
        }
    });
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let ready = format!("/proc/{pid}/root/dev/shm/ready");
    for _ in 0..500 {
        if std::path::Path::new(&ready).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(std::path::Path::new(&ready).exists(), "{ready}");
    let out = rt.hako(&["exec", &id, "grep", "CapBnd", "/dev/shm/rp/self/status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // CAP_KILL is 5, CAP_SYS_ADMIN 21.
    assert_eq!(stdout(&out), "CapBnd:\t0000000000200020\n");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// The seccomp filter of exec'd processes is the profile saved at create: editing or removing
/// config.json afterwards neither drops nor changes it, and a saved profile that cannot be
/// read fails the exec (255, naming the file) instead of running the process unfiltered.
#[test]
fn exec_applies_the_seccomp_profile_saved_at_create() {
    let rt = Runtime::new("exec-seccomp");
    let id = unique_id("execseccomp");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| {
        c["root"]["readonly"] = false.into();
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 95}]
        });
    });
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let pjson = b.dir.join("process.json");
    std::fs::write(
        &pjson,
        r#"{"args":["sh","-c","mkdir /tmp/x 2>&1; echo rc=$?"],"env":["PATH=/bin"],"cwd":"/",
            "user":{"uid":0,"gid":0}}"#,
    )
    .expect("write");
    let made = b.rootfs().join("tmp/x");
    let mkdir = |how: &str| {
        let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
        assert!(out.status.success(), "{how}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("Operation not supported") && text.ends_with("rc=1\n"),
            "{how}: mkdir was not filtered: {text}"
        );
        assert!(!made.exists(), "{how}");
    };
    mkdir("as created");
    // The command-line form too (its process template comes from config.json).
    let out = rt.hako(&["exec", &id, "mkdir", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Operation not supported"));

    b.edit(|c| {
        c["linux"]["seccomp"] = serde_json::Value::Null;
    });
    mkdir("config.json without the profile");
    std::fs::write(b.dir.join("config.json"), "{ not json").expect("write");
    mkdir("config.json invalid");
    std::fs::remove_file(b.dir.join("config.json")).expect("rm");
    mkdir("config.json removed");

    // The saved profile itself unreadable: a clear failure, never an unfiltered process.
    let saved = rt.root.join(&id).join("seccomp.json");
    assert!(saved.exists(), "profile not saved next to state.json");
    std::fs::write(&saved, "garbage").expect("write");
    let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
    assert_eq!(out.status.code(), Some(255), "{}", stdout(&out));
    assert!(stdout(&out).is_empty(), "the process ran: {}", stdout(&out));
    assert!(
        stderr(&out).contains(saved.to_str().expect("utf8")),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&saved).expect("rm");
    let out = rt.hako(&["exec", "-p", pjson.to_str().expect("utf8"), &id]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty(), "the process ran: {}", stdout(&out));
    assert!(
        stderr(&out).contains("seccomp profile") && stderr(&out).contains("seccomp.json"),
        "{}",
        stderr(&out)
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// runc's `--ignore-paused`: the exec is not refused; the process joins the frozen cgroup
/// and runs once the container is resumed (until then `exec` waits, as runc's does).
#[test]
fn exec_ignore_paused_runs_in_a_paused_container() {
    let rt = Runtime::new("exec-ignore-paused");
    let (_b, id) = running(&rt, "execpaused");
    rt.ok(&["pause", &id]);
    let mut c = rt.cmd();
    c.args(["exec", "--ignore-paused", &id, "echo", "ran after resume"]);
    let exec = std::thread::spawn(move || detached_output(c));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !exec.is_finished(),
        "exec returned while the container was paused"
    );
    assert_eq!(rt.status(&id), "paused");
    rt.ok(&["resume", &id]);
    let out = exec.join().expect("exec thread");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran after resume\n");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn exec_preserve_fds_passes_fd_3() {
    let rt = Runtime::new("exec-preserve");
    let (b, id) = running(&rt, "execpreserve");
    let file = b.dir.join("passed");
    std::fs::write(&file, "through fd 3\n").expect("write");
    // fd 3 of hako is the file; only with --preserve-fds 1 does the process get it.
    let with_fd3 = |flags: &str| {
        std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "exec \"$0\" --root \"$1\" exec {flags} \"$2\" \
                     sh -c 'cat /proc/self/fd/3 2>&1; ls /proc/self/fd' 3<\"$3\""
                ),
                HAKO,
                rt.root.to_str().expect("utf8"),
                &id,
                file.to_str().expect("utf8"),
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh")
    };
    let out = with_fd3("--preserve-fds 1");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("through fd 3\n"), "{text}");
    assert_eq!(text.lines().filter(|l| *l == "3").count(), 1, "{text}");
    let out = with_fd3("");
    let text = stdout(&out);
    assert!(!text.contains("through fd 3"), "{text}");
    assert!(text.contains("No such file"), "{text}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn exec_process_label_is_refused_without_selinux() {
    let rt = Runtime::new("exec-label");
    let (_b, id) = running(&rt, "execlabel");
    let out = rt.hako(&["exec", "--process-label", "x", &id, "echo", "ran"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("process.selinuxLabel")
            && stderr(&out).contains("SELinux is not enabled"),
        "{}",
        stderr(&out)
    );
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// `--cgroup`: a plain path is a sub-cgroup in every hierarchy; `controller:path` (v1) only
/// in that controller's; an unknown controller is refused. Seen in /proc/self/cgroup.
#[test]
fn exec_cgroup_puts_the_process_in_sub_cgroups() {
    let rt = Runtime::new("exec-cgroup");
    let (_b, id) = running(&rt, "execcgroup");
    let base = format!("{CGROUP_PREFIX}/{id}");
    let mounts = cgroup_mounts();
    for m in &mounts {
        let d = m.join(base.trim_start_matches('/'));
        if d.exists() {
            std::fs::create_dir(d.join("sub")).expect("mkdir sub-cgroup");
            // A v1 cpuset child starts with no cpus or mems: give it its parent's (cgroup2
            // children use their parent's, and refuse a copy that is not a partition).
            let v2 = m.join("cgroup.controllers").exists();
            for f in ["cpuset.cpus", "cpuset.mems"].into_iter().filter(|_| !v2) {
                if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                    std::fs::write(d.join("sub").join(f), v.trim()).expect("cpuset");
                }
            }
        }
    }
    let cgroups_of = |flags: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend([id.as_str(), "cat", "/proc/self/cgroup"]);
        let out = rt.hako(&args);
        assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
        stdout(&out)
    };
    // Plain: every line is in the sub-cgroup.
    let text = cgroups_of(&["--cgroup", "sub"]);
    assert!(
        text.lines().all(|l| l.ends_with(&format!("{base}/sub"))),
        "{text}"
    );
    if !common::host::cgroup_v2() {
        let text = cgroups_of(&["--cgroup", "memory:sub", "--cgroup", "pids,freezer:/sub"]);
        for l in text.lines() {
            let ctrl = l.split(':').nth(1).unwrap_or("");
            let want = if ["memory", "pids", "freezer"].contains(&ctrl) {
                format!("{base}/sub")
            } else {
                base.clone()
            };
            assert!(l.ends_with(&format!(":{want}")), "{l} in {text}");
        }
        let out = rt.hako(&["exec", "--cgroup", "nosuch:sub", &id, "true"]);
        assert_eq!(out.status.code(), Some(255));
        assert!(
            stderr(&out).contains("no nosuch cgroup"),
            "{}",
            stderr(&out)
        );
    }
    let out = rt.hako(&["exec", "--cgroup", "../x", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("'..'"), "{}", stderr(&out));
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}
