//! The container process as it sees itself: namespaces, user namespace mappings, time
//! offsets, user/groups/umask, capabilities, rlimits, oom_score_adj, sysctls, env/cwd/PATH
//! lookup, hooks, the console socket and seccomp.

mod common;
use common::*;
use serde_json::{Value, json};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.
// ---------------------------------------------------------------------------------------------

fn sh_bundle(id: &str, script: &str) -> Bundle {
    Bundle::new(id, &["sh", "-c", script])
}

/// `readlink /proc/<who>/ns/<ns>` on the host.
fn ns_link(who: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{who}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{who}/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// `key=value` lines of the container's output as a map.
fn kv(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A scratch host directory, removed on drop.
struct HostDir(PathBuf);

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let p = std::env::temp_dir()
            .join("hako-tests-host")
            .join(unique_id(tag));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("host dir");
        HostDir(p)
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Capability bit numbers (linux/capability.h).
fn cap_bit(name: &str) -> u32 {
    const CAPS: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let n = name.trim_start_matches("CAP_");
    CAPS.iter()
        .position(|c| *c == n)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | (1u64 << cap_bit(n)))
}

/// The Cap* lines of a /proc/<pid>/status text, parsed.
fn caps_of(status: &str) -> std::collections::HashMap<String, u64> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((
                k.to_string(),
                u64::from_str_radix(v.trim(), 16).expect("hex caps"),
            ))
        })
        .collect()
}

fn hook(script: &str, phase: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, phase],
           "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]})
}

// ---------------------------------------------------------------------------------------------
// Namespaces.
// ---------------------------------------------------------------------------------------------

const NS_SCRIPT: &str =
    "for n in pid net ipc uts mnt cgroup time user; do echo $n=$(readlink /proc/self/ns/$n); done";

#[test]
fn new_namespaces_differ_from_the_hosts_and_others_are_shared() {
    let rt = Runtime::new("proc-ns");
    let id = unique_id("ns-all");
    let mut b = sh_bundle(&id, NS_SCRIPT);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.push(json!({"type": "cgroup"}));
        ns.push(json!({"type": "time"}));
    });
    let got = kv(&rt.run_ok(&b, &id));
    for n in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "time"] {
        let inside = got.get(n).unwrap_or_else(|| panic!("no {n} in {got:?}"));
        assert!(inside.starts_with(&format!("{n}:[")), "{n}: {inside}");
        assert_ne!(*inside, ns_link("self", n), "{n} namespace is the host's");
    }
    assert_eq!(
        got["user"],
        ns_link("self", "user"),
        "no user ns was asked for"
    );
    assert_clean(&rt, &id);

    // Only a mount namespace: everything else is the host's.
    let id = unique_id("ns-mnt");
    let mut b = sh_bundle(&id, NS_SCRIPT);
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([{"type": "mount"}]);
        c.as_object_mut().expect("obj").remove("hostname");
    });
    let got = kv(&rt.run_ok(&b, &id));
    assert_ne!(got["mnt"], ns_link("self", "mnt"));
    for n in ["pid", "net", "ipc", "uts", "cgroup", "time", "user"] {
        assert_eq!(got[n], ns_link("self", n), "{n} should be the host's");
    }
    assert_clean(&rt, &id);
}

#[test]
fn joins_namespaces_of_another_container_by_path() {
    let rt = Runtime::new("proc-nsjoin");
    let a_id = unique_id("ns-owner");
    let a = Bundle::new(&a_id, &["sleep", "100"]);
    assert!(rt.create(&a, &a_id).status.success());
    rt.ok(&["start", &a_id]);
    let a_pid = rt.state(&a_id)["pid"].as_i64().expect("pid").to_string();

    let id = unique_id("ns-joiner");
    let mut b = sh_bundle(&id, &format!("{NS_SCRIPT}; echo self=$$; cat /proc/1/comm"));
    b.edit(|c| {
        c.as_object_mut().expect("obj").remove("hostname");
        c["linux"]["namespaces"] = json!([
            {"type": "mount"},
            {"type": "network", "path": format!("/proc/{a_pid}/ns/net")},
            {"type": "ipc", "path": format!("/proc/{a_pid}/ns/ipc")},
            {"type": "uts", "path": format!("/proc/{a_pid}/ns/uts")},
            {"type": "pid", "path": format!("/proc/{a_pid}/ns/pid")},
        ]);
    });
    let out = rt.run_ok(&b, &id);
    let got = kv(&out);
    for n in ["net", "ipc", "uts", "pid"] {
        assert_eq!(got[n], ns_link(&a_pid, n), "{n} not joined: {out}");
        assert_ne!(got[n], ns_link("self", n));
    }
    // In the other container's pid namespace our shell is not pid 1: its sleep is.
    assert_ne!(got["self"], "1", "{out}");
    assert!(out.ends_with("sleep\n"), "{out}");
    assert_ne!(got["mnt"], ns_link(&a_pid, "mnt"), "mount ns is new");
    assert_clean(&rt, &id);
    rt.ok(&["delete", "-f", &a_id]);
    assert_clean(&rt, &a_id);
}

