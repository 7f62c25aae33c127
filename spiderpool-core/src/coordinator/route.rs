//! Routes and policy rules: one [`Route`] and one [`Rule`] type for what a
//! plan asks for ([`Item::Route`](super::Item::Route),
//! [`Item::Rule`](super::Item::Rule)), what a view holds
//! ([`NetnsView`](super::NetnsView), [`HostView`](super::HostView)) and what
//! `spiderpool-netlink` reads from the kernel.
//!
//! Field names and JSON are the ones `spiderpoolctl plan -o json` prints and
//! scenario files use (`ip -j` names); a rule's `family` is the number `4` or
//! `6` on the wire and an [`IpFamily`] in Rust. Whether a route or rule of a
//! view *holds* a planned one is decided in [`presence`](super::presence).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ip::IpFamily;

/// The main routing table.
pub const TABLE_MAIN: u32 = 254;
/// The local routing table.
pub const TABLE_LOCAL: u32 = 255;

/// Route scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `RT_SCOPE_UNIVERSE`.
    #[default]
    Global,
    /// `RT_SCOPE_LINK`.
    Link,
    /// `RT_SCOPE_HOST`.
    Host,
}

/// One route: planned (`protocol` and `nexthops` stay empty), in a view, or
/// read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Table number (254 = main; the default when a scenario leaves it out).
    #[serde(default = "main_table")]
    pub table: u32,
    /// Destination; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpNet,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Output device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Scope.
    #[serde(default)]
    pub scope: Scope,
    /// Preferred source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<IpAddr>,
    /// Protocol (`kernel`, `boot`, `static`, ...), as text; only views have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Next hops of a multipath route (`nexthops`): `(gateway, dev)`; only
    /// views have them (a plan never makes a multipath route).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<NextHop>,
}

impl Default for Route {
    /// `0.0.0.0/0` in `main`, scope global, nothing else set.
    fn default() -> Self {
        Route {
            table: TABLE_MAIN,
            dst: IpNet::default(),
            gateway: None,
            dev: None,
            scope: Scope::Global,
            prefsrc: None,
            protocol: None,
            nexthops: Vec::new(),
        }
    }
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHop {
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Output device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
}

fn main_table() -> u32 {
    TABLE_MAIN
}

impl Route {
    /// True for `0.0.0.0/0` and `::/0`.
    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }

    /// True when the route (or one of its next hops) leaves through `dev`.
    pub fn uses_dev(&self, dev: &str) -> bool {
        self.dev.as_deref() == Some(dev)
            || self.nexthops.iter().any(|n| n.dev.as_deref() == Some(dev))
    }

    /// The family of the destination.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.dst.addr())
    }
}

/// One policy rule that looks a table up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `4` or `6` on the wire.
    #[serde(with = "family_number")]
    pub family: IpFamily,
    /// `priority` (`None` in a plan: the kernel picks one below the lowest
    /// non-zero one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// `from` selector (`None` = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpNet>,
    /// `to` selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpNet>,
    /// `fwmark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// `fwmask` (see [`Rule::mark_and_mask`] for what the kernel reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// `table`.
    pub table: u32,
}

impl Rule {
    /// A rule of `family` that looks `table` up, with no selector and no
    /// priority.
    pub fn lookup(family: IpFamily, table: u32) -> Rule {
        Rule { family, priority: None, src: None, dst: None, fwmark: None, fwmask: None, table }
    }

    /// The `(mark, mask)` pair the kernel keeps for the rule. The kernel
    /// stores a rule's mask as `0xffffffff` when a non-zero `fwmark` came
    /// without `fwmask`, and reports `FRA_FWMASK` whenever the mark or the
    /// mask is non-zero, so a planned `fwmark 0x1` (no mask) reads back as
    /// `fwmark 0x1 fwmask 0xffffffff`; a rule without mark has `(0, 0)`.
    pub fn mark_and_mask(&self) -> (u32, u32) {
        let mark = self.fwmark.unwrap_or(0);
        let mask = self.fwmask.unwrap_or(if mark != 0 { u32::MAX } else { 0 });
        (mark, mask)
    }
}

/// `IpFamily` as the number `4` or `6`.
mod family_number {
    use serde::{Deserialize, Deserializer, Serializer, de};

    use crate::ip::IpFamily;

    pub(super) fn serialize<S: Serializer>(f: &IpFamily, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(f.version())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpFamily, D::Error> {
        let n = i64::deserialize(d)?;
        IpFamily::from_version(n)
            .ok_or_else(|| de::Error::custom(format!("invalid family {n}: expected 4 or 6")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn rule_family_is_a_number_on_the_wire() {
        let r = Rule { fwmark: Some(1), ..Rule::lookup(IpFamily::V6, 100) };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, json!({"family": 6, "fwmark": 1, "table": 100}));
        assert_eq!(serde_json::from_value::<Rule>(v).unwrap(), r);
        let e = serde_json::from_value::<Rule>(json!({"family": 5, "table": 1})).unwrap_err();
        assert!(e.to_string().contains("invalid family 5: expected 4 or 6"), "{e}");
    }

    #[test]
    fn a_planned_route_serializes_without_view_fields() {
        let r = Route {
            table: 101,
            dst: "10.6.0.0/16".parse().unwrap(),
            dev: Some("net1".into()),
            scope: Scope::Link,
            ..Route::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"table": 101, "dst": "10.6.0.0/16", "dev": "net1", "scope": "link"})
        );
        let read: Route = serde_json::from_value(json!({"dst": "0.0.0.0/0"})).unwrap();
        assert_eq!((read.table, read.family()), (TABLE_MAIN, IpFamily::V4));
    }

    #[test]
    fn mark_and_mask_follow_the_kernel() {
        let plain = Rule::lookup(IpFamily::V4, 500);
        assert_eq!(plain.mark_and_mask(), (0, 0));
        let marked = Rule { fwmark: Some(1), ..plain.clone() };
        assert_eq!(marked.mark_and_mask(), (1, u32::MAX));
        let masked = Rule { fwmark: Some(1), fwmask: Some(0xff), ..plain };
        assert_eq!(masked.mark_and_mask(), (1, 0xff));
    }
}
