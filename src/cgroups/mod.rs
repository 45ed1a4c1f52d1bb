//! Cgroup placement and limits on the three kinds of host: unified (pure v2), hybrid (v1
//! controllers plus a cgroup2 tree, like this project's CI host) and legacy (v1 only).
//!
//! The runtime creates the container's cgroup directories and applies the limits *before*
//! the container init runs any user code: the init is cloned straight into its cgroup2
//! directory (CLONE_INTO_CGROUP; unified hosts and the cgroup2 tree of hybrid ones) and moves
//! itself into each v1 hierarchy ([`join_v1`]) before it waits for the parent's go-ahead.
//! Neither takes the kernel's global cgroup migration lock.

pub mod devices_bpf;
mod v1;
mod v2;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxRdma, LinuxResources};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("invalid cgroupsPath {0:?}: it must not contain '..' components")]
    BadPath(String),
    #[error(
        "systemd cgroup driver requested (--systemd-cgroup) but hako supports only the cgroupfs driver so far; cgroupsPath {0:?}"
    )]
    Systemd(String),
    #[error("no cgroup filesystem is mounted on this host")]
    NoCgroupFs,
    #[error("unable to read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unable to create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unable to write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("unable to remove cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container's cgroup {0} is not empty: it already has processes")]
    NotEmpty(PathBuf),
    #[error("{field} is not supported on {mode} hosts: {why}")]
    Unsupported {
        field: &'static str,
        mode: &'static str,
        why: &'static str,
    },
    #[error("invalid {field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error(transparent)]
    Devices(#[from] devices_bpf::DeviceBpfError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unified,
    Hybrid,
    Legacy,
}

/// One mounted hierarchy: where it is and which controllers it carries.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// v1 controller names (plus `name=…` for named hierarchies); empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The host's cgroup layout, read once from /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct Layout {
    pub mode: Mode,
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    pub fn detect() -> Result<Layout, CgroupError> {
        let path = PathBuf::from("/proc/self/mountinfo");
        let text = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    fn parse(mountinfo: &str) -> Layout {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for line in mountinfo.lines() {
            // fields: id parent maj:min root mountpoint opts [optional…] - fstype source superopts
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut r = right.split(' ');
            let fstype = r.next().unwrap_or("");
            let superopts = r.nth(1).unwrap_or("");
            let mountpoint = left.split(' ').nth(4).unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => continue,
            };
            let controllers: Vec<String> = if v2 {
                Vec::new()
            } else {
                superopts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro" | "xattr" | "clone_children"))
                    .filter(|o| !o.starts_with("release_agent") && !o.starts_with("noprefix"))
                    .map(str::to_string)
                    .collect()
            };
            let mountpoint = PathBuf::from(unescape_mountinfo(mountpoint));
            // Keep the first mount of each hierarchy (a later one may be a bind into a container).
            if hierarchies
                .iter()
                .any(|h| h.v2 == v2 && h.controllers == controllers)
            {
                continue;
            }
            hierarchies.push(Hierarchy {
                mountpoint,
                controllers,
                v2,
            });
        }
        let has_v1 = hierarchies.iter().any(|h| !h.v2);
        let has_v2 = hierarchies.iter().any(|h| h.v2);
        let mode = match (has_v1, has_v2) {
            (false, _) => Mode::Unified,
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::Legacy,
        };
        Layout { mode, hierarchies }
    }
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(Ok(v)) = s.get(i + 1..i + 4).map(|o| u8::from_str_radix(o, 8))
        {
            out.push(v as char);
            i += 4;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// The container's cgroup in every hierarchy, created on demand.
#[derive(Debug)]
pub struct Manager {
    pub layout: Layout,
    /// (hierarchy index, directory)
    pub dirs: Vec<(usize, PathBuf)>,
}

impl Manager {
    /// Works out the directories for `cgroups_path` (absolute: as is; relative or empty: under
    /// the caller's own cgroup, the empty path naming the container id).
    pub fn new(
        cgroups_path: Option<&Path>,
        id: &str,
        systemd: bool,
    ) -> Result<Manager, CgroupError> {
        let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        if systemd {
            return Err(CgroupError::Systemd(raw.unwrap_or_default()));
        }
        let rel = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from(id),
        };
        if rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(CgroupError::BadPath(raw.unwrap_or_default()));
        }
        let layout = Layout::detect()?;
        if layout.hierarchies.is_empty() {
            return Err(CgroupError::NoCgroupFs);
        }
        let own = if rel.is_absolute() {
            None
        } else {
            Some(own_cgroups()?)
        };
        let mut dirs = Vec::new();
        for (i, h) in layout.hierarchies.iter().enumerate() {
            let base = match &own {
                None => PathBuf::from("/"),
                Some(own) => own
                    .iter()
                    .find(|(ctrls, _)| {
                        if h.v2 {
                            ctrls.is_empty()
                        } else {
                            !ctrls.is_empty() && ctrls.iter().all(|c| h.has(c))
                        }
                    })
                    .map(|(_, p)| p.clone())
                    .unwrap_or_else(|| PathBuf::from("/")),
            };
            let inner = base.join(&rel);
            let inner = inner.strip_prefix("/").unwrap_or(&inner);
            dirs.push((i, h.mountpoint.join(inner)));
        }
        Ok(Manager { layout, dirs })
    }

    pub fn mode(&self) -> Mode {
        self.layout.mode
    }

    /// Creates the directories and applies the limits. Refuses a cgroup that already has
    /// processes or is frozen, as runc does.
    pub fn create(&self, res: Option<&LinuxResources>) -> Result<(), CgroupError> {
        for (i, dir) in &self.dirs {
            let h = &self.layout.hierarchies[*i];
            let made = if h.v2 {
                v2::create(&h.mountpoint, dir, self.layout.mode == Mode::Unified)?
            } else {
                v1::create(h, dir)?
            };
            // A directory this call made has no processes yet.
            if !made {
                check_empty(dir)?;
            }
        }
        if let Some(res) = res {
            match self.layout.mode {
                Mode::Unified => {
                    if let Some((_, d)) = self.dirs.first() {
                        v2::apply(d, res)?;
                    }
                }
                _ => v1::apply(self, res)?,
            }
        }
        Ok(())
    }

    /// Moves `pid` into every hierarchy (v1, and the v2 tree on hybrid hosts).
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        for (_, dir) in &self.dirs {
            write(&dir.join("cgroup.procs"), &value)?;
        }
        Ok(())
    }

    pub fn dir_paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// The file whose content says whether the container is frozen.
    pub fn freezer_path(&self) -> Option<PathBuf> {
        self.dirs.iter().find_map(|(i, d)| {
            let h = &self.layout.hierarchies[*i];
            if self.layout.mode == Mode::Unified {
                Some(d.join("cgroup.freeze"))
            } else if h.has("freezer") {
                Some(d.join("freezer.state"))
            } else {
                None
            }
        })
    }
}