#[test]
fn bad_namespace_paths_are_refused() {
    let rt = Runtime::new("proc-nsbad");
    let host = HostDir::new("nsbad");
    let regular = host.0.join("not-a-namespace");
    std::fs::write(&regular, "x").expect("write");
    let uts_of_self = format!("/proc/{}/ns/uts", std::process::id());
    let missing = host.0.join("missing");
    for (path, want) in [
        (regular.display().to_string(), "not a namespace file"),
        (uts_of_self, "is not a network namespace"),
        (missing.display().to_string(), "missing"),
    ] {
        let id = unique_id("nsbad");
        let mut b = sh_bundle(&id, "echo RAN");
        b.edit(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": path}));
        });
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "{path}: ran: {out}");
        assert!(!out.contains("RAN"));
        assert!(err.contains(&path), "{path}: error does not name it: {err}");
        assert!(err.contains(want), "{path}: {err}");
        assert_clean(&rt, &id);
    }
}

#[test]
fn user_namespace_maps_ids() {
    let rt = Runtime::new("proc-userns");
    let userns = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    };
    let id = unique_id("userns");
    let mut b = sh_bundle(
        &id,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/user",
    );
    b.edit(userns);
    let out = rt.run_ok(&b, &id);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[..4], ["0 100000 65536", "0 100000 65536", "0", "0"]);
    assert_ne!(lines[4], ns_link("self", "user"));
    assert_clean(&rt, &id);

    // On the host the init runs as uid/gid 100000.
    let id = unique_id("userns-host");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(userns);
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(field("Uid:"), ["100000"; 4], "{status}");
    assert_eq!(field("Gid:"), ["100000"; 4], "{status}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// A mount namespace joined by path: the container runs in it (with a new time namespace,
/// set up through the host /proc handle) when its /proc is a procfs; when its owner put a
/// tmpfs on /proc (which would redirect hako's /proc/self/fd mounts and procfs writes), the
/// create is refused and the planted files are never written.
#[test]
fn joined_mount_namespace_needs_a_real_proc() {
    let rt = Runtime::new("proc-joinmnt");
    for fake in [false, true] {
        let dir = std::env::temp_dir().join(format!("hako-joinmnt-{}-{fake}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let ready = dir.join("ready");
        let plant = if fake {
            "mount -t tmpfs none /proc && mkdir -p /proc/self/ns && \
             touch /proc/self/timens_offsets && "
        } else {
            ""
        };
        let mut owner = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("{plant}touch \"$0\" && exec sleep 100"))
            .arg(&ready)
            .spawn()
            .expect("unshare");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(ready.exists(), "the mount namespace owner never got ready");
        let id = unique_id("joinmnt");
        let mut b = sh_bundle(&id, "cat /proc/self/timens_offsets");
        b.edit(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
            ns.retain(|n| n["type"] != "mount");
            ns.push(json!({"type": "mount", "path": format!("/proc/{}/ns/mnt", owner.id())}));
            ns.push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 3600, "nanosecs": 0}});
        });
        let (code, out, err) = rt.run(&b, &id);
        let planted = std::fs::read_to_string(format!(
            "/proc/{}/root/proc/self/timens_offsets",
            owner.id()
        ));
        let _ = owner.kill();
        let _ = owner.wait();
        let _ = std::fs::remove_dir_all(&dir);
        if fake {
            assert_ne!(code, 0, "{out}");
            assert!(
                err.contains("the joined mount namespace's /proc cannot be trusted"),
                "{err}"
            );
            assert_eq!(
                planted.expect("planted file"),
                "",
                "a planted file was written"
            );
        } else {
            assert_eq!(code, 0, "{err}");
            let offsets: Vec<String> = out
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            assert!(offsets.contains(&"boottime 3600 0".to_string()), "{out}");
        }
        assert_clean(&rt, &id);
    }
}

#[test]
fn time_namespace_offsets() {
    let rt = Runtime::new("proc-timens");
    let id = unique_id("timens");
    let mut b = sh_bundle(&id, "cat /proc/uptime /proc/self/timens_offsets");
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 0},
            "boottime": {"secs": 172800, "nanosecs": 0}
        });
    });
    let uptime = || -> f64 {
        std::fs::read_to_string("/proc/uptime")
            .expect("uptime")
            .split_whitespace()
            .next()
            .expect("field")
            .parse()
            .expect("float")
    };
    let before = uptime();
    let out = rt.run_ok(&b, &id);
    let after = uptime();
    let mut lines = out.lines();
    let inside: f64 = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        inside >= before + 172800.0 - 1.0 && inside <= after + 172800.0 + 1.0,
        "uptime inside {inside}, host {before}..{after}"
    );
    let offsets: Vec<String> = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(offsets.contains(&"monotonic 86400 0".to_string()), "{out}");
    assert!(offsets.contains(&"boottime 172800 0".to_string()), "{out}");
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Identity: user, groups, umask, capabilities, rlimits, oom_score_adj.
// ---------------------------------------------------------------------------------------------

#[test]
fn user_groups_and_umask() {
    let rt = Runtime::new("proc-user");
    let id = unique_id("user");
    let mut b = sh_bundle(&id, "id -u; id -g; id -G; umask");
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 100],
                                      "umask": 0o027});
    });
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "1000\n1001\n1001 5 100\n0027\n");
    assert_clean(&rt, &id);

    // No umask in the config: 0022.
    let id = unique_id("user-defumask");
    let b = sh_bundle(&id, "umask; id -G");
    assert_eq!(rt.run_ok(&b, &id), "0022\n0\n");
    assert_clean(&rt, &id);
}

