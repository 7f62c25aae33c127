//! ADD steps 4–5 (reference §4.1, §4.8): the IP-conflict and gateway probes
//! the agent asks for, then the announcement of every address of this
//! interface, all on one packet socket inside the pod namespace
//! ([`spiderpool_netlink::probe`]).
//!
//! A conflict, an unreachable gateway, or a probe that cannot run while the
//! agent asked for one is a [`Failure`]: the caller releases the allocation
//! and fails ADD. The announcement is best effort: its failures are logged.

use std::net::IpAddr;
use std::time::Instant;

use spiderpool_core::agent_api::IpamAddResponse;
use spiderpool_core::cni::CniError;
use spiderpool_netlink::Netns;
use spiderpool_netlink::probe::{Conflict, Gateway, Timing, with_prober};

use super::{codes, parse_ip, parse_net, plugin_error};

/// One address of this interface and what to check for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The allocated address.
    pub ip: IpAddr,
    /// Run the conflict probe.
    pub conflict: bool,
    /// The gateway to probe, when the agent asks for it and the pool has one.
    pub gateway: Option<IpAddr>,
}

/// The addresses of `ifname` in the agent's answer, with the probes asked for.
pub fn targets(answer: &IpamAddResponse, ifname: &str) -> Result<Vec<Target>, CniError> {
    let mut out = Vec::new();
    for i in answer.ips.iter().filter(|i| i.nic == ifname) {
        let ip = parse_net("ips[].address", &i.address)?.addr();
        let gateway = match i.gateway.as_deref().filter(|g| !g.is_empty()) {
            Some(g) if i.enable_gateway_detection => Some(parse_ip("ips[].gateway", g)?),
            _ => None,
        };
        out.push(Target { ip, conflict: i.enable_ip_conflict_detection, gateway });
    }
    Ok(out)
}

/// Why ADD must fail after the allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Another host answered for the address.
    Conflict(Conflict),
    /// The gateway did not answer.
    Unreachable {
        /// The allocated address the probe was sent from.
        ip: IpAddr,
        /// The gateway.
        gateway: IpAddr,
    },
    /// A probe the agent asked for could not run.
    Probe(String),
}

impl Failure {
    /// The CNI error of this failure on `ifname`; `release` says what
    /// happened to the allocation (`released it`, ...).
    pub fn into_cni(self, ifname: &str, release: &str) -> CniError {
        match self {
            Failure::Conflict(c) => plugin_error(
                codes::IP_CONFLICT,
                format!("{ifname}: {c}; {release}"),
                "IP conflict detection (enableIPConflictDetection)",
            ),
            Failure::Unreachable { ip, gateway } => {
                let how = if gateway.is_ipv4() { "ARP" } else { "NDP" };
                plugin_error(
                    codes::GATEWAY_UNREACHABLE,
                    format!(
                        "{ifname}: gateway {gateway} unreachable from {ip} (no {how} answer); {release}"
                    ),
                    "gateway detection (enableGatewayDetection)",
                )
            }
            Failure::Probe(why) => plugin_error(
                codes::PROBE,
                format!("{ifname}: IP-conflict/gateway probe could not run: {why}; {release}"),
                "",
            ),
        }
    }
}

