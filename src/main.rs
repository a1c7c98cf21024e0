//! `aws-flow-exporter`: the binary; flags, wiring and exit codes are in [`aws_flow_exporter::cli`].

/// `--features mimalloc`: compared with glibc's allocator in docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aws_flow_exporter::cli::main()
}
