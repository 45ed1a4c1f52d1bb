//! Compiled seccomp programs, cached under `<root>/@cache/seccomp/` (`@` cannot start a
//! container id, so the directory never collides with one).
//!
//! libseccomp needs ~50 ms to compile a Docker-sized profile for five architectures: more
//! than the rest of `create` together. An entry stores its whole key (the profile as JSON,
//! hako's build, libseccomp's version, the kernel) and is used only when that key matches
//! byte for byte, so a file-name hash collision is a miss, never a wrong filter. The
//! directory and entry must belong to us and be writable by nobody else: the cache decides
//! what a container may call, so only root (the owner of `--root`) may write it.
//! Caching is best effort: any problem with it means compiling as before.

use crate::logging;
use crate::seccomp::{self, Program, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"HAKOSCMP1\n";
/// More entries than this and the cache is emptied before storing a new one: hosts use a
/// handful of profiles; a flood of distinct ones must not fill the disk.
const MAX_ENTRIES: usize = 64;

/// [`seccomp::compile`], served from the cache under `root` when possible.
pub fn compile(spec: &LinuxSeccomp, root: &Path) -> Result<Program, SeccompError> {
    let Some(key) = key(spec) else {
        return seccomp::compile(spec);
    };
    let dir = root.join("@cache").join("seccomp");
    let file = dir.join(format!("{:016x}", hash(&key)));
    match lookup(&dir, &file, &key) {
        Ok(p) => {
            logging::debug(|| format!("seccomp: program from cache {}", file.display()));
            return Ok(p);
        }
        Err(why) => logging::debug(|| format!("seccomp: cache miss ({why})")),
    }
    let program = seccomp::compile(spec)?;
    if let Err(e) = store(&dir, &file, &key, &program) {
        logging::debug(|| format!("seccomp: not cached: {e}"));
    }
    Ok(program)
}

/// Everything the compiled program depends on.
fn key(spec: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut k = format!(
        "hako {} {}\nlibseccomp {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("HAKO_COMMIT"),
        libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .ok()?,
    )
    .into_bytes();
    // The build: a rebuilt binary with the same version string may compile differently. Its
    // size, not its mtime: where hako runs from a sealed memfd copy (exeseal.rs, e.g. from
    // 9p in the test guest), every run's copy is new.
    let exe = std::fs::metadata("/proc/self/exe").ok()?;
    k.extend_from_slice(format!("exe {}\n", exe.size()).as_bytes());
    // SAFETY: uname fills the struct it is given; all-zero bytes are a valid utsname.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    for field in [&uts.release[..], &uts.version[..], &uts.machine[..]] {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        k.extend_from_slice(&bytes);
        k.push(b'\n');
    }
    k.extend(serde_json::to_vec(spec).ok()?);
    Some(k)
}

fn hash(key: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Ours and writable by no one else.
fn trusted(path: &Path) -> Result<std::fs::Metadata, String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me || m.mode() & 0o022 != 0 || m.file_type().is_symlink() {
        return Err(format!(
            "{} is not owned by uid {me} or is writable by others",
            path.display()
        ));
    }
    Ok(m)
}

fn lookup(dir: &Path, file: &Path, key: &[u8]) -> Result<Program, String> {
    trusted(dir)?;
    if !trusted(file)?.is_file() {
        return Err(format!("{} is not a regular file", file.display()));
    }
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let rest = data
        .strip_prefix(MAGIC)
        .ok_or_else(|| "bad magic".to_string())?;
    let (len, rest) = rest
        .split_at_checked(4)
        .ok_or_else(|| "truncated".to_string())?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let (stored_key, program) = rest
        .split_at_checked(len)
        .ok_or_else(|| "truncated".to_string())?;
    if stored_key != key {
        return Err("different key".into());
    }
    Program::decode(program).ok_or_else(|| "malformed program".into())
}

fn store(dir: &Path, file: &Path, key: &[u8], p: &Program) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    trusted(dir)?;
    if std::fs::read_dir(dir).map_err(io)?.count() >= MAX_ENTRIES {
        for e in std::fs::read_dir(dir).map_err(io)?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let mut data = Vec::from(MAGIC);
    data.extend_from_slice(&(key.len() as u32).to_le_bytes());
    data.extend_from_slice(key);
    data.extend(p.encode());
    // Written aside and renamed: a concurrent reader sees the old entry or the new one.
    let tmp: PathBuf = dir.join(format!(".tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(&data)?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", file.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile")
    }

    #[test]
    fn program_round_trips_and_is_served_from_the_cache() {
        let root = std::env::temp_dir().join(format!("hako-scache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root");
        let sc = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","nosuchcall"],"action":"SCMP_ACT_ERRNO","errnoRet":5}]}"#,
        );
        let fresh = compile(&sc, &root).expect("compile");
        let dir = root.join("@cache/seccomp");
        let entries: Vec<_> = std::fs::read_dir(&dir).expect("cache dir").collect();
        assert_eq!(entries.len(), 1);
        let key = key(&sc).expect("key");
        let file = dir.join(format!("{:016x}", hash(&key)));
        let cached = lookup(&dir, &file, &key).expect("hit");
        assert_eq!(cached.encode(), fresh.encode());
        assert_eq!(cached.skipped(), ["nosuchcall"]);
        // Another profile's key never matches this entry.
        let other = key_of_other();
        assert!(lookup(&dir, &file, &other).is_err());
        // Writable by others: not trusted.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(lookup(&dir, &file, &key).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    fn key_of_other() -> Vec<u8> {
        key(&profile(r#"{"defaultAction":"SCMP_ACT_LOG"}"#)).expect("key")
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Program::decode(&[]).is_none());
        assert!(Program::decode(&[0; 13]).is_none());
        assert!(Program::decode(&[0xff; 40]).is_none());
    }
}
