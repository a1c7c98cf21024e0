//! The generated documentation (docs/metrics.md, docs/iam.md, the policies in
//! deploy/iam/) is what the registry generates today.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_flow_exporter::docs;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_docs_are_those_the_registry_generates() {
    let files = docs::files(repo()).unwrap_or_else(|e| panic!("{e}"));
    let mut stale = Vec::new();
    for file in &files {
        let committed = std::fs::read_to_string(repo().join(&file.path)).unwrap_or_default();
        if committed != file.text {
            stale.push(file.path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from what the registry generates: run `{}` and commit them",
        stale.join(", "),
        docs::COMMAND
    );
}

/// A policy file the generator no longer writes (a service or variant gone) is not left behind.
#[test]
fn no_stale_policy_file() {
    let generated: BTreeSet<PathBuf> = docs::policy_paths().into_iter().collect();
    let dir = repo().join("deploy/iam");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.starts_with("policy-") && name.ends_with(".json") {
            let path = Path::new("deploy/iam").join(&name);
            assert!(
                generated.contains(&path),
                "{} is not generated any more: delete it (`{}` writes the others)",
                path.display(),
                docs::COMMAND
            );
        }
    }
}
