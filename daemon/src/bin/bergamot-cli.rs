//! Entry point of `bergamot-cli`.

fn main() {}
