//! `bergamot-probe`: run one kind of probe from the command line with the flags
//! operators already know (fping, check_nrpe, net-snmp, check_tcp); plugin-style exit
//! codes and output. It is also the benchmark driver.

mod probe;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "bergamot-probe", version, about = "Bergamot's native probes from the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// ICMP echo, with fping's flags.
    Ping(probe::ping::Args),
    /// NRPE query, with check_nrpe's flags.
    Nrpe(probe::nrpe::Args),
    /// SNMP get and walk, with net-snmp's flags.
    Snmp(probe::snmp::Args),
    /// TCP connect (and optional send/expect, TLS), with check_tcp's flags.
    Tcp(probe::tcp::Args),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Ping(a) => probe::ping::run(a),
        Command::Nrpe(a) => probe::nrpe::run(a),
        Command::Snmp(a) => probe::snmp::run(a),
        Command::Tcp(a) => probe::tcp::run(a),
    }
}