/// HOME, when the config does not set it, comes from the user's /etc/passwd entry (runc's
/// behaviour; `/` only when there is no entry).
#[test]
fn home_comes_from_passwd_when_unset() {
    let rt = Runtime::new("proc-home");
    let id = unique_id("home");
    let b = sh_bundle(&id, "echo HOME=$HOME");
    assert_eq!(rt.run_ok(&b, &id), "HOME=/root\n");
    assert_clean(&rt, &id);
}

#[test]
fn capabilities_match_the_config() {
    let rt = Runtime::new("proc-caps");
    // Root: every set exactly as configured; no inheritable, no ambient.
    let id = unique_id("caps-root");
    let mut b = Bundle::new(&id, &["cat", "/proc/self/status"]);
    let set = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETUID",
    ];
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set
        });
    });
    let caps = caps_of(&rt.run_ok(&b, &id));
    let mask = cap_mask(&set);
    assert_eq!(caps["CapBnd"], mask, "{caps:x?}");
    assert_eq!(caps["CapPrm"], mask, "{caps:x?}");
    assert_eq!(caps["CapEff"], mask, "{caps:x?}");
    assert_eq!(caps["CapInh"], 0, "{caps:x?}");
    assert_eq!(caps["CapAmb"], 0, "{caps:x?}");
    assert_clean(&rt, &id);

    // A non-root user keeps across execve only what is ambient; inheritable and bounding are
    // kept as configured.
    let id = unique_id("caps-user");
    let mut b = Bundle::new(&id, &["cat", "/proc/self/status"]);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
    });
    let caps = caps_of(&rt.run_ok(&b, &id));
    let nbs = cap_mask(&["NET_BIND_SERVICE"]);
    assert_eq!(
        caps["CapBnd"],
        cap_mask(&["CHOWN", "KILL", "NET_BIND_SERVICE", "NET_RAW"]),
        "{caps:x?}"
    );
    assert_eq!(
        caps["CapInh"],
        cap_mask(&["KILL", "NET_BIND_SERVICE"]),
        "{caps:x?}"
    );
    assert_eq!(caps["CapAmb"], nbs, "{caps:x?}");
    assert_eq!(caps["CapPrm"], nbs, "{caps:x?}");
    assert_eq!(caps["CapEff"], nbs, "{caps:x?}");
    assert_clean(&rt, &id);
}

/// CVE-2022-27650: the default config lists ambient capabilities but no inheritable ones; the
/// inheritable set must stay empty (and so nothing can become ambient).
#[test]
fn inheritable_stays_empty_when_not_configured() {
    let rt = Runtime::new("proc-capinh");
    let id = unique_id("capinh");
    let b = Bundle::new(&id, &["cat", "/proc/self/status"]);
    assert!(b.config["process"]["capabilities"]["inheritable"].is_null());
    let caps = caps_of(&rt.run_ok(&b, &id));
    let def = cap_mask(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    assert_eq!(caps["CapInh"], 0, "{caps:x?}");
    assert_eq!(caps["CapAmb"], 0, "{caps:x?}");
    assert_eq!(caps["CapBnd"], def, "{caps:x?}");
    assert_eq!(caps["CapEff"], def, "{caps:x?}");
    assert_clean(&rt, &id);
}

/// The bounding set is dropped up to the kernel's last capability as the kernel reports it,
/// not as /proc/sys/kernel/cap_last_cap in the container says: an image that ships that file
/// under an unmounted /proc (here "0") must not keep capabilities 1.. in the bounding set.
#[test]
fn bounding_set_ignores_a_faked_cap_last_cap() {
    let rt = Runtime::new("proc-caplast");
    let id = unique_id("caplast");
    let mut b = Bundle::new(&id, &["cat", "/p/self/status"]);
    let kernel = b.rootfs().join("proc/sys/kernel");
    std::fs::create_dir_all(&kernel).expect("mkdir");
    std::fs::write(kernel.join("cap_last_cap"), "0\n").expect("write");
    std::fs::create_dir_all(b.rootfs().join("p")).expect("mkdir");
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        mounts.retain(|m| m["destination"] != "/proc");
        mounts.push(json!({"destination": "/p", "type": "proc", "source": "proc"}));
    });
    let caps = caps_of(&rt.run_ok(&b, &id));
    let def = cap_mask(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    assert_eq!(caps["CapBnd"], def, "{caps:x?}");
    assert_clean(&rt, &id);
}

#[test]
fn rlimits_are_applied_and_soft_above_hard_is_refused() {
    let rt = Runtime::new("proc-rlimit");
    let id = unique_id("rlimit");
    let mut b = sh_bundle(&id, "ulimit -n; ulimit -Hn");
    b.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]);
    });
    assert_eq!(rt.run_ok(&b, &id), "777\n888\n");
    assert_clean(&rt, &id);

    let id = unique_id("rlimit-bad");
    let mut b = sh_bundle(&id, "echo RAN");
    b.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2000, "hard": 1000}]);
    });
    let (code, out, err) = rt.run(&b, &id);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("RAN"));
    assert!(err.contains("rlimits") && err.contains("soft"), "{err}");
    assert_clean(&rt, &id);
}