/// An existing container's cgroup, for `update` and `events`.
impl Manager {
    /// The directories recorded in the container's state, matched back to the host's
    /// hierarchies (each to the hierarchy with the longest mountpoint prefix). A directory
    /// under no mounted hierarchy is dropped.
    pub fn existing(dirs: &[PathBuf]) -> Result<Manager, CgroupError> {
        let layout = Layout::detect()?;
        let dirs = dirs
            .iter()
            .filter_map(|d| {
                layout
                    .hierarchies
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| d.starts_with(&h.mountpoint))
                    .max_by_key(|(_, h)| h.mountpoint.components().count())
                    .map(|(i, _)| (i, d.clone()))
            })
            .collect();
        Ok(Manager { layout, dirs })
    }

    /// The directory in the v1 hierarchy carrying `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.iter().find_map(|(i, d)| {
            let h = &self.layout.hierarchies[*i];
            (!h.v2 && h.has(controller)).then_some(d.as_path())
        })
    }

    /// The directory in the cgroup2 hierarchy (the only one on unified hosts).
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find_map(|(i, d)| self.layout.hierarchies[*i].v2.then_some(d.as_path()))
    }
}

/// Applies `res` to an existing container cgroup (`hako update`), with the code `create` uses.
pub fn update(m: &Manager, res: &LinuxResources) -> Result<(), CgroupError> {
    match m.layout.mode {
        Mode::Unified => match m.v2_dir() {
            Some(d) => v2::apply(d, res),
            None => Err(CgroupError::NoCgroupFs),
        },
        Mode::Hybrid | Mode::Legacy => v1::apply(m, res),
    }
}

/// The caller's own cgroups from /proc/self/cgroup: (controllers, path) per line.
fn own_cgroups() -> Result<Vec<(Vec<String>, PathBuf)>, CgroupError> {
    let path = PathBuf::from("/proc/self/cgroup");
    let text = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let p = parts.next()?;
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, PathBuf::from(p)))
        })
        .collect())
}

/// mkdir of `dir`, and of its missing parents only when it has some; true when this call
/// made `dir`.
fn create_leaf(dir: &Path) -> Result<bool, CgroupError> {
    match mkdir(dir) {
        Err(CgroupError::Create { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|source| CgroupError::Create {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            mkdir(dir)
        }
        made => made,
    }
}

/// mkdir of one level; false when it already existed.
fn mkdir(d: &Path) -> Result<bool, CgroupError> {
    match std::fs::create_dir(d) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: d.to_path_buf(),
            source,
        }),
    }
}

