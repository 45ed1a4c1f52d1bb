//! Process tuning from config.json: scheduler (sched_setattr), I/O priority (ioprio_set), CPU
//! affinity (execCPUAffinity initial/final), personality and NUMA memory policy.

use oci_spec::runtime::{
    ExecCPUAffinity, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, Scheduler,
};
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("unable to apply {field}: {source}")]
    Sys {
        field: &'static str,
        source: io::Error,
    },
}

fn invalid(field: &'static str, why: impl Into<String>) -> TuningError {
    TuningError::Invalid {
        field,
        why: why.into(),
    }
}

fn sys(field: &'static str) -> impl FnOnce(io::Error) -> TuningError {
    move |source| TuningError::Sys { field, source }
}

/// The spec's name of an oci-spec enum value (e.g. "SCHED_FIFO"), via its serde form.
fn name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// Checks a scheduler config without applying it (used before anything is created).
pub fn check_scheduler(s: &Scheduler) -> Result<(), TuningError> {
    sched_attr(s).map(drop)
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr, TuningError> {
    let policy = match name(&s.policy()).as_str() {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        other => {
            return Err(invalid(
                "process.scheduler.policy",
                format!("unknown policy {other:?}"),
            ));
        }
    };
    let mut flags = 0u64;
    for f in s.flags().as_deref().unwrap_or(&[]) {
        flags |= match name(f).as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            other => {
                return Err(invalid(
                    "process.scheduler.flags",
                    format!("unknown flag {other:?}"),
                ));
            }
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(invalid(
            "process.scheduler.nice",
            format!("{nice} is outside -20..19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    if priority < 0 || ((policy == 1 || policy == 2) && !(1..=99).contains(&priority)) {
        return Err(invalid(
            "process.scheduler.priority",
            format!("{priority} is not valid for this policy (SCHED_FIFO/SCHED_RR take 1..99)"),
        ));
    }
    if policy == 6 && (s.runtime().is_none() || s.deadline().is_none()) {
        return Err(invalid(
            "process.scheduler",
            "SCHED_DEADLINE needs runtime and deadline",
        ));
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy,
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..Default::default()
    })
}

pub fn apply_scheduler(s: &Scheduler) -> Result<(), TuningError> {
    let attr = sched_attr(s)?;
    // SAFETY: sched_setattr on ourselves (pid 0) with a valid, correctly sized struct.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r != 0 {
        return Err(sys("process.scheduler")(io::Error::last_os_error()));
    }
    Ok(())
}

pub fn check_ioprio(p: &LinuxIOPriority) -> Result<i32, TuningError> {
    let class = match name(&p.class()).as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => {
            return Err(invalid(
                "process.ioPriority.class",
                format!("unknown class {other:?}"),
            ));
        }
    };
    let prio = p.priority();
    if !(0..=7).contains(&prio) {
        return Err(invalid(
            "process.ioPriority.priority",
            format!("{prio} is outside 0..7"),
        ));
    }
    Ok((class << 13) | prio as i32)
}

pub fn apply_ioprio(p: &LinuxIOPriority) -> Result<(), TuningError> {
    let value = check_ioprio(p)?;
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: ioprio_set on ourselves with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if r != 0 {
        return Err(sys("process.ioPriority")(io::Error::last_os_error()));
    }
    Ok(())
}

/// Parses a CPU list such as "0-3,7" into a cpu_set_t.
pub fn parse_cpus(field: &'static str, list: &str) -> Result<libc::cpu_set_t, TuningError> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    let bad = || invalid(field, format!("{list:?} is not a CPU list like 0-3,7"));
    let mut any = false;
    for part in list.split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= max {
            return Err(bad());
        }
        for cpu in a..=b {
            // SAFETY: cpu < CPU_SETSIZE, checked above.
            unsafe { libc::CPU_SET(cpu, &mut set) };
            any = true;
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(set)
}

pub fn check_affinity(a: &ExecCPUAffinity) -> Result<(), TuningError> {
    if let Some(l) = a.initial() {
        parse_cpus("process.execCPUAffinity.initial", l)?;
    }
    if let Some(l) = a.cpu_affinity_final() {
        parse_cpus("process.execCPUAffinity.final", l)?;
    }
    Ok(())
}

pub fn set_affinity(field: &'static str, list: &str) -> Result<(), TuningError> {
    let set = parse_cpus(field, list)?;
    // SAFETY: sched_setaffinity on ourselves with a valid set of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        return Err(sys(field)(io::Error::last_os_error()));
    }
    Ok(())
}

pub fn check_personality(p: &LinuxPersonality) -> Result<libc::c_ulong, TuningError> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(invalid(
            "linux.personality.flags",
            "personality flags are not supported (runc refuses them too)",
        ));
    }
    match name(&p.domain()).as_str() {
        "LINUX" => Ok(0x0000),
        "LINUX32" => Ok(0x0008),
        other => Err(invalid(
            "linux.personality.domain",
            format!("unknown domain {other:?}"),
        )),
    }
}

