//! Names and MAC addresses the plan chooses: the host veth name, the veth
//! pair's MACs and the MAC-prefix rewrite (reference §5.3 steps 3 and 5).
//!
//! Spiderpool sets random MACs on both veth ends (so systemd's
//! `MACAddressPolicy` cannot change them). A plan must be deterministic, so
//! ours are derived: FNV-1a (64 bit) over `spiderpool-veth`, the container ID
//! and the side (`pod` or `host`), first six bytes, with the
//! locally-administered bit set and the multicast bit cleared. Different
//! containers get different, stable MACs; re-planning gives the same ones.

use std::net::IpAddr;

use super::config::MacPrefix;
use super::plan::Side;

/// The pod end of the underlay veth pair.
pub const POD_VETH: &str = "veth0";

/// `veth` + the first 11 characters of the container ID (at most 15 bytes,
/// the kernel's limit).
pub fn host_veth_name(container_id: &str) -> String {
    let short: String = container_id.chars().take(11).collect();
    format!("veth{short}")
}

fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Formats six bytes as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(b: [u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

/// The MAC of one end of the veth pair of `container_id`: deterministic,
/// locally administered, unicast.
pub fn veth_mac(container_id: &str, side: Side) -> String {
    let tag: &[u8] = match side {
        Side::Pod => b"pod",
        Side::Host => b"host",
    };
    let h = fnv1a64(&[b"spiderpool-veth", container_id.as_bytes(), tag]).to_be_bytes();
    let mut b = [h[0], h[1], h[2], h[3], h[4], h[5]];
    b[0] = (b[0] & 0xfe) | 0x02;
    format_mac(b)
}

/// `prefix` + the four bytes of an IPv4 address, or the last four bytes of
/// an IPv6 address: prefix `0a:1b` and `10.6.1.2` give `0a:1b:0a:06:01:02`.
pub fn prefixed_mac(prefix: MacPrefix, ip: IpAddr) -> String {
    let tail = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    format_mac([prefix.0[0], prefix.0[1], tail[0], tail[1], tail[2], tail[3]])
}
