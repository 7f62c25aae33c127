//! The result cache, in libcni's layout and format so that other tools can
//! read it: `<cache-dir>/results/<network>-<containerID>-<ifname>` holding
//! `{"kind":"cniCacheV1","containerId","ifName","networkName","netns",
//! "cniArgs","config","result"}` (`config` is the network's bytes in base64,
//! as Go encodes a `[]byte`).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spiderpool_core::cni::Attachment;

use super::ChainError;

/// libcni's cache format tag.
pub const CACHE_KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Always [`CACHE_KIND`].
    pub kind: String,
    /// The container ID.
    #[serde(rename = "containerId")]
    pub container_id: String,
    /// The interface name.
    #[serde(rename = "ifName")]
    pub if_name: String,
    /// The network (list) name.
    #[serde(rename = "networkName")]
    pub network_name: String,
    /// The netns path given at ADD.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub netns: String,
    /// `CNI_ARGS` as key/value pairs.
    #[serde(rename = "cniArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub cni_args: Vec<[String; 2]>,
    /// The network configuration, base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// The final ADD result, in the network's version.
    #[serde(default)]
    pub result: Value,
}

/// The cache file of one attachment.
pub fn entry_path(cache_dir: &Path, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    cache_dir.join("results").join(format!("{network}-{container_id}-{ifname}"))
}

fn cache_err(path: &Path, reason: impl std::fmt::Display) -> ChainError {
    ChainError::Cache { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Reads an entry; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<CacheEntry>, ChainError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cache_err(path, e)),
    };
    let entry: CacheEntry = serde_json::from_str(&text).map_err(|e| cache_err(path, e))?;
    if entry.kind != CACHE_KIND {
        return Err(cache_err(path, format!("kind {:?} is not {CACHE_KIND:?}", entry.kind)));
    }
    Ok(Some(entry))
}

/// Writes an entry atomically (temporary file, then rename), directories
/// mode 0700 and the file 0600 as libcni does.
pub fn write(path: &Path, entry: &CacheEntry) -> Result<(), ChainError> {
    let dir = path.parent().ok_or_else(|| cache_err(path, "no parent directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| cache_err(dir, e))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let text = serde_json::to_vec(entry).map_err(|e| cache_err(path, e))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| cache_err(&tmp, e))?;
    f.write_all(&text).and_then(|()| f.sync_all()).map_err(|e| cache_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| cache_err(path, e))
}

/// Removes an entry; a missing one is fine.
pub fn remove(path: &Path) -> Result<(), ChainError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(cache_err(path, e)),
    }
}

/// The attachments cached for `network` (GC's `cni.dev/valid-attachments`),
/// sorted. Unreadable or foreign files are skipped; a missing cache is empty.
pub fn attachments(cache_dir: &Path, network: &str) -> Result<Vec<Attachment>, ChainError> {
    let dir = cache_dir.join("results");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(cache_err(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if let Ok(Some(e)) = read(&entry.path())
            && e.network_name == network
        {
            out.push(Attachment { container_id: e.container_id, ifname: e.if_name });
        }
    }
    out.sort_by(|a, b| (&a.container_id, &a.ifname).cmp(&(&b.container_id, &b.ifname)));
    out.dedup();
    Ok(out)
}

/// Standard base64 with padding (how Go's encoding/json writes `[]byte`).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn write_read_list_remove() {
        let dir = std::env::temp_dir().join(format!("sp-cache-test-{}", std::process::id()));
        let entry = CacheEntry {
            kind: CACHE_KIND.into(),
            container_id: "c1".into(),
            if_name: "net1".into(),
            network_name: "n".into(),
            netns: String::new(),
            cni_args: vec![["K".into(), "V".into()]],
            config: base64(b"{}"),
            result: serde_json::json!({"cniVersion": "1.0.0"}),
        };
        let p = entry_path(&dir, "n", "c1", "net1");
        assert_eq!(read(&p).unwrap(), None);
        write(&p, &entry).unwrap();
        write(
            &entry_path(&dir, "other", "c2", "eth0"),
            &CacheEntry { network_name: "other".into(), ..entry.clone() },
        )
        .unwrap();
        assert_eq!(read(&p).unwrap(), Some(entry));
        let a = attachments(&dir, "n").unwrap();
        assert_eq!(a, [Attachment { container_id: "c1".into(), ifname: "net1".into() }]);
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert!(attachments(&dir, "n").unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
