// Records the git commit for `hako --version` (runc prints a `commit:` line that tools parse).
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HAKO_COMMIT={commit}");
    // Watch HEAD and the ref of the branch checked out (or packed-refs when that ref is
    // packed), not all of refs/heads: a commit on another branch or worktree must not
    // rebuild hako. git says where they are (in a worktree `.git` is a file). A watched path
    // that does not exist would make cargo rerun this script on every build.
    let mut watch = Vec::new();
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        watch.push(head.trim().to_string());
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(loose) = git(&["rev-parse", "--git-path", r.trim()])
    {
        let loose = loose.trim().to_string();
        if std::path::Path::new(&loose).exists() {
            watch.push(loose);
        } else if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
            watch.push(packed.trim().to_string());
        }
    }
    for p in watch.iter().filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={p}");
    }
    if watch.is_empty() {
        // Not a git checkout (a source tarball): nothing to watch but this script.
        println!("cargo:rerun-if-changed=build.rs");
    }
}
