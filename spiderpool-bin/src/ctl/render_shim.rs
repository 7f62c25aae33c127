//! TEMPORARY stand-in for `spiderpool_core::multus::render`, which is being
//! written on another branch. When it lands, delete this file, the `mod
//! render_shim;` line in `ctl/mod.rs`, and call
//! `spiderpool_core::multus::render` in `ctl/render_nad.rs` (same signature,
//! error type `RenderError`, which implements `Display`).

use spiderpool_core::model::SpiderMultusConfig;
use spiderpool_core::multus::NetworkAttachmentDefinition;

/// Always fails: this build has no SpiderMultusConfig renderer yet.
pub(crate) fn render_pending_multus_merge(
    _smc: &SpiderMultusConfig,
) -> Result<NetworkAttachmentDefinition, String> {
    Err("this spiderpoolctl was built without the SpiderMultusConfig renderer \
         (spiderpool_core::multus::render)"
        .to_owned())
}