#[test]
fn oom_score_adj_is_set() {
    let rt = Runtime::new("proc-oom");
    let id = unique_id("oom");
    let mut b = Bundle::new(&id, &["cat", "/proc/self/oom_score_adj"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(123));
    assert_eq!(rt.run_ok(&b, &id), "123\n");
    assert_clean(&rt, &id);
}

#[test]
fn namespaced_sysctls_are_set_and_host_ones_refused() {
    let rt = Runtime::new("proc-sysctl");
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read");
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").expect("read");
    let host_swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").expect("read");
    let id = unique_id("sysctl");
    let mut b = sh_bundle(
        &id,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
    );
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"});
    });
    assert_eq!(rt.run_ok(&b, &id), "1\n12345678\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read"),
        host_fwd
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax").expect("read"),
        host_shmmax
    );
    assert_clean(&rt, &id);

    // Not namespaced at all, or namespaced but the container shares the host's namespace.
    for (key, no_netns, want) in [
        ("vm.swappiness", false, "not in a separate kernel namespace"),
        ("net.ipv4.ip_forward", true, "network"),
    ] {
        let id = unique_id("sysctl-bad");
        let mut b = sh_bundle(&id, "echo RAN");
        b.edit(|c| {
            c["linux"]["sysctl"] = json!({key: "1"});
            if no_netns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .expect("ns")
                    .retain(|n| n["type"] != "network");
            }
        });
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "{key}: {out}");
        assert!(!out.contains("RAN"));
        assert!(err.contains(key) && err.contains(want), "{key}: {err}");
        assert_clean(&rt, &id);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").expect("read"),
        host_swappiness
    );
}

// ---------------------------------------------------------------------------------------------
// env, cwd, PATH lookup.
// ---------------------------------------------------------------------------------------------

#[test]
fn env_and_cwd() {
    let rt = Runtime::new("proc-env");
    let id = unique_id("env");
    let mut b = sh_bundle(&id, "env | sort; pwd");
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY=", "HOME=/root"]);
        c["process"]["cwd"] = json!("/tmp");
    });
    let out = rt.run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    for want in ["FOO=bar baz", "EMPTY=", "PATH=/bin", "HOME=/root"] {
        assert!(lines.contains(&want), "{want} missing: {out}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("TERM=")), "{out}");
    assert_eq!(lines.last(), Some(&"/tmp"), "{out}");
    assert_clean(&rt, &id);
}

#[test]
fn path_lookup_uses_the_containers_path() {
    let rt = Runtime::new("proc-path");
    let id = unique_id("path");
    let mut b = Bundle::new(&id, &["sh", "-c", "echo found-sh"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/nowhere:/bin"]));
    assert_eq!(rt.run_ok(&b, &id), "found-sh\n");
    assert_clean(&rt, &id);

    // A PATH without /bin: sh is not found even though it exists.
    let id = unique_id("path-none");
    let mut b = Bundle::new(&id, &["sh", "-c", "echo found-sh"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/usr/bin"]));
    let (code, out, err) = rt.run(&b, &id);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    assert_clean(&rt, &id);

    let id = unique_id("path-missing");
    let b = Bundle::new(&id, &["no-such-binary", "arg"]);
    let (code, out, err) = rt.run(&b, &id);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("no-such-binary"), "{err}");
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Hooks.
// ---------------------------------------------------------------------------------------------

#[test]
fn hooks_run_in_order_with_state_in_the_right_namespace() {
    let rt = Runtime::new("proc-hooks");
    let logdir = HostDir::new("hooklog");
    let host_log = logdir.0.join("log");
    let line = |log: &Path| {
        format!(
            "printf '%s|%s|%s\\n' \"$0\" \"$(readlink /proc/self/ns/mnt)\" \"$(cat | tr -d '\\n')\" >> {}",
            log.display()
        )
    };
    let outside = line(&host_log);
    // startContainer runs inside the container (after pivot_root): the log is bind-mounted.
    let inside = line(Path::new("/hooklog/log"));
    let id = unique_id("hooks");
    let mut b = Bundle::new(&id, &["true"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/hooklog", "type": "bind", "source": logdir.0, "options": ["bind"]
        }));
        c["hooks"] = json!({
            "prestart": [hook(&outside, "prestart")],
            "createRuntime": [hook(&outside, "createRuntime")],
            "createContainer": [hook(&outside, "createContainer")],
            "startContainer": [hook(&inside, "startContainer")],
            "poststart": [hook(&outside, "poststart")],
            "poststop": [hook(&outside, "poststop")],
        });
    });
    let out = rt.create(&b, &id);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let container_mnt = ns_link(&pid.to_string(), "mnt");
    let host_mnt = ns_link("self", "mnt");
    rt.ok(&["start", &id]);
    rt.wait_stopped(&id);
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);

    let log = std::fs::read_to_string(&host_log).expect("hook log");
    let entries: Vec<(String, String, Value)> = log
        .lines()
        .map(|l| {
            let mut p = l.splitn(3, '|');
            let phase = p.next().expect("phase").to_string();
            let mnt = p.next().expect("mnt").to_string();
            let st: Value = serde_json::from_str(p.next().expect("state"))
                .unwrap_or_else(|e| panic!("{phase}: state is not JSON ({e}): {l}"));
            (phase, mnt, st)
        })
        .collect();
    let phases: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        phases,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{log}"
    );
    for (phase, mnt, st) in &entries {
        assert_eq!(st["id"], id.as_str(), "{phase}: {st}");
        assert!(st["ociVersion"].is_string(), "{phase}: {st}");
        assert_eq!(st["bundle"], b.dir.to_str().expect("utf8"), "{phase}: {st}");
        if phase == "poststop" {
            assert_eq!(st["status"], "stopped", "{phase}: {st}");
        } else {
            assert_eq!(st["pid"], pid, "{phase}: {st}");
        }
        let want_mnt = if phase == "createContainer" || phase == "startContainer" {
            &container_mnt
        } else {
            &host_mnt
        };
        assert_eq!(mnt, want_mnt, "{phase} ran in the wrong mount namespace");
    }
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new("proc-hookfail");
    let id = unique_id("hookfail");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [
            hook("true", "ok-hook"),
            hook("echo hook-said-this; echo hook-complains >&2; exit 3", "bad-hook")
        ]});
    });
    let out = rt.create(&b, &id);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("prestart"), "{err}");
    assert!(err.contains("/bin/sh"), "{err}");
    assert!(err.contains("exit status 3"), "{err}");
    assert!(err.contains("hook-complains"), "{err}");
    assert_clean(&rt, &id);
}

