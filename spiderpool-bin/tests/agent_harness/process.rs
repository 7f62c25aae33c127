//! The real `spiderpool-agent` binary as a child process: started with the
//! arguments a test gives, its output (logs go to stdout, errors to stderr)
//! kept in a file for the test to read, killed (SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use spiderpool_bin::agent_client::request_json;

/// A running agent.
pub struct AgentProcess {
    /// The child.
    pub child: Child,
    /// Its socket.
    pub socket: PathBuf,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl AgentProcess {
    /// Runs `command` (the agent, or a wrapper that execs it) with stdout
    /// and stderr appended to `log`.
    pub fn spawn(mut command: Command, socket: &Path, log: &Path) -> AgentProcess {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = command.stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn().unwrap();
        AgentProcess { child, socket: socket.to_path_buf(), log: log.to_path_buf() }
    }

    /// The agent binary with `--node-name n1 --health-port 0 --socket SOCKET`
    /// and `args`, its output appended to `log`.
    pub fn start(socket: &Path, log: &Path, args: &[&std::ffi::OsStr]) -> AgentProcess {
        Self::spawn(agent_command(socket, args), socket, log)
    }

    /// Waits until `GET /v1/ipam/healthy` answers 200 (panics with the log
    /// after `within`, or when the process exits).
    pub fn wait_healthy(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = request_json(
                &self.socket,
                "GET",
                "/v1/ipam/healthy",
                &json!({}),
                Duration::from_secs(2),
            );
            if matches!(got, Ok(Some(_))) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "agent exited with {status} before it was healthy; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "agent not healthy after {within:?} ({got:?}); log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit (panics after `within`).
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "agent still running after {within:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(20))
    }

    /// What the agent logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent command: `--node-name n1 --socket SOCKET`, `--health-port 0`
/// unless `args` name one, and `args`, with the environment's SPIDERPOOL_*
/// settings removed.
pub fn agent_command(socket: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"));
    c.args(["--node-name", "n1", "--socket"]).arg(socket);
    if !args.iter().any(|a| *a == "--health-port") {
        c.args(["--health-port", "0"]);
    }
    c.args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SPIDERPOOL_") {
            c.env_remove(k);
        }
    }
    c
}
