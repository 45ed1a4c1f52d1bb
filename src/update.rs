//! `hako update`: changes the resource limits of a live container's cgroup, with runc's
//! command line and semantics.
//!
//! * `-r/--resources FILE|-` reads a `LinuxResources` JSON object (containerd's go-runc passes
//!   `--resources=-` and the JSON on stdin); the other flags are then ignored, as in runc.
//! * runc applies only part of `LinuxResources` on update: memory limit/reservation/swap, cpu,
//!   `blockIO.weight`, `pids.limit` and `unified`. The rest (hugepageLimits, network, rdma,
//!   swappiness, …) is ignored the same way, because engines send the whole resources object
//!   of the container's spec on every update.
//! * `devices` (non-empty) replaces the container's device rules: they are read like
//!   `linux.resources.devices` at create, with the container's `linux.devices` and runc's
//!   default allow-list appended. Engines resend the spec's own rules, so for them this is the
//!   same policy again (runc re-applies the spec's rules on every update too); on cgroup v2 the
//!   eBPF program is swapped atomically.
//! * A value of 0 means "unchanged" (runc's merge), except for `cpu.burst` and `cpu.idle`
//!   where 0 is a value. `-1` means "unlimited" for memory, swap, cpu quota and pids; setting
//!   memory to -1 without a swap value also lifts the swap limit.
//! * Memory sizes accept runc's units (`64m`, `1.5g`, `512kb`: powers of 1024).
//! * If applying fails half-way, the cgroup files touched are set back to their old values.
//!
//! The limits are not persisted: hako keeps no copy of the container's resources, the cgroup
//! files are the truth (`events --stats` reads them back).

use crate::cgroups::{self, CgroupError, Manager, Mode};
use crate::logging;
use crate::state::{ContainerDir, StateError, Status};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxPids, LinuxResources,
};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// path to the file containing the resources to update or '-' to read from the standard input (all other options are then ignored)
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight", allow_negative_numbers = true)]
    pub blkio_weight: Option<String>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period", allow_negative_numbers = true)]
    pub cpu_period: Option<String>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<String>,
    /// CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period
    #[arg(long = "cpu-burst", allow_negative_numbers = true)]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", allow_negative_numbers = true)]
    pub cpu_share: Option<String>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period", allow_negative_numbers = true)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<String>,
    /// set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE
    #[arg(long = "cpu-idle", allow_negative_numbers = true)]
    pub cpu_idle: Option<String>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (in bytes; k, m, g suffixes accepted)
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<String>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long = "kernel-memory", hide = true, allow_negative_numbers = true)]
    pub kernel_memory: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long = "kernel-memory-tcp", hide = true, allow_negative_numbers = true)]
    pub kernel_memory_tcp: Option<String>,
    /// the container id
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("container not running")]
    NotRunning,
    #[error("invalid value for {flag}: {why}")]
    InvalidValue { flag: &'static str, why: String },
    #[error("unable to read resources from {from}: {source}")]
    Read {
        from: String,
        source: std::io::Error,
    },
    #[error("invalid resources JSON from {from}: {why}")]
    Json { from: String, why: String },
    #[error("{what} is not enabled: hako does not support Intel RDT")]
    IntelRdt { what: &'static str },
    #[error("the container has no cgroup to update")]
    NoCgroup,
    #[error("the container's cgroup {0} no longer exists")]
    CgroupGone(PathBuf),
    #[error("unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryBusy { limit: i64, usage: u64, peak: u64 },
    #[error(
        "rejecting memory limit {limit}: the container's current usage {usage} is higher (checkBeforeUpdate)"
    )]
    BelowUsage { limit: i64, usage: u64 },
    #[error("{0}")]
    Swap(&'static str),
}

/// What an update changes: the part of `LinuxResources` runc honours, `None` = unchanged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Request {
    memory: Option<i64>,
    reservation: Option<i64>,
    swap: Option<i64>,
    check_before_update: bool,
    shares: Option<u64>,
    period: Option<u64>,
    quota: Option<i64>,
    burst: Option<u64>,
    rt_period: Option<u64>,
    rt_runtime: Option<i64>,
    idle: Option<i64>,
    cpus: Option<String>,
    mems: Option<String>,
    blkio_weight: Option<u16>,
    pids: Option<i64>,
    unified: Option<HashMap<String, String>>,
    devices: Option<Vec<LinuxDeviceCgroup>>,
}

