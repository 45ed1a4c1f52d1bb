//! cgroup v2: directory creation with controllers enabled down the path, and the resource files.

use super::{CgroupError, device_rules, devices_bpf, write};
use oci_spec::runtime::{LinuxBlockIo, LinuxHugepageLimit, LinuxResources};
use std::path::Path;

const MODE: &str = "cgroup v2";

/// Creates `dir` under `mountpoint`. On a unified host every controller available is enabled
/// in each ancestor's cgroup.subtree_control, as runc does: an `update` may later set limits
/// the config did not have, and a `unified` key may name any controller.
/// Creates the container's directory (and missing parents); true when this call made it.
pub fn create(mountpoint: &Path, dir: &Path, unified: bool) -> Result<bool, CgroupError> {
    if !unified {
        return super::create_leaf(dir);
    }
    let rel = dir.strip_prefix(mountpoint).unwrap_or(dir);
    let mut cur = mountpoint.to_path_buf();
    let mut made = false;
    for comp in rel.components() {
        enable_controllers(&cur);
        cur.push(comp);
        made = super::mkdir(&cur)?;
    }
    Ok(made)
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

/// blkio weight (v1, 10..1000) to io.weight (v2, 1..10000), as runc and crun convert.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// The io controller: weights through BFQ's io.bfq.weight when the BFQ scheduler is there
/// (it takes v1's scale as is), else io.weight (iocost) converted; throttling in io.max.
fn apply_io(d: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = d.join("io.bfq.weight");
    let iocost = d.join("io.weight");
    let (weight_file, convert) = if bfq.exists() {
        (Some(bfq), false)
    } else if iocost.exists() {
        (Some(iocost), true)
    } else {
        (None, false)
    };
    let weight = |w: u16| {
        if convert {
            blkio_weight_to_io_weight(w).to_string()
        } else {
            w.to_string()
        }
    };
    let no_weight = || {
        unsupported(
            "linux.resources.blockIO.weight",
            "neither io.bfq.weight nor io.weight exists in the container's cgroup (io controller not available, or no BFQ/iocost)",
        )
    };
    if let Some(w) = b.weight() {
        write(weight_file.as_ref().ok_or_else(no_weight)?, &weight(w))?;
    }
    let leaf = b.leaf_weight().is_some()
        || b.weight_device()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|wd| wd.leaf_weight().is_some());
    if leaf {
        return Err(unsupported(
            "linux.resources.blockIO.leafWeight",
            "cgroup v2 has no leaf weights",
        ));
    }
    for wd in b.weight_device().as_deref().unwrap_or_default() {
        if let Some(w) = wd.weight() {
            let f = weight_file.as_ref().ok_or_else(no_weight)?;
            write(f, &format!("{}:{} {}", wd.major(), wd.minor(), weight(w)))?;
        }
    }
    let throttles = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    let max = d.join("io.max");
    for (list, key) in throttles {
        for t in list.as_deref().unwrap_or_default() {
            if !max.exists() {
                return Err(unsupported(
                    "linux.resources.blockIO.throttle*",
                    "the container's cgroup has no io.max (io controller not available)",
                ));
            }
            // 0 means "no limit", as in cgroup v1.
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(&max, &format!("{}:{} {key}={rate}", t.major(), t.minor()))?;
        }
    }
    Ok(())
}

/// hugetlb.<size>.max, and .rsvd.max where the kernel has it (5.7+), as runc does.
pub fn apply_hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        super::check_page_size(l.page_size())?;
        let max = d.join(format!("hugetlb.{}.max", l.page_size()));
        if !max.exists() {
            return Err(unsupported(
                "linux.resources.hugepageLimits",
                "the hugetlb controller is not enabled for the container's cgroup",
            ));
        }
        let value = max_or(l.limit());
        write(&max, &value)?;
        let rsvd = d.join(format!("hugetlb.{}.rsvd.max", l.page_size()));
        if rsvd.exists() {
            write(&rsvd, &value)?;
        }
    }
    Ok(())
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
    if let Some(b) = res.block_io() {
        apply_io(d, b)?;
    }
    if let Some(limits) = res.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
        apply_hugetlb(d, limits)?;
    }
    if let Some(rdma) = res.rdma().as_ref().filter(|r| !r.is_empty()) {
        if !d.join("rdma.max").exists() {
            return Err(unsupported(
                "linux.resources.rdma",
                "the rdma controller is not available to the container's cgroup",
            ));
        }
        super::write_rdma(d, rdma)?;
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

    #[test]
    fn blkio_weight_converts_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }
}
