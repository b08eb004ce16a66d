//! Records the commit the operator is built from, for `nodehealth_build_info{commit}`:
//! `NODEHEALTH_COMMIT` if set (an image build without `.git` passes it), else `git rev-parse`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NODEHEALTH_COMMIT");
    if std::env::var("NODEHEALTH_COMMIT").is_ok_and(|c| !c.is_empty()) {
        return;
    }
    // A new commit moves the branch's ref (or HEAD itself, when detached).
    let head = Path::new(".git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(r) = std::fs::read_to_string(head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_owned()))
        {
            println!("cargo:rerun-if-changed=.git/{r}");
        }
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    if let Some(c) = commit {
        println!("cargo:rustc-env=NODEHEALTH_COMMIT={}", c.trim());
    }
}