pub fn run(root: &Path, a: &UpdateArgs) -> Result<i32, UpdateError> {
    let dir = ContainerDir::open(root, &a.id)?;
    dir.lock()?;
    let st = dir.load()?;
    if st.status(&dir) == Status::Stopped {
        return Err(UpdateError::NotRunning);
    }
    let req = match a.resources.as_deref().filter(|r| !r.is_empty()) {
        Some(from) => {
            if has_flags(a) {
                logging::warn("--resources is given: the other update flags are ignored");
            }
            from_json(from)?
        }
        None => from_flags(a)?,
    }
    .normalised();
    if given(&a.l3_cache_schema).is_some() {
        return Err(UpdateError::IntelRdt {
            what: "Intel RDT/CAT: l3 cache schema",
        });
    }
    if given(&a.mem_bw_schema).is_some() {
        return Err(UpdateError::IntelRdt {
            what: "Intel RDT/MBA: memory bandwidth schema",
        });
    }
    if req == Request::default() {
        return Ok(0);
    }
    if st.cgroup_dirs.is_empty() {
        return Err(UpdateError::NoCgroup);
    }
    if let Some(gone) = st.cgroup_dirs.iter().find(|d| !d.is_dir()) {
        return Err(UpdateError::CgroupGone(gone.clone()));
    }
    let mut req = req;
    if let Some(d) = req.devices.as_mut() {
        d.extend(st.device_allow.iter().cloned());
    }
    let m = Manager::existing(&st.cgroup_dirs)?;
    let steps = plan(&m, req)?;
    let saved = snapshot(&m, &steps);
    for res in &steps {
        if let Err(e) = cgroups::update(&m, res) {
            restore(&saved);
            return Err(explain(&m, e));
        }
    }
    Ok(0)
}

fn has_flags(a: &UpdateArgs) -> bool {
    [
        &a.blkio_weight,
        &a.cpu_period,
        &a.cpu_quota,
        &a.cpu_burst,
        &a.cpu_share,
        &a.cpu_rt_period,
        &a.cpu_rt_runtime,
        &a.cpu_idle,
        &a.cpuset_cpus,
        &a.cpuset_mems,
        &a.memory,
        &a.memory_reservation,
        &a.memory_swap,
        &a.pids_limit,
        &a.l3_cache_schema,
        &a.mem_bw_schema,
        &a.kernel_memory,
        &a.kernel_memory_tcp,
    ]
    .iter()
    .any(|f| f.is_some())
}

/// A flag's value; an empty string counts as not given (runc's `context.String(..) != ""`).
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn parse_num<T: std::str::FromStr>(
    flag: &'static str,
    v: &Option<String>,
    kind: &str,
) -> Result<Option<T>, UpdateError> {
    given(v)
        .map(|s| {
            s.parse::<T>().map_err(|_| UpdateError::InvalidValue {
                flag,
                why: format!("{s:?} is not {kind}"),
            })
        })
        .transpose()
}

fn parse_size(flag: &'static str, v: &Option<String>) -> Result<Option<i64>, UpdateError> {
    given(v)
        .map(|s| {
            if s == "-1" {
                Ok(-1)
            } else {
                ram_in_bytes(s).ok_or_else(|| UpdateError::InvalidValue {
                    flag,
                    why: format!("invalid size: '{s}'"),
                })
            }
        })
        .transpose()
}

fn from_flags(a: &UpdateArgs) -> Result<Request, UpdateError> {
    const UNSIGNED: &str = "an unsigned integer";
    const SIGNED: &str = "an integer";
    for (flag, v) in [
        ("kernel-memory", &a.kernel_memory),
        ("kernel-memory-tcp", &a.kernel_memory_tcp),
    ] {
        if given(v).is_some() {
            logging::warn(&format!("Setting --{flag} is ignored and will be removed"));
        }
    }
    Ok(Request {
        memory: parse_size("memory", &a.memory)?,
        reservation: parse_size("memory-reservation", &a.memory_reservation)?,
        swap: parse_size("memory-swap", &a.memory_swap)?,
        check_before_update: false,
        shares: parse_num("cpu-share", &a.cpu_share, UNSIGNED)?,
        period: parse_num("cpu-period", &a.cpu_period, UNSIGNED)?,
        quota: parse_num("cpu-quota", &a.cpu_quota, SIGNED)?,
        burst: parse_num("cpu-burst", &a.cpu_burst, UNSIGNED)?,
        rt_period: parse_num("cpu-rt-period", &a.cpu_rt_period, UNSIGNED)?,
        rt_runtime: parse_num("cpu-rt-runtime", &a.cpu_rt_runtime, SIGNED)?,
        idle: parse_num("cpu-idle", &a.cpu_idle, SIGNED)?,
        cpus: given(&a.cpuset_cpus).map(str::to_string),
        mems: given(&a.cpuset_mems).map(str::to_string),
        blkio_weight: parse_num(
            "blkio-weight",
            &a.blkio_weight,
            "an integer from 0 to 65535",
        )?,
        pids: parse_num("pids-limit", &a.pids_limit, SIGNED)?,
        unified: None,
        devices: None,
    })
}

