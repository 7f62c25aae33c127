//! The netns test network itself: it must show the failure the coordinator
//! exists to fix, or the coordinator tests prove nothing.
//!
//! A pod with `eth0` from ptp (overlay stand-in) and `net1` from macvlan: a
//! client behind the LAN gateway cannot reach `net1`, because the reply leaves
//! by `eth0`'s default route and the node drops it (anti-spoofing). A policy
//! rule for the underlay source fixes it — which is what the coordinator adds.

mod netns;

use netns::*;

#[test]
fn overlay_pod_without_coordinator_loses_underlay_replies() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let lan = Lan::new();
    let pod = lan.pod(1);
    let cid = format!("ctr{}", lan.tag);
    lan.add_ptp_eth0(&pod, &cid, "10.244.1.5");
    lan.add_macvlan_net1(&pod, &cid, "10.6.212.200", false);
    // Only ptp's default route: replies to off-subnet clients leave by eth0.
    assert!(pod.ping("10.244.1.1"), "pod reaches its ptp gateway");
    assert!(lan.client.ping("10.7.0.1"), "client reaches the router");
    assert!(lan.lan.ping("10.6.212.200"), "router reaches net1 on the same subnet");
    assert!(
        !lan.client.ping("10.6.212.200"),
        "client behind the router must NOT reach net1 without policy routing:\n{}",
        pod.show(&["route", "show", "table", "all"])
    );
    // The fix the coordinator automates: replies from net1's address use net1.
    pod.ip(&["route", "add", "default", "via", LAN_GW, "dev", "net1", "table", "101"]);
    pod.ip(&["rule", "add", "from", "10.6.212.200", "lookup", "101"]);
    assert!(lan.client.ping("10.6.212.200"), "with the rule the reply returns through net1");
}
