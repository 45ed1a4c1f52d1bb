//! Load: many lifecycles with varied configs in parallel, racing creates of one id, and
//! containers misbehaving inside their limits. Afterwards the host holds no more cgroups,
//! mounts, processes or state than before.

mod common;
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A small deterministic generator (a fixed seed makes every run the same sequence).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the host holds that a container could leak: our test cgroups, mounts of bundles,
/// processes running hako or a container of this test.
fn leak_snapshot(tag: &str) -> (Vec<String>, usize, Vec<String>) {
    let mut cgroups = Vec::new();
    for m in cgroup_mounts() {
        if let Ok(rd) = std::fs::read_dir(m.join(CGROUP_PREFIX.trim_start_matches('/'))) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(tag) {
                    cgroups.push(format!("{}/{name}", m.display()));
                }
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(tag))
        .count();
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(tag) {
            procs.push(cmd);
        }
    }
    (cgroups, mounts, procs)
}

fn wait_stopped(rt: &Runtime, id: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while rt.status(id) != "stopped" {
        assert!(Instant::now() < deadline, "{id} did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A random but valid variation of the default config; returns the expected exit code.
fn randomise(c: &mut Value, rng: &mut Lcg) -> i32 {
    let code = rng.below(4) as i32;
    let mut script = String::new();
    if rng.chance(50) {
        c["process"]["env"]
            .as_array_mut()
            .expect("env")
            .push(json!("LOAD_VAR=value"));
        script.push_str("test \"$LOAD_VAR\" = value || exit 99; ");
    }
    let uts = rng.chance(70);
    if !uts {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .retain(|n| n["type"] != "uts");
        c.as_object_mut().expect("config").remove("hostname");
    } else if rng.chance(50) {
        c["hostname"] = json!(format!("h{}", rng.below(1000)));
        script.push_str(&format!(
            "test \"$(hostname)\" = {} || exit 98; ",
            c["hostname"].as_str().unwrap_or_default()
        ));
    }
    if rng.chance(30) {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .retain(|n| n["type"] != "ipc");
    }
    let res = &mut c["linux"]["resources"];
    if rng.chance(60) {
        res["memory"] = json!({"limit": (64 + rng.below(192)) * 1024 * 1024});
    }
    if rng.chance(60) {
        res["pids"] = json!({"limit": 50 + rng.below(150)});
    }
    if rng.chance(40) {
        res["cpu"] = json!({"shares": 256 + rng.below(1024)});
    }
    if rng.chance(30) {
        c["root"]["readonly"] = json!(false);
        script.push_str(&format!("touch /tmp/w{} || exit 97; ", rng.next()));
    }
    if rng.chance(30) {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                   "options": ["size=1m"]}),
        );
        script.push_str("echo x > /scratch/f || exit 96; ");
    }
    if rng.chance(30) {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        script.push_str("test \"$(id -u)\" = 1000 || exit 95; ");
    }
    if rng.chance(30) {
        c["process"]["noNewPrivileges"] = json!(rng.chance(50));
    }
    if rng.chance(25) {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
        script.push_str("mkdir /tmp/nope 2>/dev/null && exit 94; ");
    }
    script.push_str(&format!("exit {code}"));
    c["process"]["args"] = json!(["sh", "-c", script]);
    code
}

/// 200 full lifecycles, 8 at a time, random configs from a fixed seed, three ways of
/// running (run; run -d; create/start/delete): all succeed with the expected exit status,
/// and nothing is left on the host.
#[test]
fn two_hundred_random_lifecycles_eight_at_a_time() {
    let tag = format!("load-{}", std::process::id());
    let before = leak_snapshot(&tag);
    let rt = std::sync::Arc::new(Runtime::new(&tag));
    let workers: Vec<_> = (0..8u64)
        .map(|w| {
            let rt = rt.clone();
            let tag = tag.clone();
            std::thread::spawn(move || {
                let mut rng = Lcg(0x5eed + w);
                let id0 = format!("{tag}-w{w}");
                let mut b = Bundle::new(&id0, &["true"]);
                let base = b.config.clone();
                for i in 0..25 {
                    let id = format!("{id0}-{i}");
                    let mut c = base.clone();
                    c["linux"]["cgroupsPath"] = json!(format!("{CGROUP_PREFIX}/{id}"));
                    let code = randomise(&mut c, &mut rng);
                    b.edit(|v| *v = c);
                    match rng.below(3) {
                        0 => {
                            let (got, out, err) = rt.run(&b, &id);
                            assert_eq!(got, code, "{id}: {out} {err}");
                        }
                        1 => {
                            let mut cmd = rt.cmd();
                            cmd.args(["run", "-d", "-b"]).arg(&b.dir).arg(&id);
                            let out = detached_output(cmd);
                            assert!(out.status.success(), "{id}: {}", stderr(&out));
                            wait_stopped(&rt, &id, Duration::from_secs(30));
                            rt.ok(&["delete", &id]);
                        }
                        _ => {
                            let out = rt.create(&b, &id);
                            assert!(out.status.success(), "{id}: {}", stderr(&out));
                            rt.ok(&["start", &id]);
                            wait_stopped(&rt, &id, Duration::from_secs(30));
                            rt.ok(&["delete", &id]);
                        }
                    }
                    assert!(!rt.root.join(&id).exists(), "{id}: state left");
                }
            })
        })
        .collect();
    let mut failed = Vec::new();
    for w in workers {
        if let Err(e) = w.join() {
            failed.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failed.is_empty(), "lifecycles failed: {failed:#?}");
    let entries: Vec<_> = std::fs::read_dir(&rt.root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "@cache")
                .collect()
        })
        .unwrap_or_default();
    assert!(entries.is_empty(), "state dirs left: {entries:?}");
    assert_eq!(
        leak_snapshot(&tag),
        before,
        "cgroups, mounts or processes leaked"
    );
}