#[test]
fn hook_past_its_timeout_is_killed_and_fails() {
    let rt = Runtime::new("proc-hooktimeout");
    let id = unique_id("hooktimeout");
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    // Far longer than the bound below, which leaves room for slow (emulated) machines.
    let mut h = hook("sleep 30", "slow-hook");
    h["timeout"] = json!(1);
    b.edit(|c| c["hooks"] = json!({"createRuntime": [h]}));
    let t0 = Instant::now();
    let out = rt.create(&b, &id);
    let took = t0.elapsed();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("createRuntime"), "{err}");
    assert!(err.contains("timeout"), "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(15),
        "took {took:?}"
    );
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Console.
// ---------------------------------------------------------------------------------------------

/// Receives one fd sent with SCM_RIGHTS on `sock`.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> OwnedFd {
    recv_with_fd(sock).1.expect("no control message")
}

#[test]
fn console_socket_receives_the_pty_master() {
    let rt = Runtime::new("proc-console");
    let dir = HostDir::new("console");
    let sock_path = dir.0.join("console.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind console socket");
    let id = unique_id("console");
    let mut b = sh_bundle(&id, "tty; stty size; echo done");
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    });
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        recv_fd(&conn)
    });
    let mut c = rt.cmd();
    c.args(["create", "--console-socket"])
        .arg(&sock_path)
        .arg("-b")
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let master = receiver.join().expect("receiver");
    rt.ok(&["start", &id]);

    let text = read_terminal(master);
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(
        lines[0] == "/dev/console" || lines[0].starts_with("/dev/pts/"),
        "tty: {text:?}"
    );
    assert_eq!(lines[1], "33 111", "{text:?}");
    assert_eq!(lines[2], "done", "{text:?}");
    rt.wait_stopped(&id);
    rt.ok(&["delete", &id]);
    assert_clean(&rt, &id);
}

/// `exec -t -d --console-socket` (what containerd's and Podman's `exec -t` call): the socket
/// gets the master of a new pty whose slave is the exec'd process's terminal.
#[test]
fn exec_console_socket_receives_a_new_pty_master() {
    let rt = Runtime::new("proc-exec-console");
    let dir = HostDir::new("exec-console");
    let sock_path = dir.0.join("console.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind console socket");
    let id = unique_id("execconsole");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&b, &id).status.success());
    rt.ok(&["start", &id]);
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        recv_fd(&conn)
    });
    let pid_file = dir.0.join("exec.pid");
    let mut c = rt.cmd();
    c.args(["exec", "-t", "-d", "--console-socket"])
        .arg(&sock_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .args([
            &id,
            "sh",
            "-c",
            "tty; readlink /proc/self/fd/0; echo exec-done",
        ]);
    let out = detached_output(c);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let master = receiver.join().expect("receiver");
    assert!(pid_file.exists(), "no pid file");
    let text = read_terminal(master);
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "tty: {text:?}");
    assert_eq!(lines[1], lines[0], "stdin is the pty: {text:?}");
    assert_eq!(lines[2], "exec-done", "{text:?}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

#[test]
fn terminal_and_console_socket_must_go_together() {
    let rt = Runtime::new("proc-console-usage");
    // terminal without a console socket, detached: runc's wording.
    let id = unique_id("tty-nosock");
    let mut b = sh_bundle(&id, "echo RAN");
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let out = rt.create(&b, &id);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot allocate tty if")
            && err.contains("will detach without setting console socket"),
        "{err}"
    );
    assert_clean(&rt, &id);
    let mut c = rt.cmd();
    c.args(["run", "-d", "-b"]).arg(&b.dir).arg(&id);
    let out = detached_output(c);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot allocate tty if"),
        "{}",
        stderr(&out)
    );
    assert_clean(&rt, &id);

    // A console socket without terminal.
    let dir = HostDir::new("console-usage");
    let sock_path = dir.0.join("c.sock");
    let _listener = UnixListener::bind(&sock_path).expect("bind");
    let id = unique_id("sock-notty");
    let b = sh_bundle(&id, "echo RAN");
    let mut c = rt.cmd();
    c.args(["create", "--console-socket"])
        .arg(&sock_path)
        .arg("-b")
        .arg(&b.dir)
        .arg(&id);
    let out = detached_output(c);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("console socket"), "{}", stderr(&out));
    assert_clean(&rt, &id);
}

