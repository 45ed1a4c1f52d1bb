//! `hako events [--interval 5s] [--stats] ID`: container statistics read from its cgroup, in
//! the shape of runc's `types/events.go` (what containerd's go-runc decodes), one JSON event a
//! line: `{"type":"stats","id":ID,"data":{cpu,cpuset,memory,pids,blkio,hugetlb,intel_rdt,
//! network_interfaces}}`.
//!
//! * `--stats`: one stats event, then exit.
//! * otherwise: a stats event every interval, and an `{"type":"oom","id":ID}` event whenever
//!   the kernel reports an OOM in the container's memory cgroup, until the container's init
//!   exits (runc keeps going until the cgroup is removed). OOMs come from an eventfd on v1
//!   (`cgroup.event_control` + `memory.oom_control`) and from the `oom_kill` counter of
//!   `memory.events`, watched with inotify, on v2.
//!
//! Field names and omitted-when-zero rules follow runc 1.1's encoding. v1 values come from
//! cpuacct/cpu/cpuset/memory/pids/blkio/hugetlb files; on a unified (v2) host from cpu.stat,
//! memory.*, pids.*, io.stat and hugetlb.* with runc's conversions (usec → ns, swap reported
//! as memory+swap like v1). Missing files (an unmounted controller, no swap accounting) give
//! zeros, never an error.

use crate::cgroups::{self, CgroupError, Manager, Mode};
use crate::state::{ContainerDir, StateError, Status};
use crate::sys;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// the container id
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("invalid value {0:?} for flag --interval: time: invalid duration {0:?}")]
    BadInterval(String),
    #[error("duration interval must be greater than 0")]
    IntervalNotPositive,
    #[error("container with id {0} is not running")]
    NotRunning(String),
    #[error("unable to write events: {0}")]
    Write(std::io::Error),
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: std::io::Error,
    },
}

pub fn run(root: &Path, a: &EventsArgs) -> Result<i32, EventsError> {
    let interval =
        parse_duration(&a.interval).ok_or_else(|| EventsError::BadInterval(a.interval.clone()))?;
    let dir = ContainerDir::open(root, &a.id)?;
    let st = dir.load()?;
    let Some(interval) = interval else {
        return Err(EventsError::IntervalNotPositive);
    };
    if st.status(&dir) == Status::Stopped {
        return Err(EventsError::NotRunning(st.id.clone()));
    }
    let m = Manager::existing(&st.cgroup_dirs)?;
    if a.stats {
        emit(&stats_event(&st.id, &m))?;
        return Ok(0);
    }
    stream(&st, &m, interval)
}

fn emit(v: &Value) -> Result<(), EventsError> {
    let mut out = std::io::stdout().lock();
    let mut line = serde_json::to_vec(v).map_err(|e| EventsError::Write(e.into()))?;
    line.push(b'\n');
    out.write_all(&line)
        .and_then(|()| out.flush())
        .map_err(EventsError::Write)
}

fn stats_event(id: &str, m: &Manager) -> Value {
    json!({ "type": "stats", "id": id, "data": stats(m) })
}

/// Go's time.ParseDuration ("5s", "1m30s", "1.5h", "300ms", "10us"): `Some(None)` for a
/// duration that is zero or negative, `None` when it does not parse.
pub fn parse_duration(s: &str) -> Option<Option<Duration>> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(None);
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += value * scale;
        rest = tail;
    }
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return None;
    }
    if neg || nanos < 1.0 {
        return Some(None);
    }
    Some(Some(Duration::from_nanos(nanos as u64)))
}

// ---------------------------------------------------------------------------------------
// Streaming: stats every interval, OOM notifications, until the init exits.

/// How OOMs are noticed: an fd that becomes readable, and how to tell a real OOM from noise.
enum OomWatch {
    /// v1: eventfd registered on memory.oom_control (the second fd must stay open).
    V1 {
        efd: OwnedFd,
        _control: std::fs::File,
        dir: PathBuf,
    },
    /// v2: inotify on memory.events, with the last oom_kill count seen.
    V2 {
        ifd: OwnedFd,
        events: PathBuf,
        seen: u64,
    },
}

