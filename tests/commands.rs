//! `features`, `update` and `events` against real containers: the features document, limits
//! changed in the live v1 cgroup files, and statistics read back from them.

mod common;
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn features() -> Value {
    let rt = Runtime::new("features");
    let out = rt.ok(&["features"]);
    serde_json::from_slice(&out.stdout).expect("features JSON")
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A created-then-started `sleep` container.
fn running(rt: &Runtime, id: &str) -> Bundle {
    let b = Bundle::new(id, &["sleep", "100"]);
    let out = rt.create(&b, id);
    assert!(out.status.success(), "create: {}", stderr(&out));
    rt.ok(&["start", id]);
    b
}

fn fails_with(out: &std::process::Output, want: &str) {
    assert_eq!(out.status.code(), Some(1), "stderr {}", stderr(out));
    assert!(
        stderr(out).contains(want),
        "want {want:?}, got {}",
        stderr(out)
    );
}

#[test]
fn features_document_describes_hako() {
    let rt = Runtime::new("features-doc");
    let out = rt.ok(&["features"]);
    let text = stdout(&out);
    // runc's layout: four-space indentation.
    assert!(
        text.starts_with("{\n    \"ociVersionMin\": \"1.0.0\",\n"),
        "{text}"
    );
    let f: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(f["ociVersionMax"], "1.2.1");
    assert_eq!(
        f["hooks"],
        json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ])
    );
    let linux = &f["linux"];
    assert_eq!(
        linux["cgroup"],
        json!({"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true})
    );
    for ns in ["mount", "pid", "network", "user", "time", "cgroup"] {
        assert!(
            linux["namespaces"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(ns))),
            "{ns}"
        );
    }
    let caps = linux["capabilities"].as_array().expect("capabilities");
    assert_eq!(caps.first(), Some(&json!("CAP_CHOWN")));
    assert!(caps.contains(&json!("CAP_CHECKPOINT_RESTORE")));
    let sc = &linux["seccomp"];
    assert_eq!(sc["enabled"], true);
    assert!(
        sc["archs"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("SCMP_ARCH_X86_64")))
    );
    assert!(
        sc["supportedFlags"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("SECCOMP_FILTER_FLAG_LOG")))
    );
    assert_eq!(linux["apparmor"]["enabled"], true);
    assert_eq!(linux["selinux"]["enabled"], false);
    assert_eq!(linux["intelRdt"]["enabled"], false);
    assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], false);
    assert!(linux.get("memoryPolicy").is_none() && linux.get("netDevices").is_none());
    let ann = &f["annotations"];
    assert_eq!(ann["dev.hako.version"], env!("CARGO_PKG_VERSION"));
    assert!(
        ann["dev.hako.commit"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        ann["io.github.seccomp.libseccomp.version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2."))
    );
    assert_eq!(f["potentiallyUnsafeConfigAnnotations"], json!([]));
    let opts = f["mountOptions"].as_array().expect("mountOptions");
    assert!(opts.contains(&json!("tmpcopyup")));
    for refused in ["idmap", "ridmap"] {
        assert!(
            !opts.contains(&json!(refused)),
            "{refused} is refused by hako"
        );
    }
    // features takes no arguments.
    assert!(!rt.hako(&["features", "extra"]).status.success());
}

#[test]
fn every_listed_mount_option_is_accepted_by_a_container() {
    let opts: Vec<String> = features()["mountOptions"]
        .as_array()
        .expect("mountOptions")
        .iter()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect();
    assert!(opts.len() > 40, "{opts:?}");
    let rt = Runtime::new("features-mounts");
    let id = unique_id("mountopts");
    let mut b = Bundle::new(&id, &["sh", "-c", "grep -c ' /o/' /proc/self/mountinfo"]);
    let etc = b.rootfs().join("etc");
    let mut mounts = Vec::new();
    for o in &opts {
        std::fs::create_dir_all(b.rootfs().join("o").join(o)).expect("mkdir");
        let dest = format!("/o/{o}");
        mounts.push(match o.as_str() {
            "bind" | "rbind" => json!({"destination": dest, "type": "bind",
                "source": etc, "options": [o]}),
            // MS_REMOUNT changes an existing mount: meaningful on a bind mount only (runc
            // refuses it on a fresh tmpfs too).
            "remount" => json!({"destination": dest, "type": "bind",
                "source": etc, "options": ["bind", "remount", "ro"]}),
            _ => json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                "options": [o]}),
        });
    }
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.extend(mounts);
    });
    let (code, out, err) = rt.run(&b, &id);
    assert_eq!(code, 0, "a listed mount option was refused: {err}");
    assert_eq!(out.trim(), opts.len().to_string(), "one mount per option");
    assert_clean(&rt, &id);
}

