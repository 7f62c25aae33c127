//! Property tests: pools carved from one subnet by any sequence of
//! creates, grows, shrinks, pod allocations and releases never overlap,
//! never take a reserved address or one outside the subnet, and a shrink
//! never gives back an address a pod holds.

use proptest::prelude::*;

use super::{Op, op};

use crate::autopool::*;
use crate::ip::{IpFamily, IpRange, IpSet};

const POOLS: usize = 4;
/// Offsets `0..SPACE` above the family's base address.
const SPACE: u128 = 96;

fn ranges() -> impl Strategy<Value = Vec<(u128, u128)>> {
    prop::collection::vec((0..SPACE, 0u128..24), 0..6)
}

fn build(family: IpFamily, base: u128, spans: &[(u128, u128)]) -> IpSet {
    let mut set = IpSet::new(family);
    for &(start, len) in spans {
        let end = (start + len).min(SPACE - 1);
        let r = IpRange::from_u128(family, base + start, base + end).unwrap();
        set.insert_range(&r).unwrap();
    }
    set
}

struct World {
    subnet: IpSet,
    reserved: IpSet,
    pools: Vec<IpSet>,
    held: Vec<IpSet>,
}

impl World {
    fn others(&self, i: usize) -> IpSet {
        let mut out = IpSet::new(self.subnet.family());
        for (j, p) in self.pools.iter().enumerate() {
            if j != i {
                out = out.union(p);
            }
        }
        out
    }

    fn resize(&mut self, i: usize, desired: u64) -> Result<(), TestCaseError> {
        let others = self.others(i);
        let input = ResizeInput {
            pool: "p",
            subnet: "s",
            subnet_ips: &self.subnet,
            current: &self.pools[i],
            others: &others,
            reserved: &self.reserved,
            held: &self.held[i],
            desired,
        };
        match resize_pool(&input) {
            Ok(r) => {
                prop_assert_eq!(r.ips.len(), u128::from(desired));
                prop_assert!(!r.ips.overlaps(&others), "overlap with another pool");
                prop_assert!(r.added.is_subset(&self.subnet), "took an address outside the subnet");
                prop_assert!(!r.added.overlaps(&self.reserved), "took a reserved address");
                prop_assert!(!r.removed.overlaps(&self.held[i]), "gave back a held address");
                prop_assert!(self.held[i].is_subset(&r.ips), "lost a held address");
                prop_assert!(r.added.is_empty() || r.removed.is_empty());
                self.pools[i] = r.ips;
            }
            Err(AutoPoolError::SubnetExhausted { needed, free, .. }) => {
                prop_assert!(free < needed);
                prop_assert_eq!(free, free_addresses(&input).len());
            }
            Err(AutoPoolError::FreeIpsNotEnough { desired: d, current, in_use, .. }) => {
                prop_assert!(current - in_use < current - u128::from(d));
                prop_assert_eq!(in_use, self.held[i].len());
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Resize(i, n) => self.resize(i, n)?,
            Op::Hold(i, k) => {
                let free = self.pools[i].difference(&self.held[i]);
                if let Some(ip) = free.nth(k % free.len().max(1)) {
                    self.held[i].insert(ip);
                }
            }
            Op::Release(i, k) => {
                if let Some(ip) = self.held[i].nth(k % self.held[i].len().max(1)) {
                    self.held[i].remove(ip);
                }
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (i, p) in self.pools.iter().enumerate() {
            prop_assert!(p.is_subset(&self.subnet));
            prop_assert!(!p.overlaps(&self.reserved), "pool {} holds a reserved address", i);
            prop_assert!(self.held[i].is_subset(p));
            for q in &self.pools[i + 1..] {
                prop_assert!(!p.overlaps(q), "two pools share an address");
            }
        }
        Ok(())
    }
}

fn run(
    family: IpFamily,
    base: u128,
    subnet: &[(u128, u128)],
    reserved: &[(u128, u128)],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let empty = IpSet::new(family);
    let mut world = World {
        subnet: build(family, base, subnet),
        reserved: build(family, base, reserved),
        pools: vec![empty.clone(); POOLS],
        held: vec![empty; POOLS],
    };
    for op in ops {
        world.step(op)?;
        world.check()?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_pools_never_overlap_nor_take_reserved_nor_drop_held(
        subnet in ranges(),
        reserved in ranges(),
        ops in prop::collection::vec(op(POOLS, 40), 1..60),
    ) {
        run(IpFamily::V4, 0x0a06_0000, &subnet, &reserved, &ops)?;
    }

    #[test]
    fn ipv6_pools_never_overlap_nor_take_reserved_nor_drop_held(
        subnet in ranges(),
        reserved in ranges(),
        ops in prop::collection::vec(op(POOLS, 40), 1..60),
    ) {
        // fd00::ffff:ffff:ff00 and up, so ranges cross a 32-bit boundary
        run(IpFamily::V6, 0xfd00_u128 << 112 | 0xffff_ffff_ff00, &subnet, &reserved, &ops)?;
    }

    #[test]
    fn lowest_is_a_prefix_of_the_set(spans in ranges(), n in 0u128..120) {
        let set = build(IpFamily::V4, 0, &spans);
        let low = lowest(&set, n);
        prop_assert!(low.is_subset(&set));
        prop_assert_eq!(low.len(), n.min(set.len()));
        // every address left out is above every address taken
        if let (Some(top), Some(rest)) = (low.last(), set.difference(&low).first()) {
            prop_assert!(top < rest);
        }
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,48}") {
        let _ = parse_subnet(&s);
        let _ = parse_subnets(&s);
        let _ = parse_ip_number(&s);
        let _ = parse_reclaim(&s);
        let _ = auto_pool_name(&s, IpFamily::V4, "eth0", &s);
    }

    #[test]
    fn parsers_never_panic_on_jsonish(s in "[\\[\\]{}\",: a-z0-9._+-]{0,48}") {
        let _ = parse_subnet(&s);
        let _ = parse_subnets(&s);
        let _ = parse_ip_number(&s);
    }
}
