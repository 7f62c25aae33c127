//! Reading back what a plan can be checked against (CNI CHECK): the views,
//! neighbours, the sysctls the plan names and its packet marks, as the
//! core's [`Observed`]. Deciding what is missing is the core's
//! [`check`](spiderpool_core::coordinator::check::check).

use std::collections::BTreeMap;

use spiderpool_core::coordinator::check::{NsState, Observed};
use spiderpool_core::coordinator::{Item, Op, RoutePlan, Side};

use crate::context::{Ctx, with_ctx};
use crate::error::Result;
use crate::netns::Netns;
use crate::nft;
use crate::read::{read_neighbours, read_view_with};
use crate::sysctl::read_sysctl;

async fn observe_side(ctx: &mut Ctx, side: Side, ops: &[&Op]) -> Result<NsState> {
    let h = ctx.side(side).handle.clone();
    let view = read_view_with(&h).await?;
    let neighbours = read_neighbours(&h).await?;
    ctx.enter(side)?;
    let mut sysctls = BTreeMap::new();
    let mut marks = Vec::new();
    let mut table = None;
    for op in ops {
        match &op.item {
            Item::Sysctl(s) => {
                if let Ok(v) = read_sysctl(&s.key) {
                    sysctls.insert(s.key.clone(), v);
                }
            }
            Item::Mark(m) => {
                let state = match &table {
                    Some(state) => state,
                    None => table.insert(nft::read_marks()?),
                };
                if state.has(&m.iif, m.fwmark) && !marks.contains(m) {
                    marks.push(m.clone());
                }
            }
            _ => {}
        }
    }
    Ok(NsState { view, neighbours, sysctls, marks })
}

/// Reads everything `plan` can be checked against, from `pod` and `host`:
/// both views and neighbour tables, the values of the sysctls the plan names
/// and which of its packet-mark rule sets the nftables mark table holds.
pub fn observe(plan: &RoutePlan, pod: &Netns, host: &Netns) -> Result<Observed> {
    with_ctx(pod, host, |mut ctx| async move {
        let pod_ops: Vec<&Op> = plan.ops.iter().filter(|o| o.side == Side::Pod).collect();
        let host_ops: Vec<&Op> = plan.ops.iter().filter(|o| o.side == Side::Host).collect();
        let pod = observe_side(&mut ctx, Side::Pod, &pod_ops).await?;
        let host = observe_side(&mut ctx, Side::Host, &host_ops).await?;
        Ok(Observed { pod, host })
    })
}
