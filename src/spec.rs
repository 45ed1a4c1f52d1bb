//! `hako spec`: writes runc's default config.json (optionally the rootless variant, and
//! optionally confined by hako's default seccomp and AppArmor profiles).

use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("File {0} exists. Remove it first")]
    Exists(String),
    #[error("unable to write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("built-in default config is invalid: {0}")]
    Internal(serde_json::Error),
}

const DEFAULT: &str = include_str!("default-config.json");
/// seccomp-profiles/default.json: the `linux.seccomp` object `--seccomp` adds.
const SECCOMP_DEFAULT: &str = include_str!("../seccomp-profiles/default.json");

/// What to put in the generated config besides runc's defaults.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    pub rootless: bool,
    /// linux.seccomp = hako's default profile.
    pub seccomp: bool,
    /// process.apparmorProfile = hako-default.
    pub apparmor: bool,
}

pub fn default_config(o: Options) -> Result<Value, SpecError> {
    let mut v: Value = serde_json::from_str(DEFAULT).map_err(SpecError::Internal)?;
    if o.rootless {
        make_rootless(&mut v);
    }
    if o.seccomp {
        v["linux"]["seccomp"] =
            serde_json::from_str(SECCOMP_DEFAULT).map_err(SpecError::Internal)?;
    }
    if o.apparmor {
        v["process"]["apparmorProfile"] = json!(crate::apparmor::DEFAULT_PROFILE);
    }
    Ok(v)
}

/// runc's specconv.ToRootless: a user namespace mapping the caller to root, no network
/// namespace (it would have no connectivity), sysfs bound from the host, no gid= on devpts,
/// no cgroup resources.
fn make_rootless(v: &mut Value) {
    let uid = crate::sys::geteuid();
    // SAFETY: getegid cannot fail.
    let gid = unsafe { libc::getegid() };
    to_rootless(
        v,
        json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        json!([{"containerID": 0, "hostID": gid, "size": 1}]),
    );
}

/// The rootless conversion with the given uid/gid mappings (JSON arrays of runtime-spec
/// LinuxIDMapping); hako-bundle `--rootless` uses it with the user's maps.
pub(crate) fn to_rootless(v: &mut Value, uid_mappings: Value, gid_mappings: Value) {
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = uid_mappings;
    linux["gidMappings"] = gid_mappings;
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            } else if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| !o.as_str().is_some_and(|s| s.starts_with("gid=")));
            }
        }
    }
}

pub fn write(bundle: &Path, o: Options) -> Result<(), SpecError> {
    let dir = if bundle.as_os_str().is_empty() {
        Path::new(".")
    } else {
        bundle
    };
    let path = dir.join("config.json");
    if path.exists() {
        return Err(SpecError::Exists("config.json".into()));
    }
    let v = default_config(o)?;
    let mut text = serde_json::to_string_pretty(&v).map_err(SpecError::Internal)?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|source| SpecError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_and_validates() {
        let v = default_config(Options::default()).expect("default");
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).expect("oci-spec parses");
        crate::config::validate(&spec).expect("valid");
    }

    #[test]
    fn rootless_has_user_namespace_and_no_network() {
        let v = default_config(Options {
            rootless: true,
            ..Options::default()
        })
        .expect("rootless");
        let ns = v["linux"]["namespaces"].as_array().expect("namespaces");
        assert!(ns.iter().any(|n| n["type"] == "user"));
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).expect("oci-spec parses");
        crate::config::validate(&spec).expect("valid");
    }

    #[test]
    fn seccomp_option_embeds_the_default_profile_which_compiles() {
        let v = default_config(Options {
            seccomp: true,
            ..Options::default()
        })
        .expect("seccomp");
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let spec: oci_spec::runtime::Spec = serde_json::from_value(v).expect("oci-spec parses");
        let sc = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        crate::seccomp::compile(sc.expect("seccomp")).expect("compiles");
    }
}
