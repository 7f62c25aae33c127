//! Which container a host veth belongs to.
//!
//! The host end of an underlay pod's veth pair is named `veth` + the first 11
//! characters of the container ID ([`host_veth_name`], Spiderpool's scheme),
//! so two containers whose IDs share those characters want the same name: the
//! second ADD cannot create its pair, and its DEL must not delete the first
//! container's veth (that would cut the first pod off its node). DEL deletes a
//! host veth only when one of two marks proves it is its own container's:
//!
//! - the alias (`IFLA_IFALIAS`, `ip link` prints it as `alias`)
//!   `spiderpool-coordinator:<containerID>` ([`veth_alias`]), which ADD sets
//!   right after it creates the pair;
//! - the MAC [`veth_mac`]`(containerID, host)`, derived from the full
//!   container ID, which every version of this coordinator gives the host end
//!   when it creates the pair (in the same request, so it also covers the
//!   moment between the creation and the alias).
//!
//! The alias decides when the link has one of ours; a link without it falls
//! back to the MAC, which is how veths made before the alias existed are
//! recognised after an upgrade. A link with neither mark (made by Go
//! Spiderpool, which sets random MACs, or one whose MAC was changed) is never
//! deleted by DEL: it goes away with its pod's network namespace, as every
//! veth end does when its peer's namespace is destroyed.

use super::error::PlanError;
use super::mac::{POD_VETH, host_veth_name, veth_mac};
use super::plan::Side;
use super::view::{HostView, LinkView, NetnsView};

/// The start of the alias the coordinator puts on the host veth.
pub const VETH_ALIAS_PREFIX: &str = "spiderpool-coordinator:";

/// The kernel's longest alias (`IFALIASZ - 1` bytes).
pub const MAX_ALIAS_LEN: usize = 255;

/// The ownership alias of `container_id`'s host veth: [`VETH_ALIAS_PREFIX`] +
/// the container ID, cut to [`MAX_ALIAS_LEN`] bytes (on a character
/// boundary) for IDs longer than the kernel accepts.
pub fn veth_alias(container_id: &str) -> String {
    let mut alias = format!("{VETH_ALIAS_PREFIX}{container_id}");
    if alias.len() > MAX_ALIAS_LEN {
        let mut end = MAX_ALIAS_LEN;
        while !alias.is_char_boundary(end) {
            end -= 1;
        }
        alias.truncate(end);
    }
    alias
}

/// Who a host veth belongs to, as far as its marks tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VethOwner {
    /// The container asking: its alias, or (without one of our aliases) its
    /// derived MAC.
    This,
    /// Another container, named by the alias (the ID as the alias holds it).
    Container(String),
    /// No alias of ours and a MAC not derived from the container asking:
    /// another container's veth from before aliases, Go Spiderpool's, or a
    /// link someone changed.
    Unmarked,
}

/// Who `link` (a host veth) belongs to, for `container_id` asking.
pub fn veth_owner(link: &LinkView, container_id: &str) -> VethOwner {
    if let Some(holder) = link.ifalias.as_deref().and_then(|a| a.strip_prefix(VETH_ALIAS_PREFIX)) {
        return if link.ifalias.as_deref() == Some(veth_alias(container_id).as_str()) {
            VethOwner::This
        } else {
            VethOwner::Container(holder.to_owned())
        };
    }
    let ours = veth_mac(container_id, Side::Host);
    if link.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&ours)) {
        VethOwner::This
    } else {
        VethOwner::Unmarked
    }
}

