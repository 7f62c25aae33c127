//! Sysctls through `/proc/sys`. `/proc/sys/net` shows the network namespace of
//! the thread that opens the file, so these run on a thread inside the
//! namespace (see the `sysctl_follows_thread_netns` test).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The `/proc/sys` path of a dotted key (`net.ipv4.conf.all.rp_filter`). Only
/// `net.*` keys are accepted: they are the per-namespace ones.
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let bad = |reason| Error::Invalid { field: "sysctl key", value: key.to_string(), reason };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.first() != Some(&"net") || parts.len() < 2 {
        return Err(bad("only net.* keys are per network namespace"));
    }
    if parts.iter().any(|p| p.is_empty() || p.contains('/') || *p == "..") {
        return Err(bad("empty component, '/' or '..'"));
    }
    let mut path = PathBuf::from("/proc/sys");
    path.extend(parts);
    Ok(path)
}

/// Reads a sysctl in the calling thread's namespace, trimmed.
pub fn read_sysctl(key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    std::fs::read_to_string(&path).map(|s| s.trim().to_string()).map_err(|cause| Error::Sysctl {
        key: key.to_string(),
        path,
        cause,
    })
}

/// Writes a sysctl in the calling thread's namespace.
pub(crate) fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    std::fs::write(&path, value.as_bytes()).map_err(|cause| Error::Sysctl {
        key: key.to_string(),
        path,
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_sys_net_only() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.all.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
        for bad in ["kernel.panic", "net", "net..x", "net.ipv4/../../x", "net.ipv4.conf.."] {
            let e = sysctl_path(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
