//! Loading a bundle's config.json and rejecting, before anything is created, what cannot work.
//!
//! Unknown JSON properties are ignored, as the runtime-spec requires ("MUST ignore unknown
//! properties"); every *known* field hako does not implement yet is an error naming the field,
//! never a silent no-op.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;
use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unable to read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config.json {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid config.json {path}: expected a JSON object (struct Spec), found an array")]
    NotObject { path: PathBuf },
    #[error("{field}: {why}")]
    Invalid { field: String, why: String },
    #[error("{field} is not supported: {why}")]
    Unsupported { field: &'static str, why: String },
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// A loaded bundle: absolute paths resolved, spec validated.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Reads `dir/config.json`; `dir` empty means the current directory, as in runc.
pub fn load(dir: &Path) -> Result<Bundle, ConfigError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = std::fs::canonicalize(dir).map_err(|source| ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    // serde would also build a struct from a JSON array: insist on an object.
    if data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ConfigError::NotObject { path });
    }
    let raw: serde_json::Value =
        serde_json::from_slice(&data).map_err(|source| ConfigError::Parse {
            path: path.clone(),
            source,
        })?;
    let spec = Spec::deserialize(&raw).map_err(|source| ConfigError::Parse { path, source })?;
    warn_unknown(&raw, &spec);
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing: a Linux container needs root.path"))?;
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
        invalid(
            "root.path",
            format!("rootfs {} cannot be used: {e}", rootfs.display()),
        )
    })?;
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("rootfs {} is not a directory", rootfs.display()),
        ));
    }
    validate(&spec)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// The runtime-spec says a runtime MUST ignore properties it does not know (config.md,
/// "Extensibility"); a typo then silently drops a setting, so name each one in a warning.
/// Known properties are those that survive a round trip through oci-spec's types.
fn warn_unknown(raw: &serde_json::Value, spec: &Spec) {
    let Ok(known) = serde_json::to_value(spec) else {
        return;
    };
    let mut unknown = Vec::new();
    unknown_properties(raw, &known, &mut String::new(), &mut unknown);
    for p in unknown {
        crate::logging::warn(&format!(
            "config.json: ignoring unknown property {p} (the runtime-spec says to ignore what a runtime does not know)"
        ));
    }
}

