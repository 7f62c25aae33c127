//! ARP/NDP probes on a pod's interface: IP-conflict detection, gateway
//! reachability, and the announcement of an address (reference §4.8, §4.1
//! steps 4–5).
//!
//! [`with_prober`] enters the pod namespace on a dedicated thread, brings the
//! link up (the main CNI may not have yet), waits up to 1 s for a carrier,
//! and opens an `AF_PACKET` socket bound to it (`ETH_P_ALL`, not promiscuous).
//! A packet socket belongs to the namespace it is created in, so it is opened
//! after `setns`. The [`Prober`] then sends frames built by [`frame`] and reads
//! answers until a deadline; frames whose Ethernet source is the link's own MAC
//! (the socket also sees what we send) are ignored.
//!
//! | probe | IPv4 | IPv6 |
//! |---|---|---|
//! | conflict | ARP probe, sender IP 0.0.0.0 (RFC 5227) | DAD Neighbor Solicitation from `::` (RFC 4862) |
//! | gateway | ARP request from the pod IP | Neighbor Solicitation from the pod IP with our link-layer option |
//! | announce | gratuitous ARP | unsolicited Neighbor Advertisement to ff02::1, Override |
//!
//! The IPv6 gateway probe is not DAD-style (from `::`) on purpose: a DAD
//! solicitation for an address the router is itself still verifying makes the
//! router give that address up. Sent from the pod IP, it needs no usable
//! link-local address either; the router answers with a unicast NA to our MAC
//! (and learns the pod's neighbour entry, which the announcement sets anyway).
//!
//! Timing ([`Timing::default`], as Spiderpool): 3 tries with a 100 ms read
//! deadline each; the conflict probe stops after 1 s overall, the gateway probe
//! after 500 ms. Silence means "no conflict" and "gateway unreachable".

pub mod frame;

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use pnet_datalink::{Channel, ChannelType, DataLinkReceiver, DataLinkSender, MacAddr};
use rtnetlink::{Handle, LinkUnspec};

use crate::error::{Error, Result};
use crate::mac::format_mac;
use crate::netns::{Netns, with_netns};
use frame::{Mac, Reply};

/// How long the probes wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Frames sent per probe (each followed by a read deadline).
    pub tries: u32,
    /// Read deadline after each frame.
    pub per_try: Duration,
    /// Overall bound of one conflict probe.
    pub conflict_cap: Duration,
    /// Overall bound of one gateway probe.
    pub gateway_cap: Duration,
    /// How long [`with_prober`] waits for a link it brought up to have a
    /// carrier before probing anyway.
    pub link_ready: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tries: 3,
            per_try: Duration::from_millis(100),
            conflict_cap: Duration::from_secs(1),
            gateway_cap: Duration::from_millis(500),
            link_ready: Duration::from_secs(1),
        }
    }
}

/// Another host answered for the address we probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The probed address.
    pub ip: IpAddr,
    /// The MAC that answered for it.
    pub mac: Mac,
    /// What answered: `ARP reply`, `ARP request`, `NDP neighbor advertisement`.
    pub via: &'static str,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is already in use by {} ({})", self.ip, format_mac(&self.mac), self.via)
    }
}

/// The outcome of a gateway probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// The gateway answered from this MAC.
    Reachable {
        /// The gateway's MAC.
        mac: Mac,
    },
    /// No answer within the deadline.
    Unreachable,
}

/// An open packet socket on one link of a namespace. Only exists inside
/// [`with_prober`].
pub struct Prober {
    ifname: String,
    mac: Mac,
    timing: Timing,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("ifname", &self.ifname)
            .field("mac", &format_mac(&self.mac))
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Granularity of the read loop: a receive never blocks longer than this, so
/// deadlines are kept within it.
const POLL: Duration = Duration::from_millis(10);

impl Prober {
    /// The link's MAC (the sender of every frame).
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The link's name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Probes whether another host uses `ip`: `Some` with the MAC that
    /// answered, `None` after [`Timing::tries`] silent read deadlines.
    pub fn conflict(&mut self, ip: IpAddr) -> Result<Option<Conflict>> {
        let ours = self.mac;
        let (probe, cap) = match ip {
            IpAddr::V4(v4) => (frame::arp_probe(ours, v4), self.timing.conflict_cap),
            IpAddr::V6(v6) => (frame::dad_solicitation(ours, v6), self.timing.conflict_cap),
        };
        self.exchange(&probe, cap, |r| match (r, ip) {
            (Reply::Arp { op, sender_mac, sender_ip, .. }, IpAddr::V4(v4))
                if *sender_ip == v4 && *sender_mac != ours =>
            {
                let via = if *op == frame::ARP_REPLY { "ARP reply" } else { "ARP request" };
                Some(Conflict { ip, mac: *sender_mac, via })
            }
            (Reply::Advertisement { eth_src, target, target_mac, .. }, IpAddr::V6(v6))
                if *target == v6 =>
            {
                let mac = target_mac.unwrap_or(*eth_src);
                (mac != ours).then_some(Conflict { ip, mac, via: "NDP neighbor advertisement" })
            }
            _ => None,
        })
    }

