//! Entry point of `bergamot-cli`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bergamot_daemon::cli::main()
}
