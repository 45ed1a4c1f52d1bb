//! What the host the tests run on offers, detected at run time: the build machine is a
//! hybrid cgroup v1 host, the guest (integration/guest) a pure cgroup v2 one with AppArmor.
//! Tests that need one of these declare it (see tests/host_specific.rs) and are reported as
//! ignored, with the reason, where it is missing.

use std::path::{Path, PathBuf};

/// statfs(2) f_type of a cgroup2 mount (include/uapi/linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Something a test needs from the host. Add variants here; `present` and `label` say how
/// to detect it and how a skipped test is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// cgroup v1 controllers (legacy or hybrid host).
    CgroupV1,
    /// A pure cgroup v2 host (/sys/fs/cgroup is cgroup2).
    CgroupV2,
    /// AppArmor enabled in the kernel, with securityfs mounted.
    AppArmor,
}

impl Needs {
    pub fn present(self) -> bool {
        match self {
            Needs::CgroupV1 => has_cgroup_v1(),
            Needs::CgroupV2 => cgroup_v2(),
            Needs::AppArmor => Path::new("/sys/kernel/security/apparmor").exists(),
        }
    }

    /// Shown as the trial's kind, e.g. `[needs cgroup v2] name ... ignored`.
    pub fn label(self) -> &'static str {
        match self {
            Needs::CgroupV1 => "needs cgroup v1",
            Needs::CgroupV2 => "needs cgroup v2",
            Needs::AppArmor => "needs AppArmor",
        }
    }
}

/// Whether /sys/fs/cgroup is a cgroup2 mount (a unified host).
pub fn cgroup_v2() -> bool {
    let Ok(c) = std::ffi::CString::new("/sys/fs/cgroup") else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: a NUL-terminated path and a valid out-pointer of the right type.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    let t = st.f_type as i64;
    t == CGROUP2_SUPER_MAGIC
}

/// Whether any cgroup v1 hierarchy is mounted.
pub fn has_cgroup_v1() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
        t.lines().any(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, r)| r.split(' ').next() == Some("cgroup"))
        })
    })
}

/// The container's cgroup directory holding `controller`'s files: the v1 hierarchy mounted
/// at /sys/fs/cgroup/<controller>, or the single v2 directory.
pub fn controller_dir(controller: &str, id: &str) -> PathBuf {
    let rel = Path::new(super::CGROUP_PREFIX.trim_start_matches('/')).join(id);
    if cgroup_v2() {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join(rel)
    }
}

/// The line of /proc/PID/cgroup that names the container's cgroup (v1: the memory
/// hierarchy's line, v2: the only one).
pub fn proc_cgroup_line(id: &str) -> String {
    if cgroup_v2() {
        format!("0::{}/{id}\n", super::CGROUP_PREFIX)
    } else {
        format!(":memory:{}/{id}\n", super::CGROUP_PREFIX)
    }
}

/// The memory limit file (v1 memory.limit_in_bytes, v2 memory.max).
pub fn memory_limit_file(id: &str) -> PathBuf {
    controller_dir("memory", id).join(if cgroup_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    })
}

/// The CFS quota: v1 cpu.cfs_quota_us, v2 the first field of cpu.max.
pub fn cpu_quota(id: &str) -> String {
    let d = controller_dir("cpu", id);
    if cgroup_v2() {
        let t = std::fs::read_to_string(d.join("cpu.max")).expect("cpu.max");
        t.split_whitespace().next().unwrap_or("").to_string()
    } else {
        std::fs::read_to_string(d.join("cpu.cfs_quota_us"))
            .expect("cpu.cfs_quota_us")
            .trim()
            .to_string()
    }
}
