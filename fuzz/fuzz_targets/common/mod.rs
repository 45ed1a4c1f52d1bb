//! Scratch space shared by the image fuzz targets (not a target itself).
// Included by several targets; not every one uses every helper.
#![allow(dead_code)]

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_at_exit() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A private directory (0700) for this fuzzing process, on tmpfs where possible:
/// `$HAKO_FUZZ_TMP`, else /dev/shm, else `$TMPDIR`. Removed when the process exits normally
/// (libFuzzer ends with exit()); a crash leaves it for inspection.
pub fn private_dir(target: &str) -> &'static Path {
    DIR.get_or_init(|| {
        let base = std::env::var_os("HAKO_FUZZ_TMP")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("hako-fuzz-{target}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe { libc::atexit(remove_at_exit) };
        dir
    })
}

/// Splits an input into parts at 0xFF bytes, which never occur in UTF-8 text (so never
/// inside JSON, passwd lines or user names).
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == 0xff).collect()
}
