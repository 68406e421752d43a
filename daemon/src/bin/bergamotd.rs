//! Entry point of `bergamotd`, the monitoring daemon (see `bergamot_daemon::run`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bergamot_daemon::run::main()
}
