//! Writes the documentation generated from the registry: docs/metrics.md and
//! docs/iam.md (between their markers) and deploy/iam/policy-*.json.
//! `cargo run --example generate-docs`; tests/generated_docs.rs checks them.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = match aws_flow_exporter::docs::files(root) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("generate-docs: {error}");
            return ExitCode::FAILURE;
        }
    };
    for file in files {
        let path = root.join(&file.path);
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == file.text);
        if unchanged {
            continue;
        }
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &file.text));
        if let Err(error) = written {
            eprintln!("generate-docs: {}: {error}", file.path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", file.path.display());
    }
    ExitCode::SUCCESS
}