fn check_empty(dir: &Path) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    let text = std::fs::read_to_string(&procs).map_err(|source| CgroupError::Read {
        path: procs,
        source,
    })?;
    if text.trim().is_empty() {
        Ok(())
    } else {
        Err(CgroupError::NotEmpty(dir.to_path_buf()))
    }
}

pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Opens `tasks` in each of `dirs` that has one (the v1 directories), for a process to move
/// itself in with [`join_v1`]; also returns the directories without one (cgroup2's), where
/// it must be cloned into or have its pid written.
pub fn open_v1_tasks<'a>(
    dirs: impl IntoIterator<Item = &'a Path>,
) -> Result<(Vec<std::os::fd::OwnedFd>, Vec<&'a Path>), CgroupError> {
    let mut tasks = Vec::new();
    let mut v2 = Vec::new();
    for dir in dirs {
        let path = dir.join("tasks");
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => tasks.push(f.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => v2.push(dir),
            Err(source) => {
                return Err(CgroupError::Write {
                    path,
                    value: "0".into(),
                    source,
                });
            }
        }
    }
    Ok((tasks, v2))
}

/// Moves the calling thread, which must be its process's only one, into the v1 cgroups whose
/// `tasks` files are `fds` (opened by the parent, whose credentials the kernel checks).
/// Writing "0" to `tasks` moves just the caller, which the kernel does without taking
/// cgroup_threadgroup_rwsem; a pid written to `cgroup.procs` takes its write side, which
/// waits for a full RCU grace period whenever it was idle (milliseconds, in a VM ~10 ms).
pub fn join_v1(fds: Vec<std::os::fd::OwnedFd>) -> std::io::Result<()> {
    for fd in fds {
        std::fs::File::from(fd).write_all(b"0")?;
    }
    Ok(())
}

pub fn is_frozen(freezer_file: &Path) -> bool {
    std::fs::read_to_string(freezer_file).is_ok_and(|s| {
        let s = s.trim();
        s == "FROZEN" || s == "1"
    })
}

/// Every pid in the container's cgroup and the cgroups below it (made by the container or a
/// nested runtime), from the first hierarchy that lists them: each process is in exactly
/// one cgroup of every hierarchy, so one hierarchy holds them all.
pub fn pids(dirs: &[PathBuf]) -> Vec<i32> {
    for d in dirs {
        let mut out = Vec::new();
        if collect_pids(d, &mut out) {
            return out;
        }
    }
    Vec::new()
}

fn collect_pids(d: &Path, out: &mut Vec<i32>) -> bool {
    let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) else {
        return false;
    };
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
    true
}

/// Removes the container's cgroup directories, with any child cgroups made in them (by a
/// nested runtime or the container itself), deepest first as runc does. A cgroup whose last
/// process is still exiting is briefly busy, so EBUSY is retried.
pub fn destroy(dirs: &[PathBuf]) -> Result<(), CgroupError> {
    for d in dirs {
        let mut tries = 0;
        // Child cgroups (made by the container or a nested runtime) go first; they are
        // looked for only when the directory cannot go as it is, which is rare.
        let mut children_removed = false;
        loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && !children_removed => {
                    children_removed = true;
                    if let Ok(rd) = std::fs::read_dir(d) {
                        let children: Vec<PathBuf> = rd
                            .flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .map(|e| e.path())
                            .collect();
                        destroy(&children)?;
                    }
                }
                // Processes that were just killed leave their cgroup a moment later.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(source) => {
                    return Err(CgroupError::Remove {
                        path: d.clone(),
                        source,
                    });
                }
            }
        }
    }
    Ok(())
}

/// rdma.max (the same file in v1 and v2): `DEVICE hca_handle=N hca_object=M`, leaving out what
/// the config leaves out. The kernel refuses a device it does not have.
pub fn write_rdma(d: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devices {
        write(&d.join("rdma.max"), &rdma_line(dev, l))?;
    }
    Ok(())
}

fn rdma_line(dev: &str, l: &LinuxRdma) -> String {
    let mut line = dev.to_string();
    if let Some(n) = l.hca_handles() {
        line.push_str(&format!(" hca_handle={n}"));
    }
    if let Some(n) = l.hca_objects() {
        line.push_str(&format!(" hca_object={n}"));
    }
    line
}

/// The hugepage sizes of the host as runc names them ("2MB", "1GB"), smallest first.
pub fn hugepage_sizes() -> Vec<String> {
    let mut sizes: Vec<(u64, String)> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let kb: u64 = name
                        .strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()?;
                    Some((kb, size_name(kb.saturating_mul(1024))))
                })
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes.into_iter().map(|(_, n)| n).collect()
}

