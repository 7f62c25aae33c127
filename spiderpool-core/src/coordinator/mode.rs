//! Mode resolution, first-invoke detection and the policy table of the
//! current NIC (reference §5.2).

use super::config::{EffectiveConfig, ModeSetting};
use super::error::PlanError;
use super::mac::POD_VETH;
use super::plan::ResolvedMode;
use super::view::NetnsView;

/// Table of the veth reply path (underlay) / the overlay NIC's reply path.
pub const TABLE_REPLY: u32 = 100;
/// Table of the first extra NIC.
pub const TABLE_FIRST_NIC: u32 = 101;

/// The outcome of [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// The mode after `auto`.
    pub mode: ResolvedMode,
    /// The pod's first coordinator invocation.
    pub first_invoke: bool,
    /// The policy table of the current NIC (0 when disabled).
    pub table: u32,
}

/// Resolves the mode for `ifname` in `pod`:
///
/// - `auto` is `underlay` on the first NIC (`podDefaultCniNic`), else
///   `underlay` when `veth0` exists, else `overlay`;
/// - underlay on a later NIC needs `veth0`; overlay refuses the first NIC and
///   a pod with `veth0`;
/// - underlay: first invoke ⇔ the first NIC, table 101; later NICs
///   `#nics + 98`; overlay: first invoke ⇔ exactly two NICs, table 101;
///   later NICs `#nics + 99`. NICs are the UP+BROADCAST+MULTICAST links; the
///   current NIC counts even when it is still down (the plan sets it up
///   first, as Spiderpool does before counting).
pub fn resolve(
    config: &EffectiveConfig,
    ifname: &str,
    pod: &NetnsView,
) -> Result<Resolution, PlanError> {
    let first = config.pod_default_cni_nic.as_str();
    let has_veth0 = pod.link(POD_VETH).is_some();
    let mode = match config.mode {
        ModeSetting::Disabled => {
            return Ok(Resolution { mode: ResolvedMode::Disabled, first_invoke: false, table: 0 });
        }
        ModeSetting::Underlay => ResolvedMode::Underlay,
        ModeSetting::Overlay => ResolvedMode::Overlay,
        ModeSetting::Auto if ifname == first || has_veth0 => ResolvedMode::Underlay,
        ModeSetting::Auto => ResolvedMode::Overlay,
    };
    if pod.link(ifname).is_none() {
        return Err(PlanError::NicNotFound { ifname: ifname.to_owned() });
    }
    let nics =
        u32::try_from(pod.links.iter().filter(|l| l.counts_as_nic() || l.name == ifname).count())
            .unwrap_or(u32::MAX);
    match mode {
        ResolvedMode::Underlay => {
            let first_invoke = ifname == first;
            if !first_invoke && !has_veth0 {
                return Err(PlanError::UnderlayWithoutVeth0 {
                    ifname: ifname.to_owned(),
                    first: first.to_owned(),
                });
            }
            let table = if first_invoke {
                TABLE_FIRST_NIC
            } else {
                nics.saturating_add(98).max(TABLE_FIRST_NIC)
            };
            Ok(Resolution { mode, first_invoke, table })
        }
        ResolvedMode::Overlay => {
            if ifname == first {
                return Err(PlanError::OverlayOnFirstNic { ifname: ifname.to_owned() });
            }
            if has_veth0 {
                return Err(PlanError::OverlayWithVeth0 { ifname: ifname.to_owned() });
            }
            if pod.link(first).is_none() {
                return Err(PlanError::FirstNicNotFound {
                    ifname: ifname.to_owned(),
                    first: first.to_owned(),
                });
            }
            let first_invoke = nics <= 2;
            let table = if first_invoke { TABLE_FIRST_NIC } else { nics.saturating_add(99) };
            Ok(Resolution { mode, first_invoke, table })
        }
        ResolvedMode::Disabled => Ok(Resolution { mode, first_invoke: false, table: 0 }),
    }
}