/// The init joins a fresh session keyring named `_ses.<id>` (runc's default), visible in the
/// host's /proc/keys while the container lives; `--no-new-keyring` keeps the caller's.
#[test]
fn session_keyring_is_named_after_the_container_unless_no_new_keyring() {
    let rt = Runtime::new("proc-keyring");
    for no_new in [false, true] {
        let id = unique_id("keyring");
        let b = Bundle::new(&id, &["sleep", "100"]);
        b.install_c_helper("session_keyring", &[]);
        let mut c = rt.cmd();
        c.arg("create");
        if no_new {
            c.arg("--no-new-keyring");
        }
        c.arg("-b").arg(&b.dir).arg(&id);
        let out = detached_output(c);
        assert!(out.status.success(), "{}", stderr(&out));
        rt.ok(&["start", &id]);
        let keys = std::fs::read_to_string("/proc/keys").expect("/proc/keys");
        let name = format!(" _ses.{id}:");
        assert_eq!(
            keys.contains(&name),
            !no_new,
            "no_new_keyring={no_new}: {keys}"
        );
        // An exec'd process joins the container's keyring too (runc's setns init), not the
        // caller's; with --no-new-keyring it keeps the caller's.
        let out = rt.hako(&["exec", &id, "session_keyring"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim_end().ends_with(&format!(";_ses.{id}")),
            !no_new,
            "no_new_keyring={no_new}: {}",
            stdout(&out)
        );
        rt.ok(&["delete", "-f", &id]);
        assert_clean(&rt, &id);
    }
}

// ---------------------------------------------------------------------------------------------
// Seccomp.
// ---------------------------------------------------------------------------------------------

#[test]
fn seccomp_rules_return_the_configured_errno() {
    let rt = Runtime::new("proc-seccomp");
    let id = unique_id("seccomp");
    let mut b = sh_bundle(
        &id,
        "mkdir /tmp/x 2>&1; echo mkdir=$?; touch /tmp/y; echo touch=$?; \
         chmod 600 /tmp/y 2>&1; echo chmod=$?; ls /tmp",
    );
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs"
        }));
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 95}
            ]
        });
    });
    let out = rt.run_ok(&b, &id);
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("mkdir=1\n"), "{out}");
    assert!(out.contains("touch=0\n"), "{out}");
    assert!(out.contains("not supported"), "errnoRet 95: {out}");
    assert!(out.contains("chmod=1\n"), "{out}");
    assert!(out.ends_with("chmod=1\ny\n"), "{out}");
    assert_clean(&rt, &id);
}

#[test]
fn default_seccomp_profile_blocks_new_namespaces() {
    let rt = Runtime::new("proc-seccomp-default");
    // The profile as `hako spec --seccomp` writes it: seccomp-profiles/default.json verbatim.
    let dir = std::env::temp_dir().join(unique_id("spec-seccomp"));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = rt.hako(&[
        "spec",
        "--seccomp",
        "--apparmor",
        "-b",
        dir.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    let _ = std::fs::remove_dir_all(&dir);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("seccomp-profiles/default.json"),
        )
        .expect("default profile"),
    )
    .expect("json");
    assert_eq!(config["linux"]["seccomp"], file);
    assert_eq!(config["process"]["apparmorProfile"], "hako-default");
    let profile = config["linux"]["seccomp"].clone();
    let script = "echo ok; unshare -n true 2>&1; echo unshare=$?";
    // CAP_SYS_ADMIN, so that only seccomp stands in the way of unshare.
    let with_admin = |c: &mut Value| {
        let set = ["CAP_SYS_ADMIN", "CAP_KILL"];
        c["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    };

    let id = unique_id("seccomp-control");
    let mut b = sh_bundle(&id, script);
    b.edit(with_admin);
    assert_eq!(
        rt.run_ok(&b, &id),
        "ok\nunshare=0\n",
        "control run without seccomp"
    );
    assert_clean(&rt, &id);

    let id = unique_id("seccomp-default");
    let mut b = sh_bundle(&id, script);
    b.edit(|c| {
        with_admin(c);
        c["linux"]["seccomp"] = profile.clone();
    });
    let out = rt.run_ok(&b, &id);
    assert!(out.starts_with("ok\n"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(!out.contains("unshare=0"), "{out}");
    assert_clean(&rt, &id);
}

/// A run of `args` with a profile that gives mkdir/mkdirat `action` (everything else allowed)
/// and /tmp on a tmpfs: (exit code, stdout, stderr).
fn run_with_mkdir_action(name: &str, args: &[&str], action: Value) -> (i32, String, String) {
    run_with_action(name, args, &["mkdir", "mkdirat"], action)
}

fn run_with_action(
    name: &str,
    args: &[&str],
    syscalls: &[&str],
    action: Value,
) -> (i32, String, String) {
    let rt = Runtime::new(name);
    let id = unique_id(name);
    let mut b = Bundle::new(&id, args);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs"
        }));
        let mut rule = json!({ "names": syscalls });
        rule.as_object_mut()
            .expect("object")
            .extend(action.as_object().expect("object").clone());
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]});
    });
    let r = rt.run(&b, &id);
    assert_clean(&rt, &id);
    r
}

