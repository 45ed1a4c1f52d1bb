//! Image config → runtime config.json, following the image-spec's conversion.md, on top of
//! `hako spec`'s secure default (src/default-config.json) plus the default seccomp profile
//! (seccomp-profiles/default.json). Both are compiled in from the same files hako uses.

use crate::image::apply::IdMap;
use crate::image::resolve::clean;
use crate::image::users::{self, UserError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::Path;

const DEFAULT_CONFIG: &str = include_str!("../default-config.json");
const DEFAULT_SECCOMP: &str = include_str!("../../seccomp-profiles/default.json");
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("image config is not valid JSON of the expected shape: {0}")]
    Json(serde_json::Error),
    #[error("built-in default {what} is invalid: {source}")]
    Builtin {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("image is for OS {0:?}; only linux images can be run")]
    Os(String),
    #[error("image has neither Entrypoint nor Cmd; give the command after `--`")]
    NoArgs,
    #[error(transparent)]
    User(#[from] UserError),
    #[error("volume {0:?} is not an absolute path")]
    Volume(String),
}

#[derive(Debug, Default, Deserialize)]
struct ImageConfig {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default, rename = "os.version")]
    os_version: Option<String>,
    #[serde(default, rename = "os.features")]
    os_features: Option<Vec<String>>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    stop_signal: Option<String>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, Value>>,
}

pub struct Options<'a> {
    /// Arguments after `--`: they replace Cmd (Entrypoint stays), as `docker run IMAGE ARGS`.
    pub args: Option<&'a [String]>,
    pub tty: bool,
    pub volumes: bool,
    pub rootless: bool,
    pub uid_map: &'a [IdMap],
    pub gid_map: &'a [IdMap],
    /// The final bundle directory (volume sources live in it).
    pub bundle: &'a Path,
}

/// A volume's host directory name inside BUNDLE/volumes: the destination cleaned lexically
/// (as tar names are), its components joined with `_`. Always one plain name: a destination
/// like `/..` or `/.` must not name BUNDLE or BUNDLE/volumes itself, which would hand the
/// container its own bundle (config.json included) as a writable volume.
pub(crate) fn volume_dir_name(dest: &str) -> String {
    let parts: Vec<String> = clean(dest.as_bytes())
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        "_root".into()
    } else {
        parts.join("_")
    }
}

/// Builds config.json. `root` is the unpacked rootfs (for user and group names).
pub fn convert(
    image_config: &[u8],
    root: BorrowedFd<'_>,
    o: &Options<'_>,
) -> Result<(Value, Vec<String>), ConvertError> {
    let img: ImageConfig = serde_json::from_slice(image_config).map_err(ConvertError::Json)?;
    if let Some(os) = &img.os
        && os != "linux"
    {
        return Err(ConvertError::Os(os.clone()));
    }
    let cc = img.config.unwrap_or_default();
    let mut spec: Value =
        serde_json::from_str(DEFAULT_CONFIG).map_err(|source| ConvertError::Builtin {
            what: "config",
            source,
        })?;
    let seccomp: Value =
        serde_json::from_str(DEFAULT_SECCOMP).map_err(|source| ConvertError::Builtin {
            what: "seccomp profile",
            source,
        })?;

    // process.args = Entrypoint ++ Cmd (Cmd replaced by the command line's `--` args).
    let mut args: Vec<String> = cc.entrypoint.clone().unwrap_or_default();
    match o.args {
        Some(a) if !a.is_empty() => args.extend(a.iter().cloned()),
        _ => args.extend(cc.cmd.clone().unwrap_or_default()),
    }
    if args.is_empty() {
        return Err(ConvertError::NoArgs);
    }

    // process.env = Config.Env verbatim; add PATH (and TERM with a terminal) only when absent.
    let mut env: Vec<String> = cc.env.clone().unwrap_or_default();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push(DEFAULT_PATH.to_string());
    }
    if o.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".to_string());
    }

    let user = users::resolve(root, cc.user.as_deref().unwrap_or(""))?;
    let cwd = cc
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());

    let p = &mut spec["process"];
    p["terminal"] = json!(o.tty);
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["user"] = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(user.additional_gids);
    }
    spec["linux"]["seccomp"] = seccomp;

    // Annotations from the image config; labels win on conflict.
    let mut ann = serde_json::Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            ann.insert(format!("org.opencontainers.image.{k}"), json!(v));
        }
    };
    put("os", img.os.clone());
    put("architecture", img.architecture.clone());
    put("variant", img.variant.clone());
    put("os.version", img.os_version.clone());
    put("os.features", img.os_features.as_ref().map(|f| f.join(",")));
    put("author", img.author.clone());
    put("created", img.created.clone());
    put("stopSignal", cc.stop_signal.clone());
    put(
        "exposedPorts",
        cc.exposed_ports
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(",")),
    );
    for (k, v) in cc.labels.clone().unwrap_or_default() {
        ann.insert(k, json!(v));
    }
    if !ann.is_empty() {
        spec["annotations"] = Value::Object(ann);
    }

    // Volumes: bind mounts from BUNDLE/volumes/<name> so data stays out of the rootfs.
    let mut volume_dirs = Vec::new();
    if o.volumes {
        let vols: Vec<String> = cc
            .volumes
            .clone()
            .unwrap_or_default()
            .keys()
            .cloned()
            .collect();
        for v in vols {
            if !v.starts_with('/') {
                return Err(ConvertError::Volume(v));
            }
            let name = volume_dir_name(&v);
            let src = o.bundle.join("volumes").join(&name);
            if let Some(m) = spec["mounts"].as_array_mut() {
                m.push(json!({
                    "destination": v,
                    "type": "bind",
                    "source": src.display().to_string(),
                    "options": ["rbind", "rw", "nosuid", "nodev"],
                }));
            }
            volume_dirs.push(name);
        }
    }

    if o.rootless {
        // As `hako spec --rootless` (runc's specconv.ToRootless), with the user's maps.
        crate::spec::to_rootless(&mut spec, maps_json(o.uid_map), maps_json(o.gid_map));
    }
    Ok((spec, volume_dirs))
}

fn maps_json(m: &[IdMap]) -> Value {
    Value::Array(
        m.iter()
            .map(|m| json!({"containerID": m.container, "hostID": m.host, "size": m.size}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        let c: Value = serde_json::from_str(DEFAULT_CONFIG).expect("config");
        assert_eq!(c["root"]["path"], "rootfs");
        let s: Value = serde_json::from_str(DEFAULT_SECCOMP).expect("seccomp");
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn volume_names() {
        assert_eq!(volume_dir_name("/var/lib/data"), "var_lib_data");
        assert_eq!(volume_dir_name("/"), "_root");
        // Never BUNDLE/volumes/.. (the bundle) or BUNDLE/volumes/. (found by image_manifest).
        assert_eq!(volume_dir_name("/.."), "_root");
        assert_eq!(volume_dir_name("/."), "_root");
        assert_eq!(volume_dir_name("/a/../b/./c//"), "b_c");
    }
}