/// Reads the JSON object from `FILE` or stdin (`-`). Like Go's json.Decoder, only the first
/// JSON value is read.
fn from_json(from: &str) -> Result<Request, UpdateError> {
    let (name, data) = if from == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|source| UpdateError::Read {
                from: "stdin".into(),
                source,
            })?;
        ("stdin".to_string(), buf)
    } else {
        let data = std::fs::read(from).map_err(|source| UpdateError::Read {
            from: from.to_string(),
            source,
        })?;
        (from.to_string(), data)
    };
    let bad = |why: String| UpdateError::Json {
        from: name.clone(),
        why,
    };
    // serde would also build the struct from a JSON array: insist on an object.
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(bad("no JSON object (empty input)".into())),
        Some(_) => return Err(bad("expected a JSON object (LinuxResources)".into())),
    }
    let res: LinuxResources = serde_json::Deserializer::from_slice(&data)
        .into_iter::<LinuxResources>()
        .next()
        .unwrap_or_else(|| Err(serde::de::Error::custom("no JSON value")))
        .map_err(|e| bad(e.to_string()))?;
    Ok(request_of(&res))
}

/// The part of `res` an update applies; the rest is logged (debug) and ignored, as runc does.
fn request_of(res: &LinuxResources) -> Request {
    let mut ignored = Vec::new();
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        ignored.push("hugepageLimits");
    }
    if res.network().is_some() {
        ignored.push("network");
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        ignored.push("rdma");
    }
    let mem = res.memory().as_ref();
    if let Some(m) = mem
        && (m.kernel().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some()
            || m.use_hierarchy().is_some())
    {
        ignored.push("memory.kernel/kernelTCP/swappiness/disableOOMKiller/useHierarchy");
    }
    if let Some(b) = res.block_io()
        && (b.leaf_weight().is_some()
            || b.weight_device().is_some()
            || b.throttle_read_bps_device().is_some()
            || b.throttle_write_bps_device().is_some()
            || b.throttle_read_iops_device().is_some()
            || b.throttle_write_iops_device().is_some())
    {
        ignored.push("blockIO (all but weight)");
    }
    if !ignored.is_empty() {
        logging::debug(|| format!("update: ignoring {} (as runc does)", ignored.join(", ")));
    }
    let cpu = res.cpu().as_ref();
    Request {
        memory: mem.and_then(|m| m.limit()),
        reservation: mem.and_then(|m| m.reservation()),
        swap: mem.and_then(|m| m.swap()),
        check_before_update: mem.and_then(|m| m.check_before_update()) == Some(true),
        shares: cpu.and_then(|c| c.shares()),
        period: cpu.and_then(|c| c.period()),
        quota: cpu.and_then(|c| c.quota()),
        burst: cpu.and_then(|c| c.burst()),
        rt_period: cpu.and_then(|c| c.realtime_period()),
        rt_runtime: cpu.and_then(|c| c.realtime_runtime()),
        idle: cpu.and_then(|c| c.idle()),
        cpus: cpu.and_then(|c| c.cpus().clone()),
        mems: cpu.and_then(|c| c.mems().clone()),
        blkio_weight: res.block_io().as_ref().and_then(|b| b.weight()),
        pids: res.pids().as_ref().map(|p| p.limit()),
        unified: res.unified().clone(),
        devices: res.devices().clone(),
    }
}

