//! Step 2 of selection: the filters that rule a pool out for a NIC and family
//! (reference §4.4), and Spiderpool's priority sort, kept stable.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{IpamSettings, NicRequest, RuledOut, RuledOutReason, SelectionError};
use crate::annotation::{self, NadRef};
use crate::autopool;
use crate::ip::IpFamily;
use crate::model::SpiderIPPool;
use crate::pod::{NamespaceFacts, NodeFacts, PodFacts};
use crate::selector;
use crate::store::pool_family;

/// What the filters look at besides the pool.
#[derive(Debug, Clone, Copy)]
pub struct FilterContext<'a> {
    /// The pod.
    pub pod: &'a PodFacts,
    /// Its namespace.
    pub namespace: &'a NamespaceFacts,
    /// Its node.
    pub node: &'a NodeFacts,
    /// Cluster settings.
    pub settings: &'a IpamSettings,
}

impl FilterContext<'_> {
    /// The NetworkAttachmentDefinition that made `nic`, when the pod's Multus
    /// annotations (or `MULTUS_CLUSTER_NETWORK` for the first NIC) tell it.
    /// A malformed reference tells nothing.
    pub fn nad_of(&self, nic: &str) -> Option<NadRef> {
        let networks = self
            .pod
            .annotation(annotation::ANNO_MULTUS_NETWORKS)
            .and_then(|v| annotation::parse_multus_networks(v).ok())
            .unwrap_or_default();
        annotation::nad_for_nic(
            self.pod.annotation(annotation::ANNO_MULTUS_DEFAULT_NETWORK),
            self.settings.multus_cluster_network.as_deref(),
            &networks,
            nic,
            &self.pod.namespace,
            &self.settings.agent_namespace,
        )
        .ok()
        .flatten()
    }
}

/// Why `pool` cannot serve `family` on `nic`, or `None` when it can.
pub fn rule_out(
    pool: &SpiderIPPool,
    family: IpFamily,
    nic: &str,
    ctx: &FilterContext<'_>,
) -> Option<RuledOutReason> {
    let spec = &pool.spec;
    if pool.metadata.is_terminating() {
        return Some(RuledOutReason::Terminating);
    }
    if spec.disable == Some(true) {
        return Some(RuledOutReason::Disabled);
    }
    if let Some(c) = pool.status.as_ref().and_then(|s| s.overlapping()) {
        return Some(RuledOutReason::Overlapping(c.message.clone()));
    }
    match pool_family(pool) {
        Ok(f) if f == family => {}
        Ok(f) => return Some(RuledOutReason::WrongFamily(format!("pool is {f}, want {family}"))),
        Err(e) => return Some(RuledOutReason::WrongFamily(e.to_string())),
    }
    if !spec.node_name.is_empty() {
        if !spec.node_name.iter().any(|n| n == &ctx.node.name) {
            return Some(RuledOutReason::NodeName(ctx.node.name.clone()));
        }
    } else if let Some(sel) = &spec.node_affinity {
        match selector::matches(sel, &ctx.node.labels) {
            Ok(true) => {}
            Ok(false) => return Some(RuledOutReason::NodeAffinity(ctx.node.name.clone())),
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if !spec.namespace_name.is_empty() {
        if !spec.namespace_name.iter().any(|n| n == &ctx.pod.namespace) {
            return Some(RuledOutReason::NamespaceName(ctx.pod.namespace.clone()));
        }
    } else if let Some(sel) = &spec.namespace_affinity {
        match selector::matches(sel, &ctx.namespace.labels) {
            Ok(true) => {}
            Ok(false) => {
                return Some(RuledOutReason::NamespaceAffinity(ctx.pod.namespace.clone()));
            }
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if spec.pod_affinity.is_some() && autopool::is_auto_pool(pool) {
        // An auto-pool's affinity names its application, which pods do not
        // carry as labels (Go `IsMatchAutoPoolAffinity`).
        let app = autopool::pod_app(ctx.pod);
        if !autopool::matches_auto_pool_affinity(spec.pod_affinity.as_ref(), &app) {
            return Some(RuledOutReason::AutoPoolAffinity(app.describe()));
        }
    } else if let Some(sel) = &spec.pod_affinity {
        match selector::matches(sel, &ctx.pod.labels) {
            Ok(true) => {}
            Ok(false) => return Some(RuledOutReason::PodAffinity),
            Err(e) => return Some(RuledOutReason::InvalidSelector(e.to_string())),
        }
    }
    if !spec.multus_name.is_empty() {
        let nad = ctx.nad_of(nic);
        let allowed = nad.as_ref().is_some_and(|nad| {
            spec.multus_name
                .iter()
                .any(|m| nad.matches_multus_name(m, &ctx.settings.agent_namespace))
        });
        if !allowed {
            return Some(RuledOutReason::MultusName(
                nad.map(|n| format!("{}/{}", n.namespace, n.name)),
            ));
        }
    }
    None
}

/// Spiderpool's pool priority: presence of podAffinity, nodeName, nodeAffinity,
/// namespaceName, namespaceAffinity, multusName, compared in that order.
pub fn priority(pool: &SpiderIPPool) -> [bool; 6] {
    let s = &pool.spec;
    [
        s.pod_affinity.is_some(),
        !s.node_name.is_empty(),
        s.node_affinity.is_some(),
        !s.namespace_name.is_empty(),
        s.namespace_affinity.is_some(),
        !s.multus_name.is_empty(),
    ]
}

/// Step 2: the pools one family of one NIC tries, in order, or one error listing
/// every pool and why it was ruled out.
pub fn candidates(
    request: &NicRequest,
    family: IpFamily,
    pools: &BTreeMap<&str, &Arc<SpiderIPPool>>,
    ctx: &FilterContext<'_>,
) -> Result<Vec<Arc<SpiderIPPool>>, SelectionError> {
    let mut kept = Vec::new();
    let mut ruled_out = Vec::new();
    for name in request.names(family) {
        let Some(pool) = pools.get(name.as_str()) else {
            ruled_out.push(RuledOut { pool: name.clone(), reason: RuledOutReason::NotFound });
            continue;
        };
        match rule_out(pool, family, &request.nic, ctx) {
            None => kept.push(Arc::clone(pool)),
            Some(reason) => ruled_out.push(RuledOut { pool: name.clone(), reason }),
        }
    }
    if kept.is_empty() {
        return Err(SelectionError::NoAvailablePool {
            nic: request.nic.clone(),
            family,
            origin: request.origin,
            ruled_out,
        });
    }
    // Stable: equal priorities keep the user's order.
    kept.sort_by_key(|p| std::cmp::Reverse(priority(p)));
    Ok(kept)
}

/// Families a NIC request allocates, IPv4 first.
pub fn families(request: &NicRequest, settings: &IpamSettings) -> Vec<IpFamily> {
    [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .filter(|f| settings.enabled(*f) && !request.names(*f).is_empty())
        .collect()
}
