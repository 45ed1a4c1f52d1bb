//! `Config.User` → uid, gid and additional gids, with names looked up in the unpacked
//! rootfs's /etc/passwd and /etc/group (opened in-root, so a symlinked /etc/passwd cannot
//! make us read a host file).

use crate::image::resolve;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("image user {0:?}: no such user in the image's /etc/passwd")]
    UnknownUser(String),
    #[error("image user {0:?}: no such group in the image's /etc/group")]
    UnknownGroup(String),
    #[error("image user {0:?}: invalid user specification")]
    Invalid(String),
    #[error("reading the image's {file}: {source}")]
    Read {
        file: &'static str,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn read_file(root: BorrowedFd<'_>, rel: &'static str) -> Result<String, UserError> {
    let err = |source| UserError::Read { file: rel, source };
    let Some(f) =
        resolve::open_in_root(root, Path::new(rel.trim_start_matches('/'))).map_err(err)?
    else {
        return Ok(String::new());
    };
    let mut buf = Vec::new();
    f.take(16 << 20).read_to_end(&mut buf).map_err(err)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`, …) against the rootfs.
pub fn resolve(root: BorrowedFd<'_>, spec: &str) -> Result<User, UserError> {
    if spec.is_empty() {
        return Ok(User {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
        });
    }
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if u.is_empty() || g.is_some_and(str::is_empty) {
        return Err(UserError::Invalid(spec.to_string()));
    }
    let numeric_u = u.parse::<u32>().ok();
    let numeric_g = g.and_then(|g| g.parse::<u32>().ok());
    // Fully numeric: copy as is, nothing to look up (conversion.md).
    if let (Some(uid), Some(gid)) = (numeric_u, numeric_g) {
        return Ok(User {
            uid,
            gid,
            additional_gids: Vec::new(),
        });
    }
    let passwd = parse_passwd(&read_file(root, "/etc/passwd")?);
    let entry = match numeric_u {
        Some(uid) => passwd.iter().find(|p| p.uid == uid),
        None => passwd.iter().find(|p| p.name == u),
    };
    let (uid, user_name, primary) = match (numeric_u, entry) {
        (_, Some(p)) => (p.uid, Some(p.name.clone()), p.gid),
        (Some(uid), None) => (uid, None, 0),
        (None, None) => return Err(UserError::UnknownUser(spec.to_string())),
    };
    let needs_group_file = g.is_none() || numeric_g.is_none();
    let groups = if needs_group_file {
        parse_group(&read_file(root, "/etc/group")?)
    } else {
        Vec::new()
    };
    match g {
        Some(g) => {
            let gid = match numeric_g {
                Some(gid) => gid,
                None => groups
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| UserError::UnknownGroup(spec.to_string()))?,
            };
            Ok(User {
                uid,
                gid,
                additional_gids: Vec::new(),
            })
        }
        None => {
            // Supplementary groups: every group listing the user, as `initgroups` would,
            // each gid once (in /etc/group order) however many group lines share it.
            let mut seen = std::collections::HashSet::new();
            let additional: Vec<u32> = match &user_name {
                Some(n) => groups
                    .iter()
                    .filter(|e| e.members.iter().any(|m| m == n) && e.gid != primary)
                    .map(|e| e.gid)
                    .filter(|g| seen.insert(*g))
                    .collect(),
                None => Vec::new(),
            };
            Ok(User {
                uid,
                gid: primary,
                additional_gids: additional,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files() {
        let p = parse_passwd("root:x:0:0:root:/root:/bin/sh\nbad\nweb:x:33:44::/:/bin/false\n");
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].uid, p[1].gid), (33, 44));
        let g = parse_group("root:x:0:\nstaff:x:50:web,other\n");
        assert_eq!(g[1].members, vec!["web", "other"]);
    }

    #[test]
    fn additional_gids_once_each() {
        let dir = std::env::temp_dir().join(format!("hako-users-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
        std::fs::write(dir.join("etc/passwd"), "web:x:33:33::/:/bin/sh\n").expect("passwd");
        // Two group lines with gid 10 (found by the fuzzer), and the primary group listed.
        std::fs::write(
            dir.join("etc/group"),
            "a:x:10:web\nweb:x:33:web\nb:x:11:web\nc:x:10:other,web\n",
        )
        .expect("group");
        let root = std::fs::File::open(&dir).expect("open");
        let u = resolve(std::os::fd::AsFd::as_fd(&root), "web");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            u.expect("resolve"),
            User {
                uid: 33,
                gid: 33,
                additional_gids: vec![10, 11],
            }
        );
    }
}
