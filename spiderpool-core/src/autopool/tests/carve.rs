use crate::autopool::*;
use crate::ip::{IpFamily, IpSet};
use crate::model::{
    PoolIpPreAllocation, PoolIpPreAllocations, SpiderSubnet, parse_controlled_ip_pools,
};

fn set4(items: &[&str]) -> IpSet {
    IpSet::parse_ranges(IpFamily::V4, items).unwrap()
}

fn set6(items: &[&str]) -> IpSet {
    IpSet::parse_ranges(IpFamily::V6, items).unwrap()
}

struct Case {
    subnet: IpSet,
    current: IpSet,
    others: IpSet,
    reserved: IpSet,
    held: IpSet,
}

impl Case {
    fn v4(subnet: &[&str]) -> Case {
        let empty = IpSet::new(IpFamily::V4);
        Case {
            subnet: set4(subnet),
            current: empty.clone(),
            others: empty.clone(),
            reserved: empty.clone(),
            held: empty,
        }
    }

    fn resize(&self, desired: u64) -> Result<Resize, AutoPoolError> {
        resize_pool(&ResizeInput {
            pool: "auto4-web-eth0-abcde",
            subnet: "subnet-demo",
            subnet_ips: &self.subnet,
            current: &self.current,
            others: &self.others,
            reserved: &self.reserved,
            held: &self.held,
            desired,
        })
    }
}

/// Go `GenSubnetFreeIPs` example: 182 usable IPs, a pool holds 91, 91 are free.
#[test]
fn free_addresses_of_go_example() {
    let mut c = Case::v4(&["10.0.0.10-10.0.0.100", "10.0.1.10-10.0.1.101"]);
    c.subnet = c.subnet.difference(&set4(&["10.0.1.101"]));
    assert_eq!(c.subnet.len(), 182);
    c.others = set4(&["10.0.0.10-10.0.0.100"]);
    let input = ResizeInput {
        pool: "p",
        subnet: "s",
        subnet_ips: &c.subnet,
        current: &c.current,
        others: &c.others,
        reserved: &c.reserved,
        held: &c.held,
        desired: 0,
    };
    let free = free_addresses(&input);
    assert_eq!(free.len(), 91);
    assert_eq!(free.to_strings(), vec!["10.0.1.10-10.0.1.100"]);
}

#[test]
fn create_takes_the_lowest_free_addresses() {
    let mut c = Case::v4(&["10.6.0.10-10.6.0.30"]);
    c.others = set4(&["10.6.0.10-10.6.0.11", "10.6.0.14"]);
    c.reserved = set4(&["10.6.0.13"]);
    let r = c.resize(3).unwrap();
    assert_eq!(r.ips.to_strings(), vec!["10.6.0.12", "10.6.0.15-10.6.0.16"]);
    assert_eq!(r.added, r.ips);
    assert!(r.removed.is_empty() && !r.is_noop());
    // size 0: an empty pool
    assert!(c.resize(0).unwrap().ips.is_empty());
}

#[test]
fn grow_keeps_what_the_pool_has() {
    let mut c = Case::v4(&["10.6.0.1-10.6.0.10"]);
    c.current = set4(&["10.6.0.5-10.6.0.6"]);
    c.others = set4(&["10.6.0.1"]);
    let r = c.resize(5).unwrap();
    assert_eq!(r.added.to_strings(), vec!["10.6.0.2-10.6.0.4"]);
    assert_eq!(r.ips.to_strings(), vec!["10.6.0.2-10.6.0.6"]);
    // same size: nothing changes
    let r = c.resize(2).unwrap();
    assert!(r.is_noop());
    assert_eq!(r.ips, c.current);
}

#[test]
fn grow_beyond_the_subnet_is_refused_with_numbers() {
    let mut c = Case::v4(&["10.6.0.1-10.6.0.10"]);
    c.current = set4(&["10.6.0.1-10.6.0.2"]);
    c.others = set4(&["10.6.0.3-10.6.0.8"]);
    c.reserved = set4(&["10.6.0.9"]);
    let err = c.resize(5).unwrap_err();
    assert_eq!(
        err,
        AutoPoolError::SubnetExhausted {
            subnet: "subnet-demo".into(),
            pool: "auto4-web-eth0-abcde".into(),
            desired: 5,
            current: 2,
            needed: 3,
            free: 1,
        }
    );
    assert_eq!(
        err.to_string(),
        "SpiderSubnet subnet-demo has 1 free IPs (not reserved, not held by other pools) but \
         auto-pool auto4-web-eth0-abcde needs 3 more to grow from 2 to 5"
    );
    // exactly enough is fine
    assert_eq!(c.resize(3).unwrap().added.to_strings(), vec!["10.6.0.10"]);
}

#[test]
fn shrink_gives_back_the_lowest_free_addresses() {
    let mut c = Case::v4(&["10.6.0.1-10.6.0.20"]);
    c.current = set4(&["10.6.0.1-10.6.0.5"]);
    c.held = set4(&["10.6.0.1", "10.6.0.3"]);
    let r = c.resize(3).unwrap();
    assert_eq!(r.removed.to_strings(), vec!["10.6.0.2", "10.6.0.4"]);
    assert_eq!(r.ips.to_strings(), vec!["10.6.0.1", "10.6.0.3", "10.6.0.5"]);
    assert!(r.added.is_empty());
    // down to exactly the held addresses
    let r = c.resize(2).unwrap();
    assert_eq!(r.ips, c.held);
}

