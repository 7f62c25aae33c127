//! SpiderMultusConfig to Multus NetworkAttachmentDefinition (`k8s.cni.cncf.io/v1`)
//! rendering (reference §7).
//!
//! [`render`] produces the NAD the controller creates and keeps in sync: same
//! namespace as the SMC, the name of [`nad_name`], the SMC's annotations (plus
//! `k8s.v1.cni.cncf.io/resourceName` for `sriov`, `ib-sriov` and offloaded
//! `ovs`), the SMC as controlling owner, and a CNI conflist
//! `{"cniVersion", "name", "plugins"}` whose chain is
//!
//! ```text
//! [ifacer?], <main plugin>, [rdma?], <chainCNIJsonData...>, [coordinator?], [tuning?]
//! ```
//!
//! - `ifacer` first for macvlan/ipvlan with a non-zero `vlanID` or several masters,
//!   and for vlan with several masters;
//! - the main plugin's `master` is the single master or the bond name, suffixed
//!   `.<vlanID>` for macvlan/ipvlan when `vlanID` ≠ 0; its `ipam` block is
//!   `{"type": "spiderpool", "default_ipv4_ippool", "default_ipv6_ippool"}` (empty
//!   lists omitted, `match_master_subnet` only for sriov) unless `disableIPAM`;
//! - `rdma` for sriov with `rdmaIsolation`; `coordinator` when
//!   `enableCoordinator` (never for `custom`); `tuning` with the MTU for sriov with
//!   `mtu > 0`, always last;
//! - `custom`: the config is `customCNI` verbatim (none when empty).
//!
//! JSON keys come out in the order Spiderpool's Go structs produce them.

mod error;
mod main_plugin;
mod nad;
mod plugin;
mod render;

pub use error::RenderError;
pub use main_plugin::{IPAM_TYPE, OVS_RESOURCE_PREFIX};
pub use nad::{NAD_API_VERSION, NAD_KIND, NadSpec, NetworkAttachmentDefinition};
pub use render::{
    DEFAULT_CNI_VERSION, RESOURCE_NAME_ANNOTATION, SUPPORTED_CNI_VERSIONS, cni_config_name,
    cni_version, nad_name, parse_chain_plugin, render,
};

#[cfg(test)]
mod tests;