impl OomWatch {
    fn new(m: &Manager) -> Option<OomWatch> {
        if m.layout.mode == Mode::Unified {
            let events = m.v2_dir()?.join("memory.events");
            let seen = oom_kills(&events);
            let ifd = inotify_on(&events).ok()?;
            return Some(OomWatch::V2 { ifd, events, seen });
        }
        let dir = m.v1_dir("memory")?.to_path_buf();
        let control = std::fs::File::open(dir.join("memory.oom_control")).ok()?;
        // SAFETY: eventfd with constant flags; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a new fd nothing else owns.
        let efd = unsafe { OwnedFd::from_raw_fd(raw) };
        let reg = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        std::fs::write(dir.join("cgroup.event_control"), reg).ok()?;
        Some(OomWatch::V1 {
            efd,
            _control: control,
            dir,
        })
    }

    fn fd(&self) -> libc::c_int {
        match self {
            OomWatch::V1 { efd, .. } => efd.as_raw_fd(),
            OomWatch::V2 { ifd, .. } => ifd.as_raw_fd(),
        }
    }

    /// Drains the fd; whether an OOM happened since the last check (one event however many
    /// the kernel counted, as runc reports them), or None once the cgroup is gone.
    fn check(&mut self) -> Option<bool> {
        match self {
            OomWatch::V1 { efd, dir, .. } => {
                let mut buf = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a live 8-byte buffer; non-blocking fd.
                let n = unsafe { libc::read(efd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n != 8 {
                    return Some(false);
                }
                // The eventfd is also signalled when the cgroup is removed.
                if !dir.exists() {
                    return None;
                }
                Some(u64::from_ne_bytes(buf) > 0)
            }
            OomWatch::V2 { ifd, events, seen } => {
                let mut buf = [0u8; 4096];
                // SAFETY: reads into a live buffer of the given length; non-blocking fd.
                while unsafe { libc::read(ifd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
                {
                }
                if !events.exists() {
                    return None;
                }
                let now = oom_kills(events);
                let new = now > *seen;
                *seen = now.max(*seen);
                Some(new)
            }
        }
    }
}

fn oom_kills(events: &Path) -> u64 {
    keyed(&std::fs::read_to_string(events).unwrap_or_default())
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
}

fn inotify_on(path: &Path) -> std::io::Result<OwnedFd> {
    // SAFETY: inotify_init1 with constant flags; checked below.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new fd nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let c = sys::cstr(path)?;
    // SAFETY: a valid inotify fd and a NUL-terminated path that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn stream(st: &crate::state::State, m: &Manager, interval: Duration) -> Result<i32, EventsError> {
    let pidfd = sys::pidfd_open(st.pid).map_err(|source| EventsError::Sys {
        what: "unable to watch the container's init",
        source,
    })?;
    if !sys::process_alive(st.pid, st.pid_start) {
        return Err(EventsError::NotRunning(st.id.clone()));
    }
    let mut oom = OomWatch::new(m);
    if oom.is_none() {
        crate::logging::debug(|| "events: no OOM notification available for this cgroup".into());
    }
    let oom_event = json!({ "type": "oom", "id": st.id });
    let mut next = Instant::now() + interval;
    loop {
        let mut fds = vec![libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(w) = &oom {
            fds.push(libc::pollfd {
                fd: w.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wait = next.saturating_duration_since(Instant::now());
        let timeout = i32::try_from(wait.as_millis().saturating_add(1)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a live array of initialised pollfds of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(EventsError::Sys {
                what: "poll",
                source: e,
            });
        }
        let exited = fds[0].revents != 0;
        if fds.get(1).is_some_and(|p| p.revents != 0) || exited {
            match oom.as_mut().map(OomWatch::check) {
                Some(None) => oom = None,
                Some(Some(true)) => emit(&oom_event)?,
                Some(Some(false)) | None => {}
            }
        }
        if exited {
            return Ok(0);
        }
        if Instant::now() >= next {
            emit(&stats_event(&st.id, m))?;
            next += interval;
            // After a long stall, do not fire a burst of catch-up events.
            if next < Instant::now() {
                next = Instant::now() + interval;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stats.

fn read(d: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(d.join(name)).ok()
}

/// A number file; "max" and anything unparsable read as 0 (runc's "no limit" in stats).
fn num(d: &Path, name: &str) -> u64 {
    read(d, name)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A limit file: "max" is u64::MAX (runc reports an unlimited v2 limit that way).
fn limit(d: &Path, name: &str) -> u64 {
    match read(d, name).as_deref().map(str::trim) {
        Some("max") => u64::MAX,
        Some(s) => s.parse().unwrap_or(0),
        None => 0,
    }
}

/// "key value" lines (memory.stat, cpu.stat, memory.events…).
fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn keyed_file(d: &Path, name: &str) -> BTreeMap<String, u64> {
    keyed(&read(d, name).unwrap_or_default())
}

/// Inserts `v` unless it is zero (Go's omitempty).
fn put_nz(o: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        o.insert(k.into(), v.into());
    }
}

fn put_list(o: &mut Map<String, Value>, k: &str, v: Vec<u64>) {
    if !v.is_empty() {
        o.insert(k.into(), v.into());
    }
}

/// runc's MemoryEntry: limit and failcnt always, usage and max when non-zero.
fn mem_entry(limit: u64, usage: u64, max: u64, failcnt: u64) -> Value {
    let mut o = Map::new();
    o.insert("limit".into(), limit.into());
    put_nz(&mut o, "usage", usage);
    put_nz(&mut o, "max", max);
    o.insert("failcnt".into(), failcnt.into());
    Value::Object(o)
}

/// A cpuset list ("0-3,8") as numbers.
fn cpu_list(s: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    out.extend(a..=b.min(a.saturating_add(65_536)));
                }
            }
            None => out.extend(part.parse::<u64>().ok()),
        }
    }
    out
}

pub fn stats(m: &Manager) -> Value {
    let unified = m.layout.mode == Mode::Unified;
    let (cpu, cpuset, memory, pids, blkio) = match (unified, m.v2_dir()) {
        (true, Some(d)) => (
            cpu_v2(d),
            cpuset_v2(d),
            memory_v2(d),
            pids_of(Some(d)),
            blkio_v2(d),
        ),
        _ => (
            cpu_v1(m.v1_dir("cpuacct"), m.v1_dir("cpu")),
            cpuset_v1(m.v1_dir("cpuset")),
            memory_v1(m.v1_dir("memory")),
            pids_of(m.v1_dir("pids")),
            blkio_v1(m.v1_dir("blkio")),
        ),
    };
    json!({
        "cpu": cpu,
        "cpuset": cpuset,
        "memory": memory,
        "pids": pids,
        "blkio": blkio,
        "hugetlb": hugetlb(m),
        "intel_rdt": {},
        "network_interfaces": null
    })
}

fn cpu_v1(acct: Option<&Path>, cpu: Option<&Path>) -> Value {
    let mut usage = Map::new();
    let (mut kernel, mut user) = (0, 0);
    if let Some(d) = acct {
        put_nz(&mut usage, "total", num(d, "cpuacct.usage"));
        let percpu = read(d, "cpuacct.usage_percpu")
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        put_list(&mut usage, "percpu", percpu);
        // "cpu user system" header, then one line per cpu, in nanoseconds.
        let (mut pk, mut pu) = (Vec::new(), Vec::new());
        for l in read(d, "cpuacct.usage_all")
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if let [_, u, s] = f[..] {
                pu.push(u);
                pk.push(s);
            }
        }
        put_list(&mut usage, "percpu_kernel", pk);
        put_list(&mut usage, "percpu_user", pu);
        // cpuacct.stat is in clock ticks.
        // SAFETY: sysconf with a constant name.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ns_per_tick = 1_000_000_000 / u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100);
        let stat = keyed_file(d, "cpuacct.stat");
        kernel = stat.get("system").copied().unwrap_or(0) * ns_per_tick;
        user = stat.get("user").copied().unwrap_or(0) * ns_per_tick;
    }
    usage.insert("kernel".into(), kernel.into());
    usage.insert("user".into(), user.into());
    let mut thr = Map::new();
    if let Some(d) = cpu {
        let s = keyed_file(d, "cpu.stat");
        put_nz(
            &mut thr,
            "periods",
            s.get("nr_periods").copied().unwrap_or(0),
        );
        put_nz(
            &mut thr,
            "throttledPeriods",
            s.get("nr_throttled").copied().unwrap_or(0),
        );
        put_nz(
            &mut thr,
            "throttledTime",
            s.get("throttled_time").copied().unwrap_or(0),
        );
    }
    json!({ "usage": usage, "throttling": thr })
}

fn cpu_v2(d: &Path) -> Value {
    let s = keyed_file(d, "cpu.stat");
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    let mut usage = Map::new();
    put_nz(&mut usage, "total", g("usage_usec").saturating_mul(1000));
    usage.insert(
        "kernel".into(),
        g("system_usec").saturating_mul(1000).into(),
    );
    usage.insert("user".into(), g("user_usec").saturating_mul(1000).into());
    let mut thr = Map::new();
    put_nz(&mut thr, "periods", g("nr_periods"));
    put_nz(&mut thr, "throttledPeriods", g("nr_throttled"));
    put_nz(
        &mut thr,
        "throttledTime",
        g("throttled_usec").saturating_mul(1000),
    );
    json!({ "usage": usage, "throttling": thr })
}

fn cpuset_obj(cpus: Vec<u64>, mems: Vec<u64>, d: Option<&Path>, prefix: &str) -> Value {
    let n = |name: &str| d.map_or(0, |d| num(d, &format!("{prefix}{name}")));
    let relax: i64 = d
        .and_then(|d| read(d, &format!("{prefix}sched_relax_domain_level")))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let mut o = Map::new();
    put_list(&mut o, "cpus", cpus);
    o.insert("cpu_exclusive".into(), n("cpu_exclusive").into());
    put_list(&mut o, "mems", mems);
    o.insert("mem_hardwall".into(), n("mem_hardwall").into());
    o.insert("mem_exclusive".into(), n("mem_exclusive").into());
    o.insert("memory_migrate".into(), n("memory_migrate").into());
    o.insert("memory_spread_page".into(), n("memory_spread_page").into());
    o.insert("memory_spread_slab".into(), n("memory_spread_slab").into());
    o.insert("memory_pressure".into(), n("memory_pressure").into());
    o.insert("sched_load_balance".into(), n("sched_load_balance").into());
    o.insert("sched_relax_domain_level".into(), relax.into());
    Value::Object(o)
}

fn cpuset_v1(d: Option<&Path>) -> Value {
    let list = |f: &str| {
        d.and_then(|d| read(d, f))
            .map(|s| cpu_list(&s))
            .unwrap_or_default()
    };
    cpuset_obj(list("cpuset.cpus"), list("cpuset.mems"), d, "cpuset.")
}

fn cpuset_v2(d: &Path) -> Value {
    let list = |f: &str| read(d, f).map(|s| cpu_list(&s)).unwrap_or_default();
    // v2 has only the effective lists; the v1 flags have no counterpart and read as 0.
    cpuset_obj(
        list("cpuset.cpus.effective"),
        list("cpuset.mems.effective"),
        None,
        "",
    )
}

fn memory_v1(d: Option<&Path>) -> Value {
    let Some(d) = d else {
        return json!({
            "usage": mem_entry(0, 0, 0, 0), "swap": mem_entry(0, 0, 0, 0),
            "kernel": mem_entry(0, 0, 0, 0), "kernelTCP": mem_entry(0, 0, 0, 0)
        });
    };
    let entry = |p: &str| {
        mem_entry(
            num(d, &format!("{p}limit_in_bytes")),
            num(d, &format!("{p}usage_in_bytes")),
            num(d, &format!("{p}max_usage_in_bytes")),
            num(d, &format!("{p}failcnt")),
        )
    };
    let raw = keyed_file(d, "memory.stat");
    let mut o = Map::new();
    put_nz(&mut o, "cache", raw.get("cache").copied().unwrap_or(0));
    o.insert("usage".into(), entry("memory."));
    o.insert("swap".into(), entry("memory.memsw."));
    o.insert("kernel".into(), entry("memory.kmem."));
    o.insert("kernelTCP".into(), entry("memory.kmem.tcp."));
    if !raw.is_empty() {
        o.insert("raw".into(), json!(raw));
    }
    Value::Object(o)
}

fn memory_v2(d: &Path) -> Value {
    let raw = keyed_file(d, "memory.stat");
    let events = keyed_file(d, "memory.events");
    let swap_events = keyed_file(d, "memory.swap.events");
    let usage = num(d, "memory.current");
    let mem_limit = limit(d, "memory.max");
    let mut swap_limit = limit(d, "memory.swap.max");
    // v1 reports swap as memory+swap: so does runc on v2.
    if swap_limit != u64::MAX {
        swap_limit = swap_limit.saturating_add(mem_limit);
    }
    let mut o = Map::new();
    put_nz(&mut o, "cache", raw.get("file").copied().unwrap_or(0));
    o.insert(
        "usage".into(),
        mem_entry(
            mem_limit,
            usage,
            num(d, "memory.peak"),
            events.get("max").copied().unwrap_or(0),
        ),
    );
    o.insert(
        "swap".into(),
        mem_entry(
            swap_limit,
            num(d, "memory.swap.current").saturating_add(usage),
            num(d, "memory.swap.peak"),
            swap_events.get("max").copied().unwrap_or(0),
        ),
    );
    o.insert("kernel".into(), mem_entry(0, 0, 0, 0));
    o.insert("kernelTCP".into(), mem_entry(0, 0, 0, 0));
    if !raw.is_empty() {
        o.insert("raw".into(), json!(raw));
    }
    Value::Object(o)
}

fn pids_of(d: Option<&Path>) -> Value {
    let mut o = Map::new();
    if let Some(d) = d {
        put_nz(&mut o, "current", num(d, "pids.current"));
        put_nz(&mut o, "limit", num(d, "pids.max"));
    }
    Value::Object(o)
}

/// One blkio line: `MAJ:MIN [Op] VALUE`; the summary `Total N` line is skipped.
fn blkio_entries(text: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (dev, op, value) = match f[..] {
            [] => continue,
            ["Total", _] => continue,
            [dev, value] => (dev, "", value),
            [dev, op, value] => (dev, op, value),
            _ => return None,
        };
        let (maj, min) = dev.split_once(':')?;
        let (maj, min, value): (u64, u64, u64) =
            (maj.parse().ok()?, min.parse().ok()?, value.parse().ok()?);
        let mut o = Map::new();
        put_nz(&mut o, "major", maj);
        put_nz(&mut o, "minor", min);
        if !op.is_empty() {
            o.insert("op".into(), op.into());
        }
        put_nz(&mut o, "value", value);
        out.push(Value::Object(o));
    }
    Some(out)
}

/// runc's order: BFQ debug, BFQ, CFQ, throttle recursive, throttle; the first group whose
/// first file has entries wins.
fn blkio_v1(d: Option<&Path>) -> Value {
    let mut o = Map::new();
    let Some(d) = d else {
        return Value::Object(o);
    };
    const GROUPS: &[&[(&str, &str)]] = &[
        &[
            ("blkio.bfq.sectors_recursive", "sectorsRecursive"),
            (
                "blkio.bfq.io_service_time_recursive",
                "ioServiceTimeRecursive",
            ),
            ("blkio.bfq.io_wait_time_recursive", "ioWaitTimeRecursive"),
            ("blkio.bfq.io_merged_recursive", "ioMergedRecursive"),
            ("blkio.bfq.io_queued_recursive", "ioQueueRecursive"),
            ("blkio.bfq.time_recursive", "ioTimeRecursive"),
            ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
            (
                "blkio.bfq.io_service_bytes_recursive",
                "ioServiceBytesRecursive",
            ),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
            (
                "blkio.bfq.io_service_bytes_recursive",
                "ioServiceBytesRecursive",
            ),
        ],
        &[
            ("blkio.sectors_recursive", "sectorsRecursive"),
            ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
            ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"),
            ("blkio.io_merged_recursive", "ioMergedRecursive"),
            ("blkio.io_queued_recursive", "ioQueueRecursive"),
            ("blkio.time_recursive", "ioTimeRecursive"),
            ("blkio.io_serviced_recursive", "ioServicedRecursive"),
            (
                "blkio.io_service_bytes_recursive",
                "ioServiceBytesRecursive",
            ),
        ],
        &[
            (
                "blkio.throttle.io_serviced_recursive",
                "ioServicedRecursive",
            ),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "ioServiceBytesRecursive",
            ),
        ],
        &[
            ("blkio.throttle.io_serviced", "ioServicedRecursive"),
            ("blkio.throttle.io_service_bytes", "ioServiceBytesRecursive"),
        ],
    ];
    'groups: for group in GROUPS {
        let mut found = Map::new();
        for (i, (file, key)) in group.iter().enumerate() {
            let entries = read(d, file)
                .and_then(|t| blkio_entries(&t))
                .unwrap_or_default();
            if entries.is_empty() {
                if i == 0 {
                    continue 'groups;
                }
                continue;
            }
            found.insert((*key).into(), entries.into());
        }
        o = found;
        break;
    }
    Value::Object(o)
}

/// io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…`.
fn blkio_v2(d: &Path) -> Value {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in read(d, "io.stat").unwrap_or_default().lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            let (table, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "dbytes" => (&mut bytes, "Discard"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                "dios" => (&mut ios, "Discard"),
                _ => continue,
            };
            let mut o = Map::new();
            put_nz(&mut o, "major", maj);
            put_nz(&mut o, "minor", min);
            o.insert("op".into(), op.into());
            put_nz(&mut o, "value", v);
            table.push(Value::Object(o));
        }
    }
    let mut o = Map::new();
    if !bytes.is_empty() {
        o.insert("ioServiceBytesRecursive".into(), bytes.into());
    }
    if !ios.is_empty() {
        o.insert("ioServicedRecursive".into(), ios.into());
    }
    Value::Object(o)
}

/// Per page size: v1 hugetlb controller files, else the v2 files when the container's v2
/// cgroup has the hugetlb controller (unified hosts; hybrid ones rarely delegate it).
fn hugetlb(m: &Manager) -> Value {
    let mut o = Map::new();
    let v1 = m.v1_dir("hugetlb");
    let v2 = m.v2_dir();
    for size in cgroups::hugepage_sizes() {
        let mut e = Map::new();
        if let Some(d) = v1 {
            let p = format!("hugetlb.{size}.");
            if !d.join(format!("{p}usage_in_bytes")).exists() {
                continue;
            }
            put_nz(&mut e, "usage", num(d, &format!("{p}usage_in_bytes")));
            put_nz(&mut e, "max", num(d, &format!("{p}max_usage_in_bytes")));
            e.insert("failcnt".into(), num(d, &format!("{p}failcnt")).into());
        } else if let Some(d) = v2 {
            let p = format!("hugetlb.{size}.");
            if !d.join(format!("{p}current")).exists() {
                continue;
            }
            put_nz(&mut e, "usage", num(d, &format!("{p}current")));
            let ev = keyed_file(d, &format!("{p}events"));
            e.insert("failcnt".into(), ev.get("max").copied().unwrap_or(0).into());
        } else {
            continue;
        }
        o.insert(size, Value::Object(e));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let d = |s| parse_duration(s).flatten();
        assert_eq!(d("5s"), Some(Duration::from_secs(5)));
        assert_eq!(d("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Some(None));
        assert_eq!(parse_duration("-5s"), Some(None));
        for bad in ["", "5", "abc", "5x", "s", "1..5s", "-"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn blkio_lines_parse_like_runc() {
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\n8:16 12\nTotal 4096\n").expect("parses");
        assert_eq!(
            Value::from(e),
            json!([
                {"major": 8, "op": "Read", "value": 4096},
                {"major": 8, "op": "Write"},
                {"major": 8, "minor": 16, "value": 12}
            ])
        );
        assert_eq!(blkio_entries("Total 0\n").map(|v| v.len()), Some(0));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list(""), Vec::<u64>::new());
    }

    #[test]
    fn memory_entry_omits_like_go() {
        assert_eq!(mem_entry(5, 0, 0, 0), json!({"limit": 5, "failcnt": 0}));
        assert_eq!(
            mem_entry(5, 1, 2, 3),
            json!({"limit": 5, "usage": 1, "max": 2, "failcnt": 3})
        );
    }
}
