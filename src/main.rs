//! The `tenantry` binary: parse the command line, set up logging, run the command, and map
//! errors to an exit code.

// The request path allocates many small, short-lived blocks: mimalloc's per-thread free lists
// cut that cost (before/after in docs/benchmarks.md). Built without transparent huge pages
// (Cargo.toml), so an idle connection's thread keeps little memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Everything tenantry writes (data dir, database, WAL, shared memory, secret, backups)
    // holds password hashes, emails and audit: private to the service user from the moment it
    // is created, not chmod-ed afterwards.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let code = tenantry::cli::main();
    std::process::exit(code);
}
