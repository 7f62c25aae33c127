//! Writes the generated CRDs.
//!
//! Run with:
//!
//! ```text
//! cargo run -p spiderpool-k8s --example crdgen            # charts/spiderpool/crds/ and the NAD test CRD
//! cargo run -p spiderpool-k8s --example crdgen -- DIR     # only the six CRDs, into DIR
//! ```

use std::path::{Path, PathBuf};

use spiderpool_k8s::crd;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (dir, with_nad) = match std::env::args_os().nth(1) {
        Some(dir) => (PathBuf::from(dir), false),
        None => (manifest.join("../charts/spiderpool/crds"), true),
    };
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in crd::rendered_files()? {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    if with_nad {
        let path = manifest.join(crd::NAD_CRD_FILE);
        std::fs::write(&path, crd::render_yaml(&crd::network_attachment_definition_crd()?)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
