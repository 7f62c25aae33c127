//! `spiderpoolctl` with its standard output and error attached to pipes
//! nobody reads (issue 9, item 13): it must exit with an error status, not
//! panic (exit 101) while reporting that it could not write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Runs spiderpoolctl in `tests/fixtures` with stdout and stderr on a pipe
/// whose read end is closed; returns the exit code.
fn run_into_closed_pipe(args: &[&str]) -> i32 {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let status = Command::new(env!("CARGO_BIN_EXE_spiderpoolctl"))
        .args(args)
        .current_dir(fixtures)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap();
    status.code().unwrap_or_else(|| panic!("{args:?}: killed by a signal: {status:?}"))
}

#[test]
fn ctl_with_closed_stdout_and_stderr_exits_with_an_error_not_a_panic() {
    for args in [
        &["validate", "-f", "reservedips.yaml"][..],
        &["validate", "-f", "coordinator-invalid.yaml"],
        &["validate", "-f", "does-not-exist.yaml"],
        &["render-nad", "-f", "smc-macvlan-ens192.yaml"],
        &["--help"],
        &["no-such-command"],
    ] {
        let code = run_into_closed_pipe(args);
        assert_ne!(code, 101, "{args:?}: panicked");
        assert_ne!(code, 0, "{args:?}: its output was lost, yet it reported success");
    }
}
