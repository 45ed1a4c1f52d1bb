//! Container state on disk: `--root/ID/state.json`, the create/start barrier socket, locking,
//! and the status derived from the live process (created / running / paused / stopped).

use crate::sys;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
/// The container's cgroup directories, one per line, written before they are created: what
/// `delete` cleans up when create died before state.json or state.json is damaged.
pub const CGROUPS_FILE: &str = "cgroups";
/// The unix socket the waiting init listens on; `start` connects to it. Its existence is
/// what marks a live container as "created" rather than "running".
pub const EXEC_SOCKET: &str = "exec.sock";
/// The config's `linux.seccomp` as it was at create: what `exec` filters its processes with,
/// whatever becomes of config.json later.
pub const SECCOMP_FILE: &str = "seccomp.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id format: {0:?}")]
    InvalidId(String),
    #[error("unable to create root directory {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupted state file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("unable to parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What hako remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (/proc/PID/stat field 22): guards against pid reuse.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directories, one per hierarchy, for kill --all, pause, delete.
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The freezer directory (v1) or the v2 cgroup, for the paused status.
    #[serde(default)]
    pub freezer: Option<PathBuf>,
    /// Whether the container has its own pid namespace (kill semantics differ without one).
    #[serde(default)]
    pub private_pid_ns: bool,
    #[serde(default)]
    pub poststop: Vec<oci_spec::runtime::Hook>,
    /// Allow rules for the config's `linux.devices`, appended to the device rules again when
    /// an update replaces them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_allow: Vec<oci_spec::runtime::LinuxDeviceCgroup>,
    /// Whether the container has a seccomp profile, saved in [`SECCOMP_FILE`]. None: state
    /// written by a hako that did not save it (see [`ContainerDir::seccomp_profile`]).
    #[serde(default)]
    pub seccomp: Option<bool>,
    /// `create --no-new-keyring`: exec'd processes then keep their own session keyring too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_keyring: bool,
}

impl State {
    pub fn status(&self, dir: &ContainerDir) -> Status {
        if !sys::process_alive(self.pid, self.pid_start) {
            return Status::Stopped;
        }
        if dir.path.join(EXEC_SOCKET).exists() {
            return Status::Created;
        }
        if let Some(f) = &self.freezer
            && crate::cgroups::is_frozen(f)
        {
            return Status::Paused;
        }
        Status::Running
    }

    /// The runtime-spec state JSON (with runc's extra `rootfs`, `created`, `owner` fields),
    /// as printed by `state` and fed to hooks.
    pub fn to_spec_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        let s = SpecState {
            oci_version: &self.oci_version,
            id: &self.id,
            pid,
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: if self.annotations.is_empty() {
                None
            } else {
                Some(&self.annotations)
            },
            owner: &self.owner,
        };
        serde_json::to_value(s).unwrap_or_default()
    }
}

/// The state as runc prints it, fields in runc's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpecState<'a> {
    oci_version: &'a str,
    id: &'a str,
    pid: i32,
    status: &'a str,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a HashMap<String, String>>,
    owner: &'a str,
}