    /// Probes whether `gateway` answers on the link for a host using `ip`.
    pub fn gateway(&mut self, ip: IpAddr, gateway: IpAddr) -> Result<Gateway> {
        let ours = self.mac;
        let probe = match (ip, gateway) {
            (IpAddr::V4(a), IpAddr::V4(g)) => frame::arp_request(ours, a, g),
            (IpAddr::V6(a), IpAddr::V6(g)) => frame::neighbor_solicitation(ours, a, g),
            _ => {
                return Err(Error::Invalid {
                    field: "gateway",
                    value: gateway.to_string(),
                    reason: "not of the family of the address",
                });
            }
        };
        let found = self.exchange(&probe, self.timing.gateway_cap, |r| match (r, gateway) {
            (Reply::Arp { sender_mac, sender_ip, .. }, IpAddr::V4(g)) if *sender_ip == g => {
                Some(*sender_mac)
            }
            (Reply::Advertisement { eth_src, target, target_mac, .. }, IpAddr::V6(g))
                if *target == g =>
            {
                Some(target_mac.unwrap_or(*eth_src))
            }
            _ => None,
        })?;
        Ok(found.map_or(Gateway::Unreachable, |mac| Gateway::Reachable { mac }))
    }

    /// Announces that `ip` is at this link's MAC: a gratuitous ARP (IPv4) or
    /// an unsolicited Neighbor Advertisement with Override (IPv6).
    pub fn announce(&mut self, ip: IpAddr) -> Result<()> {
        let f = match ip {
            IpAddr::V4(v4) => frame::gratuitous_arp(self.mac, v4),
            IpAddr::V6(v6) => frame::unsolicited_advertisement(self.mac, v6),
        };
        self.send(&f)
    }

    fn send(&mut self, f: &[u8]) -> Result<()> {
        let what = "send on packet socket";
        match self.tx.send_to(f, None) {
            Some(Ok(())) => Ok(()),
            Some(Err(cause)) => Err(Error::Probe { ifname: self.ifname.clone(), what, cause }),
            None => Err(Error::Probe {
                ifname: self.ifname.clone(),
                what,
                cause: std::io::Error::other("frame larger than the write buffer"),
            }),
        }
    }

