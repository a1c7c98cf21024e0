//! The git revision the exporter is built from, for `--version` and
//! `aws_flow_exporter_build_info{revision}`: `AFE_GIT_REVISION` or
//! `GIT_REVISION` when set (the Dockerfile passes its `REVISION` build
//! argument, since the image builds without `.git`), else
//! `git rev-parse --short=12 HEAD`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=AFE_GIT_REVISION");
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    let given = ["AFE_GIT_REVISION", "GIT_REVISION"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|value| value.trim().to_string())
        .find(|value| !value.is_empty());
    let revision = given.or_else(from_git).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GIT_REVISION={revision}");
}

/// HEAD's short hash, rebuilt when HEAD moves (a commit, a checkout).
fn from_git() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let revision = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD names the branch; the branch's ref (or packed-refs) moves on commit.
    // Only files that exist: cargo reruns the script every build for one that does not.
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    paths.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for path in paths {
        let absolute = git(&["rev-parse", "--path-format=absolute", "--git-path", &path]);
        if let Some(file) = absolute.filter(|f| std::path::Path::new(f).exists()) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    Some(revision)
}