/// runc's rule: letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`. The id also names a
/// directory, so it must fit a file name.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// `--root` default for the caller (see [`default_root_for`]).
pub fn default_root() -> PathBuf {
    default_root_for(
        sys::geteuid(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

/// /run/hako for root, $XDG_RUNTIME_DIR/hako for anyone else who has one set (else
/// /run/hako too, as runc).
pub fn default_root_for(uid: u32, xdg_runtime_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match xdg_runtime_dir.filter(|x| !x.is_empty()) {
        Some(x) if uid != 0 => PathBuf::from(x).join("hako"),
        _ => PathBuf::from("/run/hako"),
    }
}

/// An open container state directory, locked for the lifetime of the value when asked.
pub struct ContainerDir {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl ContainerDir {
    /// Creates `root/id` atomically: mkdir failing with EEXIST is how a duplicate id is caught,
    /// also when two `create`s race.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|source| StateError::Root {
                path: root.to_path_buf(),
                source,
            })?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()));
            }
            Err(source) => {
                return Err(StateError::Io {
                    what: "unable to create state directory",
                    path,
                    source,
                });
            }
        }
        let dir = Self::open_path(path)?;
        dir.lock()?;
        Ok(dir)
    }

    /// Opens an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        Self::open_path(root.join(id))
    }

    fn open_path(path: PathBuf) -> Result<ContainerDir, StateError> {
        match sys::open(&path, libc::O_DIRECTORY | libc::O_RDONLY, 0) {
            Ok(fd) => Ok(ContainerDir { path, fd }),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(StateError::NotExist),
            Err(source) => Err(StateError::Io {
                what: "unable to open state directory",
                path,
                source,
            }),
        }
    }

    /// Exclusive lock: serialises start/kill/delete on one container across hako processes.
    pub fn lock(&self) -> Result<(), StateError> {
        loop {
            // SAFETY: flock on a directory fd we own.
            let r = unsafe { libc::flock(self.fd.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(StateError::Io {
                    what: "unable to lock",
                    path: self.path.clone(),
                    source: e,
                });
            }
        }
    }

    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotExist);
            }
            Err(source) => {
                return Err(StateError::Io {
                    what: "unable to read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&data).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Writes state.json atomically (temp file + rename), so readers never see half a file.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: tmp.clone(),
            source,
        })?;
        write_atomic(&tmp, &self.path.join(STATE_FILE), &data).map_err(|source| StateError::Io {
            what: "unable to write",
            path: self.path.join(STATE_FILE),
            source,
        })
    }

    /// Records the cgroup directories (see [`CGROUPS_FILE`]).
    pub fn save_cgroups(&self, dirs: &[PathBuf]) -> Result<(), StateError> {
        let mut data = Vec::new();
        for d in dirs {
            data.extend_from_slice(d.as_os_str().as_encoded_bytes());
            data.push(b'\n');
        }
        write_atomic(
            &self.path.join(".cgroups.tmp"),
            &self.path.join(CGROUPS_FILE),
            &data,
        )
        .map_err(|source| StateError::Io {
            what: "unable to write",
            path: self.path.join(CGROUPS_FILE),
            source,
        })
    }

    /// The recorded cgroup directories; only absolute paths under /sys/fs/cgroup are
    /// believed (the file decides where `delete` kills processes).
    pub fn load_cgroups(&self) -> Vec<PathBuf> {
        std::fs::read_to_string(self.path.join(CGROUPS_FILE))
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .filter(|p| {
                p.starts_with("/sys/fs/cgroup/")
                    && p.components()
                        .all(|c| !matches!(c, std::path::Component::ParentDir))
            })
            .collect()
    }

    /// Saves the container's seccomp profile (see [`SECCOMP_FILE`]).
    pub fn save_seccomp(&self, sc: &oci_spec::runtime::LinuxSeccomp) -> Result<(), StateError> {
        let path = self.path.join(SECCOMP_FILE);
        let data = serde_json::to_vec(sc).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&self.path.join(".seccomp.json.tmp"), &path, &data).map_err(|source| {
            StateError::Io {
                what: "unable to write",
                path,
                source,
            }
        })
    }

    /// The seccomp profile processes exec'd into the container get. Any failure to read it is
    /// an error: a process must never run unfiltered because a file went missing. State from
    /// a hako that did not save the profile falls back to the bundle's config.json.
    pub fn seccomp_profile(
        &self,
        st: &State,
    ) -> Result<Option<oci_spec::runtime::LinuxSeccomp>, StateError> {
        let (path, saved) = match st.seccomp {
            Some(false) => return Ok(None),
            Some(true) => (self.path.join(SECCOMP_FILE), true),
            None => (st.bundle.join("config.json"), false),
        };
        let data = std::fs::read(&path).map_err(|source| StateError::Io {
            what: "unable to read the container's seccomp profile from",
            path: path.clone(),
            source,
        })?;
        let corrupt = |source| StateError::Parse {
            path: path.clone(),
            source,
        };
        if saved {
            return serde_json::from_slice(&data).map(Some).map_err(corrupt);
        }
        let spec: oci_spec::runtime::Spec = serde_json::from_slice(&data).map_err(corrupt)?;
        Ok(spec.linux().as_ref().and_then(|l| l.seccomp().clone()))
    }

    pub fn remove(&self) -> Result<(), StateError> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                what: "unable to remove state directory",
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub fn borrow_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Writes `data` to `tmp` and renames it over `dest`.
pub fn write_atomic(tmp: &Path, dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(tmp, dest)
}

/// Every container id under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StateError::Io {
                what: "unable to read",
                path: root.to_path_buf(),
                source,
            });
        }
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_is_run_for_root_and_xdg_runtime_dir_otherwise() {
        let xdg = Some(std::ffi::OsStr::new("/run/user/1000"));
        assert_eq!(default_root_for(0, xdg), Path::new("/run/hako"));
        assert_eq!(default_root_for(0, None), Path::new("/run/hako"));
        assert_eq!(
            default_root_for(1000, xdg),
            Path::new("/run/user/1000/hako")
        );
        assert_eq!(default_root_for(1000, None), Path::new("/run/hako"));
        let empty = Some(std::ffi::OsStr::new(""));
        assert_eq!(default_root_for(1000, empty), Path::new("/run/hako"));
    }

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "c1", "my_container-1.2+x", &"a".repeat(255)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\n", &"a".repeat(256)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