/// The three kill actions end the process with SIGSYS: `run` reports 128 + 31.
#[test]
fn seccomp_kill_actions_kill_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let (code, out, err) = run_with_mkdir_action(
            "seccomp-kill",
            &["mkdir", "/tmp/x"],
            json!({"action": action}),
        );
        assert_eq!(code, 128 + libc::SIGSYS, "{action}: {out} {err}");
    }
    // The control: the same program without a kill rule runs to completion.
    let (code, _, err) = run_with_mkdir_action(
        "seccomp-kill",
        &["mkdir", "/tmp/x"],
        json!({"action": "SCMP_ACT_ALLOW"}),
    );
    assert_eq!(code, 0, "{err}");
}

/// SCMP_ACT_TRAP delivers SIGSYS, which a process can catch (here the shell, on its own
/// umask call; the kill actions give no such chance); uncaught, it kills.
#[test]
fn seccomp_trap_delivers_sigsys() {
    let (code, out, err) = run_with_action(
        "seccomp-trap",
        &[
            "sh",
            "-c",
            "trap 'echo caught SIGSYS' SYS; umask 077; echo after",
        ],
        &["umask"],
        json!({"action": "SCMP_ACT_TRAP"}),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("caught SIGSYS\n"), "{out} {err}");
    let (code, out, err) = run_with_mkdir_action(
        "seccomp-trap",
        &["sh", "-c", "mkdir /tmp/x; echo rc=$?"],
        json!({"action": "SCMP_ACT_TRAP"}),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out, format!("rc={}\n", 128 + libc::SIGSYS), "{err}");
}

/// SCMP_ACT_TRACE without a tracer fails the call with ENOSYS; SCMP_ACT_LOG lets it
/// through (and only logs it).
#[test]
fn seccomp_trace_without_tracer_is_enosys_and_log_allows() {
    let script = "mkdir /tmp/x 2>&1; echo rc=$?; ls -d /tmp/x";
    let (code, out, err) = run_with_mkdir_action(
        "seccomp-trace",
        &["sh", "-c", script],
        json!({"action": "SCMP_ACT_TRACE", "errnoRet": 7}),
    );
    assert_ne!(code, 0, "{out} {err}");
    assert!(out.contains("Function not implemented"), "{out} {err}");
    assert!(out.contains("rc=1\n"), "{out}");
    let (code, out, err) = run_with_mkdir_action(
        "seccomp-log",
        &["sh", "-c", script],
        json!({"action": "SCMP_ACT_LOG"}),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out, "rc=0\n/tmp/x\n");
}

/// The filter flags load on this kernel (each alone and together), and the filter they
/// come with is enforced.
#[test]
fn seccomp_filter_flags_load_and_the_filter_holds() {
    let all = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ];
    let mut sets: Vec<Vec<&str>> = all.iter().map(|f| vec![*f]).collect();
    sets.push(all.to_vec());
    for flags in sets {
        let rt = Runtime::new("seccomp-flags");
        let id = unique_id("seccomp-flags");
        let mut b = sh_bundle(
            &id,
            "mkdir /tmp/x 2>&1; echo rc=$?; grep Seccomp: /proc/self/status",
        );
        b.edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": flags,
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": 95}]
            });
        });
        let out = rt.run_ok(&b, &id);
        assert!(out.contains("not supported"), "{flags:?}: {out}");
        assert!(out.contains("rc=1\nSeccomp:\t2\n"), "{flags:?}: {out}");
        assert_clean(&rt, &id);
    }
}

/// The filter is compiled by `hako create` before the init joins its cgroup, so a memory
/// limit far too small for libseccomp's work does not stop the default profile (the
/// largest one) from being loaded.
#[test]
fn default_seccomp_profile_runs_under_a_tiny_memory_limit() {
    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("seccomp-profiles/default.json"),
        )
        .expect("default profile"),
    )
    .expect("json");
    let rt = Runtime::new("proc-seccomp-tinymem");
    let id = unique_id("seccomp-tinymem");
    // `true`, after showing the limit it runs under (v1 file, else v2's).
    let mut b = sh_bundle(
        &id,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || \
         cat /sys/fs/cgroup/memory.max; exec true",
    );
    b.edit(|c| {
        c["linux"]["seccomp"] = profile;
        c["linux"]["resources"]["memory"] = json!({"limit": 2 * 1024 * 1024});
    });
    let (code, out, err) = rt.run(&b, &id);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out, "2097152\n", "{err}");
    assert_clean(&rt, &id);
}

