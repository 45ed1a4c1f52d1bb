//! Mount options from config.json, split into what each syscall takes: classic mount(2) flags,
//! propagation changes, mount_setattr attributes (plain and recursive) and the data string.

use crate::sys::{
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME, MountAttr,
};
use libc::c_ulong;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags for mount(2) (without bind/propagation bits).
    pub flags: c_ulong,
    pub bind: bool,
    pub recursive_bind: bool,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<c_ulong>,
    /// Attributes for mount_setattr on the mount itself (bind mounts use this for ro, nosuid…).
    pub attr: MountAttr,
    /// Attributes for mount_setattr(AT_RECURSIVE): the `r*` options (rro, rnosuid, …).
    pub rec_attr: MountAttr,
    /// Everything else, passed as the filesystem's data string.
    pub data: Vec<String>,
    /// `tmpcopyup` (runc's extension, tmpfs only): the new tmpfs starts with a copy of what
    /// the destination directory held in the image.
    pub tmpcopyup: bool,
}

pub fn propagation_flag(name: &str) -> Option<c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// (set?, MS flag, the same as a mount_setattr attribute, or 0 where there is none)
fn classic(name: &str) -> Option<(bool, c_ulong, u64)> {
    Some(match name {
        "defaults" => (true, 0, 0),
        "ro" => (true, libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        "rw" => (false, libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        "nosuid" => (true, libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        "suid" => (false, libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        "nodev" => (true, libc::MS_NODEV, MOUNT_ATTR_NODEV),
        "dev" => (false, libc::MS_NODEV, MOUNT_ATTR_NODEV),
        "noexec" => (true, libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        "exec" => (false, libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        "sync" => (true, libc::MS_SYNCHRONOUS, 0),
        "async" => (false, libc::MS_SYNCHRONOUS, 0),
        "dirsync" => (true, libc::MS_DIRSYNC, 0),
        "remount" => (true, libc::MS_REMOUNT, 0),
        "mand" => (true, libc::MS_MANDLOCK, 0),
        "nomand" => (false, libc::MS_MANDLOCK, 0),
        "noatime" => (true, libc::MS_NOATIME, 0),
        "atime" => (false, libc::MS_NOATIME, 0),
        "nodiratime" => (true, libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        "diratime" => (false, libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        "relatime" => (true, libc::MS_RELATIME, 0),
        "norelatime" => (false, libc::MS_RELATIME, 0),
        "strictatime" => (true, libc::MS_STRICTATIME, 0),
        "nostrictatime" => (false, libc::MS_STRICTATIME, 0),
        "lazytime" => (true, libc::MS_LAZYTIME, 0),
        "nolazytime" => (false, libc::MS_LAZYTIME, 0),
        "silent" => (true, libc::MS_SILENT, 0),
        "loud" => (false, libc::MS_SILENT, 0),
        "iversion" => (true, libc::MS_I_VERSION, 0),
        "noiversion" => (false, libc::MS_I_VERSION, 0),
        "nosymfollow" => (true, 256, MOUNT_ATTR_NOSYMFOLLOW),
        "symfollow" => (false, 256, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The `r*` recursive options (runc's mount_setattr set): (set?, attribute).
fn recursive(name: &str) -> Option<(bool, u64)> {
    Some(match name {
        "rro" => (true, MOUNT_ATTR_RDONLY),
        "rrw" => (false, MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, MOUNT_ATTR_NOSUID),
        "rsuid" => (false, MOUNT_ATTR_NOSUID),
        "rnodev" => (true, MOUNT_ATTR_NODEV),
        "rdev" => (false, MOUNT_ATTR_NODEV),
        "rnoexec" => (true, MOUNT_ATTR_NOEXEC),
        "rexec" => (false, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Recursive atime options replace the whole atime field.
fn recursive_atime(name: &str) -> Option<u64> {
    Some(match name {
        "rrelatime" => MOUNT_ATTR_RELATIME,
        "rnoatime" => MOUNT_ATTR_NOATIME,
        "rstrictatime" => MOUNT_ATTR_STRICTATIME,
        _ => return None,
    })
}

/// Options hako recognises but does not implement yet: an error, not a silent data string.
const UNIMPLEMENTED: &[&str] = &[
    "idmap",
    "ridmap",
    "copy-symlink",
    "src-nofollow",
    "dest-nofollow",
    "r",
    "rnorelatime",
    "ratime",
    "rnostrictatime",
];

pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for opt in options {
        let name = opt.as_str();
        if name == "bind" {
            o.bind = true;
        } else if name == "tmpcopyup" {
            o.tmpcopyup = true;
        } else if name == "rbind" {
            o.bind = true;
            o.recursive_bind = true;
        } else if let Some(p) = propagation_flag(name) {
            o.propagation.push(p);
        } else if let Some((set, flag, attr)) = classic(name) {
            if set {
                o.flags |= flag;
                o.attr.attr_set |= attr;
                o.attr.attr_clr &= !attr;
            } else {
                o.flags &= !flag;
                o.attr.attr_set &= !attr;
                o.attr.attr_clr |= attr;
            }
            // The atime family is one field for mount_setattr.
            match name {
                "noatime" => set_atime(&mut o.attr, MOUNT_ATTR_NOATIME),
                "relatime" => set_atime(&mut o.attr, MOUNT_ATTR_RELATIME),
                "strictatime" => set_atime(&mut o.attr, MOUNT_ATTR_STRICTATIME),
                _ => {}
            }
        } else if let Some((set, attr)) = recursive(name) {
            if set {
                o.rec_attr.attr_set |= attr;
                o.rec_attr.attr_clr &= !attr;
            } else {
                o.rec_attr.attr_set &= !attr;
                o.rec_attr.attr_clr |= attr;
            }
        } else if let Some(a) = recursive_atime(name) {
            set_atime(&mut o.rec_attr, a);
        } else if UNIMPLEMENTED.contains(&name) {
            return Err(format!("mount option {name:?} is not supported yet"));
        } else {
            o.data.push(opt.clone());
        }
    }
    Ok(o)
}

fn set_atime(attr: &mut MountAttr, value: u64) {
    attr.attr_clr |= MOUNT_ATTR__ATIME;
    attr.attr_set = (attr.attr_set & !MOUNT_ATTR__ATIME) | value;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parses")
    }

    #[test]
    fn splits_options_by_syscall() {
        let o = p(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "ro",
            "rslave",
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert!(o.attr.attr_set & MOUNT_ATTR_RDONLY != 0);
    }

    #[test]
    fn rw_after_ro_wins() {
        let o = p(&["ro", "rw"]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert!(o.attr.attr_clr & MOUNT_ATTR_RDONLY != 0);
    }

    #[test]
    fn recursive_options() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert!(o.bind && o.recursive_bind);
        assert_eq!(
            o.rec_attr.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_attr.attr_clr, MOUNT_ATTR__ATIME);
    }

    #[test]
    fn unimplemented_options_error() {
        assert!(parse(&["idmap".to_string()]).is_err());
    }
}
