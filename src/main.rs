//! `aws-flow-exporter`: the binary; flags, wiring and exit codes are in [`aws_flow_exporter::cli`].

fn main() -> std::process::ExitCode {
    aws_flow_exporter::cli::main()
}