/// 50 creates of one id at once: exactly one wins, the others fail with runc's message,
/// and after delete nothing is left.
#[test]
fn fifty_concurrent_creates_of_one_id() {
    let rt = std::sync::Arc::new(Runtime::new("load-same-id"));
    let id = unique_id("sameid");
    let b = std::sync::Arc::new(Bundle::new(&id, &["sleep", "100"]));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let racers: Vec<_> = (0..50)
        .map(|_| {
            let (rt, b, barrier, id) = (rt.clone(), b.clone(), barrier.clone(), id.clone());
            std::thread::spawn(move || {
                barrier.wait();
                rt.create(&b, &id)
            })
        })
        .collect();
    let outs: Vec<_> = racers
        .into_iter()
        .map(|r| r.join().expect("racer"))
        .collect();
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "winners");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = stderr(o);
        assert!(
            err.contains(&format!("container with id exists: {id}")),
            "loser's message: {err}"
        );
    }
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
}

/// Containers created at once under a parent cgroup that does not exist yet: whichever
/// create makes the shared parent, the others must not copy its cpuset before it is filled
/// in (an empty cpuset refuses tasks with ENOSPC).
#[test]
fn concurrent_creates_under_a_new_shared_parent() {
    const N: usize = 20;
    let rt = std::sync::Arc::new(Runtime::new("load-shared-parent"));
    let parent = unique_id("parent");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(N));
    let racers: Vec<_> = (0..N)
        .map(|i| {
            let id = format!("{parent}-c{i}");
            let mut b = Bundle::new(&id, &["sleep", "100"]);
            b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{CGROUP_PREFIX}/{parent}/{id}")));
            let (rt, barrier) = (rt.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let out = rt.create(&b, &id);
                (id, b, out)
            })
        })
        .collect();
    let results: Vec<_> = racers
        .into_iter()
        .map(|r| r.join().expect("racer"))
        .collect();
    for (id, _b, out) in &results {
        assert!(out.status.success(), "create {id}: {}", stderr(out));
        assert_eq!(rt.status(id), "created");
    }
    for (id, _b, _) in &results {
        rt.ok(&["delete", "-f", id]);
        assert!(!rt.root.join(id).exists(), "state dir of {id} left behind");
    }
    for m in cgroup_mounts() {
        let d = m.join(CGROUP_PREFIX.trim_start_matches('/')).join(&parent);
        let _ = std::fs::remove_dir(&d);
        assert!(!d.exists(), "{} still has child cgroups", d.display());
    }
}

/// Time for `hako state` + `hako run` of another container while `bad` misbehaves.
fn other_commands_stay_responsive(rt: &Runtime, bad: &str) {
    let id = unique_id("bystander");
    let b = Bundle::new(&id, &["echo", "fine"]);
    let start = Instant::now();
    assert_eq!(rt.run_ok(&b, &id), "fine\n");
    rt.ok(&["list"]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "commands took {:?} next to {bad}",
        start.elapsed()
    );
    assert_clean(rt, &id);
}

/// A fork bomb inside pids.limit and a memory hog inside memory.limit stay inside: other
/// commands keep working, the hog is OOM-killed (137), and delete removes everything.
#[test]
fn fork_bomb_and_memory_hog_stay_inside_their_limits() {
    let rt = Runtime::new("load-bombs");
    let bomb = unique_id("forkbomb");
    let mut b = Bundle::new(&bomb, &["sh", "-c", "f() { f | f & }; f; sleep 100"]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 32}));
    assert!(rt.create(&b, &bomb).status.success());
    rt.ok(&["start", &bomb]);
    // Let it fill its pids limit.
    let pids_max = cgroup_mounts()
        .into_iter()
        .map(|m| m.join(CGROUP_PREFIX.trim_start_matches('/')).join(&bomb))
        .find(|d| d.join("pids.max").exists())
        .expect("pids cgroup");
    let deadline = Instant::now() + Duration::from_secs(10);
    let current = || {
        std::fs::read_to_string(pids_max.join("pids.current"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    while current() < 32 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        current() <= 32,
        "pids.current {} above the limit",
        current()
    );
    other_commands_stay_responsive(&rt, &bomb);
    rt.ok(&["delete", "-f", &bomb]);
    assert_clean(&rt, &bomb);

    let hog = unique_id("memhog");
    let mut b = Bundle::new(&hog, &["tail", "/dev/zero"]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] =
            json!({"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024})
    });
    let (code, err) = std::thread::scope(|s| {
        let hogging = s.spawn(|| rt.run(&b, &hog));
        other_commands_stay_responsive(&rt, &hog);
        let (code, _out, err) = hogging.join().expect("hog");
        (code, err)
    });
    assert_eq!(code, 137, "memory hog was not OOM-killed: {err}");
    assert_clean(&rt, &hog);
}
