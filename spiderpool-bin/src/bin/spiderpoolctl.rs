//! `spiderpoolctl`: check Spiderpool resources offline (`validate`), print the
//! NetworkAttachmentDefinition a SpiderMultusConfig produces (`render-nad`),
//! compute coordinator route plans offline (`plan`) and run CNI chains the way
//! a container runtime does (`cni`). See `docs/cli.md`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use spiderpool_bin::ctl::{self, Cli, EXIT_BAD_INPUT};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let code = ctl::run(cli, &mut stdin.lock(), &mut stdout, &mut stderr)?;
    stdout.flush().context("writing standard output")?;
    Ok(code)
}
