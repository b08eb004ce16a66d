//! The layout holds: the pure parts (the vocabulary, the exposition parser, the chain readers,
//! the rules) know nothing of Kubernetes, HTTP clients or the async runtime, so they stay
//! testable without servers and a new chain cannot reach for the network.

use std::path::{Path, PathBuf};

/// Crates only the shells may use.
const SHELL_CRATES: [&str; 7] = ["kube", "k8s_openapi", "reqwest", "tokio", "hyper", "axum", "futures"];
/// Folders and files; the leader election and the shard hash are decided purely too.
const PURE: [&str; 7] = [
    "src/model",
    "src/exposition",
    "src/chains",
    "src/assess",
    "src/election.rs",
    "src/election",
    "src/shard.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Where `krate` is named as a path in `line` (`use kube::…`, `kube::Api`, `::tokio::spawn`).
fn names(line: &str, krate: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices(&format!("{krate}::")).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn the_pure_modules_import_no_shell_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for part in PURE {
        let path = root.join(part);
        if path.is_file() {
            files.push(path);
        } else {
            rust_files(&path, &mut files);
        }
    }
    assert!(
        files.len() >= 15,
        "found only {} files: did the layout move?",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for krate in SHELL_CRATES {
                if names(line, krate) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pure modules naming shell crates:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_looks_for() {
    assert!(names("use kube::Api;", "kube"));
    assert!(names("    let c = ::tokio::spawn(x);", "tokio"));
    assert!(names("fn f(p: &k8s_openapi::api::core::v1::Pod) {}", "k8s_openapi"));
    assert!(
        !names("use crate::kubelet::x;", "kube"),
        "another name that starts alike"
    );
    assert!(!names("// kube:: in a comment", "kube"));
}