impl Request {
    /// runc's merge: 0 (and "") leave the current value alone.
    fn normalised(mut self) -> Request {
        fn nz<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
            v.filter(|x| *x != T::default())
        }
        self.memory = nz(self.memory);
        self.reservation = nz(self.reservation);
        self.swap = nz(self.swap);
        self.shares = nz(self.shares);
        self.period = nz(self.period);
        self.quota = nz(self.quota);
        self.rt_period = nz(self.rt_period);
        self.rt_runtime = nz(self.rt_runtime);
        self.blkio_weight = nz(self.blkio_weight);
        self.pids = nz(self.pids);
        self.cpus = self.cpus.filter(|s| !s.is_empty());
        self.mems = self.mems.filter(|s| !s.is_empty());
        self.unified = self.unified.filter(|u| !u.is_empty());
        self.devices = self.devices.filter(|d| !d.is_empty());
        if self.memory.is_none() {
            self.check_before_update = false;
        }
        self
    }

    fn resources(&self, memory: bool, swap: bool, rest: bool) -> LinuxResources {
        let mut r = LinuxResources::default();
        let mut mem = LinuxMemory::default();
        let mut any_mem = false;
        if memory && let Some(v) = self.memory {
            mem.set_limit(Some(v));
            any_mem = true;
        }
        if swap && let Some(v) = self.swap {
            mem.set_swap(Some(v));
            any_mem = true;
        }
        if rest && let Some(v) = self.reservation {
            mem.set_reservation(Some(v));
            any_mem = true;
        }
        if any_mem {
            r.set_memory(Some(mem));
        }
        if !rest {
            return r;
        }
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(self.shares);
        cpu.set_period(self.period);
        cpu.set_quota(self.quota);
        cpu.set_burst(self.burst);
        cpu.set_realtime_period(self.rt_period);
        cpu.set_realtime_runtime(self.rt_runtime);
        cpu.set_idle(self.idle);
        cpu.set_cpus(self.cpus.clone());
        cpu.set_mems(self.mems.clone());
        if cpu != LinuxCpu::default() {
            r.set_cpu(Some(cpu));
        }
        if let Some(w) = self.blkio_weight {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            r.set_block_io(Some(b));
        }
        if let Some(p) = self.pids {
            let mut pids = LinuxPids::default();
            pids.set_limit(p);
            r.set_pids(Some(pids));
        }
        r.set_unified(self.unified.clone());
        r.set_devices(self.devices.clone());
        r
    }
}