fn unknown_properties(
    raw: &serde_json::Value,
    known: &serde_json::Value,
    path: &mut String,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, v) in r {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match k.get(key) {
                    Some(kv) => unknown_properties(v, kv, path, out),
                    // A property oci-spec dropped because it was empty or null is known.
                    None if !is_empty(v) && !is_map_field(path) => out.push(path.clone()),
                    None => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                unknown_properties(rv, kv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        serde_json::Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Objects whose keys are data, not property names (annotations, sysctls, …): oci-spec
/// keeps them whole, so a key missing after the round trip cannot happen; kept as a guard.
fn is_map_field(path: &str) -> bool {
    const MAPS: [&str; 4] = [
        "annotations",
        "linux.sysctl",
        "linux.resources.unified",
        "linux.resources.rdma",
    ];
    MAPS.iter()
        .any(|m| path.strip_prefix(m).is_some_and(|r| r.starts_with('.')))
}

/// Namespaces by type, each at most once.
pub fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    (
                        n.typ(),
                        n.path().clone().filter(|p| !p.as_os_str().is_empty()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_new_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|(ty, p)| *ty == t && p.is_none())
}

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|(ty, _)| *ty == t)
}

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// Opens a namespace file named by the config. It is first opened O_PATH and checked to be
/// on nsfs, so that a path naming a FIFO, a device (a watchdog!) or a regular file is
/// refused without being opened for real; then reopened through that fd.
pub fn open_namespace(p: &Path) -> std::io::Result<OwnedFd> {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let path_fd = crate::sys::open(p, libc::O_PATH, 0)?;
    if crate::sys::fstatfs(path_fd.as_fd())?.f_type as i64 != NSFS_MAGIC {
        return Err(std::io::Error::other("not a namespace file"));
    }
    crate::sys::open(&crate::sys::fd_path(path_fd.as_fd()), libc::O_RDONLY, 0)
}

pub fn validate(spec: &Spec) -> Result<(), ConfigError> {
    let v = spec.version();
    if !(v.starts_with("1.") || v == "1") {
        return Err(invalid(
            "ociVersion",
            format!("{v:?} is not a supported runtime-spec version (1.x)"),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing: there is nothing to run"))?;
    validate_process(process)?;

    let Some(linux) = spec.linux() else {
        return Err(invalid("linux", "missing: hako runs Linux containers"));
    };
    let mut seen = HashSet::new();
    for (t, path) in namespaces(spec) {
        if !seen.insert(t) {
            return Err(invalid(
                "linux.namespaces",
                format!("namespace type {} given twice", ns_name(t)),
            ));
        }
        if let Some(p) = path {
            let f = open_namespace(&p).map_err(|e| {
                invalid(
                    "linux.namespaces",
                    format!("{} namespace path {}: {e}", ns_name(t), p.display()),
                )
            })?;
            if crate::sys::ns_type(f.as_fd()).ok() != Some(clone_flag(t)) {
                return Err(invalid(
                    "linux.namespaces",
                    format!("{} is not a {} namespace", p.display(), ns_name(t)),
                ));
            }
        }
    }
    if !has_ns(spec, LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces",
            "a mount namespace is required: hako sets up the root filesystem in one",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_new_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_new_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "domainname",
            "unable to set domainname without a private UTS namespace",
        ));
    }
    let user_new = has_new_ns(spec, LinuxNamespaceType::User);
    let maps = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_ref().is_some_and(|m| !m.is_empty())
    };
    if user_new {
        if !maps(linux.uid_mappings()) || !maps(linux.gid_mappings()) {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs uidMappings and gidMappings",
            ));
        }
        for (name, m) in [
            ("linux.uidMappings", linux.uid_mappings()),
            ("linux.gidMappings", linux.gid_mappings()),
        ] {
            check_mappings(name, m.as_deref().unwrap_or(&[]))?;
        }
    } else if maps(linux.uid_mappings()) || maps(linux.gid_mappings()) {
        return Err(invalid(
            "linux.uidMappings",
            "user namespace mappings given without a new user namespace",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !offsets.is_empty() && !has_new_ns(spec, LinuxNamespaceType::Time) {
            return Err(invalid(
                "linux.timeOffsets",
                "time offsets need a new time namespace",
            ));
        }
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(invalid(
                    "linux.timeOffsets",
                    format!("{k:?} is not a clock (monotonic, boottime)"),
                ));
            }
        }
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            check_sysctl(spec, key)?;
        }
    }
    for (field, present) in [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|n| !n.is_empty()),
        ),
    ] {
        if present {
            return Err(ConfigError::Unsupported {
                field,
                why: "not implemented yet".to_string(),
            });
        }
    }
    let tuning_err = |e: crate::process::tuning::TuningError| ConfigError::Invalid {
        field: "linux".into(),
        why: e.to_string(),
    };
    if let Some(p) = linux.personality() {
        crate::process::tuning::check_personality(p).map_err(tuning_err)?;
    }
    if let Some(m) = linux.memory_policy() {
        crate::process::tuning::check_mempolicy(m).map_err(tuning_err)?;
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ConfigError::Unsupported {
            field: "linux.mountLabel",
            why: "SELinux is not enabled on this host".to_string(),
        });
    }
    if let Some(p) = linux.rootfs_propagation()
        && crate::rootfs::propagation_flag(p).is_none()
    {
        return Err(invalid(
            "linux.rootfsPropagation",
            format!("{p:?} is not one of shared, slave, private, unbindable (r-prefixed too)"),
        ));
    }
    for d in linux.devices().as_deref().unwrap_or(&[]) {
        if !d.path().is_absolute()
            || !d.path().starts_with("/dev")
            || d.path()
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(invalid(
                "linux.devices",
                format!("{} is not a path under /dev", d.path().display()),
            ));
        }
        if d.major() < 0 || d.minor() < 0 {
            return Err(invalid(
                "linux.devices",
                format!("{}: negative major/minor", d.path().display()),
            ));
        }
        if d.typ().as_str() == "a" {
            return Err(invalid(
                "linux.devices",
                format!("{}: type must be one of c, b, u, p", d.path().display()),
            ));
        }
    }
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        crate::rootfs::validate_mount(m).map_err(|why| {
            invalid(
                "mounts",
                format!("destination {}: {why}", m.destination().display()),
            )
        })?;
    }
    if let Some(hooks) = spec.hooks() {
        let all = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        for h in all.into_iter().flatten().flatten() {
            if !h.path().is_absolute() {
                return Err(invalid(
                    "hooks",
                    format!("hook path {} is not absolute", h.path().display()),
                ));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(
                    "hooks",
                    format!("hook {} has a timeout of zero or less", h.path().display()),
                ));
            }
        }
    }
    Ok(())
}

/// Checks on a process, shared by create (config.json) and exec (--process or flags).
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), ConfigError> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must not be empty"));
    }
    if process.command_line().is_some() {
        return Err(invalid("process.commandLine", "is for Windows only"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for r in rl {
            if r.soft() > r.hard() {
                return Err(invalid(
                    "process.rlimits",
                    format!(
                        "{}: soft limit {} above hard {}",
                        serde_json::to_value(r.typ())
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        r.soft(),
                        r.hard()
                    ),
                ));
            }
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(invalid(
                    "process.rlimits",
                    format!("{:?} given twice", r.typ()),
                ));
            }
        }
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        crate::apparmor::check(p).map_err(|e| invalid("process.apparmorProfile", e.to_string()))?;
    }
    if let Some(l) = process.selinux_label().as_ref().filter(|p| !p.is_empty()) {
        return Err(ConfigError::Unsupported {
            field: "process.selinuxLabel",
            why: format!("SELinux label {l:?} requested but SELinux is not enabled on this host"),
        });
    }
    use crate::process::tuning;
    let tuning_err = |e: tuning::TuningError| ConfigError::Invalid {
        field: "process".into(),
        why: e.to_string(),
    };
    if let Some(s) = process.scheduler() {
        tuning::check_scheduler(s).map_err(tuning_err)?;
    }
    if let Some(p) = process.io_priority() {
        tuning::check_ioprio(p).map_err(tuning_err)?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        tuning::check_affinity(a).map_err(tuning_err)?;
    }
    if let Some(cs) = process.console_size()
        && process.terminal() != Some(true)
    {
        return Err(invalid(
            "process.consoleSize",
            format!(
                "{}x{} given without process.terminal",
                cs.height(),
                cs.width()
            ),
        ));
    }

    Ok(())
}

