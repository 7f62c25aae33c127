//! Link operations: veth pairs across namespaces, link settings, deletion, and
//! MAC changes with their announcement.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};
use spiderpool_core::coordinator::{Action, LinkOp, MacOp, Side};

use crate::context::Ctx;
use crate::error::{Error, Result, errno};
use crate::mac::parse_mac;
use crate::read::{link_index, need_link};

pub(super) async fn apply_link(
    ctx: &mut Ctx,
    side: Side,
    action: Action,
    l: &LinkOp,
) -> Result<()> {
    let h = ctx.side(side).handle.clone();
    match action {
        Action::Del => {
            let Some(idx) = link_index(&h, &l.ifname).await? else { return Ok(()) };
            match h.link().del(idx).execute().await {
                Ok(()) => Ok(()),
                Err(e) if errno(&e) == Some(19) => Ok(()),
                Err(e) => Err(Error::netlink(format!("delete link {}", l.ifname), e)),
            }
        }
        Action::Set => set_link(&h, l).await,
        Action::Add => {
            if link_index(&h, &l.ifname).await?.is_none() {
                let is_veth = l.kind.as_deref().is_none_or(|k| k == "veth") && l.peer.is_some();
                if !is_veth {
                    return Err(Error::Invalid {
                        field: "link kind",
                        value: l.kind.clone().unwrap_or_default(),
                        reason: "only veth pairs (with a peer) can be created",
                    });
                }
                create_veth(ctx, side, l).await?;
            }
            set_link(&h, l).await?;
            if let (Some(peer), Some(true)) = (&l.peer, l.up) {
                let other = ctx.other(side).handle.clone();
                let idx = need_link(&other, peer).await?;
                let msg = LinkUnspec::new_with_index(idx).up().build();
                other
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(|e| Error::netlink(format!("set peer {peer} up"), e))?;
            }
            Ok(())
        }
    }
}

/// Creates `l.ifname` on `side` with its peer created straight in the other
/// side's namespace (`IFLA_NET_NS_FD` on the peer).
async fn create_veth(ctx: &Ctx, side: Side, l: &LinkOp) -> Result<()> {
    let h = &ctx.side(side).handle;
    let peer = l.peer.clone().unwrap_or_default();
    let mut pb = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.clone())
        .setns_by_fd(ctx.other(side).ns.fd.as_raw_fd());
    if let Some(mtu) = l.mtu {
        pb = pb.mtu(mtu);
    }
    if let Some(mac) = &l.peer_address {
        pb = pb.address(parse_mac("peer_address", mac)?.to_vec());
    }
    let mut b = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(l.ifname.clone())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(pb.build())));
    if let Some(mtu) = l.mtu {
        b = b.mtu(mtu);
    }
    if let Some(mac) = &l.address {
        b = b.address(parse_mac("address", mac)?.to_vec());
    }
    h.link()
        .add(b.build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("add veth {} peer {peer}", l.ifname), e))
}

async fn set_link(h: &Handle, l: &LinkOp) -> Result<()> {
    let idx = need_link(h, &l.ifname).await?;
    let mut b = LinkUnspec::new_with_index(idx);
    let mut any = false;
    if let Some(mtu) = l.mtu {
        b = b.mtu(mtu);
        any = true;
    }
    if let Some(mac) = &l.address {
        b = b.address(parse_mac("address", mac)?.to_vec());
        any = true;
    }
    if let Some(q) = l.txqlen {
        b = b.txqueuelen(q);
        any = true;
    }
    if let Some(alias) = &l.alias {
        b = b.append_extra_attribute(LinkAttribute::IfAlias(alias.clone()));
        any = true;
    }
    match l.up {
        Some(true) => {
            b = b.up();
            any = true;
        }
        Some(false) => {
            b = b.down();
            any = true;
        }
        None => {}
    }
    if !any {
        return Ok(());
    }
    h.link()
        .set(b.build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set link {}", l.ifname), e))
}

/// Changes the MAC of `m.dev` and has the kernel announce it: with
/// `arp_notify` / `ndisc_notify` on the device, a MAC change makes the kernel
/// send a gratuitous ARP for every IPv4 address and an unsolicited neighbour
/// advertisement for every IPv6 address of the link. The calling thread must be
/// in the link's namespace.
pub(super) async fn apply_mac(h: &Handle, m: &MacOp) -> Result<()> {
    let idx = need_link(h, &m.dev).await?;
    let mac = parse_mac("mac address", &m.address)?;
    if m.dev.contains('/') || m.dev.contains("..") {
        return Err(Error::Invalid { field: "mac dev", value: m.dev.clone(), reason: "bad name" });
    }
    if m.announce.iter().any(|ip| ip.is_ipv4()) {
        write_dev_knob("ipv4", &m.dev, "arp_notify")?;
    }
    if m.announce.iter().any(|ip| ip.is_ipv6()) {
        write_dev_knob("ipv6", &m.dev, "ndisc_notify")?;
    }
    let msg = LinkUnspec::new_with_index(idx).address(mac.to_vec()).build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set {} address {}", m.dev, m.address), e))
}

fn write_dev_knob(family: &str, dev: &str, knob: &str) -> Result<()> {
    let path: PathBuf = ["/proc/sys/net", family, "conf", dev, knob].iter().collect();
    std::fs::write(&path, b"1").map_err(|cause| Error::Sysctl {
        key: format!("net.{family}.conf.{dev}.{knob}"),
        path,
        cause,
    })
}
