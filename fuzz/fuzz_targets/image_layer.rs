//! A layer blob applied into a fresh rootfs the way hako-bundle does it: the reader thread
//! sniffs gzip / zstd / plain tar and streams chunks, the applier creates the entries
//! (whiteouts, symlinks, hard links, devices, xattrs, …) through in-root fds, then the
//! deferred directory metadata is applied. Errors are fine; panics are not, and neither is
//! anything created outside the rootfs: the rootfs is made at PRIVATE/up/rootfs and after
//! every run PRIVATE must hold only `up`, `up` only `rootfs`, and `rootfs` must still be a
//! directory (`..`-style escapes land in one of them). Run as root by integration/fuzz.sh,
//! the host is read-only but for the fuzz work dirs and /dev/shm, and EROFS fails the run:
//! an escape to an absolute host path is caught too, and never written.
//!
//! Input: byte 0 = options (bit 0: rootless unpacking, forced when not root; bit 1: id maps
//! 0:100000:65536 for uids and gids), the rest = the layer blob.
#![no_main]

mod common;

use hako::image::{apply, layer, resolve};
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Scratch {
    private: &'static Path,
    up: PathBuf,
    rootfs: PathBuf,
    euid: u32,
}

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let private = common::private_dir("image_layer");
        let up = private.join("up");
        std::fs::create_dir(&up).expect("mkdir up");
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        // The unpacker writes files with exactly the modes the image gives, as hako-bundle.
        // SAFETY: umask only changes this process's file-creation mask.
        unsafe { libc::umask(0) };
        Scratch {
            private,
            rootfs: up.join("rootfs"),
            up,
            euid,
        }
    })
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

fn unpack(data: &[u8], rootless: bool, maps: bool, rootfs: &Path) {
    let map = vec![apply::IdMap {
        container: 0,
        host: 100_000,
        size: 65536,
    }];
    let opts = apply::Options {
        rootless,
        uid_map: if maps { map.clone() } else { Vec::new() },
        gid_map: if maps { map } else { Vec::new() },
    };
    let mut applier = apply::Applier::new(rootfs, opts).expect("open rootfs");
    let mut pipe = layer::spawn(
        Box::new(std::io::Cursor::new(data.to_vec())),
        layer::LayerSpec {
            name: "fuzz".into(),
            blob: None,
            diff_id: None,
        },
    );
    let applied = applier.apply_layer(&mut pipe.reader);
    let verified = pipe.finish();
    let finished = if applied.is_ok() && verified.is_ok() {
        applier.finish().err()
    } else {
        None
    };
    // integration/fuzz.sh runs this target (as root) with everything but its work dirs and
    // /dev/shm read-only: a write that escaped the rootfs to anywhere else fails with EROFS,
    // which is a finding, not an ordinary error. The check walks the error chain for the
    // errno rather than matching text: entry names (which the fuzzer controls) are in the
    // messages.
    let errors: [Option<&(dyn std::error::Error + 'static)>; 3] = [
        applied.as_ref().err().map(|e| e as _),
        verified.as_ref().err().map(|e| e as _),
        finished.as_ref().map(|e| e as _),
    ];
    for e in errors.into_iter().flatten() {
        assert!(
            !hit_read_only_host(e),
            "a write outside the rootfs hit the read-only host: {e}"
        );
    }
}

fn hit_read_only_host(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        // ApplyError::Tar holds its io::Error without naming it as the source.
        let io = err.downcast_ref::<std::io::Error>().or_else(|| {
            match err.downcast_ref::<apply::ApplyError>() {
                Some(apply::ApplyError::Tar(io)) => Some(io),
                _ => None,
            }
        });
        if io.is_some_and(|io| io.raw_os_error() == Some(libc::EROFS)) {
            return true;
        }
        next = err.source();
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, blob)) = data.split_first() else {
        return;
    };
    let s = scratch();
    let rootless = opts & 1 != 0 || s.euid != 0;
    // As hako-bundle makes it: 0755 unless the layer's own "./" entry says otherwise.
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&s.rootfs)
        .expect("mkdir rootfs");

    unpack(blob, rootless, opts & 2 != 0, &s.rootfs);

    let only = |dir: &Path, want: &str| {
        let n = names(dir);
        assert!(
            n == [want],
            "something was created outside the rootfs: {} holds {n:?}",
            dir.display()
        );
    };
    only(s.private, "up");
    only(&s.up, "rootfs");
    let m = std::fs::symlink_metadata(&s.rootfs).expect("rootfs");
    assert!(
        m.is_dir(),
        "the rootfs was replaced by a {:?}",
        m.file_type()
    );
    // A "./" entry may have made the rootfs unreadable for a non-root unpacker.
    let _ = std::fs::set_permissions(&s.rootfs, std::fs::Permissions::from_mode(0o700));
    resolve::remove_tree(&s.rootfs, rootless)
        .unwrap_or_else(|e| panic!("cannot remove {}: {e}", s.rootfs.display()));
});
