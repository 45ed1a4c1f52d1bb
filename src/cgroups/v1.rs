//! cgroup v1 hierarchies: directory creation (cpuset needs its parents' cpus/mems filled in)
//! and the resource files.

use super::{CgroupError, Hierarchy, Manager, device_rule_text, write};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

pub fn create(h: &Hierarchy, dir: &Path) -> Result<(), CgroupError> {
    if h.has("cpuset") {
        // A new cpuset cgroup starts with empty cpus/mems and refuses tasks until they are
        // set: copy them down from the nearest ancestor, level by level.
        let mut missing = Vec::new();
        let mut cur = dir;
        while !cur.exists() {
            missing.push(cur.to_path_buf());
            match cur.parent() {
                Some(p) if p.starts_with(&h.mountpoint) => cur = p,
                _ => break,
            }
        }
        for d in missing.iter().rev() {
            mkdir(d)?;
            if let Some(parent) = d.parent() {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let mine = read_trim(&d.join(f))?;
                    if mine.is_empty() {
                        let theirs = read_trim(&parent.join(f))?;
                        write(&d.join(f), &theirs)?;
                    }
                }
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| CgroupError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

fn mkdir(d: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::Create {
            path: d.to_path_buf(),
            source,
        }),
    }
}

fn read_trim(p: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: p.to_path_buf(),
            source,
        })
}

const MODE: &str = "cgroup v1";

fn unsupported(field: &'static str, why: &'static str) -> CgroupError {
    CgroupError::Unsupported {
        field,
        mode: MODE,
        why,
    }
}

/// The directory of the hierarchy carrying `controller`, or a clear error naming the field.
fn dir_for<'a>(
    m: &'a Manager,
    controller: &str,
    field: &'static str,
) -> Result<&'a Path, CgroupError> {
    m.dirs
        .iter()
        .find(|(i, _)| {
            let h = &m.layout.hierarchies[*i];
            !h.v2 && h.has(controller)
        })
        .map(|(_, d)| d.as_path())
        .ok_or(unsupported(
            field,
            "the controller it needs is not mounted on this host",
        ))
}

pub fn apply(m: &Manager, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(mem) = res.memory() {
        let d = dir_for(m, "memory", "linux.resources.memory")?;
        if let Some(v) = mem.reservation() {
            write(&d.join("memory.soft_limit_in_bytes"), &v.to_string())?;
        }
        // The swap limit (memory+swap) must never be below the memory limit: when raising,
        // write swap first; a fresh cgroup has "unlimited" for both, so order limit then swap.
        if let Some(v) = mem.limit() {
            write(&d.join("memory.limit_in_bytes"), &v.to_string())?;
        }
        if let Some(v) = mem.swap() {
            let f = d.join("memory.memsw.limit_in_bytes");
            if !f.exists() {
                return Err(unsupported(
                    "linux.resources.memory.swap",
                    "the kernel has no swap accounting (memory.memsw.*)",
                ));
            }
            write(&f, &v.to_string())?;
        }
        if let Some(v) = mem.swappiness() {
            if v > 100 {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.memory.swappiness",
                    why: format!("{v} is above 100"),
                });
            }
            write(&d.join("memory.swappiness"), &v.to_string())?;
        }
        if mem.disable_oom_killer() == Some(true) {
            write(&d.join("memory.oom_control"), "1")?;
        }
        if mem.kernel().is_some() || mem.kernel_tcp().is_some() {
            crate::logging::warn(
                "linux.resources.memory.kernel and kernelTCP are deprecated and ignored by the kernel",
            );
        }
        if mem.use_hierarchy().is_some() || mem.check_before_update().is_some() {
            return Err(unsupported(
                "linux.resources.memory.useHierarchy/checkBeforeUpdate",
                "not implemented yet",
            ));
        }
    }
    if let Some(pids) = res.pids() {
        let d = dir_for(m, "pids", "linux.resources.pids")?;
        let limit = pids.limit();
        let v = if limit <= 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        write(&d.join("pids.max"), &v)?;
    }
    if let Some(cpu) = res.cpu() {
        if cpu.shares().is_some()
            || cpu.quota().is_some()
            || cpu.period().is_some()
            || cpu.realtime_runtime().is_some()
            || cpu.realtime_period().is_some()
        {
            let d = dir_for(m, "cpu", "linux.resources.cpu")?;
            if let Some(v) = cpu.shares() {
                write(&d.join("cpu.shares"), &v.to_string())?;
            }
            if let Some(v) = cpu.period() {
                write(&d.join("cpu.cfs_period_us"), &v.to_string())?;
            }
            if let Some(v) = cpu.quota() {
                write(&d.join("cpu.cfs_quota_us"), &v.to_string())?;
            }
            if let Some(v) = cpu.realtime_period() {
                write(&d.join("cpu.rt_period_us"), &v.to_string())?;
            }
            if let Some(v) = cpu.realtime_runtime() {
                write(&d.join("cpu.rt_runtime_us"), &v.to_string())?;
            }
        }
        if cpu.cpus().is_some() || cpu.mems().is_some() {
            let d = dir_for(m, "cpuset", "linux.resources.cpu.cpus")?;
            if let Some(v) = cpu.cpus() {
                write(&d.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = cpu.mems() {
                write(&d.join("cpuset.mems"), v)?;
            }
        }
        if cpu.burst().is_some() || cpu.idle().is_some() {
            return Err(unsupported(
                "linux.resources.cpu.burst/idle",
                "not implemented yet",
            ));
        }
    }
    if let Some(devs) = res.devices() {
        let d = dir_for(m, "devices", "linux.resources.devices")?;
        apply_devices(d, devs)?;
    }
    if res.block_io().is_some() {
        return Err(unsupported(
            "linux.resources.blockIO",
            "not implemented yet",
        ));
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        return Err(unsupported(
            "linux.resources.hugepageLimits",
            "not implemented yet",
        ));
    }
    if res.network().is_some() {
        return Err(unsupported(
            "linux.resources.network",
            "not implemented yet",
        ));
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(unsupported("linux.resources.rdma", "not implemented yet"));
    }
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Invalid {
            field: "linux.resources.unified",
            why: "invalid configuration: cannot use unified on cgroup v1".to_string(),
        });
    }
    Ok(())
}

/// v1 device rules: the config's rules in order, then runc's default allow-list.
fn apply_devices(
    d: &Path,
    devs: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    let mut rules = Vec::with_capacity(devs.len() + 12);
    for dev in devs {
        rules.push((dev.allow(), device_rule_text(dev)?));
    }
    for (t, maj, min, acc) in super::default_device_rules() {
        let n = |v: i64| {
            if v < 0 {
                "*".to_string()
            } else {
                v.to_string()
            }
        };
        rules.push((true, format!("{t} {}:{} {acc}", n(maj), n(min))));
    }
    for (allow, text) in rules {
        let file = if allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        // v1 takes "a" for "all devices, all access".
        let text = if text.starts_with("a ") {
            "a".to_string()
        } else {
            text
        };
        write(&d.join(file), &text)?;
    }
    Ok(())
}