/// Turns the request into the writes to make, in order.
///
/// * memory -1 without swap lifts the swap limit too (when the kernel accounts swap).
/// * v1: memory.limit_in_bytes must stay ≤ memory.memsw.limit_in_bytes at every step, so
///   when both change and the new swap limit is above the current memory limit (or
///   unlimited), swap is written first (runc's setMemoryAndSwap).
/// * v2: cpu.max holds quota and period together; the half not given is kept.
fn plan(m: &Manager, mut req: Request) -> Result<Vec<LinuxResources>, UpdateError> {
    let unified = m.layout.mode == Mode::Unified;
    let mem_dir = if unified {
        m.v2_dir()
    } else {
        m.v1_dir("memory")
    };
    let swap_file = if unified {
        "memory.swap.max"
    } else {
        "memory.memsw.limit_in_bytes"
    };
    if req.memory == Some(-1)
        && req.swap.is_none()
        && mem_dir.is_some_and(|d| d.join(swap_file).exists())
    {
        req.swap = Some(-1);
    }
    if unified && let Some(d) = m.v2_dir() {
        // memory.swap.max is swap alone: v1's memory+swap value needs the memory limit,
        // the current one when the update does not change it (runc's conversion).
        if let Some(swap) = req.swap.filter(|s| *s > 0) {
            let mem = req.memory.or_else(|| {
                std::fs::read_to_string(d.join("memory.max"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
            });
            match mem {
                Some(mem) if mem > 0 && swap < mem => {
                    return Err(UpdateError::Swap(
                        "memory+swap limit should be >= memory limit",
                    ));
                }
                Some(mem) if mem > 0 => req.memory = Some(mem),
                _ => {
                    return Err(UpdateError::Swap(
                        "unable to set swap limit without memory limit",
                    ));
                }
            }
        }
        if let Some(limit) = req.memory.filter(|l| *l > 0) {
            let usage = read_u64(&d.join("memory.current")).unwrap_or(0);
            if usage > limit.unsigned_abs() {
                if req.check_before_update {
                    return Err(UpdateError::BelowUsage { limit, usage });
                }
                // v1 refuses such a limit (EBUSY); v2 would accept it and OOM-kill the
                // container. Refuse it the same way on both.
                let peak = read_u64(&d.join("memory.peak")).unwrap_or(0);
                return Err(UpdateError::MemoryBusy { limit, usage, peak });
            }
        }
        if req.quota.is_some() != req.period.is_some() {
            let cur = std::fs::read_to_string(d.join("cpu.max")).unwrap_or_default();
            let mut it = cur.split_whitespace();
            let (q, p) = (it.next(), it.next().and_then(|p| p.parse::<u64>().ok()));
            if req.quota.is_none() {
                req.quota = Some(match q {
                    Some("max") | None => -1,
                    Some(q) => q.parse().unwrap_or(-1),
                });
            }
            if req.period.is_none() {
                req.period = p;
            }
        }
    }
    let (Some(_), Some(swap), false) = (req.memory, req.swap, unified) else {
        return Ok(vec![req.resources(true, true, true)]);
    };
    let cur_limit = mem_dir
        .and_then(|d| read_u64(&d.join("memory.limit_in_bytes")))
        .unwrap_or(u64::MAX);
    let swap_first = swap == -1 || (swap > 0 && cur_limit < swap.unsigned_abs());
    Ok(if swap_first {
        vec![
            req.resources(false, true, false),
            req.resources(true, false, true),
        ]
    } else {
        vec![
            req.resources(true, false, false),
            req.resources(false, true, true),
        ]
    })
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The files an update may write, with their current content, to set back on failure.
fn snapshot(m: &Manager, steps: &[LinuxResources]) -> Vec<(PathBuf, String)> {
    const V1: &[&str] = &[
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "cpu.shares",
        "cpu.cfs_period_us",
        "cpu.cfs_quota_us",
        "cpu.cfs_burst_us",
        "cpu.rt_period_us",
        "cpu.rt_runtime_us",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
    ];
    const V2: &[&str] = &[
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "cpu.weight",
        "cpu.max",
        "cpu.max.burst",
        "cpu.idle",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
    ];
    let mut files: Vec<PathBuf> = Vec::new();
    for (i, d) in &m.dirs {
        let names = if m.layout.hierarchies[*i].v2 { V2 } else { V1 };
        files.extend(names.iter().map(|n| d.join(n)));
        if m.layout.hierarchies[*i].v2 {
            for res in steps {
                if let Some(u) = res.unified() {
                    files.extend(u.keys().map(|k| d.join(k)));
                }
            }
        }
    }
    files
        .into_iter()
        .filter_map(|f| {
            let v = std::fs::read_to_string(&f).ok()?;
            Some((f, v.trim().to_string()))
        })
        .collect()
}

/// Best-effort: writes the saved values back where they changed (twice, since v1's memory
/// and memsw limits constrain each other's order).
fn restore(saved: &[(PathBuf, String)]) {
    let mut pending: Vec<&(PathBuf, String)> = saved
        .iter()
        .filter(|(f, old)| std::fs::read_to_string(f).is_ok_and(|now| now.trim() != old))
        .collect();
    for _ in 0..2 {
        pending.retain(|(f, old)| {
            // cpuset.* read back empty when unset; an empty write would fail, skip it.
            !old.is_empty() && std::fs::write(f, old).is_err()
        });
    }
    if let Some((f, _)) = pending.first() {
        logging::warn(&format!(
            "Setting back cgroup configs failed ({} and {} more): the container's limits might be inconsistent",
            f.display(),
            pending.len() - 1
        ));
    }
}

/// runc's message when a memory limit is below what the container already uses.
fn explain(m: &Manager, e: CgroupError) -> UpdateError {
    if let CgroupError::Write {
        path,
        value,
        source,
    } = &e
        && source.raw_os_error() == Some(libc::EBUSY)
        && let Some(name) = path.file_name().and_then(|n| n.to_str())
        && (name == "memory.limit_in_bytes" || name == "memory.max")
        && let Ok(limit) = value.parse::<i64>()
    {
        let dir = if m.layout.mode == Mode::Unified {
            m.v2_dir()
        } else {
            m.v1_dir("memory")
        };
        let (usage, peak) = match dir {
            Some(d) if name == "memory.max" => (
                read_u64(&d.join("memory.current")).unwrap_or(0),
                read_u64(&d.join("memory.peak")).unwrap_or(0),
            ),
            Some(d) => (
                read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0),
                read_u64(&d.join("memory.max_usage_in_bytes")).unwrap_or(0),
            ),
            None => (0, 0),
        };
        return UpdateError::MemoryBusy { limit, usage, peak };
    }
    UpdateError::Cgroup(e)
}

/// docker/go-units RAMInBytes: `<number>[ ][kKmMgGtTpP][iI][bB]`, powers of 1024, a
/// fractional number allowed (`1.5g`). None for anything else (negative numbers included).
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mul: f64 = match chars.peek().map(char::to_ascii_lowercase) {
        Some(u @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            let exp = match u {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                _ => 5,
            };
            1024f64.powi(exp)
        }
        _ => 1.0,
    };
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let v = n * mul;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return None;
    }
    // Go's int64(float) truncates toward zero.
    Some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(ram_in_bytes("12345"), Some(12345));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("64M"), Some(64 << 20));
        assert_eq!(ram_in_bytes("64MiB"), Some(64 << 20));
        assert_eq!(ram_in_bytes("64 mb"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_in_bytes("100kb"), Some(102_400));
        assert_eq!(ram_in_bytes("1.5m"), Some(1_572_864));
        assert_eq!(ram_in_bytes("32b"), Some(32));
        for bad in [
            "", "garbage", "-5", "-1", "1.2.3", "5x", "m", " 5", "5  m", "1e3",
        ] {
            assert_eq!(ram_in_bytes(bad), None, "{bad:?}");
        }
    }

    fn flags(f: impl FnOnce(&mut UpdateArgs)) -> UpdateArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            a: UpdateArgs,
        }
        let mut a = T::parse_from(["t", "id"]).a;
        f(&mut a);
        a
    }

    #[test]
    fn zero_means_unchanged() {
        let a = flags(|a| {
            a.memory = Some("0".into());
            a.pids_limit = Some("0".into());
            a.cpu_quota = Some("0".into());
            a.cpuset_cpus = Some(String::new());
        });
        assert_eq!(
            from_flags(&a).expect("parses").normalised(),
            Request::default()
        );
    }

    #[test]
    fn flags_map_to_resources() {
        let a = flags(|a| {
            a.memory = Some("64m".into());
            a.pids_limit = Some("-1".into());
            a.cpu_quota = Some("50000".into());
            a.cpu_idle = Some("0".into());
        });
        let r = from_flags(&a).expect("parses").normalised();
        let res = r.resources(true, true, true);
        assert_eq!(
            res.memory().as_ref().and_then(|m| m.limit()),
            Some(64 << 20)
        );
        assert_eq!(res.pids().as_ref().map(|p| p.limit()), Some(-1));
        assert_eq!(res.cpu().as_ref().and_then(|c| c.quota()), Some(50_000));
        assert_eq!(res.cpu().as_ref().and_then(|c| c.idle()), Some(0));
        assert!(res.block_io().is_none() && res.devices().is_none());
    }

    #[test]
    fn bad_flag_values_name_the_flag() {
        for (set, want) in [
            (
                (|a: &mut UpdateArgs| a.memory = Some("garbage".into())) as fn(&mut UpdateArgs),
                "invalid value for memory: invalid size: 'garbage'",
            ),
            (
                |a: &mut UpdateArgs| a.memory = Some("-5".into()),
                "invalid value for memory: invalid size: '-5'",
            ),
            (
                |a: &mut UpdateArgs| a.cpu_share = Some("-5".into()),
                "invalid value for cpu-share",
            ),
            (
                |a: &mut UpdateArgs| a.pids_limit = Some("abc".into()),
                "invalid value for pids-limit",
            ),
        ] {
            let e = from_flags(&flags(set)).expect_err(want);
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn json_keeps_what_runc_applies_and_devices() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1048576,"swappiness":10},"devices":[{"allow":false,"access":"rwm"}],
                "pids":{"limit":5},"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
        )
        .expect("json");
        let r = request_of(&res).normalised();
        assert_eq!(r.memory, Some(1_048_576));
        assert_eq!(r.pids, Some(5));
        let out = r.resources(true, true, true);
        assert!(out.hugepage_limits().is_none());
        // Device rules are kept: an update replaces them.
        assert_eq!(out.devices().as_ref().map(Vec::len), Some(1));
        assert_eq!(out.memory().as_ref().and_then(|m| m.swappiness()), None);
    }
}
