//! Owner-only modes for the files that hold pods, UIDs and addresses (the
//! embedded store's directory and database, the release journal, the agent's
//! lock): created that way, and tightened when an older version left them
//! wider.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates the empty file `path` with mode 0600 unless it exists.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Clears every permission bit of `path` outside `allowed` (e.g. `0o700`).
/// Returns the mode it had when it changed it; `None` when the path does not
/// exist or already fits.
pub fn restrict(path: &Path, allowed: u32) -> io::Result<Option<u32>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let old = meta.permissions().mode() & 0o7777;
    if old & !allowed == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(old & allowed))?;
    Ok(Some(old))
}

/// [`restrict`], logging a change as a warning (`what` names the file's
/// role) and a failure as an error. Never fails: a file left readable is
/// reported, not a reason to refuse to start.
pub fn restrict_logged(path: &Path, allowed: u32, what: &str) {
    match restrict(path, allowed) {
        Ok(Some(old)) => tracing::warn!(
            path = %path.display(),
            from = %format!("{old:04o}"),
            to = %format!("{:04o}", old & allowed),
            "tightened the mode of the {what}, which holds pods, UIDs and addresses"
        ),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot tighten the mode of the {what}")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn restrict_clears_only_the_bits_outside_the_allowed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(restrict(&f, 0o600).unwrap(), Some(0o644));
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(restrict(&f, 0o600).unwrap(), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(restrict(&f, 0o600).unwrap(), None, "narrower stays");
        assert_eq!(restrict(&dir.path().join("missing"), 0o600).unwrap(), None);
    }
}