pub fn apply_personality(p: &LinuxPersonality) -> Result<(), TuningError> {
    let persona = check_personality(p)?;
    // SAFETY: personality with an integer argument.
    if unsafe { libc::personality(persona) } == -1 {
        return Err(sys("linux.personality")(io::Error::last_os_error()));
    }
    Ok(())
}

/// (mode | flags, node mask words)
fn mempolicy(p: &LinuxMemoryPolicy) -> Result<(i32, Vec<libc::c_ulong>), TuningError> {
    let mode = match name(&p.mode()).as_str() {
        "MPOL_DEFAULT" => 0,
        "MPOL_PREFERRED" => 1,
        "MPOL_BIND" => 2,
        "MPOL_INTERLEAVE" => 3,
        "MPOL_LOCAL" => 4,
        "MPOL_PREFERRED_MANY" => 5,
        "MPOL_WEIGHTED_INTERLEAVE" => 6,
        other => {
            return Err(invalid(
                "linux.memoryPolicy.mode",
                format!("unknown mode {other:?}"),
            ));
        }
    };
    let mut flags = 0;
    for f in p.flags().as_deref().unwrap_or(&[]) {
        flags |= match name(f).as_str() {
            "MPOL_F_STATIC_NODES" => 1 << 15,
            "MPOL_F_RELATIVE_NODES" => 1 << 14,
            "MPOL_F_NUMA_BALANCING" => 1 << 13,
            other => {
                return Err(invalid(
                    "linux.memoryPolicy.flags",
                    format!("unknown flag {other:?}"),
                ));
            }
        };
    }
    let mut mask: Vec<libc::c_ulong> = vec![0; 16];
    if let Some(nodes) = p.nodes().as_deref().filter(|n| !n.is_empty()) {
        let bits = 8 * std::mem::size_of::<libc::c_ulong>();
        for part in nodes.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let bad = || {
                invalid(
                    "linux.memoryPolicy.nodes",
                    format!("{nodes:?} is not a node list"),
                )
            };
            let a: usize = a.trim().parse().map_err(|_| bad())?;
            let b: usize = b.trim().parse().map_err(|_| bad())?;
            if a > b || b >= mask.len() * bits {
                return Err(bad());
            }
            for n in a..=b {
                mask[n / bits] |= 1 << (n % bits);
            }
        }
    } else if mode != 0 && mode != 4 {
        return Err(invalid("linux.memoryPolicy.nodes", "this mode needs nodes"));
    }
    Ok((mode | flags, mask))
}

pub fn check_mempolicy(p: &LinuxMemoryPolicy) -> Result<(), TuningError> {
    mempolicy(p).map(drop)
}

pub fn apply_mempolicy(p: &LinuxMemoryPolicy) -> Result<(), TuningError> {
    let (mode, mask) = mempolicy(p)?;
    let maxnode = mask.len() * 8 * std::mem::size_of::<libc::c_ulong>();
    // SAFETY: set_mempolicy with a mask buffer of exactly `maxnode` bits.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask.as_ptr(), maxnode) };
    if r != 0 {
        return Err(sys("linux.memoryPolicy")(io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        let s = parse_cpus("f", "0-2,5").expect("parses");
        // SAFETY: CPU_ISSET on a valid set.
        let has = |c| unsafe { libc::CPU_ISSET(c, &s) };
        assert!(has(0) && has(1) && has(2) && has(5) && !has(3));
        assert!(parse_cpus("f", "3-1").is_err());
        assert!(parse_cpus("f", "x").is_err());
        assert!(parse_cpus("f", "").is_err());
    }
}
