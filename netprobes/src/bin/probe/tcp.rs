//! `bergamot-probe tcp` (being written: exits UNKNOWN until its probe lands).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Arguments, ignored until this probe lands.
    rest: Vec<String>,
}

pub fn run(_args: Args) -> ExitCode {
    println!("UNKNOWN - bergamot-probe tcp is not built yet");
    ExitCode::from(3)
}