/// The compiled program is cached under --root (compiling a large profile costs more than
/// the rest of create); a cached or a corrupted entry still gives the same enforcement.
#[test]
fn compiled_seccomp_program_is_cached_and_still_enforced() {
    let rt = Runtime::new("proc-seccomp-cache");
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]});
    for round in ["cache miss", "program from cache", "corrupted"] {
        if round == "corrupted" {
            for e in std::fs::read_dir(rt.root.join("@cache/seccomp")).expect("cache dir") {
                std::fs::write(e.expect("entry").path(), b"HAKOSCMP1\ngarbage").expect("write");
            }
        }
        let id = unique_id("seccomp-cache");
        let mut b = sh_bundle(&id, "mkdir /tmp/x 2>&1; echo rc=$?");
        b.edit(|c| c["linux"]["seccomp"] = profile.clone());
        let log = std::env::temp_dir().join(format!("{id}.log"));
        let out = rt
            .cmd()
            .arg("--debug")
            .arg("--log")
            .arg(&log)
            .args(["run", "-b"])
            .arg(&b.dir)
            .arg(&id)
            .output()
            .expect("run");
        let text = stdout(&out);
        assert!(out.status.success(), "{round}: {}", stderr(&out));
        assert!(
            text.contains("upported") && text.contains("rc=1"),
            "{round}: {text}"
        );
        let log_text = std::fs::read_to_string(&log).expect("log");
        let _ = std::fs::remove_file(&log);
        let expect = if round == "corrupted" {
            "cache miss"
        } else {
            round
        };
        assert!(log_text.contains(expect), "{round}: {log_text}");
        assert_clean(&rt, &id);
    }
}

/// Between clone and execve the init is non-dumpable, so that the container's processes
/// cannot ptrace it or read its memory (root in the container lacks CAP_SYS_PTRACE, and
/// without it a non-dumpable process's /proc files are closed even to the same uid). The
/// attack runs from inside: `exec` into the created container reads pid 1's environ.
/// Once the init has exec'd the user's program it is an ordinary, readable process.
#[test]
fn init_is_non_dumpable_until_exec() {
    let rt = Runtime::new("proc-nondumpable");
    let id = unique_id("nondumpable");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&b, &id).status.success());
    let read_init = || {
        let out = rt.hako(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /proc/1/environ >/dev/null && echo read",
        ]);
        (stdout(&out), stderr(&out))
    };
    let (out, err) = read_init();
    assert!(
        out.is_empty(),
        "the created init's environ was readable: {out}"
    );
    assert!(err.contains("Permission denied"), "{err}");
    rt.ok(&["start", &id]);
    let (out, err) = read_init();
    assert_eq!(out, "read\n", "{err}");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// `SigIgn`, `SigBlk` and `SigCgt` of /proc/self/status, as read inside the container (by
/// grep itself: busybox sh ignores SIGQUIT of its own accord).
const SIGNALS_CMD: [&str; 4] = ["grep", "-E", "^Sig(Ign|Blk|Cgt):", "/proc/self/status"];

fn assert_default_signals(out: &str, who: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{who}: {out}");
    for l in lines {
        let (name, mask) = l.split_once(':').expect("name: mask");
        assert_eq!(
            mask.trim(),
            "0000000000000000",
            "{who}: {name} is not empty (hako ignores SIGPIPE itself; the container must not inherit it): {out}"
        );
    }
}

/// hako ignores SIGPIPE itself, and its caller may ignore others (nohup, shells, test
/// harnesses): ignored dispositions survive execve, so hako resets them, as runc does.
#[test]
fn container_processes_start_with_default_signal_dispositions() {
    let rt = Runtime::new("proc-signals");
    let id = unique_id("signals");
    let b = Bundle::new(&id, &SIGNALS_CMD);
    // The caller ignores SIGHUP and SIGQUIT.
    let out = std::process::Command::new("sh")
        .args(["-c", "trap '' HUP QUIT; exec \"$0\" \"$@\"", HAKO, "--root"])
        .arg(&rt.root)
        .args(["run", "-b"])
        .arg(&b.dir)
        .arg(&id)
        .output()
        .expect("spawn sh");
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert_default_signals(&stdout(&out), "init");
    assert_clean(&rt, &id);

    let id = unique_id("signals-exec");
    let b = Bundle::new(&id, &["sleep", "1000"]);
    let out = rt.create(&b, &id);
    assert!(out.status.success(), "create: {}", stderr(&out));
    rt.ok(&["start", &id]);
    let out = std::process::Command::new("sh")
        .args(["-c", "trap '' HUP QUIT; exec \"$0\" \"$@\"", HAKO, "--root"])
        .arg(&rt.root)
        .args(["exec", &id])
        .args(SIGNALS_CMD)
        .output()
        .expect("spawn sh");
    assert!(out.status.success(), "exec: {}", stderr(&out));
    assert_default_signals(&stdout(&out), "exec");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// With a cgroup namespace, the container sees its own cgroup as `/` in every hierarchy:
/// the namespace is made once the init is in its cgroups, also on v1 and hybrid hosts where
/// it cannot be cloned into them.
#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    let rt = Runtime::new("proc-cgroupns");
    let id = unique_id("cgroupns");
    let mut b = sh_bundle(&id, "cat /proc/self/cgroup");
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.push(json!({"type": "cgroup"}));
    });
    let out = rt.run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty(), "no /proc/self/cgroup lines");
    for l in lines {
        let path = l.splitn(3, ':').nth(2).expect("id:controllers:path");
        assert_eq!(path, "/", "{l} (all of it: {out})");
    }
    assert_clean(&rt, &id);
}
