//! `spiderpoolctl`: check Spiderpool resources offline (`validate`), print the
//! NetworkAttachmentDefinition a SpiderMultusConfig produces (`render-nad`),
//! compute coordinator route plans offline (`plan`) and run CNI chains the way
//! a container runtime does (`cni`). See `docs/cli.md`.
//!
//! Output that cannot be written (standard output or error closed, a pipe
//! whose reader left) ends the run with an error status, never a panic: no
//! `println!`/`eprintln!` here.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use spiderpool_bin::ctl::{self, Cli, EXIT_BAD_INPUT};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help, version or a usage error: clap's text and exit code, unless
        // the text cannot be written.
        Err(e) => {
            return match e.print() {
                Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_BAD_INPUT)),
                Err(_) => ExitCode::from(EXIT_BAD_INPUT),
            };
        }
    };
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Standard error may be gone too: the status says it then.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
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
