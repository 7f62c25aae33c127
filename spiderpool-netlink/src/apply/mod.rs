//! Applying a [`RoutePlan`]: one dedicated thread holds a netlink socket in
//! the pod namespace and one in the host namespace ([`Ctx`]), and runs the
//! operations in plan order. Sysctls, MAC announcements and nftables marks need the thread
//! itself in the namespace, so it `setns`'s to the operation's side first.

mod link;
mod route;

use spiderpool_core::coordinator::{Action, Item, Op, RoutePlan};

use crate::context::{Ctx, with_ctx};
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::{nft, sysctl};

/// Applies `plan` in order: `pod` is the pod namespace (`CNI_NETNS`), `host`
/// the host namespace ([`Netns::Current`] in production; a test namespace in
/// tests). Re-applying is not an error; deleting a missing object is not an
/// error. The first failure stops and is returned as [`Error::Op`] naming the
/// operation's index, side, action and kind.
pub fn apply(plan: &RoutePlan, pod: &Netns, host: &Netns) -> Result<()> {
    with_ctx(pod, host, |mut ctx| async move { apply_with(&mut ctx, plan).await })
}

/// [`apply`] on an already open context (see [`crate::Session`]).
pub(crate) async fn apply_with(ctx: &mut Ctx, plan: &RoutePlan) -> Result<()> {
    for (index, op) in plan.ops.iter().enumerate() {
        apply_op(ctx, op).await.map_err(|e| Error::Op {
            index,
            side: op.side,
            action: op.action.name(),
            kind: op.item.kind_name(),
            cause: Box::new(e),
        })?;
    }
    Ok(())
}

async fn apply_op(ctx: &mut Ctx, op: &Op) -> Result<()> {
    let h = ctx.side(op.side).handle.clone();
    match &op.item {
        Item::Link(l) => link::apply_link(ctx, op.side, op.action, l).await,
        Item::Addr(a) => route::apply_addr(&h, op.action, a).await,
        Item::Route(r) => route::apply_route(&h, op.action, r).await,
        Item::Rule(r) => route::apply_rule(&h, op.action, r).await,
        Item::Neigh(n) => route::apply_neigh(&h, op.action, n).await,
        Item::Sysctl(s) => {
            ctx.enter(op.side)?;
            match op.action {
                Action::Add | Action::Set => sysctl::write_sysctl(&s.key, &s.value),
                // A sysctl cannot be removed; DEL leaves it as it is.
                Action::Del => Ok(()),
            }
        }
        Item::Mac(m) => {
            if op.action == Action::Del {
                return Ok(());
            }
            ctx.enter(op.side)?;
            link::apply_mac(&h, m).await
        }
        Item::Mark(m) => {
            ctx.enter(op.side)?;
            match op.action {
                Action::Add | Action::Set => nft::apply_marks(&m.iif, m.fwmark),
                Action::Del => nft::delete_marks(),
            }
        }
    }
}