fn check_mappings(
    field: &str,
    maps: &[oci_spec::runtime::LinuxIdMapping],
) -> Result<(), ConfigError> {
    for (i, a) in maps.iter().enumerate() {
        if a.size() == 0 {
            return Err(invalid(field, format!("mapping {i} has size 0")));
        }
        for b in &maps[i + 1..] {
            let overlap = |x: u32, y: u32, s1: u32, s2: u32| {
                (x as u64) < y as u64 + s2 as u64 && (y as u64) < x as u64 + s1 as u64
            };
            if overlap(a.container_id(), b.container_id(), a.size(), b.size())
                || overlap(a.host_id(), b.host_id(), a.size(), b.size())
            {
                return Err(invalid(field, "mappings overlap"));
            }
        }
    }
    Ok(())
}

/// Only namespaced sysctls may be set, and only when the container has that namespace (runc's
/// rules): otherwise the write would change the host.
fn check_sysctl(spec: &Spec, key: &str) -> Result<(), ConfigError> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(invalid(
            "linux.sysctl",
            format!("sysctl {key:?} is not in a separate kernel namespace"),
        ));
    };
    if key.contains("..") || key.split(['.', '/']).any(str::is_empty) {
        return Err(invalid(
            "linux.sysctl",
            format!("{key:?} is not a sysctl name"),
        ));
    }
    if !has_new_ns(spec, need) {
        return Err(invalid(
            "linux.sysctl",
            format!(
                "sysctl {key:?} is not allowed in the host's {} namespace",
                ns_name(need)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).expect("test spec parses")
    }

    const BASE: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#;

    #[test]
    fn unknown_properties_are_named_and_known_ones_are_not() {
        let raw: serde_json::Value = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"extra":1,
            "annotations":{"anything":"goes"},
            "process":{"args":["sh"],"cwd":"/","env":[],"user":{"uid":0,"gid":0,"umaks":18}},
            "linux":{"namespaces":[{"type":"mount","pth":"/x"}],"sysctl":{"net.a":"1"},
              "resources":{"blockIO":{"throttleWriteIopsDevice":[{"major":7,"minor":0,"rate":5}]}}}}"#,
        )
        .expect("json");
        let spec = Spec::deserialize(&raw).expect("spec");
        let known = serde_json::to_value(&spec).expect("value");
        let mut out = Vec::new();
        unknown_properties(&raw, &known, &mut String::new(), &mut out);
        out.sort();
        assert_eq!(
            out,
            [
                "extra",
                "linux.namespaces[0].pth",
                "linux.resources.blockIO.throttleWriteIopsDevice",
                "process.user.umaks",
            ]
        );
    }

    #[test]
    fn base_is_valid() {
        validate(&spec(BASE)).expect("valid");
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).expect("json");
        v["hostname"] = "x".into();
        let e = validate(&spec(&v.to_string())).expect_err("must fail");
        assert!(e.to_string().contains("hostname"), "{e}");
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).expect("json");
        v["linux"]["namespaces"] =
            serde_json::json!([{"type":"pid"},{"type":"pid"},{"type":"mount"}]);
        let e = validate(&spec(&v.to_string())).expect_err("must fail");
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn host_sysctl_rejected() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).expect("json");
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward":"1"});
        let e = validate(&spec(&v.to_string())).expect_err("must fail");
        assert!(e.to_string().contains("network"), "{e}");
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness":"1"});
        let e = validate(&spec(&v.to_string())).expect_err("must fail");
        assert!(e.to_string().contains("not in a separate"), "{e}");
    }

    #[test]
    fn overlapping_mappings_rejected() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).expect("json");
        v["linux"]["namespaces"] = serde_json::json!([{"type":"user"},{"type":"mount"}]);
        v["linux"]["uidMappings"] = serde_json::json!([
            {"containerID":0,"hostID":1000,"size":10},{"containerID":5,"hostID":5000,"size":10}]);
        v["linux"]["gidMappings"] = serde_json::json!([{"containerID":0,"hostID":1000,"size":10}]);
        let e = validate(&spec(&v.to_string())).expect_err("must fail");
        assert!(e.to_string().contains("overlap"), "{e}");
    }
}