/// go-units CustomSize("%g%s", bytes, 1024, B/KB/MB/GB/TB/PB).
fn size_name(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v}{}", UNITS[i])
}

/// A hugepageLimits pageSize must be one of the host's sizes (it also becomes part of a file
/// name, so nothing else may pass).
pub fn check_page_size(size: &str) -> Result<(), CgroupError> {
    let sizes = hugepage_sizes();
    if sizes.iter().any(|s| s == size) {
        return Ok(());
    }
    Err(CgroupError::Invalid {
        field: "linux.resources.hugepageLimits[].pageSize",
        why: format!(
            "{size:?} is not a hugepage size of this host (it has: {})",
            if sizes.is_empty() {
                "none".to_string()
            } else {
                sizes.join(", ")
            }
        ),
    })
}

/// runc's default device allow-list (specconv.AllowedDevices): applied after the config's
/// own rules so that a deny-all config still has working /dev/null, /dev/tty, ptys, …
pub fn default_device_rules() -> Vec<(char, i64, i64, &'static str)> {
    vec![
        ('c', -1, -1, "m"),
        ('b', -1, -1, "m"),
        ('c', 1, 3, "rwm"),
        ('c', 1, 8, "rwm"),
        ('c', 1, 7, "rwm"),
        ('c', 5, 0, "rwm"),
        ('c', 1, 5, "rwm"),
        ('c', 1, 9, "rwm"),
        ('c', 136, -1, "rwm"),
        ('c', 5, 2, "rwm"),
        ('c', 10, 200, "rwm"),
    ]
}

/// The device rules a container gets: the config's, in order, then runc's default allow-list.
pub fn device_rules(devs: &[LinuxDeviceCgroup]) -> Result<Vec<devices_bpf::Rule>, CgroupError> {
    let mut rules = Vec::with_capacity(devs.len() + 11);
    for d in devs {
        rules.push(devices_bpf::Rule::new(
            d.allow(),
            d.typ().as_ref().map(|t| t.as_str()),
            d.major(),
            d.minor(),
            d.access().as_deref(),
        )?);
    }
    for (t, maj, min, acc) in default_device_rules() {
        let t = t.to_string();
        rules.push(devices_bpf::Rule::new(
            true,
            Some(&t),
            Some(maj),
            Some(min),
            Some(acc),
        )?);
    }
    Ok(rules)
}

/// A device rule in the cgroup v1 text form: `c 1:3 rwm`, `a *:* rwm`.
pub fn device_rule_text(d: &LinuxDeviceCgroup) -> Result<String, CgroupError> {
    let typ = match d.typ().as_ref().map(|t| t.as_str()) {
        None | Some("a") => 'a',
        Some("c") => 'c',
        Some("b") => 'b',
        Some(other) => {
            return Err(CgroupError::Invalid {
                field: "linux.resources.devices[].type",
                why: format!("{other:?} is not one of a, b, c"),
            });
        }
    };
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::Invalid {
            field: "linux.resources.devices[].access",
            why: format!("{access:?} is not a combination of r, w, m"),
        });
    }
    Ok(format!(
        "{typ} {}:{} {access}",
        num(d.major()),
        num(d.minor())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid_layout() {
        let l = Layout::parse(HYBRID);
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.hierarchies.len(), 4);
        assert!(l.hierarchies[1].has("memory"));
        assert!(l.hierarchies[2].has("name=systemd"));
        assert!(l.hierarchies[3].v2);
    }

    #[test]
    fn detects_unified_layout() {
        let l = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(l.mode, Mode::Unified);
    }

    #[test]
    fn rdma_lines_leave_out_unset_limits() {
        let l: LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 3}"#).unwrap();
        assert_eq!(rdma_line("mlx5_0", &l), "mlx5_0 hca_handle=3");
        let l: LinuxRdma = serde_json::from_str(r#"{"hcaHandles": 3, "hcaObjects": 100}"#).unwrap();
        assert_eq!(
            rdma_line("mlx5_0", &l),
            "mlx5_0 hca_handle=3 hca_object=100"
        );
    }

    #[test]
    fn hugepage_size_names_follow_go_units() {
        assert_eq!(size_name(2 << 20), "2MB");
        assert_eq!(size_name(1 << 30), "1GB");
        assert_eq!(size_name(64 << 10), "64KB");
        assert!(check_page_size("3MB/../x").is_err());
    }

    #[test]
    fn rejects_dotdot_paths() {
        assert!(matches!(
            Manager::new(Some(Path::new("/a/../../etc")), "x", false),
            Err(CgroupError::BadPath(_))
        ));
    }
}
