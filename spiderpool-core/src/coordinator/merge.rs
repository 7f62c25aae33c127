//! The one precedence rule of the coordinator's settings (reference §5.1):
//! the netconf, then the pod annotation `ipam.spidernet.io/default-route-nic`,
//! then the SpiderCoordinator (as the agent answers it), then the
//! [`defaults`](super::defaults). Typed: every layer is a validated
//! [`CoordinatorNetConf`]; nothing goes through JSON.
//!
//! The agent answers for one pod with the annotation already over the
//! SpiderCoordinator ([`ClusterCoordinatorConfig::for_pod`], Spiderpool's
//! API), and it asks [`merge`] for that: the rule is written here only.

use super::cluster::ClusterCoordinatorConfig;
use super::config::{ConfigError, CoordinatorNetConf, EffectiveConfig, checked};
use super::setting;

/// The annotation as a settings layer (only `podDefaultRouteNic`); an empty
/// value is unset.
fn annotation_layer(annotation: Option<&str>) -> Result<CoordinatorNetConf, ConfigError> {
    let nic = annotation.filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(CoordinatorNetConf {
        pod_default_route_nic: checked(
            nic,
            "annotation ipam.spidernet.io/default-route-nic",
            setting::ifname,
        )?,
        ..CoordinatorNetConf::default()
    })
}

/// Merges the netconf, the pod annotation (`annotation_default_route_nic`)
/// and the agent's answer: for each setting, the first layer that sets it
/// wins (netconf > annotation > agent), then the defaults. Lists count as set
/// when not empty. Bad agent values are errors naming `clusterConfig.<key>`,
/// a bad annotation names the annotation.
pub fn merge(
    netconf: &CoordinatorNetConf,
    cluster: Option<&ClusterCoordinatorConfig>,
    annotation_default_route_nic: Option<&str>,
) -> Result<EffectiveConfig, ConfigError> {
    let agent = cluster.map(CoordinatorNetConf::from_cluster).transpose()?.unwrap_or_default();
    let annotation = annotation_layer(annotation_default_route_nic)?;
    Ok(layered(&[netconf, &annotation, &agent]))
}

/// The first layer that sets a value wins; then the defaults.
fn layered(layers: &[&CoordinatorNetConf]) -> EffectiveConfig {
    let d = EffectiveConfig::default();
    let first = |f: &dyn Fn(&CoordinatorNetConf) -> bool| layers.iter().find(|l| f(l)).copied();
    let list = |get: fn(&CoordinatorNetConf) -> &Vec<ipnet::IpNet>| {
        first(&|l| !get(l).is_empty()).map(|l| get(l).clone()).unwrap_or_default()
    };
    let pick = |get: fn(&CoordinatorNetConf) -> Option<u32>| layers.iter().find_map(|l| get(l));
    EffectiveConfig {
        mode: layers.iter().find_map(|l| l.mode).unwrap_or(d.mode),
        tune_pod_routes: layers.iter().find_map(|l| l.tune_pod_routes).unwrap_or(d.tune_pod_routes),
        pod_default_route_nic: layers.iter().find_map(|l| l.pod_default_route_nic.clone()),
        pod_default_cni_nic: layers
            .iter()
            .find_map(|l| l.pod_default_cni_nic.clone())
            .unwrap_or(d.pod_default_cni_nic),
        pod_mac_prefix: layers.iter().find_map(|l| l.pod_mac_prefix),
        overlay_pod_cidr: list(|l| &l.overlay_pod_cidr),
        service_cidr: list(|l| &l.service_cidr),
        hijack_cidr: list(|l| &l.hijack_cidr),
        policy_routes: first(&|l| !l.policy_routes.is_empty())
            .map(|l| l.policy_routes.clone())
            .unwrap_or_default(),
        host_rule_table: pick(|l| l.host_rule_table).unwrap_or(d.host_rule_table),
        pod_rp_filter: layers.iter().find_map(|l| l.pod_rp_filter).unwrap_or(d.pod_rp_filter),
        tx_queue_len: pick(|l| l.tx_queue_len).unwrap_or(d.tx_queue_len),
        veth_link_address: layers.iter().find_map(|l| l.veth_link_address),
        veth_mtu: pick(|l| l.veth_mtu).unwrap_or(d.veth_mtu),
    }
}

impl ClusterCoordinatorConfig {
    /// The answer for one pod: `podDefaultRouteNIC` as [`merge`] decides it
    /// from the pod's annotation `ipam.spidernet.io/default-route-nic` and
    /// this answer's own value (the annotation wins); everything else as it
    /// is. Only that field and the annotation are checked here; the plugin
    /// checks the rest when it merges.
    pub fn for_pod(
        mut self,
        annotation_default_route_nic: Option<&str>,
    ) -> Result<ClusterCoordinatorConfig, ConfigError> {
        let nic_only = ClusterCoordinatorConfig {
            pod_default_route_nic: std::mem::take(&mut self.pod_default_route_nic),
            ..ClusterCoordinatorConfig::default()
        };
        let merged =
            merge(&CoordinatorNetConf::default(), Some(&nic_only), annotation_default_route_nic)?;
        self.pod_default_route_nic = merged.pod_default_route_nic.unwrap_or_default();
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_first_layer_that_sets_a_value_wins() {
        let top = CoordinatorNetConf { veth_mtu: Some(1400), ..CoordinatorNetConf::default() };
        let mid = CoordinatorNetConf {
            veth_mtu: Some(9000),
            tx_queue_len: Some(10),
            ..CoordinatorNetConf::default()
        };
        let m = layered(&[&top, &mid, &CoordinatorNetConf::default()]);
        assert_eq!((m.veth_mtu, m.tx_queue_len, m.host_rule_table), (1400, 10, 500));
        assert_eq!(layered(&[]), EffectiveConfig::default());
    }

    #[test]
    fn for_pod_puts_the_annotation_over_the_coordinator() {
        let answer = ClusterCoordinatorConfig {
            pod_default_route_nic: "eth0".into(),
            mode: "auto".into(),
            ..ClusterCoordinatorConfig::default()
        };
        let with = answer.clone().for_pod(Some("net1")).unwrap();
        assert_eq!((with.pod_default_route_nic.as_str(), with.mode.as_str()), ("net1", "auto"));
        assert_eq!(answer.clone().for_pod(None).unwrap(), answer);
        assert_eq!(answer.clone().for_pod(Some("")).unwrap(), answer);
        let e = answer.for_pod(Some("a/b")).unwrap_err().to_string();
        assert!(e.starts_with("annotation ipam.spidernet.io/default-route-nic: "), "{e}");
    }
}