    /// Sends `probe` up to `tries` times, each followed by a read deadline,
    /// all within `cap`; the first frame `matches` accepts wins.
    fn exchange<R>(
        &mut self,
        probe: &[u8],
        cap: Duration,
        mut matches: impl FnMut(&Reply) -> Option<R>,
    ) -> Result<Option<R>> {
        let start = Instant::now();
        let end = start + cap;
        for _ in 0..self.timing.tries {
            if Instant::now() >= end {
                break;
            }
            self.send(probe)?;
            let deadline = (Instant::now() + self.timing.per_try).min(end);
            while Instant::now() < deadline {
                match self.rx.next() {
                    Ok(buf) => {
                        let Some(reply) = frame::parse(buf) else { continue };
                        if reply.eth_src() == self.mac {
                            continue; // our own frame, seen on the way out
                        }
                        if let Some(found) = matches(&reply) {
                            return Ok(Some(found));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(cause) => {
                        return Err(Error::Probe {
                            ifname: self.ifname.clone(),
                            what: "receive on packet socket",
                            cause,
                        });
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Index, MAC and readiness of a link: up with a carrier (`IFF_LOWER_UP`).
/// A link that has its carrier when it is opened gets its transmit queue
/// activated in the same call (veth with its peer up, macvlan and ipvlan over
/// an up master), so frames can be sent at once; waiting for operstate up
/// would add the kernel's linkwatch delay to every ADD.
async fn link_info(h: &Handle, name: &str) -> Result<(u32, Option<Mac>, bool)> {
    let res = h.link().get().match_name(name.to_string()).execute().try_next().await;
    let msg = match res {
        Ok(Some(m)) => m,
        Ok(None) => return Err(Error::LinkNotFound { name: name.to_string() }),
        Err(e) if crate::error::errno(&e) == Some(19) => {
            return Err(Error::LinkNotFound { name: name.to_string() });
        }
        Err(e) => return Err(Error::netlink(format!("get link {name}"), e)),
    };
    let mac = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) => <Mac>::try_from(b.as_slice()).ok(),
        _ => None,
    });
    let flags = msg.header.flags;
    let ready = flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp);
    Ok((msg.header.index, mac, ready))
}

/// Brings `ifname` up and waits up to `wait` for it to be ready (a frame sent
/// before the kernel has activated the link's queue is dropped). A link that
/// stays not ready (no carrier) is probed anyway after `wait`.
async fn bring_up(h: &Handle, ifname: &str, wait: Duration) -> Result<(u32, Mac)> {
    let (index, mac, ready) = link_info(h, ifname).await?;
    let mac = mac.ok_or_else(|| Error::Invalid {
        field: "link",
        value: ifname.to_string(),
        reason: "has no Ethernet (6-byte) address",
    })?;
    if !ready {
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("set link {ifname} up"), e))?;
        let end = Instant::now() + wait;
        while Instant::now() < end {
            if link_info(h, ifname).await?.2 {
                break;
            }
            // This thread is ours and nothing else runs on its runtime meanwhile.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok((index, mac))
}

/// Opens a [`Prober`] on `ifname` inside `ns` and runs `f` with it, on a
/// dedicated thread that entered `ns`. The link is brought up first.
pub fn with_prober<T, F>(ns: &Netns, ifname: &str, timing: Timing, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(&mut Prober) -> T + Send,
{
    with_netns(ns, |h| async move {
        let (index, mac) = bring_up(&h, ifname, timing.link_ready).await?;
        let nic = pnet_datalink::NetworkInterface {
            name: ifname.to_string(),
            description: String::new(),
            index,
            mac: Some(MacAddr::from(mac)),
            ips: Vec::new(),
            flags: 0,
        };
        let config = pnet_datalink::linux::Config {
            read_timeout: Some(POLL),
            write_timeout: Some(Duration::from_millis(100)),
            channel_type: ChannelType::Layer2,
            promiscuous: false,
            ..pnet_datalink::linux::Config::default()
        };
        let open = |cause| Error::Probe { ifname: ifname.to_string(), what: "open", cause };
        let (tx, rx) = match pnet_datalink::linux::channel(&nic, config).map_err(open)? {
            Channel::Ethernet(tx, rx) => (tx, rx),
            _ => return Err(open(std::io::Error::other("not an Ethernet channel"))),
        };
        let mut prober = Prober { ifname: ifname.to_string(), mac, timing, tx, rx };
        Ok(f(&mut prober))
    })
}

/// Probes `ip` on `ifname` in `ns` for a conflict ([`Prober::conflict`]).
pub fn probe_conflict(
    ns: &Netns,
    ifname: &str,
    ip: IpAddr,
    timing: Timing,
) -> Result<Option<Conflict>> {
    with_prober(ns, ifname, timing, |p| p.conflict(ip))?
}

/// Probes whether `gateway` answers `ip` on `ifname` in `ns`
/// ([`Prober::gateway`]).
pub fn probe_gateway(
    ns: &Netns,
    ifname: &str,
    ip: IpAddr,
    gateway: IpAddr,
    timing: Timing,
) -> Result<Gateway> {
    with_prober(ns, ifname, timing, |p| p.gateway(ip, gateway))?
}

/// Announces each of `ips` on `ifname` in `ns` ([`Prober::announce`]).
pub fn announce(ns: &Netns, ifname: &str, ips: &[IpAddr]) -> Result<()> {
    with_prober(ns, ifname, Timing::default(), |p| ips.iter().try_for_each(|ip| p.announce(*ip)))?
}
