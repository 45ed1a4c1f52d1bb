//! Process tuning: scheduler, I/O priority, CPU affinity, personality, memory policy —
//! observed from inside the container through /proc and busybox tools.

mod common;
use common::*;
use serde_json::json;

fn run_with(name: &str, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let rt = Runtime::new(name);
    let id = unique_id(name);
    let mut b = Bundle::new(&id, &["sh", "-c", script]);
    b.edit(edit);
    let out = rt.run_ok(&b, &id);
    assert_clean(&rt, &id);
    out
}

#[test]
fn scheduler_policy_and_nice_apply() {
    // /proc/self/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    let out = run_with("tune-sched", "cut -d' ' -f19,41 /proc/self/stat", |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7})
    });
    assert_eq!(out.trim(), "7 3");
}

#[test]
fn io_priority_applies() {
    let out = run_with("tune-ioprio", "ionice -p $$", |c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6})
    });
    assert!(out.contains("best-effort") && out.contains('6'), "{out}");
}

#[test]
fn exec_cpu_affinity_final_applies() {
    let out = run_with(
        "tune-cpus",
        "grep Cpus_allowed_list /proc/self/status",
        |c| c["process"]["execCPUAffinity"] = json!({"initial": "0-1", "final": "1"}),
    );
    assert!(out.trim().ends_with("\t1"), "{out}");
}

#[test]
fn personality_linux32_applies() {
    let out = run_with("tune-pers", "uname -m", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"})
    });
    assert_eq!(out.trim(), "i686");
}

#[test]
fn memory_policy_applies() {
    let out = run_with("tune-mpol", "grep -c bind:0 /proc/self/numa_maps", |c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"})
    });
    assert!(out.trim().parse::<u32>().unwrap_or(0) > 0, "{out}");
}

#[test]
fn bad_tuning_values_are_refused() {
    let rt = Runtime::new("tune-bad");
    for (n, edit) in [
        (
            "cpus",
            json!({"process": {"execCPUAffinity": {"final": "3-1"}}}),
        ),
        (
            "nice",
            json!({"process": {"scheduler": {"policy": "SCHED_OTHER", "nice": 40}}}),
        ),
        (
            "prio",
            json!({"process": {"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}}),
        ),
    ] {
        let id = unique_id(&format!("tunebad{n}"));
        let mut b = Bundle::new(&id, &["true"]);
        b.edit(|c| {
            for (k, v) in edit["process"].as_object().expect("obj") {
                c["process"][k] = v.clone();
            }
        });
        let out = rt.create(&b, &id);
        assert_eq!(out.status.code(), Some(1), "{n}");
        assert!(stderr(&out).contains("process."), "{n}: {}", stderr(&out));
        assert_clean(&rt, &id);
    }
}
