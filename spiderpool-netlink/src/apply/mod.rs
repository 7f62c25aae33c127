//! Applying a [`RoutePlan`]: one dedicated thread holds a netlink socket in
//! the pod namespace and one in the host namespace, and runs the operations in
//! plan order. Sysctls, MAC announcements and nftables marks need the thread
//! itself in the namespace, so it `setns`'s to the operation's side first.

mod link;
mod route;

use futures::TryStreamExt;
use rtnetlink::Handle;
use spiderpool_core::coordinator::{Action, Item, Op, RoutePlan, Side};

use crate::error::{Error, Result, errno};
use crate::netns::{Netns, NsFd, connect, on_worker};
use crate::{nft, sysctl};

/// A namespace with its open netlink handle.
pub(crate) struct SideCtx {
    pub(crate) handle: Handle,
    pub(crate) ns: NsFd,
}

/// Both sides, and which one the thread is in.
pub(crate) struct Ctx {
    pub(crate) pod: SideCtx,
    pub(crate) host: SideCtx,
    entered: Side,
}

impl Ctx {
    pub(crate) fn side(&self, side: Side) -> &SideCtx {
        match side {
            Side::Pod => &self.pod,
            Side::Host => &self.host,
        }
    }
    pub(crate) fn other(&self, side: Side) -> &SideCtx {
        match side {
            Side::Pod => &self.host,
            Side::Host => &self.pod,
        }
    }
    /// Moves the worker thread into `side`'s namespace.
    pub(crate) fn enter(&mut self, side: Side) -> Result<()> {
        if self.entered != side {
            self.side(side).ns.enter()?;
            self.entered = side;
        }
        Ok(())
    }
}

/// Opens both namespaces on a dedicated thread and runs `f` there.
pub(crate) fn with_ctx<T, F, Fut>(pod: &Netns, host: &Netns, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Ctx) -> Fut + Send,
    Fut: std::future::Future<Output = Result<T>>,
{
    let pod_ns = NsFd::open(pod)?;
    let host_ns = NsFd::open(host)?;
    on_worker(|| async move {
        pod_ns.enter()?;
        let pod_h = connect()?;
        host_ns.enter()?;
        let host_h = connect()?;
        let ctx = Ctx {
            pod: SideCtx { handle: pod_h, ns: pod_ns },
            host: SideCtx { handle: host_h, ns: host_ns },
            entered: Side::Host,
        };
        f(ctx).await
    })
}

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
            action: action_name(op.action),
            kind: kind_name(&op.item),
            cause: Box::new(e),
        })?;
    }
    Ok(())
}

pub(crate) fn action_name(a: Action) -> &'static str {
    match a {
        Action::Add => "add",
        Action::Del => "del",
        Action::Set => "set",
    }
}

pub(crate) fn kind_name(i: &Item) -> &'static str {
    match i {
        Item::Link(_) => "link",
        Item::Addr(_) => "addr",
        Item::Route(_) => "route",
        Item::Rule(_) => "rule",
        Item::Neigh(_) => "neigh",
        Item::Sysctl(_) => "sysctl",
        Item::Mac(_) => "mac",
        Item::Mark(_) => "mark",
    }
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

/// The index of a link by name; `None` when there is none.
pub(crate) async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    let res = h.link().get().match_name(name.to_string()).execute().try_next().await;
    match res {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(19) => Ok(None), // ENODEV
        Err(e) => Err(Error::netlink(format!("get link {name}"), e)),
    }
}

/// Like [`link_index`], but a missing link is an error.
pub(crate) async fn need_link(h: &Handle, name: &str) -> Result<u32> {
    link_index(h, name).await?.ok_or_else(|| Error::LinkNotFound { name: name.to_string() })
}
