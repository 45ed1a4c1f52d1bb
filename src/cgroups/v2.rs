//! cgroup v2: directory creation with controllers enabled down the path, and the resource files.

use super::{CgroupError, device_rules, devices_bpf, write};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

const MODE: &str = "cgroup v2";

/// Creates `dir` under `mountpoint`. On a unified host every controller available is enabled
/// in each ancestor's cgroup.subtree_control, as runc does: an `update` may later set limits
/// the config did not have, and a `unified` key may name any controller.
pub fn create(mountpoint: &Path, dir: &Path, unified: bool) -> Result<(), CgroupError> {
    if !unified {
        return std::fs::create_dir_all(dir).map_err(|source| CgroupError::Create {
            path: dir.to_path_buf(),
            source,
        });
    }
    let rel = dir.strip_prefix(mountpoint).unwrap_or(dir);
    let mut cur = mountpoint.to_path_buf();
    for comp in rel.components() {
        enable_controllers(&cur);
        cur.push(comp);
        match std::fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Create { path: cur, source }),
        }
    }
    Ok(())
}

/// Best effort: a cgroup with processes of its own (the caller's, for a relative
/// cgroupsPath) cannot enable domain controllers. A limit that then has no file fails with
/// its own clear error when it is written.
fn enable_controllers(cg: &Path) {
    let Ok(available) = std::fs::read_to_string(cg.join("cgroup.controllers")) else {
        return;
    };
    let enabled = std::fs::read_to_string(cg.join("cgroup.subtree_control")).unwrap_or_default();
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let file = cg.join("cgroup.subtree_control");
    if std::fs::write(&file, missing.join(" ")).is_err() {
        for c in &missing {
            let _ = std::fs::write(&file, c);
        }
    }
}

fn unsupported(field: &'static str, why: &'static str) -> CgroupError {
    CgroupError::Unsupported {
        field,
        mode: MODE,
        why,
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// cpu.shares (v1, 2..262144) to cpu.weight (v2, 1..10000), the formula runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262_142
}

pub fn apply(d: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(mem) = res.memory() {
        if let Some(v) = mem.reservation() {
            write(&d.join("memory.low"), &max_or(v))?;
        }
        if let Some(v) = mem.limit() {
            write(&d.join("memory.max"), &max_or(v))?;
        }
        if let Some(swap) = mem.swap() {
            // v1 semantics (memory+swap) to v2 (swap only), as runc converts.
            let v = match (swap, mem.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            write(&d.join("memory.swap.max"), &v)?;
        }
        if mem.swappiness().is_some() || mem.disable_oom_killer() == Some(true) {
            return Err(unsupported(
                "linux.resources.memory.swappiness/disableOOMKiller",
                "cgroup v2 has no such knob",
            ));
        }
    }
    if let Some(pids) = res.pids() {
        let v = if pids.limit() <= 0 {
            "max".to_string()
        } else {
            pids.limit().to_string()
        };
        write(&d.join("pids.max"), &v)?;
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares() {
            write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if cpu.quota().is_some() || cpu.period().is_some() {
            let quota = cpu.quota().map_or("max".to_string(), max_or);
            let period = cpu.period().unwrap_or(100_000);
            write(&d.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(v) = cpu.cpus() {
            write(&d.join("cpuset.cpus"), v)?;
        }
        if let Some(v) = cpu.mems() {
            write(&d.join("cpuset.mems"), v)?;
        }
        if let Some(v) = cpu.burst() {
            write(&d.join("cpu.max.burst"), &v.to_string())?;
        }
        if let Some(v) = cpu.idle() {
            write(&d.join("cpu.idle"), &v.to_string())?;
        }
        if cpu.realtime_runtime().is_some() || cpu.realtime_period().is_some() {
            return Err(unsupported(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod",
                "cgroup v2 has no realtime knobs",
            ));
        }
    }
    if let Some(u) = res.unified() {
        for (k, v) in u {
            if k.contains('/') || k.starts_with('.') {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.unified",
                    why: format!("{k:?} is not a cgroup file name"),
                });
            }
            // cgroupfs has no way to create a file: say which key is wrong, not "EACCES".
            if !d.join(k).is_file() {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.unified",
                    why: format!(
                        "{k:?} is not a file of the container's cgroup (unknown key, or its controller is not available)"
                    ),
                });
            }
            write(&d.join(k), v)?;
        }
    }
    if res.block_io().is_some()
        || res
            .hugepage_limits()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || res.rdma().as_ref().is_some_and(|r| !r.is_empty())
    {
        return Err(unsupported(
            "linux.resources.blockIO/hugepageLimits/rdma",
            "not implemented yet",
        ));
    }
    if res.network().is_some() {
        return Err(unsupported(
            "linux.resources.network",
            "cgroup v2 has no net_cls/net_prio",
        ));
    }
    // Last, once everything else was accepted: cgroup v2 has no device files, the rules
    // become an eBPF program attached to the cgroup.
    if let Some(devs) = res.devices().as_deref().filter(|d| !d.is_empty()) {
        devices_bpf::apply(d, &device_rules(devs)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
