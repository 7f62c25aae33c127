//! Probe frames (`spiderpool_netlink::probe::frame`): arbitrary bytes through
//! the ARP / Neighbor Advertisement parser, and frames built from arbitrary
//! MACs and addresses parsed back.
//!
//! Properties: nothing panics; a gratuitous ARP and an unsolicited NA built by
//! the crate parse back to the address and MAC they were built from; an ARP
//! probe parses with sender IP 0.0.0.0.
//!
//! Run with: cargo fuzz run -s none --fuzz-dir fuzz probe_frame fuzz/seeds/probe_frame

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use spiderpool_netlink::probe::frame::{self, Reply};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = frame::parse(data);
    if data.len() < 26 {
        return;
    }
    let mac: [u8; 6] = data[0..6].try_into().unwrap_or_default();
    let v4 = Ipv4Addr::new(data[6], data[7], data[8], data[9]);
    let v6_bytes: [u8; 16] = data[10..26].try_into().unwrap_or_default();
    let v6 = Ipv6Addr::from(v6_bytes);

    match frame::parse(&frame::gratuitous_arp(mac, v4)) {
        Some(Reply::Arp { sender_mac, sender_ip, target_ip, .. }) => {
            assert_eq!((sender_mac, sender_ip, target_ip), (mac, v4, v4));
        }
        other => panic!("gratuitous ARP parsed as {other:?}"),
    }
    match frame::parse(&frame::arp_probe(mac, v4)) {
        Some(Reply::Arp { sender_ip, target_ip, .. }) => {
            assert_eq!((sender_ip, target_ip), (Ipv4Addr::UNSPECIFIED, v4));
        }
        other => panic!("ARP probe parsed as {other:?}"),
    }
    match frame::parse(&frame::unsolicited_advertisement(mac, v6)) {
        Some(Reply::Advertisement { target, target_mac, src, .. }) => {
            assert_eq!((target, target_mac, src), (v6, Some(mac), v6));
        }
        other => panic!("unsolicited NA parsed as {other:?}"),
    }
    // Solicitations are not answers.
    assert_eq!(frame::parse(&frame::dad_solicitation(mac, v6)), None);
    assert_eq!(frame::parse(&frame::neighbor_solicitation(mac, v6, v6)), None);
});
