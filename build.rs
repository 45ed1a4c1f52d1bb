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
    // In a git worktree `.git` is a file: ask git where HEAD and the branch refs really are.
    // A watched path that does not exist would make cargo rerun this script (and rebuild
    // hako) on every build.
    let paths = git(&[
        "rev-parse",
        "--git-path",
        "HEAD",
        "--git-path",
        "refs/heads",
    ])
    .unwrap_or_else(|| ".git/HEAD\n.git/refs/heads\n".to_string());
    for p in paths.lines().filter(|l| !l.is_empty()) {
        println!("cargo:rerun-if-changed={p}");
    }
}
