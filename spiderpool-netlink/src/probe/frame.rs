//! Ethernet frames of the probes, built and parsed as plain bytes (no I/O).
//!
//! Builders return complete frames (Ethernet header included, no padding, no
//! FCS), the way the kernel's own ARP and NDP code hands them to a driver.
//! [`parse`] reads the two kinds of answers the probes wait for (an ARP packet,
//! a Neighbor Advertisement) and returns `None` for anything else, including
//! short, truncated or malformed frames and NAs whose ICMPv6 checksum is wrong.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A MAC address as bytes.
pub type Mac = [u8; 6];

/// `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST: Mac = [0xff; 6];
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// ARP operation "request".
pub const ARP_REQUEST: u16 = 1;
/// ARP operation "reply".
pub const ARP_REPLY: u16 = 2;
/// ICMPv6 type Neighbor Solicitation.
pub const ICMPV6_NS: u8 = 135;
/// ICMPv6 type Neighbor Advertisement.
pub const ICMPV6_NA: u8 = 136;
/// NA flag: Router.
pub const NA_ROUTER: u8 = 0x80;
/// NA flag: Solicited.
pub const NA_SOLICITED: u8 = 0x40;
/// NA flag: Override.
pub const NA_OVERRIDE: u8 = 0x20;
/// ff02::1, all nodes.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const ETH_HLEN: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HLEN: usize = 40;
const NEXT_HEADER_ICMPV6: u8 = 58;
const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;

fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload_len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_HLEN + payload_len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn arp(eth_dst: Mac, op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = ethernet(eth_dst, sha, ETH_P_ARP, ARP_LEN);
    f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// ARP probe (RFC 5227): a broadcast request for `target` with sender IP
/// 0.0.0.0, so that no neighbour learns anything from it; whoever holds
/// `target` answers.
pub fn arp_probe(ours: Mac, target: Ipv4Addr) -> Vec<u8> {
    arp(BROADCAST, ARP_REQUEST, ours, Ipv4Addr::UNSPECIFIED, [0; 6], target)
}

/// A broadcast ARP request from `sender` (the pod address) for `target` (the
/// gateway).
pub fn arp_request(ours: Mac, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    arp(BROADCAST, ARP_REQUEST, ours, sender, [0; 6], target)
}

/// Gratuitous ARP: a broadcast request with sender IP = target IP = `ip`,
/// target MAC zero (RFC 5227 §3). Neighbours holding an entry for `ip` update
/// it to `ours`.
pub fn gratuitous_arp(ours: Mac, ip: Ipv4Addr) -> Vec<u8> {
    arp(BROADCAST, ARP_REQUEST, ours, ip, [0; 6], ip)
}

/// ff02::1:ffXX:XXXX, the solicited-node multicast address of `ip`.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

/// The Ethernet address of an IPv6 multicast group: 33:33 and the low 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The ICMPv6 checksum of `msg` (its checksum field zero or not: bytes 2..4
/// are skipped) from `src` to `dst`, over the IPv6 pseudo-header (RFC 8200
/// §8.1).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map(u32::from).unwrap_or(0);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(msg.get(..2).unwrap_or(msg));
    if msg.len() > 4 {
        // A message starting at an even offset keeps the 16-bit alignment.
        add(&msg[4..]);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv6 + ICMPv6 frame, hop limit 255, checksum filled in.
fn icmpv6(eth_dst: Mac, ours: Mac, src: Ipv6Addr, dst: Ipv6Addr, mut msg: Vec<u8>) -> Vec<u8> {
    let sum = icmpv6_checksum(src, dst, &msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = ethernet(eth_dst, ours, ETH_P_IPV6, IPV6_HLEN + msg.len());
    f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, class 0, flow 0
    f.extend_from_slice(&u16::try_from(msg.len()).unwrap_or(u16::MAX).to_be_bytes());
    f.extend_from_slice(&[NEXT_HEADER_ICMPV6, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&msg);
    f
}

fn ns_message(target: Ipv6Addr, source_lladdr: Option<Mac>) -> Vec<u8> {
    let mut m = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    if let Some(mac) = source_lladdr {
        m.extend_from_slice(&[OPT_SOURCE_LLADDR, 1]);
        m.extend_from_slice(&mac);
    }
    m
}

/// Duplicate Address Detection probe (RFC 4862 §5.4.2): a Neighbor
/// Solicitation for `target` from `::` to its solicited-node group, without a
/// source link-layer option. A node holding `target` defends it with an NA to
/// ff02::1.
pub fn dad_solicitation(ours: Mac, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    icmpv6(multicast_mac(group), ours, Ipv6Addr::UNSPECIFIED, group, ns_message(target, None))
}

/// A Neighbor Solicitation from `source` for `target`, to the solicited-node
/// group of `target`, with our link-layer address (the holder answers with a
/// unicast NA to `source` at `ours`).
pub fn neighbor_solicitation(ours: Mac, source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    icmpv6(multicast_mac(group), ours, source, group, ns_message(target, Some(ours)))
}

/// Unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) for `ip` from `ip` to
/// ff02::1: flag Override, target link-layer option `ours`. Neighbours with
/// an entry for `ip` replace its MAC and mark it stale.
pub fn unsolicited_advertisement(ours: Mac, ip: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![ICMPV6_NA, 0, 0, 0, NA_OVERRIDE, 0, 0, 0];
    m.extend_from_slice(&ip.octets());
    m.extend_from_slice(&[OPT_TARGET_LLADDR, 1]);
    m.extend_from_slice(&ours);
    icmpv6(multicast_mac(ALL_NODES), ours, ip, ALL_NODES, m)
}

/// An answer the probes look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An ARP packet (request or reply) for Ethernet/IPv4.
    Arp {
        /// Ethernet source.
        eth_src: Mac,
        /// [`ARP_REQUEST`] or [`ARP_REPLY`].
        op: u16,
        /// Sender hardware address.
        sender_mac: Mac,
        /// Sender protocol address.
        sender_ip: Ipv4Addr,
        /// Target protocol address.
        target_ip: Ipv4Addr,
    },
    /// A Neighbor Advertisement with a valid checksum and hop limit 255.
    Advertisement {
        /// Ethernet source.
        eth_src: Mac,
        /// IPv6 source.
        src: Ipv6Addr,
        /// The advertised address.
        target: Ipv6Addr,
        /// The flags byte ([`NA_ROUTER`], [`NA_SOLICITED`], [`NA_OVERRIDE`]).
        flags: u8,
        /// The target link-layer address option, if any.
        target_mac: Option<Mac>,
    },
}

impl Reply {
    /// The Ethernet source of the frame.
    pub fn eth_src(&self) -> Mac {
        match self {
            Self::Arp { eth_src, .. } | Self::Advertisement { eth_src, .. } => *eth_src,
        }
    }
}

fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    b.get(at..at + 6)?.try_into().ok()
}

fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

/// Parses an ARP packet or a Neighbor Advertisement out of an Ethernet frame;
/// `None` for every other frame, and for frames that are short, truncated,
/// carry a bad checksum or a hop limit other than 255 (RFC 4861 §7.1.2), or
/// have a zero-length NDP option.
pub fn parse(frame: &[u8]) -> Option<Reply> {
    let eth_src = mac_at(frame, 6)?;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let body = frame.get(ETH_HLEN..)?;
    match ethertype {
        ETH_P_ARP => parse_arp(eth_src, body),
        ETH_P_IPV6 => parse_na(eth_src, body),
        _ => None,
    }
}

fn parse_arp(eth_src: Mac, a: &[u8]) -> Option<Reply> {
    if a.len() < ARP_LEN || a[0..2] != [0, 1] || a[2..4] != [8, 0] || a[4..6] != [6, 4] {
        return None;
    }
    Some(Reply::Arp {
        eth_src,
        op: u16::from_be_bytes([a[6], a[7]]),
        sender_mac: mac_at(a, 8)?,
        sender_ip: v4_at(a, 14)?,
        target_ip: v4_at(a, 24)?,
    })
}

fn parse_na(eth_src: Mac, p: &[u8]) -> Option<Reply> {
    let header = p.get(..IPV6_HLEN)?;
    if header[0] >> 4 != 6 || header[6] != NEXT_HEADER_ICMPV6 || header[7] != 255 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let msg = p.get(IPV6_HLEN..IPV6_HLEN + len)?;
    // type, code, checksum, flags + reserved, target
    if msg.len() < 24 || msg[0] != ICMPV6_NA || msg[1] != 0 {
        return None;
    }
    let (src, dst) = (v6_at(header, 8)?, v6_at(header, 24)?);
    if icmpv6_checksum(src, dst, msg).to_be_bytes() != msg[2..4] {
        return None;
    }
    let mut target_mac = None;
    let mut opts = &msg[24..];
    while opts.len() >= 2 {
        let olen = usize::from(opts[1]) * 8;
        if olen == 0 || olen > opts.len() {
            return None;
        }
        if opts[0] == OPT_TARGET_LLADDR && olen >= 8 {
            target_mac = mac_at(opts, 2);
        }
        opts = &opts[olen..];
    }
    Some(Reply::Advertisement { eth_src, src, target: v6_at(msg, 8)?, flags: msg[4], target_mac })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: Mac = [0x02, 0, 0, 0, 0, 0x0a];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    // Frames the Linux kernel sent from 02:00:00:00:00:0a (captured on the
    // peer of a veth pair with an AF_PACKET socket): the golden bytes.
    const KERNEL_ARP_REQUEST: &str =
        "ffffffffffff02000000000a0806000108000604000102000000000a0a0100010000000000000a010002";
    const KERNEL_NS: &str = "3333ff00000b02000000000a86dd6000000000203aff20010db800000000000000000000000aff0200000000000000000001ff00000b87001c030000000020010db800000000000000000000000b010102000000000a";
    const KERNEL_UNSOLICITED_NA: &str = "33330000000102000000000a86dd6000000000203aff20010db800000000000000000000000aff0200000000000000000000000000018800f90f2000000020010db800000000000000000000000a020102000000000a";
    // The kernel's DAD solicitation carries a nonce option (RFC 7527): same
    // header, checksum 0xc15d over a 32-byte message.
    const KERNEL_DAD_NS_WITH_NONCE: &str =
        "8700c15d0000000020010db800000000000000000000000a0e0149f4ba5f7920";
    const KERNEL_ECHO_REQUEST: &str = "02000000000b02000000000a86dd600d1dc900403a4020010db800000000000000000000000a20010db800000000000000000000000b8000fe884dc50001bece076b000000004da2050000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    #[test]
    fn arp_request_is_byte_for_byte_what_the_kernel_sends() {
        let f = arp_request(MAC_A, v4("10.1.0.1"), v4("10.1.0.2"));
        assert_eq!(f, hex(KERNEL_ARP_REQUEST));
    }

    #[test]
    fn arp_probe_has_sender_ip_zero_and_gratuitous_arp_sender_equals_target() {
        let p = arp_probe(MAC_A, v4("10.6.212.200"));
        let want =
            "ffffffffffff02000000000a0806000108000604000102000000000a000000000000000000000a06d4c8";
        assert_eq!(p, hex(want));
        let g = gratuitous_arp(MAC_A, v4("10.6.212.200"));
        let want =
            "ffffffffffff02000000000a0806000108000604000102000000000a0a06d4c80000000000000a06d4c8";
        assert_eq!(g, hex(want));
        assert_eq!(g.len(), 42);
    }

    #[test]
    fn neighbor_solicitation_and_unsolicited_na_match_the_kernel() {
        let ns = neighbor_solicitation(MAC_A, v6("2001:db8::a"), v6("2001:db8::b"));
        assert_eq!(ns, hex(KERNEL_NS));
        let na = unsolicited_advertisement(MAC_A, v6("2001:db8::a"));
        assert_eq!(na, hex(KERNEL_UNSOLICITED_NA));
    }

    #[test]
    fn dad_solicitation_is_from_unspecified_to_solicited_node_without_option() {
        let f = dad_solicitation(MAC_A, v6("2001:db8::a"));
        let want = concat!(
            "3333ff00000a02000000000a86dd",
            "6000000000183aff",
            "00000000000000000000000000000000",
            "ff0200000000000000000001ff00000a",
            "87004cdb00000000",
            "20010db800000000000000000000000a"
        );
        assert_eq!(f, hex(want));
    }

    #[test]
    fn checksum_matches_the_kernel_and_pads_odd_lengths() {
        let msg = hex(KERNEL_DAD_NS_WITH_NONCE);
        let sum = icmpv6_checksum(Ipv6Addr::UNSPECIFIED, v6("ff02::1:ff00:a"), &msg);
        assert_eq!(sum, 0xc15d);
        // An odd-length message is padded with a zero byte.
        let odd = [ICMPV6_NS, 0, 0, 0, 1];
        let even = [ICMPV6_NS, 0, 0, 0, 1, 0];
        let (s, d) = (v6("fe80::1"), v6("ff02::1"));
        assert_ne!(icmpv6_checksum(s, d, &odd), 0);
        // Lengths differ in the pseudo-header, so only the payload padding is shared.
        assert_eq!(
            icmpv6_checksum(s, d, &odd).wrapping_sub(icmpv6_checksum(s, d, &even)),
            1,
            "only the length word differs by one"
        );
    }

    #[test]
    fn solicited_node_and_multicast_mac() {
        let g = solicited_node(v6("2001:db8::12:3456:789a"));
        assert_eq!(g, v6("ff02::1:ff56:789a"));
        assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0x56, 0x78, 0x9a]);
    }

    #[test]
    fn parse_reads_arp_and_advertisements() {
        let r = parse(&hex(KERNEL_ARP_REQUEST)).unwrap();
        assert_eq!(
            r,
            Reply::Arp {
                eth_src: MAC_A,
                op: ARP_REQUEST,
                sender_mac: MAC_A,
                sender_ip: v4("10.1.0.1"),
                target_ip: v4("10.1.0.2"),
            }
        );
        let r = parse(&hex(KERNEL_UNSOLICITED_NA)).unwrap();
        assert_eq!(
            r,
            Reply::Advertisement {
                eth_src: MAC_A,
                src: v6("2001:db8::a"),
                target: v6("2001:db8::a"),
                flags: NA_OVERRIDE,
                target_mac: Some(MAC_A),
            }
        );
        assert_eq!(r.eth_src(), MAC_A);
        // Ethernet padding after the IPv6 payload is ignored.
        let mut padded = hex(KERNEL_UNSOLICITED_NA);
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(parse(&padded), Some(r));
    }

    #[test]
    fn parse_ignores_other_frames_and_rejects_malformed_ones_without_panic() {
        assert_eq!(parse(&hex(KERNEL_ECHO_REQUEST)), None, "ICMPv6 echo");
        assert_eq!(parse(&hex(KERNEL_NS)), None, "a solicitation is not an answer");
        let na = hex(KERNEL_UNSOLICITED_NA);
        let arp = hex(KERNEL_ARP_REQUEST);
        for frame in [&na, &arp] {
            for cut in 0..frame.len() {
                let r = parse(&frame[..cut]);
                // A truncated ARP body or NA is rejected; only whole headers parse.
                assert!(r.is_none(), "cut at {cut} parsed: {r:?}");
            }
        }
        let mut bad_sum = na.clone();
        bad_sum[57] ^= 1;
        assert_eq!(parse(&bad_sum), None, "checksum");
        let mut hop = na.clone();
        hop[21] = 64;
        assert_eq!(parse(&hop), None, "hop limit must be 255");
        let mut zero_opt = na.clone();
        zero_opt[79] = 0;
        assert_eq!(parse(&zero_opt), None, "zero-length option");
        let mut long_len = na.clone();
        long_len[19] = 0xff;
        assert_eq!(parse(&long_len), None, "payload length beyond the frame");
        let mut not_eth_ipv4 = arp.clone();
        not_eth_ipv4[17] = 0xdd;
        assert_eq!(parse(&not_eth_ipv4), None, "ARP for another protocol");
        assert_eq!(parse(&[0xff; 3]), None);
        assert_eq!(parse(&[]), None);
    }
}
