//! The `tenantry` binary: parse the command line, set up logging, run the command, and map
//! errors to an exit code.

fn main() {
    let code = tenantry::cli::main();
    std::process::exit(code);
}
