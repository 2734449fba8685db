//! The `etl` binary: everything lives in the library; this only hands over the arguments.

fn main() -> std::process::ExitCode {
    etl::main(std::env::args_os())
}
