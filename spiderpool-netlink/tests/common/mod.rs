//! Shared by the namespace tests of this crate: the root check and a test
//! namespace that is deleted (with its links) on drop, also on panic. Names
//! are unique per process (pid + counter), so parallel runs never collide.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use spiderpool_netlink::Netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A number not handed out before in this process (for unique link names).
pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// True when running as root with iproute2; otherwise prints why the test is
/// skipped.
pub fn root() -> bool {
    let ok = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
        && Command::new("ip").arg("-V").output().is_ok();
    if !ok {
        eprintln!("SKIP: needs root and iproute2 to create test namespaces");
    }
    ok
}

/// A network namespace that is deleted (with its links) on drop.
pub struct TestNs {
    pub name: String,
}

impl TestNs {
    /// A new namespace `<prefix><tag><pid>x<n>` with `lo` up.
    pub fn new(prefix: &str, tag: &str) -> Self {
        let n = unique();
        let name = format!("{prefix}{tag}{}x{n}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn netns(&self) -> Netns {
        Netns::path(format!("/var/run/netns/{}", self.name))
    }

    /// `ip -n NAME ARGS...`; panics naming the command when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip netns exec NAME ARGS...`.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// A sysctl as seen inside the namespace.
    pub fn sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = self.exec(&["cat", &path]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs a command; panics naming it when it fails. Returns its stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("spawn");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
