//! Entry point of `bergamot-cli`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same value in v2 and v3;
/// libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // A one-shot command: memory freed between configuration files is reused by the
    // next file, so handing it back to the OS and faulting it in again is wasted
    // work (measured: a third of the wall time at 100,000 hosts, and what made the
    // cost per host grow with N). The daemon keeps mimalloc's default.
    #[allow(unsafe_code)]
    // SAFETY: sets one option word before any other thread exists; mimalloc reads
    // options atomically.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
    bergamot_daemon::cli::main()
}
