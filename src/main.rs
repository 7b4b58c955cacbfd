//! The `billrun` command.

fn main() -> std::process::ExitCode {
    billrun::cli::main()
}