/// The host veth `container_id` would create, when a link of that name exists
/// and is not this container's: the name collision, as the error ADD reports.
/// `None` when the name is free, the link is this container's, or the pod
/// already has its `veth0` (a repeated ADD re-plans the pair it made).
pub fn host_veth_conflict(
    host: &HostView,
    pod: &NetnsView,
    container_id: &str,
) -> Option<PlanError> {
    let name = host_veth_name(container_id);
    let link = host.links.iter().find(|l| l.name == name)?;
    if pod.link(POD_VETH).is_some() {
        return None;
    }
    match veth_owner(link, container_id) {
        VethOwner::This => None,
        VethOwner::Container(holder) => {
            Some(PlanError::HostVethTaken { name, holder: Some(holder), mac: link.mac.clone() })
        }
        VethOwner::Unmarked => {
            Some(PlanError::HostVethTaken { name, holder: None, mac: link.mac.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789aAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const B: &str = "0123456789aBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn veth(mac: Option<String>, alias: Option<String>) -> LinkView {
        LinkView {
            index: 7,
            name: host_veth_name(A),
            mac,
            kind: Some("veth".into()),
            ifalias: alias,
            ..LinkView::default()
        }
    }

    #[test]
    fn alias_names_the_full_container_id_and_fits_the_kernel_limit() {
        assert_eq!(veth_alias("abc"), "spiderpool-coordinator:abc");
        let long = "x".repeat(400);
        assert_eq!(veth_alias(&long).len(), MAX_ALIAS_LEN);
        // Cut on a character boundary.
        let wide = "é".repeat(200);
        let cut = veth_alias(&wide);
        assert!(cut.len() <= MAX_ALIAS_LEN && cut.is_char_boundary(cut.len()));
    }

    #[test]
    fn the_alias_decides_over_the_mac() {
        let link = veth(Some(veth_mac(A, Side::Host)), Some(veth_alias(A)));
        assert_eq!(veth_owner(&link, A), VethOwner::This);
        assert_eq!(veth_owner(&link, B), VethOwner::Container(A.to_owned()));
        // MAC changed by someone: the alias still proves it.
        let link = veth(Some("02:00:00:00:00:01".into()), Some(veth_alias(A)));
        assert_eq!(veth_owner(&link, A), VethOwner::This);
        // B's alias on a link with A's MAC: the alias wins.
        let link = veth(Some(veth_mac(A, Side::Host)), Some(veth_alias(B)));
        assert_eq!(veth_owner(&link, A), VethOwner::Container(B.to_owned()));
    }

    #[test]
    fn without_our_alias_the_derived_mac_decides() {
        for alias in [None, Some("uplink to rack 3".to_owned())] {
            let link = veth(Some(veth_mac(A, Side::Host).to_uppercase()), alias.clone());
            assert_eq!(veth_owner(&link, A), VethOwner::This, "{alias:?}");
            assert_eq!(veth_owner(&link, B), VethOwner::Unmarked, "{alias:?}");
            let random = veth(Some("ae:11:22:33:44:55".into()), alias.clone());
            assert_eq!(veth_owner(&random, A), VethOwner::Unmarked, "{alias:?}");
            assert_eq!(veth_owner(&veth(None, alias), A), VethOwner::Unmarked);
        }
    }

    #[test]
    fn conflict_only_for_a_foreign_veth_and_a_pod_without_veth0() {
        let a_link = veth(Some(veth_mac(A, Side::Host)), Some(veth_alias(A)));
        let host = HostView { links: vec![a_link], ..HostView::default() };
        let no_veth0 = NetnsView::default();
        assert_eq!(host_veth_conflict(&host, &no_veth0, A), None);
        let err = host_veth_conflict(&host, &no_veth0, B).unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "host veth \"veth0123456789a\" already exists and belongs to container {A} \
                 (container IDs that share their first 11 characters get the same host veth name)"
            )
        );
        let with_veth0 = NetnsView {
            links: vec![LinkView { name: POD_VETH.into(), ..LinkView::default() }],
            ..NetnsView::default()
        };
        assert_eq!(host_veth_conflict(&host, &with_veth0, B), None);
        assert_eq!(host_veth_conflict(&HostView::default(), &no_veth0, B), None);

        let legacy = veth(Some(veth_mac(A, Side::Host)), None);
        let host = HostView { links: vec![legacy], ..HostView::default() };
        assert_eq!(
            host_veth_conflict(&host, &no_veth0, B).unwrap().to_string(),
            format!(
                "host veth \"veth0123456789a\" already exists and is not this container's \
                 (no spiderpool-coordinator alias, MAC {}): another container holds the name \
                 (container IDs that share their first 11 characters get the same host veth name)",
                veth_mac(A, Side::Host)
            )
        );
    }
}