#[test]
fn shrink_below_the_held_addresses_changes_nothing() {
    let mut c = Case::v4(&["10.6.0.1-10.6.0.20"]);
    c.current = set4(&["10.6.0.1-10.6.0.5"]);
    c.held = set4(&["10.6.0.1-10.6.0.3"]);
    let err = c.resize(2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "auto-pool auto4-web-eth0-abcde cannot shrink from 5 to 2 IPs: pods hold 3 of them, and \
         an IP in use is never given back"
    );
    assert!(matches!(err, AutoPoolError::FreeIpsNotEnough { in_use: 3, .. }));
}

#[test]
fn ipv6_slash_64_is_cheap() {
    let subnet = set6(&["fd00::1-fd00::ffff:ffff:ffff:ffff"]);
    let empty = IpSet::new(IpFamily::V6);
    let others = set6(&["fd00::1-fd00::ffff"]);
    let input = ResizeInput {
        pool: "auto6-web-eth0-abcde",
        subnet: "v6",
        subnet_ips: &subnet,
        current: &empty,
        others: &others,
        reserved: &empty,
        held: &empty,
        desired: 1_000_000_000_000,
    };
    let r = resize_pool(&input).unwrap();
    assert_eq!(r.ips.len(), 1_000_000_000_000);
    assert_eq!(r.ips.interval_count(), 1);
    assert_eq!(r.ips.first().unwrap().to_string(), "fd00::1:0");
}

#[test]
fn lowest_addresses() {
    let s = set4(&["10.0.0.1-10.0.0.3", "10.0.0.7", "10.0.0.9-10.0.0.12"]);
    assert_eq!(lowest(&s, 0).to_strings(), Vec::<String>::new());
    assert_eq!(lowest(&s, 2).to_strings(), vec!["10.0.0.1-10.0.0.2"]);
    assert_eq!(lowest(&s, 5).to_strings(), vec!["10.0.0.1-10.0.0.3", "10.0.0.7", "10.0.0.9"]);
    assert_eq!(lowest(&s, 100), s);
    let top = set4(&["255.255.255.254-255.255.255.255"]);
    assert_eq!(lowest(&top, 5), top);
}

#[test]
fn mixed_families_are_refused() {
    let mut c = Case::v4(&["10.6.0.1-10.6.0.10"]);
    c.reserved = set6(&["fd00::1"]);
    let err = c.resize(1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "auto-pool auto4-web-eth0-abcde of SpiderSubnet subnet-demo: IPv6 addresses given for the \
         IPv4 subnet"
    );
}

#[test]
fn controlled_pools_split_into_current_and_others() {
    let status = r#"{"auto4-a-eth0-11111":{"ips":["10.6.0.10-10.6.0.12"],"application":"apps_v1_Deployment_ns_a"},
                    "auto4-b-eth0-22222":{"ips":["10.6.0.20","10.6.0.22-10.6.0.23"]},
                    "manual":{"ips":["10.6.0.30"]}}"#;
    let controlled = parse_controlled_ip_pools(Some(status)).unwrap();
    let (current, others) =
        split_controlled("s", &controlled, "auto4-a-eth0-11111", IpFamily::V4).unwrap();
    assert_eq!(current.to_strings(), vec!["10.6.0.10-10.6.0.12"]);
    assert_eq!(others.to_strings(), vec!["10.6.0.20", "10.6.0.22-10.6.0.23", "10.6.0.30"]);
    // a pool not recorded yet starts empty
    let (current, others) = split_controlled("s", &controlled, "new", IpFamily::V4).unwrap();
    assert!(current.is_empty());
    assert_eq!(others.len(), 7);
    // a bad entry is an error naming it, never skipped
    let mut bad = controlled.clone();
    bad.insert(
        "broken".into(),
        PoolIpPreAllocation { ips: vec!["fd00::1".into()], application: None },
    );
    let err = split_controlled("subnet-demo", &bad, "new", IpFamily::V4).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "SpiderSubnet subnet-demo: status.controlledIPPools entry broken has ips [\"fd00::1\"]"
        ),
        "{msg}"
    );
    assert!(split_controlled("s", &PoolIpPreAllocations::new(), "p", IpFamily::V6).is_ok());
}

#[test]
fn usable_ips_of_a_subnet() {
    let mut s = SpiderSubnet::default();
    s.spec.subnet = "10.6.0.0/16".into();
    s.spec.ips = vec!["10.6.0.1-10.6.0.10".into(), "bad".into()];
    s.spec.exclude_ips = vec!["10.6.0.5".into()];
    let (family, ips) = subnet_usable_ips(&s).unwrap();
    assert_eq!(family, IpFamily::V4);
    assert_eq!(ips.to_strings(), vec!["10.6.0.1-10.6.0.4", "10.6.0.6-10.6.0.10"]);
    s.spec.ip_version = Some(6);
    assert_eq!(subnet_usable_ips(&s), None);
}
