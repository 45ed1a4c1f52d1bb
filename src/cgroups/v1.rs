//! cgroup v1 hierarchies: directory creation (cpuset needs its parents' cpus/mems filled in)
//! and the resource files.

use super::{CgroupError, Hierarchy, Manager, device_rule_text, write};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxHugepageLimit, LinuxNetwork, LinuxResources, LinuxThrottleDevice,
};
use std::path::{Path, PathBuf};

/// Creates the container's directory (and missing parents); true when this call made it,
/// so that it is known to be empty.
pub fn create(h: &Hierarchy, dir: &Path) -> Result<bool, CgroupError> {
    if h.has("cpuset") {
        // A new cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until
        // they are set. Every level is checked top-down, not only the ones this call makes: a
        // concurrent create may have made a shared parent and not yet filled it in.
        let rel = dir
            .strip_prefix(&h.mountpoint)
            .map_err(|_| CgroupError::Create {
                path: dir.to_path_buf(),
                source: std::io::Error::other("not under the cpuset hierarchy"),
            })?;
        const FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];
        let mut cur = h.mountpoint.clone();
        let mut inherited = [
            read_trim(&cur.join(FILES[0]))?,
            read_trim(&cur.join(FILES[1]))?,
        ];
        let mut made = false;
        for comp in rel.components() {
            cur.push(comp);
            made = super::mkdir(&cur)?;
            for (f, value) in FILES.iter().zip(inherited.iter_mut()) {
                let mine = read_trim(&cur.join(f))?;
                if mine.is_empty() {
                    write(&cur.join(f), value)?;
                } else {
                    *value = mine;
                }
            }
        }
        return Ok(made);
    }
    super::create_leaf(dir)
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
    if let Some(b) = res.block_io() {
        apply_blkio(m, b)?;
    }
    if let Some(limits) = res.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
        apply_hugetlb(m, limits)?;
    }
    if let Some(net) = res.network() {
        apply_network(m, net)?;
    }
    if let Some(rdma) = res.rdma().as_ref().filter(|r| !r.is_empty()) {
        let d = dir_for(m, "rdma", "linux.resources.rdma")?;
        super::write_rdma(d, rdma)?;
    }
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Invalid {
            field: "linux.resources.unified",
            why: "invalid configuration: cannot use unified on cgroup v1".to_string(),
        });
    }
    Ok(())
}

/// blkio: proportional weights (CFQ's blkio.weight is gone since Linux 5.0; BFQ offers
/// blkio.bfq.weight where it is built with group scheduling) and throttling.
fn apply_blkio(m: &Manager, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let d = dir_for(m, "blkio", "linux.resources.blockIO")?;
    let first = |names: &[&str]| names.iter().map(|n| d.join(n)).find(|f| f.exists());
    const NO_WEIGHT: &str = "the kernel has no proportional-weight IO scheduler for cgroup v1 (no blkio.weight or blkio.bfq.weight)";
    if let Some(w) = b.weight() {
        let f = first(&["blkio.weight", "blkio.bfq.weight"])
            .ok_or(unsupported("linux.resources.blockIO.weight", NO_WEIGHT))?;
        write(&f, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        let f = first(&["blkio.leaf_weight"]).ok_or(unsupported(
            "linux.resources.blockIO.leafWeight",
            "the kernel has no blkio.leaf_weight (CFQ)",
        ))?;
        write(&f, &w.to_string())?;
    }
    for wd in b.weight_device().as_deref().unwrap_or_default() {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight() {
            let f = first(&["blkio.weight_device", "blkio.bfq.weight_device"]).ok_or(
                unsupported("linux.resources.blockIO.weightDevice", NO_WEIGHT),
            )?;
            write(&f, &format!("{dev} {w}"))?;
        }
        if let Some(w) = wd.leaf_weight() {
            let f = first(&["blkio.leaf_weight_device"]).ok_or(unsupported(
                "linux.resources.blockIO.weightDevice[].leafWeight",
                "the kernel has no blkio.leaf_weight_device (CFQ)",
            ))?;
            write(&f, &format!("{dev} {w}"))?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for t in list.as_deref().unwrap_or_default() {
            let f = first(&[file]).ok_or(unsupported(
                "linux.resources.blockIO.throttle*",
                "the kernel has no blkio throttling (CONFIG_BLK_DEV_THROTTLING)",
            ))?;
            // A rate of 0 removes the device's limit.
            write(&f, &format!("{}:{} {}", t.major(), t.minor(), t.rate()))?;
        }
    }
    Ok(())
}

/// hugetlb limits go to the v1 hugetlb hierarchy; on a hybrid host whose hugetlb controller
/// lives in the cgroup2 tree (like this project's CI host) they go there, if the host enabled
/// it for the container's cgroup (hako never enables controllers in cgroups it did not make).
fn apply_hugetlb(m: &Manager, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    let v1 = m.dirs.iter().find(|(i, _)| {
        let h = &m.layout.hierarchies[*i];
        !h.v2 && h.has("hugetlb")
    });
    let Some((_, d)) = v1 else {
        return match m.v2_dir() {
            Some(d) => super::v2::apply_hugetlb(d, limits),
            None => Err(unsupported(
                "linux.resources.hugepageLimits",
                "the hugetlb controller is not mounted on this host",
            )),
        };
    };
    for l in limits {
        super::check_page_size(l.page_size())?;
        let value = l.limit().to_string();
        let file = |suffix: &str| d.join(format!("hugetlb.{}.{suffix}", l.page_size()));
        write(&file("limit_in_bytes"), &value)?;
        // Reservations (Linux 5.7+) are limited alike, as runc does, so that a mapping that
        // is reserved but not yet faulted in cannot overrun the limit.
        let rsvd: PathBuf = file("rsvd.limit_in_bytes");
        if rsvd.exists() {
            write(&rsvd, &value)?;
        }
    }
    Ok(())
}

/// net_cls.classid and net_prio.ifpriomap (v1 only: cgroup v2 has neither).
fn apply_network(m: &Manager, net: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(id) = net.class_id() {
        let d = dir_for(m, "net_cls", "linux.resources.network.classID")?;
        write(&d.join("net_cls.classid"), &id.to_string())?;
    }
    for p in net.priorities().as_deref().unwrap_or_default() {
        let d = dir_for(m, "net_prio", "linux.resources.network.priorities")?;
        write(
            &d.join("net_prio.ifpriomap"),
            &format!("{} {}", p.name(), p.priority()),
        )?;
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
    // One open of each file: the kernel takes one rule per write(2).
    let mut files: [Option<std::fs::File>; 2] = [None, None];
    for (allow, text) in rules {
        let name = if allow {
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
        let path = d.join(name);
        let werr = |source| CgroupError::Write {
            path: path.clone(),
            value: text.clone(),
            source,
        };
        let slot = &mut files[usize::from(allow)];
        let f = match slot {
            Some(f) => f,
            None => slot.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(werr)?,
            ),
        };
        std::io::Write::write_all(f, text.as_bytes()).map_err(werr)?;
    }
    Ok(())
}