#[test]
fn update_reads_resources_from_a_file_and_stdin() {
    let rt = Runtime::new("update-resources");
    let id = unique_id("updres");
    let b = running(&rt, &id);
    let limit = common::host::memory_limit_file(&id);
    let pids_max = cgroup_dir("pids", &id).join("pids.max");

    // A file, as Podman passes it, with the device rules engines always resend.
    let file = b.dir.join("resources.json");
    std::fs::write(
        &file,
        json!({
            "memory": {"limit": 48 << 20},
            "pids": {"limit": 12},
            "devices": [{"allow": false, "access": "rwm"}]
        })
        .to_string(),
    )
    .expect("write resources");
    rt.ok(&["update", "-r", file.to_str().expect("utf8"), &id]);
    assert_eq!(read_trim(&limit), (48u64 << 20).to_string());
    assert_eq!(read_trim(&pids_max), "12");

    // stdin, as containerd's go-runc does: `update --resources=- ID`.
    let stdin_update = |args: &[&str], input: &str| {
        let mut child = rt
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    };
    let input = json!({"memory": {"limit": 40 << 20}, "cpu": {"quota": 30000}}).to_string();
    let out = stdin_update(&["update", "--resources=-", &id], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_trim(&limit), (40u64 << 20).to_string());
    assert_eq!(common::host::cpu_quota(&id), "30000");
    let out = stdin_update(&["update", "-r", "-", &id], r#"{"pids":{"limit":9}}"#);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_trim(&pids_max), "9");

    // Bad JSON: an array, a wrong type, nothing at all.
    for (input, want) in [
        ("[1]", "expected a JSON object"),
        (r#"{"memory":{"limit":"abc"}}"#, "invalid resources JSON"),
        ("", "empty input"),
    ] {
        let out = stdin_update(&["update", "-r", "-", &id], input);
        fails_with(&out, want);
    }
    fails_with(
        &rt.hako(&["update", "-r", "/nonexistent/resources.json", &id]),
        "unable to read resources from /nonexistent/resources.json",
    );
    // Nothing changed by the failures.
    assert_eq!(read_trim(&pids_max), "9");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn update_refuses_bad_input_like_runc() {
    let rt = Runtime::new("update-bad");
    fails_with(
        &rt.hako(&["update", "--memory", "64m", "nosuchcontainer"]),
        "container does not exist",
    );
    let id = unique_id("updbad");
    let _b = running(&rt, &id);
    let limit = common::host::memory_limit_file(&id);
    let before = read_trim(&limit);
    for (args, want) in [
        (
            vec!["--memory", "-5"],
            "invalid value for memory: invalid size: '-5'",
        ),
        (
            vec!["--memory", "garbage"],
            "invalid value for memory: invalid size: 'garbage'",
        ),
        (vec!["--cpu-share", "-5"], "invalid value for cpu-share"),
        (vec!["--cpu-quota", "abc"], "invalid value for cpu-quota"),
        (vec!["--pids-limit", "abc"], "invalid value for pids-limit"),
        (
            vec!["--l3-cache-schema", "L3:0=f"],
            "Intel RDT/CAT: l3 cache schema is not enabled",
        ),
        (
            vec!["--mem-bw-schema", "MB:0=70"],
            "Intel RDT/MBA: memory bandwidth schema is not enabled",
        ),
        // Below what the container already uses: runc's message.
        (
            vec!["--memory", "4096"],
            "unable to set memory limit to 4096 (current usage:",
        ),
    ] {
        let mut all = vec!["update"];
        all.extend(args);
        all.push(&id);
        fails_with(&rt.hako(&all), want);
        assert_eq!(read_trim(&limit), before, "{all:?} changed the limit");
    }
    // A failure half-way sets back what was already written.
    let pids_max = cgroup_dir("pids", &id).join("pids.max");
    let pids_before = read_trim(&pids_max);
    let out = rt.hako(&[
        "update",
        "--pids-limit",
        "5",
        "--cpu-rt-runtime",
        "100",
        &id,
    ]);
    assert!(!out.status.success());
    assert_eq!(read_trim(&pids_max), pids_before);
    // Obsolete flags are accepted with a warning.
    let out = rt.ok(&["update", "--kernel-memory", "10m", &id]);
    assert!(stderr(&out).contains("--kernel-memory is ignored"));
    // Wrong number of arguments.
    assert!(!rt.hako(&["update"]).status.success());

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_stopped(&id);
    fails_with(
        &rt.hako(&["update", "--memory", "64m", &id]),
        "container not running",
    );
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn events_stats_reads_the_cgroup() {
    let rt = Runtime::new("events-stats");
    let id = unique_id("evstats");
    let _b = running(&rt, &id);
    rt.ok(&["update", "--pids-limit", "50", &id]);
    let out = rt.ok(&["events", "--stats", &id]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    let ev: Value = serde_json::from_str(&text).expect("event JSON");
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    let d = &ev["data"];
    assert!(d["pids"]["current"].as_u64().is_some_and(|c| c >= 1), "{d}");
    assert_eq!(d["pids"]["limit"], 50);
    assert!(
        d["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "{d}"
    );
    assert!(d["memory"]["usage"]["limit"].as_u64().is_some(), "{d}");
    assert!(d["memory"]["raw"].is_object(), "{d}");
    assert!(
        d["cpu"]["usage"]["total"].as_u64().is_some_and(|t| t > 0),
        "{d}"
    );
    assert!(d["cpu"]["usage"]["kernel"].is_u64() && d["cpu"]["usage"]["user"].is_u64());
    for key in ["cpuset", "blkio", "hugetlb", "intel_rdt"] {
        assert!(d[key].is_object(), "{key}: {d}");
    }
    assert!(d["network_interfaces"].is_null());

    fails_with(
        &rt.hako(&["events", "--interval", "0s", &id]),
        "duration interval must be greater than 0",
    );
    assert!(
        !rt.hako(&["events", "--interval", "abc", &id])
            .status
            .success()
    );
    fails_with(
        &rt.hako(&["events", "--stats", "nosuchcontainer"]),
        "container does not exist",
    );
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_stopped(&id);
    fails_with(
        &rt.hako(&["events", "--stats", &id]),
        &format!("container with id {id} is not running"),
    );
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn events_streams_stats_and_oom_until_the_container_stops() {
    let rt = Runtime::new("events-stream");
    let id = unique_id("evstream");
    // After a pause (events is watching by then), a process in the container blows through
    // the memory limit and is OOM-killed; the init then exits.
    let mut b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            // One 64 MiB buffer: OOM-killed at once. (A slowly growing process makes cgroup v2
            // reclaim for minutes under emulation before the OOM killer runs.)
            "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 0.5",
        ],
    );
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20}));
    let out = rt.create(&b, &id);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let events = rt
        .cmd()
        .args(["events", "--interval", "300ms", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn events");
    rt.ok(&["start", &id]);
    let started = Instant::now();
    let out = events.wait_with_output().expect("events output");
    assert!(
        out.status.success(),
        "events: {:?} {}",
        out.status,
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "events did not stop with the container"
    );
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event a line"))
        .collect();
    let stats = lines.iter().filter(|e| e["type"] == "stats").count();
    assert!(stats >= 2, "a stats event every 300ms: {lines:?}");
    assert!(lines.iter().all(|e| e["id"] == id.as_str()));
    assert!(
        lines.iter().any(|e| *e == json!({"type": "oom", "id": id})),
        "no oom event: {lines:?}"
    );
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn delete_force_of_a_missing_container_succeeds_like_runc() {
    // Podman runs `delete --force` after a failed create and shows the user whatever the
    // runtime prints: runc succeeds quietly; without --force it is an error.
    let rt = Runtime::new("delete-missing");
    let out = rt.hako(&["delete", "--force", "nosuchcontainer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    fails_with(
        &rt.hako(&["delete", "nosuchcontainer"]),
        "container does not exist",
    );
}
