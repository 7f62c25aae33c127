//! What the controller tests share: free ports, a `spiderpool-controller`
//! process that is killed when dropped, readiness, waiting.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spiderpool_k8s::testing::TestResult;

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running controller; SIGKILLed when dropped.
pub struct Controller {
    pub child: Child,
    pub identity: String,
    pub health_port: u16,
    pub webhook_port: u16,
    pub log: PathBuf,
}

impl Controller {
    /// Starts `spiderpool-controller` with `args` besides the kubeconfig,
    /// identity, ports and log level.
    pub fn start(kubeconfig: &std::path::Path, identity: &str, args: &[&str]) -> TestResult<Self> {
        let health_port = free_port();
        let webhook_port = free_port();
        Self::start_on(kubeconfig, identity, webhook_port, health_port, args)
    }

    /// [`Controller::start`] on given ports.
    pub fn start_on(
        kubeconfig: &std::path::Path,
        identity: &str,
        webhook_port: u16,
        health_port: u16,
        args: &[&str],
    ) -> TestResult<Self> {
        let log = std::env::temp_dir().join(format!("spiderpool-controller-test-{identity}.log"));
        let out = std::fs::File::create(&log)?;
        // The reconcilers and the collector touch every pool of the cluster:
        // only tests that ask for them (`--reconcile=true`, `--gc=true`) run
        // them.
        let off = |flag: &'static str| {
            (!args.iter().any(|a| a.starts_with(flag))).then(|| format!("{flag}=false"))
        };
        // The metrics port is off unless the test chooses one.
        let metrics_off = (!args.iter().any(|a| a.starts_with("--metrics-port")))
            .then_some(["--metrics-port", "0"]);
        let child = Command::new(env!("CARGO_BIN_EXE_spiderpool-controller"))
            .args(off("--reconcile"))
            .args(off("--gc"))
            .args(metrics_off.into_iter().flatten())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--identity", identity])
            .args(["--webhook-address", "127.0.0.1", "--webhook-port", &webhook_port.to_string()])
            .args(["--health-address", "127.0.0.1", "--health-port", &health_port.to_string()])
            .args(["--log-level", "debug"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Self { child, identity: identity.to_owned(), health_port, webhook_port, log })
    }

    /// GET on the health port; (status, body).
    pub fn health(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.health_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let status = out.split_whitespace().nth(1)?.parse().ok()?;
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        Some((status, body))
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, limit: Duration) -> TestResult<()> {
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "controller {} exited ({status}): {}",
                    self.identity,
                    self.log_text()
                )
                .into());
            }
            last = self.health("/readyz");
            if matches!(last, Some((200, _))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "controller {} not ready after {limit:?}: {last:?}\n{}",
            self.identity,
            self.log_text()
        )
        .into())
    }

    /// GET on `127.0.0.1:port` (the metrics port): the body, if it answers 200.
    pub fn scrape(port: u16) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/1.1 200")
            .then(|| out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned())
    }

    /// The process's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (by the child's own handle), then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit (at most `limit`).
    pub fn terminate(&mut self, limit: Duration) -> TestResult<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(
                    format!("controller {} did not exit within {limit:?}", self.identity).into()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `limit` for `check` to give `Some`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(v) = check().await {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{what}: not within {limit:?}").into())
}
