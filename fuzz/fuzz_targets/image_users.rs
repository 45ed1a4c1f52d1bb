//! The image's Config.User resolved against its /etc/passwd and /etc/group, as hako-bundle
//! does for config.json's process.user: errors, never panics. A fully numeric `uid:gid` is
//! taken as is, an empty user is root, and the additional gids are distinct and never repeat
//! the primary gid.
//!
//! Input: parts separated by 0xFF bytes: the user spec, /etc/passwd, /etc/group (a missing
//! part means the file is absent). The files are written into a private rootfs and read
//! through the same in-root open hako-bundle uses.
#![no_main]

mod common;

use hako::image::users;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Scratch {
    etc: PathBuf,
    root: std::fs::File,
}

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let rootfs = common::private_dir("image_users").join("rootfs");
        let etc = rootfs.join("etc");
        std::fs::create_dir_all(&etc).expect("mkdir etc");
        Scratch {
            etc,
            root: std::fs::File::open(&rootfs).expect("open rootfs"),
        }
    })
}

fn put(path: PathBuf, content: Option<&[u8]>) {
    match content {
        Some(c) => std::fs::write(&path, c).expect("write"),
        None => match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", path.display()),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let parts = common::parts(data);
    let spec = String::from_utf8_lossy(parts[0]);
    put(s.etc.join("passwd"), parts.get(1).copied());
    put(s.etc.join("group"), parts.get(2).copied());

    let Ok(u) = users::resolve(std::os::fd::AsFd::as_fd(&s.root), &spec) else {
        return;
    };
    if spec.is_empty() {
        assert_eq!((u.uid, u.gid), (0, 0));
    }
    if let Some((a, b)) = spec.split_once(':')
        && let (Ok(uid), Ok(gid)) = (a.parse::<u32>(), b.parse::<u32>())
    {
        assert_eq!((u.uid, u.gid), (uid, gid));
        assert!(u.additional_gids.is_empty());
    }
    let mut seen = std::collections::HashSet::new();
    for g in &u.additional_gids {
        assert_ne!(*g, u.gid, "additional gids repeat the primary gid: {u:?}");
        assert!(seen.insert(*g), "additional gids repeat {g}: {u:?}");
    }
});