fn ms(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

/// Runs the probes of `targets` on `ifname` in `netns`, then announces every
/// target address. `log` gets one line per step.
pub fn probe_and_announce(
    netns: &str,
    ifname: &str,
    targets: &[Target],
    timing: Timing,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), Failure> {
    let asked = targets.iter().any(|t| t.conflict || t.gateway.is_some());
    let ns = Netns::path(netns);
    let start = Instant::now();
    let outcome = with_prober(&ns, ifname, timing, |p| {
        for t in targets {
            if t.conflict {
                let start = Instant::now();
                match p.conflict(t.ip) {
                    Ok(Some(c)) => return Err(Failure::Conflict(c)),
                    Ok(None) => {
                        log(&format!("conflict probe {}: free ({} ms)", t.ip, ms(start)));
                    }
                    Err(e) => return Err(Failure::Probe(e.to_string())),
                }
            }
            if let Some(gateway) = t.gateway {
                let start = Instant::now();
                match p.gateway(t.ip, gateway) {
                    Ok(Gateway::Reachable { mac }) => log(&format!(
                        "gateway probe {gateway} from {}: reachable at {} ({} ms)",
                        t.ip,
                        spiderpool_netlink::format_mac(&mac),
                        ms(start)
                    )),
                    Ok(Gateway::Unreachable) => {
                        return Err(Failure::Unreachable { ip: t.ip, gateway });
                    }
                    Err(e) => return Err(Failure::Probe(e.to_string())),
                }
            }
        }
        for t in targets {
            match p.announce(t.ip) {
                Ok(()) => log(&format!("announced {} from {}", t.ip, ifname)),
                Err(e) => log(&format!("announcing {} failed (ignored): {e}", t.ip)),
            }
        }
        Ok(())
    });
    log(&format!("probes and announcement on {ifname}: {} ms in all", ms(start)));
    match outcome {
        Ok(r) => r,
        Err(e) if asked => Err(Failure::Probe(e.to_string())),
        Err(e) => {
            log(&format!("announcement skipped (ignored): {e}"));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use spiderpool_core::agent_api::IpConfig;

    use super::*;

    fn cfg(nic: &str, address: &str, gw: Option<&str>, conflict: bool, gwd: bool) -> IpConfig {
        IpConfig {
            version: if address.contains(':') { 6 } else { 4 },
            address: address.into(),
            nic: nic.into(),
            ip_pool: None,
            gateway: gw.map(Into::into),
            vlan: None,
            mac: None,
            enable_gateway_detection: gwd,
            enable_ip_conflict_detection: conflict,
        }
    }

    #[test]
    fn targets_are_this_interfaces_addresses_with_the_probes_asked_for() {
        let answer = IpamAddResponse {
            ips: vec![
                cfg("net1", "10.6.212.200/16", Some("10.6.0.1"), true, true),
                cfg("net1", "fd00::5/64", Some("fd00::1"), false, false),
                cfg("net1", "10.7.0.9/24", None, false, true),
                cfg("net2", "10.8.0.9/24", Some("10.8.0.1"), true, true),
            ],
            routes: vec![],
        };
        let t = targets(&answer, "net1").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            t,
            vec![
                Target { ip: ip("10.6.212.200"), conflict: true, gateway: Some(ip("10.6.0.1")) },
                Target { ip: ip("fd00::5"), conflict: false, gateway: None },
                Target { ip: ip("10.7.0.9"), conflict: false, gateway: None },
            ]
        );
    }

    #[test]
    fn failures_name_the_interface_the_ip_and_the_mac() {
        let ip: IpAddr = "10.6.212.200".parse().unwrap();
        let c = Conflict { ip, mac: [0x0a, 0x58, 1, 2, 3, 4], via: "ARP reply" };
        let e = Failure::Conflict(c).into_cni("net1", "released it");
        let CniError::Plugin { code, msg, .. } = e else { panic!("{e:?}") };
        assert_eq!(code, codes::IP_CONFLICT);
        assert_eq!(
            msg,
            "net1: 10.6.212.200 is already in use by 0a:58:01:02:03:04 (ARP reply); released it"
        );
        let gateway = "10.6.0.254".parse().unwrap();
        let e = Failure::Unreachable { ip, gateway }.into_cni("net1", "released it");
        let CniError::Plugin { code, msg, .. } = e else { panic!("{e:?}") };
        assert_eq!(code, codes::GATEWAY_UNREACHABLE);
        assert_eq!(
            msg,
            "net1: gateway 10.6.0.254 unreachable from 10.6.212.200 (no ARP answer); released it"
        );
    }
}
