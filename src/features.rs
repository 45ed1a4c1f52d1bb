//! `hako features`: the runtime-spec "features document" (features.md, features-linux.md),
//! pretty-printed like runc's.
//!
//! The document describes what hako implements, not what the host offers (the spec asks for
//! compile-time content). Two lists are narrowed at run time because they depend on the
//! libraries and kernel hako runs with: `seccomp.archs` (the architectures the installed
//! libseccomp can add to a filter for the native one, as seccomp.rs builds it: on x86_64 the
//! little-endian ones) and `seccomp.supportedFlags` (the filter flags the kernel
//! accepts). Everything listed here is accepted in a config.json; whatever hako refuses as
//! unsupported (config.rs, rootfs/options.rs) is left out or marked `enabled: false`.
//!
//! Properties newer than `ociVersionMax` (1.2.1) are absent: `netDevices`, `memoryPolicy`,
//! `intelRdt.schemata` and `intelRdt.enableMonitoring` came with runtime-spec 1.3.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    #[error("unable to encode the features document: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("unable to write the features document: {0}")]
    Write(#[from] std::io::Error),
}

pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.2.1";

/// The six hooks of config.md, all run (process/ for the create-time ones, commands.rs for
/// poststart and poststop).
const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options rootfs/options.rs turns into flags, propagation or mount_setattr attributes
/// (sorted, as runc prints them). Filesystem data options (`mode=`, `size=`…) are passed
/// through to the filesystem and, as the spec says, not listed. Left out because hako refuses
/// them today: `idmap`, `ridmap`, `ratime`, `rnorelatime`, `rnostrictatime`,
/// `copy-symlink`, `src-nofollow`, `dest-nofollow`; `acl`/`noacl` go to the data string.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Every namespace type config.rs knows (time included: hako creates time namespaces).
const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// seccomp.rs maps every action of the spec (SCMP_ACT_NOTIFY with a listenerPath).
const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The architectures of the spec; [`seccomp_archs`] keeps those libseccomp can add.
const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Filter flags seccomp.rs understands, with the seccomp(2) flag bits that probe the kernel
/// for each (WAIT_KILLABLE_RECV is only accepted together with NEW_LISTENER).
const SECCOMP_FLAGS: &[(&str, libc::c_ulong)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
    ),
];

/// Every capability the caps crate knows, in kernel order (as runc prints them).
fn capabilities() -> Vec<String> {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    caps.iter().map(ToString::to_string).collect()
}

/// The spec's architectures the installed libseccomp can add to a native filter (the way
/// seccomp.rs compiles profiles); libseccomp refuses mixing byte orders in one filter.
fn seccomp_archs() -> Vec<&'static str> {
    use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};
    use std::str::FromStr;
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    SECCOMP_ARCHS
        .iter()
        .copied()
        .filter(|name| {
            ScmpArch::from_str(name)
                .ok()
                .is_some_and(|a| ctx.add_arch(a).is_ok())
        })
        .collect()
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into())
}

/// The features document.
pub fn document() -> Value {
    let known: Vec<&str> = SECCOMP_FLAGS.iter().map(|(n, _)| *n).collect();
    let supported: Vec<&str> = SECCOMP_FLAGS
        .iter()
        .filter(|(_, bits)| crate::seccomp::probe_flags(*bits).is_ok())
        .map(|(n, _)| *n)
        .collect();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities(),
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": true
            },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": seccomp_archs(),
                "knownFlags": known,
                "supportedFlags": supported
            },
            // What hako can do, not what this host has (features.md): profiles are applied
            // where the kernel runs AppArmor and refused with a clear error elsewhere.
            "apparmor": { "enabled": true },
            // SELinux labels are refused (config.rs): hako does not apply them.
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            // Mounts with uidMappings/gidMappings and the idmap options are refused.
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "dev.hako.checkpoint.enabled": "false",
            "dev.hako.commit": env!("HAKO_COMMIT"),
            "dev.hako.version": env!("CARGO_PKG_VERSION"),
            "io.github.seccomp.libseccomp.version": libseccomp_version()
        },
        "potentiallyUnsafeConfigAnnotations": []
    })
}

/// Prints the document with runc's four-space indentation.
pub fn run() -> Result<i32, FeaturesError> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    document().serialize(&mut ser)?;
    out.push(b'\n');
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        Arch, Features, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
        MountBuilder,
    };

    #[test]
    fn document_parses_as_oci_spec_features() {
        let doc = document();
        let f: Features = serde_json::from_value(doc.clone()).expect("oci-spec Features");
        assert_eq!(f.oci_version_min(), OCI_VERSION_MIN);
        assert_eq!(f.oci_version_max(), OCI_VERSION_MAX);
        let linux = f.linux().as_ref().expect("linux");
        assert_eq!(
            linux.namespaces().as_ref().map(Vec::len),
            Some(NAMESPACES.len())
        );
        let sc = linux.seccomp().as_ref().expect("seccomp");
        assert_eq!(sc.enabled(), &Some(true));
        assert_eq!(
            sc.actions().as_ref().map(Vec::len),
            Some(SECCOMP_ACTIONS.len())
        );
        assert!(
            sc.archs()
                .as_ref()
                .is_some_and(|a| a.contains(&Arch::ScmpArchX86_64))
        );
        assert_eq!(
            linux
                .cgroup()
                .as_ref()
                .map(|c| (*c.v1(), *c.v2(), *c.systemd())),
            Some((Some(true), Some(true), Some(false)))
        );
        assert_eq!(
            doc["linux"]["mountExtensions"]["idmap"]["enabled"],
            json!(false)
        );
    }

    #[test]
    fn seccomp_names_are_the_spec_names() {
        for a in SECCOMP_ACTIONS {
            serde_json::from_value::<LinuxSeccompAction>(json!(a)).expect(a);
        }
        for o in SECCOMP_OPERATORS {
            serde_json::from_value::<LinuxSeccompOperator>(json!(o)).expect(o);
        }
        for a in SECCOMP_ARCHS {
            serde_json::from_value::<Arch>(json!(a)).expect(a);
        }
        for (f, _) in SECCOMP_FLAGS {
            serde_json::from_value::<LinuxSeccompFilterFlag>(json!(f)).expect(f);
        }
    }

    #[test]
    fn capabilities_are_complete_and_in_kernel_order() {
        let caps = capabilities();
        assert_eq!(caps.first().map(String::as_str), Some("CAP_CHOWN"));
        assert!(caps.iter().any(|c| c == "CAP_CHECKPOINT_RESTORE"));
        assert_eq!(caps.len(), caps::all().len());
        for c in &caps {
            serde_json::from_value::<oci_spec::runtime::Capability>(json!(c)).expect(c);
        }
    }

    #[test]
    fn listed_mount_options_pass_validation() {
        let mut sorted = MOUNT_OPTIONS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, MOUNT_OPTIONS, "keep the list sorted");
        for opt in MOUNT_OPTIONS {
            let m = MountBuilder::default()
                .destination("/mnt")
                .typ("tmpfs")
                .source("tmpfs")
                .options(vec![opt.to_string()])
                .build()
                .expect("mount");
            crate::rootfs::validate_mount(&m).unwrap_or_else(|e| panic!("{opt}: {e}"));
        }
        for refused in ["idmap", "ridmap"] {
            assert!(!MOUNT_OPTIONS.contains(&refused));
        }
    }

    #[test]
    fn namespaces_parse() {
        for n in NAMESPACES {
            serde_json::from_value::<oci_spec::runtime::LinuxNamespaceType>(json!(n)).expect(n);
        }
    }
}
